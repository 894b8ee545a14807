"""Row matching for the joins of a query that give each left row at most one right row.

- **Point-in-time** (both sides have an event time): each left row gets the right row with the
  same keys and the latest event time <= its own (a tie matches, as ``>=`` does in the ASOF
  condition).
- **Latest per key** (only the right side has an event time): the right row with the same keys and
  the latest event time.
- **By primary key** (the right side has no event time and is joined on its whole primary key):
  the right row with the same keys, unique because the primary key is.

:func:`match` gives, for every left row, the index of its right row (or none); :class:`Take`
then takes the right side's columns at those indices (``Query._arrow`` via ``query._matched``).
The rows are those of duckdb's ``ASOF JOIN`` (the SQL ``Query.to_string`` shows), found with less
work: each row's key and event time become one uint64, the right side is sorted by it once (not at
all when stored in that order, as inserts store it), the left side too, and one ``searchsorted``
finds each left row's last right row at or before it; then the key bits are compared.

How the uint64 is made:

- the usual join (one integer, date or timestamp key, timestamps of one unit, no nulls on the
  right) packs the key's offset from the smallest key, the time's offset from the earliest time
  and one bit that sorts a right row before a left row at the same time, straight from the
  columns' buffers (:func:`_one_key_codes`): one fresh array per side, since on a VM every fresh
  page of memory costs;
- otherwise every row's keys become one dense integer id (integers by offset, other types by
  ``dictionary_encode`` over both sides; several key columns combined), and the time its offset
  or, when that does not fit, its rank among all times.

Float keys and keys of different kinds (an integer against a string) are left to duckdb: how they
compare is its to define.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# a uint64 packs the key id, the time and one bit
_BITS = 64
# integer keys spanning more values than this get dense ids instead of offsets
_MAX_OFFSET_SPAN = 1 << 32


def match(
    left_keys: Sequence[Any],
    left_time: Any | None,
    right_keys: Sequence[Any],
    right_time: Any | None,
) -> tuple[Any, Any] | None:
    """For each left row, the index of its right row.

    Args:
        left_keys, right_keys: the join key columns of each side, in pairs (``pyarrow`` arrays or
            chunked arrays; at least one pair).
        left_time, right_time: the event time columns (timestamps), or None: with both, the latest
            right row at or before the left row's time; with only ``right_time``, the latest right
            row; with neither, the right keys must be unique (the caller checks: a primary key).

    Returns:
        tuple | None: ``(index, found)``, numpy arrays with one value per left row: int64 indices
        into the right rows (0 where none matches) and where one matches (a null key or time on the
        left never matches); None when the key or time types cannot be compared this way (e.g.
        float keys, int vs string): the caller then runs duckdb's join.
    """
    import numpy as np
    import pyarrow as pa

    if len(left_keys) != len(right_keys) or not left_keys:
        raise ValueError("match() needs the same number (>= 1) of left and right key columns")
    if left_time is not None and right_time is None:
        raise ValueError("a left event time needs a right event time")
    fast = _one_key_codes(left_keys, left_time, right_keys, right_time)
    if fast is not None:
        return _search(*fast, rows=None)
    n_left = len(left_keys[0])
    try:
        ids = _key_ids(left_keys, right_keys)
        times = _times(left_time, right_time, n_left, len(right_keys[0]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. uint64 keys beyond int64
        return None
    if ids is None or times is None:
        return None
    lid, lvalid, rid, rvalid, n_ids = ids  # the id arrays are this function's to overwrite
    lt, ltvalid, rt, rtvalid = times
    lvalid &= ltvalid
    rows = None  # the right rows that can match at all, when not all of them
    if not (rvalid.all() and rtvalid.all()):
        rows = np.flatnonzero(rvalid & rtvalid)
        rid, rt = rid[rows], rt[rows]

    # times as offsets from the earliest (or ranks), so that key id + time + 1 bit fit in 64 bits
    # (in place where possible: on a VM every fresh page of memory costs)
    key_bits = max(int(n_ids - 1).bit_length(), 1)
    point_in_time = left_time is not None
    all_left = bool(lvalid.all())
    if len(rt):
        lo = int(rt.min())
        if point_in_time and lvalid.any():
            lo = min(lo, int(lt.min() if all_left else lt[lvalid].min()))
        rt = rt - lo
        if point_in_time:
            lt = lt - lo
            if not all_left:
                lt[~lvalid] = 0
    span = max(int(rt.max(initial=0)), int(lt.max(initial=0)) if point_in_time else 0)
    if key_bits + span.bit_length() + 1 > _BITS:  # order-preserving ranks instead of offsets
        every = _distinct(np.concatenate([rt, lt[lvalid]]) if point_in_time else rt)
        rt = np.searchsorted(every, rt)
        lt = np.where(lvalid, np.searchsorted(every, lt), 0) if point_in_time else lt
        span = len(every)
        if key_bits + span.bit_length() + 1 > _BITS:
            return None
    if not point_in_time:
        lt = np.full(n_left, span, dtype=np.int64)  # "latest": at or after every right time
    shift, one = np.uint64(span.bit_length() + 1), np.uint64(1)
    right_code = rid.view(np.uint64)
    right_code <<= shift
    right_code |= rt.view(np.uint64) << one
    left_code = lid.view(np.uint64)
    left_code <<= shift
    left_code |= lt.view(np.uint64) << one
    left_code |= one  # puts a right row before a left row at the same time
    del rid, rt, lid, lt
    return _search(left_code, lvalid, right_code, shift, rows=rows)


def _search(left_code: Any, lvalid: Any, right_code: Any, shift: Any, rows: Any | None) -> tuple[Any, Any]:
    """Each left row's last right row at or before it by code, when its key bits (above
    ``shift``) are the same: ``(index, found)``; ``rows`` maps right codes to right rows."""
    import numpy as np

    n_left = len(left_code)
    if not len(right_code):
        return np.zeros(n_left, dtype=np.int64), np.zeros(n_left, dtype=bool)
    if bool((right_code[1:] >= right_code[:-1]).all()):  # stored in key order: no sort
        r_order = None
        right_sorted = right_code
    else:
        r_order = np.argsort(right_code, kind="stable")  # timsort: quick on nearly sorted rows
        right_sorted = right_code[r_order]
    del right_code
    l_order = np.argsort(left_code)  # sorted queries: searchsorted walks forward, cache-friendly
    queries = left_code[l_order]
    last = np.searchsorted(right_sorted, queries, side="right")
    last -= 1
    np.maximum(last, 0, out=last)
    # in query order: found where the right row before has the same key bits
    same = right_sorted[last]
    same ^= queries
    same >>= shift
    del queries
    pos = np.empty(n_left, dtype=np.int64)
    pos[l_order] = last
    found = np.empty(n_left, dtype=bool)
    found[l_order] = same == 0
    del l_order, last, same
    # a right row at or before: the search's "right" side puts a tie (same code) before the query
    found &= lvalid
    found &= (pos > 0) | (right_sorted[0] <= left_code)
    index = pos if r_order is None else r_order[pos]
    if rows is not None:
        index = rows[index]
    index[~found] = 0
    return index, found


def _one_key_codes(
    left_keys: Sequence[Any], left_time: Any | None, right_keys: Sequence[Any], right_time: Any | None
) -> tuple[Any, Any, Any, Any] | None:
    """The codes :func:`_search` takes, straight from the columns' buffers, for the usual
    point-in-time join: one integer, date or timestamp key, timestamps of one unit on both sides,
    no nulls on the right, offsets that fit in 64 bits; None otherwise (the general way then runs).
    One fresh uint64 per row and side: on a VM every fresh page of memory costs."""
    import numpy as np
    import pyarrow as pa

    if len(left_keys) != 1 or left_time is None or right_time is None:
        return None
    lk, rk = left_keys[0], right_keys[0]
    kinds = (lk.type, rk.type)
    if not (all(pa.types.is_integer(t) for t in kinds) or (kinds[0] == kinds[1] and _integer_like(kinds[0]))):
        return None
    if pa.types.is_boolean(kinds[0]) or any(pa.types.is_uint64(t) for t in kinds):
        return None
    if not (pa.types.is_timestamp(left_time.type) and left_time.type == right_time.type):
        return None
    if rk.null_count or right_time.null_count or not len(rk) or not len(lk):
        return None
    ends = [_ends(c) for c in (lk, rk, left_time, right_time)]
    if any(e is None for e in ends):
        return None
    (lk0, lk1), (rk0, rk1), (lt0, lt1), (rt0, rt1) = ends  # type: ignore[misc]
    klo, khi, tlo, thi = min(lk0, rk0), max(lk1, rk1), min(lt0, rt0), max(lt1, rt1)
    tbits = (thi - tlo).bit_length() + 1
    if max((khi - klo).bit_length(), 1) + tbits > _BITS:
        return None
    shift = np.uint64(tbits)

    def pack(keys: Any, times: Any, tie: int) -> Any:
        code = np.empty(len(keys), dtype=np.uint64)
        signed = code.view(np.int64)
        start = 0
        for chunk in _chunks(keys):
            np.subtract(_buffer_values(chunk), klo, out=signed[start : start + len(chunk)])
            start += len(chunk)
        code <<= shift
        start = 0
        for chunk in _chunks(times):
            part = _buffer_values(chunk) - tlo
            part <<= 1
            part |= tie
            code[start : start + len(chunk)] |= part.view(np.uint64)
            start += len(chunk)
        return code

    lvalid = np.ones(len(lk), dtype=bool)
    for c in (lk, left_time):
        if c.null_count:
            lvalid &= _valid(_column(c))
    # a left row's tie bit (1) puts a right row at the same time (0) before it
    return pack(lk, left_time, 1), lvalid, pack(rk, right_time, 0), shift


def _ends(col: Any) -> tuple[int, int] | None:
    """The smallest and largest stored number of an integer, date or timestamp column (nulls
    skipped), or None when it has no value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if not pa.types.is_integer(t):  # dates and timestamps: their stored numbers, no copy
        as_int = pa.int32() if t.bit_width == 32 else pa.int64()
        col = pa.chunked_array([c.view(as_int) for c in _chunks(col)], as_int)
    ends = pc.min_max(col)
    if not ends["min"].is_valid:
        return None
    return int(ends["min"].as_py()), int(ends["max"].as_py())


