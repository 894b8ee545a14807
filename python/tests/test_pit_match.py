"""``_pit.match`` (the row matching behind point-in-time joins) against a brute-force oracle that
scans every right row for every left row, on random data with ties, null keys and times, left rows
earlier than every right row, keys of several types and several key columns."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from larder.engine.python import _pit

T0 = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)


def brute_force(left_keys, left_time, right_keys, right_time):
    """For each left row: the right rows with equal keys (and time <= the left's), latest first."""
    lk = list(zip(*(c.to_pylist() for c in left_keys), strict=True))
    rk = list(zip(*(c.to_pylist() for c in right_keys), strict=True))
    ns = pa.timestamp("ns", tz="UTC")
    lt = left_time.cast(ns).cast(pa.int64()).to_pylist() if left_time is not None else [None] * len(lk)
    rt = right_time.cast(ns).cast(pa.int64()).to_pylist() if right_time is not None else [0] * len(rk)
    by_key: dict = {}
    for j, (k, t) in enumerate(zip(rk, rt, strict=True)):
        if None not in k and t is not None:
            by_key.setdefault(k, []).append((t, j))
    out = []
    for k, t in zip(lk, lt, strict=True):
        if None in k or (left_time is not None and t is None):
            out.append(set())
            continue
        rows = [(rt_, j) for rt_, j in by_key.get(k, []) if left_time is None or rt_ <= t]
        best = max((rt_ for rt_, _ in rows), default=None)
        out.append({j for rt_, j in rows if rt_ == best})  # ties: any of the latest rows
    return out


def match(left_keys, left_time, right_keys, right_time):
    """``_pit.match`` as one int64 array, null where no right row matches (None: left to duckdb)."""
    rows = _pit.match(left_keys, left_time, right_keys, right_time)
    if rows is None:
        return None
    index, found = rows
    assert not index[~found].any()  # 0 where nothing matches
    return pa.array(index, mask=~found, type=pa.int64())


def check(left_keys, left_time, right_keys, right_time):
    got = match(left_keys, left_time, right_keys, right_time)
    assert got is not None
    want = brute_force(left_keys, left_time, right_keys, right_time)
    got_list = got.to_pylist()
    assert len(got_list) == len(want)
    for i, (g, w) in enumerate(zip(got_list, want, strict=True)):
        assert (g is None and not w) or g in w, f"left row {i}: got {g}, want one of {sorted(w)}"
    return got_list


def times(rng, n, span_us=10_000_000, null_fraction=0.0, unit="us"):
    t = T0 + rng.integers(-span_us // 20, span_us, n)
    mask = rng.random(n) < null_fraction if null_fraction else None
    arr = pa.array(t, type=pa.timestamp("us", tz="UTC"), mask=mask)
    return arr.cast(pa.timestamp(unit, tz="UTC")) if unit != "us" else arr


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_point_in_time_int_keys_with_ties_and_nulls(seed):
    rng = np.random.default_rng(seed)
    n_right, n_left = 3000, 2000
    rk = pa.array(rng.integers(0, 80, n_right))
    rt = times(rng, n_right, span_us=2_000)  # a narrow range: many equal times
    lk = pa.array(rng.integers(0, 90, n_left), mask=rng.random(n_left) < 0.05)  # unknown and null keys
    lt = times(rng, n_left, span_us=2_000, null_fraction=0.05)
    got = check([lk], lt, [rk], rt)
    assert any(g is None for g in got) and any(g is not None for g in got)


def test_string_keys_and_two_key_columns():
    rng = np.random.default_rng(7)
    n_right, n_left = 2000, 1500
    names = np.array(["JFK", "LGA", "EWR", "SFO", "ORD", ""])
    rk1 = pa.array(names[rng.integers(0, 5, n_right)])
    rk2 = pa.array(rng.integers(0, 10, n_right), type=pa.int32())
    lk1 = pa.array(names[rng.integers(0, 6, n_left)], type=pa.large_string())  # cast to the left's type
    lk2 = pa.array(rng.integers(0, 11, n_left), type=pa.int64())
    check([lk1], times(rng, n_left), [rk1], times(rng, n_right))
    check([lk1, lk2], times(rng, n_left), [rk1, rk2], times(rng, n_right))
    check([lk2, lk1], times(rng, n_left), [rk2, rk1], times(rng, n_right))


def test_latest_per_key_and_by_unique_key():
    rng = np.random.default_rng(11)
    rk = pa.array(rng.integers(0, 50, 800))
    lk = pa.array(rng.integers(0, 60, 500))
    check([lk], None, [rk], times(rng, 800))  # the latest right row per key
    unique = pa.array(rng.permutation(1000)[:600])
    check([lk], None, [unique], None)  # joined on a (unique) primary key


def test_wide_keys_and_times_use_ranks():
    rng = np.random.default_rng(5)
    # keys spread over the whole int64 range and nanosecond times over decades: no offsets fit
    pool = rng.integers(-(2**62), 2**62, 40)
    rk = pa.array(pool[rng.integers(0, 40, 1500)])
    lk = pa.array(pool[rng.integers(0, 40, 900)])
    span = 30 * 365 * 86_400 * 1_000_000
    rt = times(rng, 1500, span_us=span, unit="ns")
    lt = times(rng, 900, span_us=span, unit="us")  # the units differ: compared in ns
    check([lk], lt, [rk], rt)


def test_left_rows_before_every_right_row_and_empty_sides():
    rk, rt = pa.array([1, 1, 2]), pa.array([T0 + 10, T0 + 20, T0 + 30], pa.timestamp("us", tz="UTC"))
    lk = pa.array([1, 1, 1, 2, 2])
    lt = pa.array([T0, T0 + 10, T0 + 25, T0 + 29, T0 + 31], pa.timestamp("us", tz="UTC"))
    assert check([lk], lt, [rk], rt) == [None, 0, 1, None, 2]
    empty_k, empty_t = pa.array([], pa.int64()), pa.array([], pa.timestamp("us", tz="UTC"))
    assert match([lk], lt, [empty_k], empty_t).to_pylist() == [None] * 5
    assert match([empty_k], empty_t, [rk], rt).to_pylist() == []


def test_chunked_columns():
    rk = pa.chunked_array([[1, 2], [1, 3]])
    rt = pa.chunked_array(
        [
            pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            pa.array([T0 + 5, T0], pa.timestamp("us", tz="UTC")),
        ]
    )
    lk = pa.chunked_array([[1], [3, 4]])
    lt = pa.chunked_array(
        [pa.array([T0 + 9], pa.timestamp("us", tz="UTC")), pa.array([T0, T0], pa.timestamp("us", tz="UTC"))]
    )
    assert check([lk], lt, [rk], rt) == [2, 3, None]


def test_types_it_leaves_to_duckdb():
    t = pa.array([T0], pa.timestamp("us", tz="UTC"))
    assert match([pa.array([1.0])], t, [pa.array([1.0])], t) is None  # float keys
    assert match([pa.array([1])], t, [pa.array(["1"])], t) is None  # int vs string
    assert match([pa.array([1])], pa.array([1]), [pa.array([1])], pa.array([1])) is None  # int times
    huge = pa.array([2**64 - 1], pa.uint64())
    assert match([huge], t, [huge], t) is None  # beyond int64
    with pytest.raises(ValueError, match="same number"):
        match([pa.array([1])], t, [], t)


def test_take_is_take_with_null_rows():
    table = pa.table(
        {
            "k": [1, 2, 3],
            "s": ["a", None, "c"],
            "f": [0.5, 1.5, None],
            "t": pa.array([T0, T0 + 1, T0 + 2], pa.timestamp("us", tz="UTC")),
            "b": [True, False, True],
            "l": [[1], [], None],
        }
    )
    chunked = pa.chunked_array([[1.5, 2.5], [3.5]])
    for index in ([2, None, 0, 1], [None, None], [0, 2], []):
        idx = pa.array(index, pa.int64())
        found = np.array([i is not None for i in index], dtype=bool)
        take = _pit.Take(np.array([i or 0 for i in index], dtype=np.int64), found)
        for name in table.column_names:
            got, want = take(table[name]), table[name].take(idx)
            assert got.type == want.type and got.to_pylist() == want.to_pylist(), (index, name)
        assert take(chunked).to_pylist() == chunked.take(idx).to_pylist()
    empty = table.slice(0, 0)
    assert _pit.Take(np.zeros(1, np.int64), np.zeros(1, bool))(empty["s"]).to_pylist() == [None]


def test_sort_order():
    t = pa.array([T0 + 5, T0, T0 + 1], pa.timestamp("us", tz="UTC"))
    assert _pit.sort_order([pa.array([1, 2, 3]), t]) is None  # already in order
    assert list(_pit.sort_order([pa.array([2, 1, 1]), t])) == [1, 2, 0]
    assert _pit.sort_order([pa.array(["a", "b", "b"]), t]) is None
    assert _pit.sort_order([pa.array(["b", "a", "a"]), t]).to_pylist() == [1, 2, 0]
    assert _pit.sort_order([pa.array([1, None, 0])]).to_pylist() == [2, 0, 1]  # nulls last


def test_within_max_age():
    ts = pa.timestamp("us", tz="UTC")
    left = pa.array([T0 + 100, T0 + 100, T0 + 100, None], ts)
    right = pa.array([T0 + 40, T0 + 39, None, T0], ts)
    age = timedelta(microseconds=60)
    assert _pit.within(left, right, age).tolist() == [True, False, False, False]
    # nanoseconds on one side: compared in nanoseconds
    right_ns = pa.array([(T0 + 40) * 1000 - 1, (T0 + 40) * 1000], pa.timestamp("ns", tz="UTC"))
    assert _pit.within(left.slice(0, 2), right_ns, age).tolist() == [False, True]


@pytest.mark.parametrize("key_type", [pa.int64(), pa.int32(), pa.date32()])
def test_one_key_codes_agree_with_the_general_way(key_type, monkeypatch):
    """The usual join (one integer-like key, timestamps of one unit) packs its codes straight from
    the column buffers; the general way (dense ids, offsets) must give the same rows."""
    rng = np.random.default_rng(9)
    n_right, n_left = 4000, 3000

    def keys(values, mask=None):
        return pa.array(values, pa.int32(), mask=mask).cast(key_type)  # int32 -> date32: days

    rk = pa.chunked_array([keys(rng.integers(0, 70, 2500)), keys(rng.integers(0, 70, n_right - 2500))])
    rt = pa.chunked_array([times(rng, 2500, span_us=3_000), times(rng, n_right - 2500, span_us=3_000)])
    lk = keys(rng.integers(-5, 80, n_left), rng.random(n_left) < 0.05)
    lt = times(rng, n_left, span_us=3_000, null_fraction=0.05).slice(0)
    assert _pit._one_key_codes([lk], lt, [rk], rt) is not None
    fast = check([lk], lt, [rk], rt)
    monkeypatch.setattr(_pit, "_one_key_codes", lambda *args: None)
    assert check([lk], lt, [rk], rt) == fast
    # sliced inputs (an offset into the buffers) give the rows of the slice
    monkeypatch.undo()
    check([lk.slice(100)], lt.slice(100), [rk], rt)
    # the general way: another unit on one side, nulls on the right
    assert _pit._one_key_codes([lk], lt.cast(pa.timestamp("ns", tz="UTC")), [rk], rt) is None
    assert _pit._one_key_codes([lk], lt, [keys([1, None])], rt.slice(0, 2)) is None
