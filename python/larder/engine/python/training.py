"""Training data on the python engine: splits of a query's rows, written as one Parquet file per
split in the project's feature store dataset and read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from larder.errors import InvalidArgumentError

SPLITS = ("train", "validation", "test")


def split(
    table: Any,
    event_time: str | None,
    sizes: dict[str, float],
    times: dict[str, tuple[datetime | None, datetime | None]],
    seed: int | None,
) -> dict[str, Any]:
    """``table`` split by time ranges of ``event_time`` (``times``: split -> [start, end)) or at
    random by fractions (``sizes``: ``test``/``validation`` -> fraction; the rest is ``train``,
    seeded by ``seed``), in ``SPLITS`` order. The rows keep their order within each split.

    Raises:
        InvalidArgumentError: a time split without an event time, no sizes or times, sizes out of
            range.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if check_split(event_time, sizes, times):
        out = {}
        for s in [s for s in SPLITS if times.get(s, (None, None)) != (None, None)]:
            start, end = times[s]
            mask = pa.array([True] * table.num_rows)
            typ = table.schema.field(event_time).type
            if start is not None:
                mask = pc.and_(mask, pc.greater_equal(table[event_time], pa.scalar(start, typ)))
            if end is not None:
                mask = pc.and_(mask, pc.less(table[event_time], pa.scalar(end, typ)))
            out[s] = table.filter(mask)
        return out
    rng = np.random.default_rng(seed)
    order = rng.permutation(table.num_rows)
    out, start_i = {}, 0
    for s in ("test", "validation"):
        if s in sizes:
            n = int(round(sizes[s] * table.num_rows))
            out[s] = table.take(pa.array(np.sort(order[start_i : start_i + n])))
            start_i += n
    out["train"] = table.take(pa.array(np.sort(order[start_i:])))
    return {s: out[s] for s in SPLITS if s in out}


def check_split(
    event_time: str | None, sizes: dict[str, float], times: dict[str, tuple[datetime | None, datetime | None]]
) -> bool:
    """Check a split's arguments (every engine's); True for a time split, False for a random one.

    Raises:
        InvalidArgumentError: a time split without an event time, no sizes or times, sizes out of
            range.
    """
    if any(t != (None, None) for t in times.values()):
        if not event_time:
            raise InvalidArgumentError(
                "A time-based split needs an event time on the view's left feature group."
            )
        return True
    if not sizes:
        raise InvalidArgumentError(
            "A split needs sizes (test_size=0.2, validation_size=...) or time ranges (train_end=..., test_start=...)."
        )
    if not all(0 < v < 1 for v in sizes.values()) or sum(sizes.values()) >= 1:
        raise InvalidArgumentError(f"Split sizes must be in (0, 1) and sum below 1, got {sizes}.")
    return False


def write(filesystem: Any, folder: str, parts: dict[str, Any]) -> dict[str, int]:
    """Write each split as ``<folder>/<split>.parquet`` through ``filesystem`` (a pyarrow
    filesystem rooted at the dataset); returns the rows per split."""
    import pyarrow.parquet as pq

    filesystem.create_dir(folder, recursive=True)
    rows = {}
    for name, t in parts.items():
        pq.write_table(t, f"{folder}/{name}.parquet", filesystem=filesystem)
        rows[name] = t.num_rows
    return rows


def read(filesystem: Any, folder: str, splits: list[str]) -> dict[str, Any]:
    """The splits :func:`write` wrote, by name."""
    import pyarrow.parquet as pq

    return {s: pq.read_table(f"{folder}/{s}.parquet", filesystem=filesystem) for s in splits}