def _chunks(col: Any) -> list[Any]:
    import pyarrow as pa

    return list(col.chunks) if isinstance(col, pa.ChunkedArray) else [col]


def _buffer_values(chunk: Any) -> Any:
    """A primitive chunk's values as a numpy view of its data buffer (null slots hold anything)."""
    import numpy as np
    import pyarrow as pa

    t = chunk.type
    width = t.bit_width
    kind = "u" if pa.types.is_unsigned_integer(t) else "i"
    values = np.frombuffer(
        chunk.buffers()[1], dtype=np.dtype(f"{kind}{width // 8}"), count=chunk.offset + len(chunk)
    )
    return values[chunk.offset :]


def _distinct(values: Any) -> Any:
    """The sorted distinct values (numpy's ``unique`` hashes: 10x slower than sorting here)."""
    import numpy as np

    s = np.sort(values)
    return s[np.concatenate([[True], s[1:] != s[:-1]])] if len(s) else s


def _dense(values: Any) -> tuple[Any, int]:
    """Dense ranks of ``values`` (0 for the smallest, equal values equal) and how many there are."""
    import numpy as np

    order = np.argsort(values)
    s = values[order]
    new = np.concatenate([[False], s[1:] != s[:-1]]) if len(s) else np.zeros(0, dtype=bool)
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(new)
    return ranks, int(ranks.max(initial=-1)) + 1


