"""Unit tests of the insert's statistics and key checks (no server: pure functions over Arrow)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from larder.engine.python import _frames, statistics
from larder.errors import InvalidArgumentError


def _oracle_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """Bins (lower, upper] with the first one closed: what statistics documents."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        i = 0
        while i < len(counts) - 1 and v > edges[i + 1]:
            i += 1
        counts[i] += 1
    return counts


def test_statistics_against_numpy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 2.0, 5_000)
    ints = rng.integers(-50, 50, 5_000)
    table = pa.table({"x": x, "i": ints, "c": np.full(5_000, 7)})
    out = statistics.compute(table)
    assert out["row_count"] == 5_000
    sx = out["columns"]["x"]
    assert sx["mean"] == pytest.approx(x.mean()) and sx["stddev"] == pytest.approx(x.std(ddof=1))
    assert sx["min"] == x.min() and sx["max"] == x.max()
    for name, values in (("x", x), ("i", ints.astype(float))):
        h = out["columns"][name]["histogram"]
        assert len(h["edges"]) == 11 and "sample_rows" not in h
        assert h["counts"] == _oracle_counts(values, h["edges"])
    assert out["columns"]["c"]["histogram"] == {"edges": [7.0, 7.0], "counts": [5_000]}


def test_large_histograms_count_a_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statistics, "HISTOGRAM_MAX_ROWS", 1_000)
    x = np.arange(10_000, dtype=float)
    out = statistics.compute(pa.table({"x": x}))
    h = out["columns"]["x"]["histogram"]
    assert h["sample_rows"] == 1_000 and sum(h["counts"]) == 1_000
    assert out["columns"]["x"]["count"] == 10_000  # every other statistic sees all rows
    assert h["counts"] == _oracle_counts(x[::10], h["edges"])


def test_uniqueness_hash_fast_path_and_exact_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    unique = pa.table({"k": [1, 1, 2], "ts": [t0, t0 + timedelta(hours=1), t0]})
    dup = pa.table({"k": [1, 2, 1], "ts": [t0, t0, t0]})
    assert _frames._unique_by_hash(unique, ["k", "ts"]) is True
    assert _frames._unique_by_hash(dup, ["k", "ts"]) is False
    _frames._check_unique(unique, ["k", "ts"])
    with pytest.raises(InvalidArgumentError, match="1 key.*more than once"):
        _frames._check_unique(dup, ["k", "ts"], duplicates="error")
    kept = _frames._check_unique(dup, ["k", "ts"])  # the default keeps the last row of each key
    assert kept.table.num_rows == 2 and kept.table.column("k").to_pylist() == [2, 1]
    assert _frames._sorted_keys(unique, ["k", "ts"])[1] is True
    assert _frames._sorted_keys(dup, ["k", "ts"])[1] is False
    # a hash collision only costs the exact check: unique keys still pass
    monkeypatch.setattr(_frames, "_sorted_keys", lambda table, keys: (None, None))
    monkeypatch.setattr(_frames, "_unique_by_hash", lambda table, keys: False)
    _frames._check_unique(unique, ["k", "ts"])
    with pytest.raises(InvalidArgumentError, match="more than once"):
        _frames._check_unique(dup, ["k", "ts"], duplicates="error")