def _column(col: Any) -> Any:
    """A chunked array as one array (a copy only when it has several chunks)."""
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _valid(col: Any) -> Any:
    import numpy as np

    if col.null_count == 0:
        return np.ones(len(col), dtype=bool)
    return col.is_valid().to_numpy(zero_copy_only=False)


def _int_values(col: Any) -> Any:
    """int64 values of an integer, boolean, date or timestamp column (nulls as 0)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    elif pa.types.is_date32(col.type):
        col = col.cast(pa.int32())
    elif pa.types.is_timestamp(col.type) or pa.types.is_date64(col.type):
        col = col.cast(pa.int64())
    if col.null_count:
        col = pc.fill_null(col, 0)
    return col.cast(pa.int64()).to_numpy()


def _integer_like(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_date(t) or pa.types.is_timestamp(t)


def _key_ids(left_keys: Sequence[Any], right_keys: Sequence[Any]) -> tuple[Any, Any, Any, Any, int] | None:
    """Dense ids of each row's keys, shared by both sides: ``(left_ids, left_valid, right_ids,
    right_valid, n_ids)``; None when a key pair's types cannot be compared by value here."""
    import numpy as np
    import pyarrow as pa

    n_left = len(left_keys[0])
    lid: Any = None
    rid: Any = None
    lvalid = np.ones(n_left, dtype=bool)
    rvalid = np.ones(len(right_keys[0]), dtype=bool)
    n_ids = 1
    for lcol, rcol in zip(left_keys, right_keys, strict=True):
        lcol, rcol = _column(lcol), _column(rcol)
        lvalid &= _valid(lcol)
        rvalid &= _valid(rcol)
        both = (lcol.type, rcol.type)
        if pa.types.is_floating(both[0]) or pa.types.is_floating(both[1]):
            return None  # float equality (NaN, -0.0) is duckdb's to define
        if all(_integer_like(t) for t in both) and (
            all(pa.types.is_integer(t) or pa.types.is_boolean(t) for t in both) or both[0] == both[1]
        ):
            lv, rv = _int_values(lcol), _int_values(rcol)
            ends = [int(f(v)) for v in (lv, rv) if len(v) for f in (np.min, np.max)]
            lo, span = (min(ends), max(ends) - min(ends) + 1) if ends else (0, 1)
            if span <= _MAX_OFFSET_SPAN:
                lv, rv, card = lv - lo, rv - lo, int(span)  # new arrays: match() overwrites them
            else:
                inverse, card = _dense(np.concatenate([lv, rv]))
                lv, rv = inverse[:n_left], inverse[n_left:]
        else:
            if rcol.type != lcol.type:
                if not all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in both):
                    return None  # e.g. int vs string: how they compare is duckdb's to define
                rcol = rcol.cast(lcol.type)
            try:
                encoded = pa.concat_arrays([lcol, rcol]).dictionary_encode()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
            codes = (
                encoded.indices.fill_null(0).cast(pa.int64()).to_numpy(zero_copy_only=False, writable=True)
            )
            lv, rv, card = codes[:n_left], codes[n_left:], max(len(encoded.dictionary), 1)
        if lid is None:
            lid, rid, n_ids = lv, rv, card
        elif n_ids * card < (1 << 62):
            lid, rid, n_ids = lid * card + lv, rid * card + rv, n_ids * card
        else:  # re-number the combination densely before it overflows
            inverse, dense = _dense(np.concatenate([lid, rid]))
            lid, rid = inverse[:n_left] * card + lv, inverse[n_left:] * card + rv
            n_ids = dense * card
    return lid, lvalid, rid, rvalid, n_ids


def _times(left_time: Any | None, right_time: Any | None, n_left: int, n_right: int) -> tuple | None:
    """int64 times of both sides in one unit: ``(left, left_valid, right, right_valid)``; zeros
    for a side without time; None when they are not timestamps."""
    import numpy as np
    import pyarrow as pa

    def none(n: int) -> tuple[Any, Any]:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)

    if right_time is None:
        return (*none(n_left), *none(n_right))
    rcol = _column(right_time)
    if not pa.types.is_timestamp(rcol.type):
        return None
    if left_time is None:
        return (*none(n_left), _int_values(rcol), _valid(rcol))
    lcol = _column(left_time)
    if not pa.types.is_timestamp(lcol.type):
        return None
    units = ["s", "ms", "us", "ns"]
    unit = max(lcol.type.unit, rcol.type.unit, key=units.index)
    try:  # the finer unit of the two (timezones do not change the stored UTC instants)
        lcol, rcol = (c.cast(pa.timestamp(unit, c.type.tz)) for c in (lcol, rcol))
    except pa.ArrowInvalid:  # out of the finer unit's range
        return None
    return _int_values(lcol), _valid(lcol), _int_values(rcol), _valid(rcol)


class Take:
    """Takes column values at a :func:`match` result: ``Take(index, found)(column)`` is
    ``column.take(index)`` with null rows where ``found`` is False, several times faster here: a
    take with the null-free index, then ``found`` as the validity bitmap of the taken buffers (or
    ``if_else`` for column types whose nulls live elsewhere)."""

    def __init__(self, index: Any, found: Any) -> None:
        import numpy as np
        import pyarrow as pa

        self._n = len(index)
        self._nulls = self._n - int(np.count_nonzero(found))
        self._filled = pa.array(index, type=pa.int64())
        self._found = pa.array(found, type=pa.bool_()) if self._nulls else None
        self._all_null = self._n > 0 and self._nulls == self._n
        self._flat = (pa.string(), pa.large_string(), pa.binary(), pa.large_binary())

    def __call__(self, col: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        t = col.type
        if self._all_null or (len(col) == 0 and self._n):
            return pa.nulls(self._n, t)
        rows = col.take(self._filled)
        if not self._nulls:
            return rows
        if isinstance(rows, pa.ChunkedArray):
            rows = rows.combine_chunks() if rows.num_chunks != 1 else rows.chunk(0)
        flat = pa.types.is_primitive(t) or pa.types.is_decimal(t) or t in self._flat
        if flat and rows.offset == 0 and rows.null_count == 0:
            assert self._found is not None
            # a fresh boolean array without nulls: its values are the validity bitmap needed
            bitmap = self._found.buffers()[1]
            return pa.Array.from_buffers(t, len(rows), [bitmap, *rows.buffers()[1:]], null_count=self._nulls)
        return pc.if_else(self._found, rows, pa.scalar(None, t))


def sort_order(columns: Sequence[Any]) -> Any | None:
    """The row order that sorts by ``columns`` (ascending, nulls last, ties in row order), or None
    when the rows already are in that order (as an insert stores them: ``_frames.in_order``).

    Integer, date and timestamp columns without nulls are compared in numpy (a check of the order
    in one pass; a stable ``lexsort`` only when it fails); other columns in Arrow."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    flat = [_column(c) for c in columns]
    if all(_integer_like(c.type) and c.null_count == 0 for c in flat):
        values = [_int_values(c) for c in flat]
        if len(values[0]) < 2:
            return None
        # in order: each row is after the one before it by its first differing column
        after = np.zeros(len(values[0]) - 1, dtype=bool)
        equal = np.ones(len(values[0]) - 1, dtype=bool)
        for v in values:
            after |= equal & (v[1:] > v[:-1])
            equal &= v[1:] == v[:-1]
        if bool((after | equal).all()):
            return None
        return np.lexsort(values[::-1])
    names = [f"c{i}" for i in range(len(flat))]
    table = pa.table(dict(zip(names, flat, strict=True)))
    rows = pc.sort_indices(table, sort_keys=[(n, "ascending", "at_end") for n in names])
    return None if rows.equals(pa.array(np.arange(len(rows)), rows.type)) else rows


def within(left_time: Any, right_time: Any, max_age: Any) -> Any:
    """Where ``right_time >= left_time - max_age`` (a numpy bool array, False where either is null),
    as the SQL's ``CASE WHEN`` for ``max_age`` compares: in the finer unit of the two, at least
    microseconds."""
    import numpy as np
    import pyarrow as pa

    unit = "ns" if "ns" in (left_time.type.unit, right_time.type.unit) else "us"
    values = [_int_values(_column(c.cast(pa.timestamp(unit, c.type.tz)))) for c in (left_time, right_time)]
    micros = int(max_age.total_seconds() * 1_000_000)
    delta = micros * 1000 if unit == "ns" else micros
    fresh = values[1] >= values[0] - delta
    fresh &= _valid(_column(left_time))
    fresh &= _valid(_column(right_time))
    return np.asarray(fresh)