def test_uniqueness_by_sort_is_exact_or_abstains() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    keys = rng.integers(-50_000, 50_000, n)  # 17 bits + a year in microseconds (45 bits) fit
    ts = pa.array(
        1_700_000_000_000_000 + rng.integers(0, 31_536_000_000_000, n), pa.timestamp("us", tz="UTC")
    )
    table = pa.table(
        {"k": keys, "ts": ts, "d": pa.array(rng.integers(0, 20_000, n), pa.int32()).cast(pa.date32())}
    )
    by_sort = _frames._sorted_keys(table, ["k", "ts"])[1]
    assert by_sort is (len(set(zip(keys.tolist(), ts.to_pylist(), strict=True))) == n)
    dup = pa.concat_tables([table, table.slice(17, 1)])  # one repeated row
    assert _frames._sorted_keys(dup, ["k", "ts"])[1] is False
    assert _frames._sorted_keys(dup, ["d"])[1] is False
    small = pa.table({"k": [3, 1, 2], "d": pa.array([1, 1, 2], pa.int32()).cast(pa.date32())})
    assert _frames._sorted_keys(small, ["k"])[1] is True
    assert _frames._sorted_keys(small, ["d"])[1] is False
    assert _frames._sorted_keys(small.slice(0, 0), ["k"])[1] is True
    # abstains: strings, nulls, key ranges that do not fit 64 bits together
    assert _frames._sorted_keys(pa.table({"s": ["a", "b"]}), ["s"])[1] is None
    assert _frames._sorted_keys(pa.table({"k": [1, None]}), ["k"])[1] is None
    wide = pa.table({"a": [-(2**62), 2**62], "b": [-(2**62), 2**62]})
    assert _frames._sorted_keys(wide, ["a", "b"])[1] is None
    with pytest.raises(InvalidArgumentError, match="more than once"):
        _frames._check_unique(dup, ["k", "ts"], duplicates="error")


def test_inserts_are_ordered_by_key_then_event_time(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    n = 5_000
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    table = pa.table(
        {
            "k": rng.permutation(np.repeat(np.arange(-20, 30), n // 50)),
            "ts": [t0 + timedelta(minutes=int(m)) for m in rng.permutation(n)],
            "x": np.arange(n, dtype=np.float64),
        }
    )
    checked = _frames.check_insert(table, ["k"], "ts", None)
    out, order = checked.table, checked.order
    assert out is table and order is not None and checked.dropped == 0
    monkeypatch.setattr(_frames, "ORDER_BATCH_ROWS", 777)  # several batches, the last one short
    reader = _frames.in_order(table, order)
    assert isinstance(reader, pa.RecordBatchReader)
    stored = reader.read_all()
    expected = table.sort_by([("k", "ascending"), ("ts", "ascending")])
    assert stored.equals(expected)  # every row once, x travels with its keys
    # already in order: nothing to reorder, the table is written as it is
    again_checked = _frames.check_insert(expected, ["k"], "ts", None)
    again, none = again_checked.table, again_checked.order
    assert none is None and _frames.in_order(again, none) is again
    # keys that cannot be packed (strings) are written in the order given, and still checked
    strings = pa.table({"s": ["b", "a", "c"], "x": [1.0, 2.0, 3.0]})
    assert _frames.check_insert(strings, ["s"], None, None).order is None
    with pytest.raises(InvalidArgumentError, match="more than once"):
        _frames.check_insert(pa.table({"s": ["b", "a", "b"]}), ["s"], None, None, duplicates="error")
    kept = _frames.check_insert(pa.table({"s": ["b", "a", "b"], "x": [1, 2, 3]}), ["s"], None, None)
    assert kept.dropped == 1 and sorted(kept.table.to_pylist(), key=lambda r: r["s"]) == [
        {"s": "a", "x": 2},
        {"s": "b", "x": 3},
    ]


def test_insert_order_drops_low_time_bits_when_keys_and_rows_need_more_than_64() -> None:
    rng = np.random.default_rng(8)
    n = 4_000  # 12 bits of row number
    keys = rng.choice(np.array([0, 2**40, 2**41 + 5]), n)  # 42 bits
    offsets = rng.integers(0, 2**20, n)  # 20 bits: 10 of them must go
    table = pa.table({"k": keys, "t": offsets + 1_000})
    order, unique = _frames._sorted_keys(table, ["k", "t"])
    assert unique is (len(set(zip(keys.tolist(), offsets.tolist(), strict=True))) == n)
    assert sorted(order.tolist()) == list(range(n))  # a permutation: every row once
    k, coarse = keys[order], (offsets[order] - offsets.min()) >> 10  # offsets from the smallest
    assert (np.diff(k) >= 0).all()
    same_key = k[1:] == k[:-1]
    assert (np.diff(coarse)[same_key] >= 0).all()  # by time, to 2**10 units
    tie = same_key & (coarse[1:] == coarse[:-1])
    assert (np.diff(order)[tie] > 0).all()  # within that, the input order
    assert not (offsets[order][1:] >= offsets[order][:-1])[same_key].all()  # really coarser
