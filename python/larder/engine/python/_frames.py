"""Data frames in and out: pandas / polars / pyarrow / numpy / python <-> Arrow, and the checks
an insert must pass before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from larder.errors import InvalidArgumentError

DUPLICATES = ("keep_last", "error")
"""What an insert does with rows repeating a (primary key, event time): keep the last one of each
in the input's row order (as hsfs's upsert; the default), or refuse the insert."""


@dataclass
class Checked:
    """An insert's rows after the checks: the table to write, the order that sorts it by (primary
    key, event time) (None: as it is), and how many rows repeated a key and were dropped, with one
    such key as an example."""

    table: Any
    order: Any
    dropped: int = 0
    example: dict[str, str] | None = None


DATAFRAME_TYPES = ("default", "pandas", "polars", "pyarrow", "numpy", "python")
"""The ``dataframe_type`` values the python engine returns; ``"default"`` is its own, ``"pandas"``."""


def _pa() -> Any:
    try:
        import pyarrow as pa
    except ImportError as e:  # pragma: no cover - the python extra is missing
        from larder.errors import ConfigurationError

        raise ConfigurationError(
            "The feature store needs pyarrow: pip install 'larder-platform[python]'."
        ) from e
    return pa


def to_arrow(data: Any) -> Any:
    """A pandas / polars / pyarrow frame (or a list of dicts) as a ``pyarrow.Table``."""
    pa = _pa()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise _unconvertible(data, e) from None
        for f in table.schema:  # Arrow reads a mix of aware and naive Python datetimes silently
            if pa.types.is_timestamp(f.type) and data[f.name].dtype == object:
                _check_one_kind_of_time(f.name, data[f.name].tolist())
        return table
    if module == "polars":
        return data.to_arrow()
    if module == "pyspark":
        raise InvalidArgumentError(
            "This is a Spark DataFrame, and the connection runs the 'python' engine, which works on the driver's "
            "memory: convert it with df.toPandas() (small frames), or connect with engine='spark' to write it "
            "from the executors.",
            details={"type": type(data).__name__},
        )
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        try:
            table = pa.Table.from_pylist(data)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise _unconvertible(data, e) from None
        for f in table.schema:
            if pa.types.is_timestamp(f.type):
                _check_one_kind_of_time(f.name, [r.get(f.name) for r in data])
        return table
    raise InvalidArgumentError(
        f"Cannot insert a {type(data).__module__}.{type(data).__name__}: pass a pandas or polars DataFrame, "
        "a pyarrow Table, or a list of dicts.",
        details={"type": type(data).__name__},
    )


def _check_one_kind_of_time(name: str, values: list[Any]) -> None:
    """Refuse a column mixing timezone-aware and naive times: which zone the naive ones are in is
    unknown (a column of naive times alone is read as UTC, see :func:`normalize`)."""
    kinds = {getattr(v, "tzinfo", None) is None for v in values if hasattr(v, "tzinfo")}
    if len(kinds) == 2:
        raise InvalidArgumentError(
            f"Column '{name}' holds timezone-aware and naive timestamps mixed (which zone the naive ones are "
            f"in is unknown): make them all timezone-aware, e.g. pd.to_datetime(df['{name}'], utc=True) "
            "if the naive ones are UTC.",
            details={"column": name},
        )


def _unconvertible(data: Any, error: Exception) -> InvalidArgumentError:
    """The column Arrow could not convert (values of mixed types in one column, or mixed aware and
    naive times), named with its Python types, as an error that says what to do."""
    pa = _pa()
    columns = list(data.columns) if hasattr(data, "columns") else sorted({k for r in data for k in r})
    for name in columns:
        values = data[name].tolist() if hasattr(data, "columns") else [r.get(name) for r in data]
        try:
            pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            kinds = sorted({type(v).__name__ for v in values if v is not None})
            tz = {getattr(v, "tzinfo", None) is None for v in values if hasattr(v, "tzinfo")}
            what = (
                "timezone-aware and naive timestamps mixed (which zone the naive ones are in is unknown)"
                if len(tz) == 2
                else f"values of several types ({', '.join(kinds)})"
            )
            return InvalidArgumentError(
                f"Column '{name}' holds {what}: one column needs one type. Convert it first, e.g. "
                f"df['{name}'] = df['{name}'].astype(str), pd.to_numeric(df['{name}']) or "
                f"pd.to_datetime(df['{name}'], utc=True).",
                details={"column": str(name), "types": kinds, "arrow_error": str(error)[:300]},
            )
    return InvalidArgumentError(
        f"The data frame cannot be converted to Arrow: {error}", details={"arrow_error": str(error)[:300]}
    )


def normalize(table: Any, naive_as_utc: bool = True) -> Any:
    """Canonical Arrow types: timezone-aware timestamps become ``timestamp[us, tz=UTC]``; large
    strings become strings; dictionary columns are decoded. Naive timestamps are taken as UTC (as
    hsfs does) with a :class:`~larder.errors.NaiveTimeWarning` naming the columns
    (``naive_as_utc=False``: an error)."""
    pa = _pa()
    import pyarrow.compute as pc

    columns = []
    fields = []
    naive = []
    for field, column in zip(table.schema, table.columns, strict=True):
        t = field.type
        if pa.types.is_dictionary(t):
            column = pc.cast(column, t.value_type)
            t = t.value_type
        if pa.types.is_timestamp(t):
            if t.tz is None and naive_as_utc:
                naive.append(field.name)  # the cast below reads naive values as UTC
            elif t.tz is None:
                raise InvalidArgumentError(
                    f"Column '{field.name}' holds naive timestamps (no time zone). Larder stores UTC: make them "
                    "timezone-aware, e.g. pandas: df[col] = df[col].dt.tz_localize('UTC') (or pd.to_datetime(..., "
                    "utc=True)).",
                    details={"column": field.name, "type": str(t)},
                )
            target = pa.timestamp("us", tz="UTC")
            if t != target:
                column = pc.cast(column, target)
                t = target
        elif pa.types.is_large_string(t) or _is_string_view(t):
            column = pc.cast(column, pa.string())
            t = pa.string()
        fields.append(pa.field(field.name, t))
        columns.append(column)
    if naive:
        from larder._time import warn_naive

        warn_naive(
            f"Column(s) {naive} hold naive timestamps (no time zone): they are taken as UTC (as hsfs does). "
            "Make them timezone-aware to be explicit, e.g. pandas: df[col] = df[col].dt.tz_localize('UTC')."
        )
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _is_string_view(t: Any) -> bool:
    pa = _pa()
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(t))


def plain_strings(table: Any) -> Any:
    """Cast ``string_view``/``large_string`` columns (deltalake's change feed has them) to ``string``,
    which every pyarrow kernel supports."""
    pa = _pa()
    import pyarrow.compute as pc

    for i, f in enumerate(table.schema):
        if _is_string_view(f.type) or pa.types.is_large_string(f.type):
            table = table.set_column(i, pa.field(f.name, pa.string()), pc.cast(table.column(i), pa.string()))
    return table


def schema_of(table: Any) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in table.schema]


def check_duplicates_option(duplicates: Any) -> str:
    """``duplicates`` if it is one of :data:`DUPLICATES`.

    Raises:
        InvalidArgumentError: naming the value and the choices.
    """
    if duplicates not in DUPLICATES:
        raise InvalidArgumentError(
            f"write_options['duplicates'] = {duplicates!r} is not a choice: use 'keep_last' (keep the last row "
            "of each primary key and event time, as hsfs's upsert) or 'error' (refuse an insert that repeats one).",
            details={"duplicates": repr(duplicates)[:100], "choices": list(DUPLICATES)},
        )
    return str(duplicates)


def check_insert(
    table: Any,
    primary_key: list[str],
    event_time: str | None,
    schema: list[dict[str, str]] | None,
    duplicates: str = "keep_last",
) -> Checked:
    """Validate (and, where safe, cast) an insert.

    Args:
        table (pyarrow.Table): the rows (normalized, see :func:`normalize`).
        primary_key (list[str]): the key columns.
        event_time (str | None): the event time column.
        schema (list[dict] | None): the recorded schema (None before the first insert).
        duplicates (str): rows repeating a (primary key, event time): ``"keep_last"`` (default)
            keeps the last of each in row order, ``"error"`` refuses them.

    Returns:
        Checked: the table to write (without the dropped duplicates), and the row order that sorts
        it by (primary key, event time) as a numpy array (None when it already is sorted, or when
        its keys are not integers, dates or timestamps; see :func:`in_order`).

    Raises:
        InvalidArgumentError: on an empty frame, missing key or event-time columns, nulls in the
            primary key, duplicate keys within the insert (``duplicates="error"``), an event time
            that is no timestamp, date or epoch milliseconds (see :func:`event_time_as_timestamp`),
            or a column whose type differs from the feature group's schema.
    """
    pa = _pa()
    check_duplicates_option(duplicates)

    if table.num_rows == 0:
        raise InvalidArgumentError("The data frame is empty: nothing to insert.")
    check_columns(table.column_names, primary_key, event_time)
    needed = primary_key + ([event_time] if event_time else [])
    for c in primary_key:
        nulls = table.column(c).null_count
        if nulls:
            raise InvalidArgumentError(
                f"Primary key column '{c}' has {nulls} null value(s); every row needs a key.",
                details={"column": c, "nulls": nulls},
            )
    if event_time:
        table = event_time_as_timestamp(table, event_time)
        et_type = table.schema.field(event_time).type
        if not pa.types.is_timestamp(et_type):
            raise InvalidArgumentError(
                f"Event time column '{event_time}' must hold timestamps, dates or epoch milliseconds (int), not "
                f"{et_type}; parse it, e.g. pandas: pd.to_datetime(df['{event_time}'], utc=True).",
                details={"column": event_time, "type": str(et_type)},
            )
        nulls = table.column(event_time).null_count
        if nulls:
            raise InvalidArgumentError(
                f"Event time column '{event_time}' has {nulls} null value(s).", details={"column": event_time}
            )
    if schema is not None:
        table = _enforce_schema(table, schema)
    return _check_unique(table, needed, duplicates)


def event_time_as_timestamp(table: Any, event_time: str) -> Any:
    """The table with an integer or date event time converted to ``timestamp[us, tz=UTC]``, as
    hsfs accepts them: integers are epoch **milliseconds**; a date is midnight UTC. Done once, at
    insert: the feature group stores (and its schema records) timestamps, so point-in-time joins,
    time filters and splits compare one type whatever each group was given. Other types are left
    as they are (:func:`check_insert` refuses them).

    Raises:
        InvalidArgumentError: an integer below 10^11 in absolute value (it looks like epoch
            seconds, or is 0), naming the value; an unsigned value beyond int64.

    Example:
        >>> import pyarrow as pa
        >>> t = event_time_as_timestamp(pa.table({"ts": [1704067200000]}), "ts")
        >>> str(t.schema.field("ts").type), t.column("ts")[0].as_py().isoformat()
        ('timestamp[us, tz=UTC]', '2024-01-01T00:00:00+00:00')
    """
    pa = _pa()
    import pyarrow.compute as pc

    from larder._time import EPOCH_MS_MIN

    i = table.schema.get_field_index(event_time)
    column = table.column(i)
    t = column.type
    if pa.types.is_integer(t):
        try:
            values = pc.cast(column, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InvalidArgumentError(
                f"Event time column '{event_time}' holds integers beyond int64; epoch milliseconds fit in int64.",
                details={"column": event_time, "type": str(t)},
            ) from None
        smallest = pc.min(pc.abs(values)).as_py()
        if smallest is not None and smallest < EPOCH_MS_MIN:
            bad = pc.min(pc.filter(values, pc.less(pc.abs(values), EPOCH_MS_MIN))).as_py()
            raise InvalidArgumentError(
                f"Event time column '{event_time}' holds integers, read as epoch milliseconds (as hsfs), but "
                f"{bad} is below 10^11: it looks like epoch seconds (or is no time). Pass milliseconds (e.g. "
                f"df['{event_time}'] * 1000) or timestamps.",
                details={"column": event_time, "value": bad},
            )
        converted = pc.cast(pc.cast(values, pa.timestamp("ms")), pa.timestamp("us", tz="UTC"))
    elif pa.types.is_date(t):
        converted = pc.cast(pc.cast(column, pa.timestamp("s")), pa.timestamp("us", tz="UTC"))
    else:
        return table
    return table.set_column(i, pa.field(event_time, converted.type), converted)


def check_columns(names: list[str], primary_key: list[str], event_time: str | None) -> None:
    """Refuse duplicate column names, and a frame without the key or event time columns (every
    engine's first check of an insert).

    Raises:
        InvalidArgumentError: naming the duplicate or missing columns.
    """
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidArgumentError(f"Duplicate column names {dupes}.", details={"columns": dupes})
    needed = primary_key + ([event_time] if event_time else [])
    missing = [c for c in needed if c not in names]
    if missing:
        raise InvalidArgumentError(
            f"The data frame lacks the primary key / event time column(s) {missing} (it has {names[:20]}).",
            details={"missing": missing},
        )


def schema_mismatch(names: list[str], expected: list[str]) -> None:
    """Refuse a frame whose columns are not the feature group's (every engine's schema check).

    Raises:
        InvalidArgumentError: naming the unknown and the missing columns.
    """
    extra = [n for n in names if n not in expected]
    absent = [n for n in expected if n not in names]
    if extra or absent:
        raise InvalidArgumentError(
            f"The data frame's columns differ from the feature group's schema: unknown {extra}, missing {absent}. "
            "Create a new version of the feature group to change its schema.",
            details={"unknown": extra, "missing": absent},
        )


def _unique_by_hash(table: Any, keys: list[str]) -> bool:
    """True when the rows' 64-bit hashes of ``keys`` are all distinct, which proves the keys unique
    (equal keys hash equally); False means "maybe not" (a duplicate, or a hash collision).
    polars hashes rows on all cores: 0.12 s for 5M (int64, timestamp) keys, where the exact
    duckdb GROUP BY took 0.64 s."""
    try:
        import polars as pl

        frame = pl.from_arrow(table.select(keys))
        if not isinstance(frame, pl.DataFrame):
            return False
        hashes = frame.hash_rows()
        return bool(hashes.n_unique() == table.num_rows)
    except Exception:  # a type polars cannot hash: the exact check decides
        return False


def _packed_keys(table: Any, keys: list[str]) -> Any | None:
    """Each row's keys packed into one uint64 that sorts as the keys do (offsets from each key's
    smallest value, the first key in the high bits), for integer, date and timestamp keys whose
    value ranges fit in 64 bits together (the usual id + event time); None for other types, nulls,
    or ranges too wide."""
    import numpy as np
    import pyarrow as pa

    code, bits = None, 0
    for k in keys:
        col = table.column(k)
        t = col.type
        if col.null_count or not (pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)):
            return None
        if pa.types.is_date32(t):
            col = col.cast(pa.int32())
        try:
            values = col.cast(pa.int64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # uint64 beyond int64
            return None
        if not len(values):
            return np.zeros(0, dtype=np.uint64)
        lo, hi = int(values.min()), int(values.max())
        width = (hi - lo).bit_length()
        bits += width
        if bits > 64:
            return None
        part = (values - lo).view(np.uint64)  # a new array, >= 0
        if code is None:
            code = part
        else:  # in place: fresh memory is what costs most here
            code <<= np.uint64(width)
            code |= part
    return code


def _sorted_keys(table: Any, keys: list[str]) -> tuple[Any | None, bool | None]:
    """``(order, unique)`` from the packed keys (``_packed_keys``).

    ``order`` sorts the rows by the keys, ties (and, see below, near-ties) kept in input order;
    None when the rows already are in order or the keys cannot be packed. ``unique`` is exact, or
    None when the keys cannot be packed (then a hash check decides).

    Both come from numpy's SIMD sort of plain uint64 values, ~0.03 s per 5M here, where an
    ``argsort`` took 0.2 s: the order sorts each row's packed keys with its row number in the low
    bits. When keys and row number need more than 64 bits together (a year of microseconds is 45
    bits, 5M rows 23), the keys' lowest bits are dropped for the order: rows of one primary key then
    follow each other by event time to a few seconds, in input order within that. The order only
    makes the files faster to write and to join; the uniqueness check sorts the exact keys."""
    import numpy as np

    code = _packed_keys(table, keys)
    if code is None:
        return None, None
    n = len(code)
    if n < 2:
        return None, True
    if bool((code[1:] >= code[:-1]).all()):
        return None, not bool((code[1:] == code[:-1]).any())
    row_bits = (n - 1).bit_length()
    drop = max(0, int(code.max()).bit_length() + row_bits - 64)
    ranked = code >> np.uint64(drop)
    ranked <<= np.uint64(row_bits)
    ranked |= np.arange(n, dtype=np.uint64)
    ranked.sort()
    ranked &= np.uint64((1 << row_bits) - 1)
    order = ranked.view(np.int64)
    code.sort()
    return order, not bool((code[1:] == code[:-1]).any())


def _check_unique(table: Any, keys: list[str], duplicates: str = "keep_last") -> Checked:
    """Find duplicate keys within one insert: exact from the sorted packed keys, or a fast hash
    check; only when neither proves uniqueness, duckdb's exact parallel GROUP BY (which also finds
    an example to report). Duplicates are refused (``duplicates="error"``) or all but the last
    row of each key dropped (:func:`keep_last`). Returns the rows and the order that sorts them by
    the keys (or None)."""
    order, by_sort = _sorted_keys(table, keys)
    if by_sort or (by_sort is None and _unique_by_hash(table, keys)):
        return Checked(table, order)
    from larder.engine.python import _sources
    from larder.engine.python.sql import quote_ident

    cols = ", ".join(quote_ident(k) for k in keys)
    con = _sources.connect()
    try:
        con.register("t", table.select(keys))
        sql = f"SELECT {cols}, count(*) AS n FROM t GROUP BY ALL HAVING count(*) > 1"  # noqa: S608 - quoted
        dup = con.sql(f"SELECT count(*) OVER () AS total, * FROM ({sql}) LIMIT 1").to_arrow_table()  # noqa: S608
    finally:
        con.close()
    if not dup.num_rows:
        return Checked(table, order)
    row = dup.to_pylist()[0]
    total = row.pop("total")
    row.pop("n")
    example = {k: str(v) for k, v in row.items()}
    if duplicates == "error":
        raise InvalidArgumentError(
            f"{total} key(s) appear more than once in this insert, e.g. {row}; each "
            f"({', '.join(keys)}) must be unique within one insert (write_options={{'duplicates': 'error'}}; "
            "the default 'keep_last' keeps the last row of each).",
            details={"duplicates": total, "example": example},
        )
    kept = keep_last(table, keys)
    return Checked(kept, _sorted_keys(kept, keys)[0], table.num_rows - kept.num_rows, example)


def keep_last(table: Any, keys: list[str]) -> Any:
    """The rows of ``table`` less those whose ``keys`` a later row repeats: the last row of each
    key in row order, the kept rows in their order.

    Example:
        >>> import pyarrow as pa
        >>> keep_last(pa.table({"k": [1, 2, 1], "v": ["a", "b", "c"]}), ["k"]).to_pydict()
        {'k': [2, 1], 'v': ['b', 'c']}
    """
    import numpy as np
    import pyarrow as pa

    rows = pa.array(np.arange(table.num_rows, dtype=np.int64))
    last = (
        table.select(keys)
        .append_column("__larder_row", rows)
        .group_by(keys)
        .aggregate([("__larder_row", "max")])
    )
    return table.take(np.sort(last.column("__larder_row_max").to_numpy()))


# rows per batch when an insert is streamed to the Delta writer in key order (see in_order)
ORDER_BATCH_ROWS = 131_072


def in_order(table: Any, order: Any | None) -> Any:
    """The rows of ``table`` in ``order`` (from :func:`check_insert`), for the Delta writer: the
    table itself when ``order`` is None, else a ``pyarrow.RecordBatchReader`` that gathers
    ``ORDER_BATCH_ROWS`` rows at a time.

    Why inserts are stored in (primary key, event time) order: the Delta write of 5M x 10 rows
    took 0.9-1.1 s sorted vs 1.6-1.9 s unsorted here (sorted keys and times encode and compress
    far better), and duckdb's two ASOF joins of 1M labels over such files took 0.74-0.83 s vs
    0.95-1.6 s (its sort is quicker on presorted input). Batches, not one ``take`` of the whole
    table: one 400 MB gather into fresh memory cost 0.3-1.2 s on the benchmark VM, while the
    batches reuse the same few MB."""
    if order is None:
        return table
    import pyarrow as pa

    def batches() -> Any:
        for start in range(0, len(order), ORDER_BATCH_ROWS):
            yield from table.take(order[start : start + ORDER_BATCH_ROWS]).to_batches()

    return pa.RecordBatchReader.from_batches(table.schema, batches())


def _enforce_schema(table: Any, schema: list[dict[str, str]]) -> Any:
    import pyarrow.compute as pc

    schema_mismatch(table.column_names, [f["name"] for f in schema])
    columns = []
    for f in schema:
        col = table.column(f["name"])
        if str(col.type) != f["type"]:
            try:
                col = pc.cast(col, _type_from_str(f["type"]), safe=True)
            except Exception:
                raise InvalidArgumentError(
                    f"Column '{f['name']}' has type {col.type}, but the feature group stores {f['type']}; convert it "
                    "or create a new version of the feature group.",
                    details={"column": f["name"], "expected": f["type"], "got": str(col.type)},
                ) from None
        columns.append(col)
    pa = _pa()
    return pa.Table.from_arrays(columns, names=[f["name"] for f in schema])


def _type_from_str(name: str) -> Any:
    pa = _pa()
    simple = {
        "int8": pa.int8(),
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "uint8": pa.uint8(),
        "uint16": pa.uint16(),
        "uint32": pa.uint32(),
        "uint64": pa.uint64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "large_string": pa.large_string(),
        "binary": pa.binary(),
        "date32[day]": pa.date32(),
        "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
    }
    if name in simple:
        return simple[name]
    raise ValueError(name)


def from_arrow(table: Any, dataframe_type: str) -> Any:
    """Convert an Arrow table to the requested frame type.

    Raises:
        InvalidArgumentError: on an unknown ``dataframe_type``.
    """
    if dataframe_type == "pyarrow":
        return table
    if dataframe_type in ("pandas", "default"):
        return table.to_pandas()
    if dataframe_type == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if dataframe_type == "numpy":
        return table.to_pandas().to_numpy()
    if dataframe_type == "python":
        return [list(r.values()) for r in table.to_pylist()]
    raise InvalidArgumentError(
        f"Unknown dataframe_type {dataframe_type!r}; use one of {', '.join(DATAFRAME_TYPES)}.",
        details={"dataframe_type": dataframe_type},
    )


def check_dataframe_type(dataframe_type: str) -> str:
    if dataframe_type not in DATAFRAME_TYPES:
        raise InvalidArgumentError(
            f"Unknown dataframe_type {dataframe_type!r}; use one of {', '.join(DATAFRAME_TYPES)}.",
            details={"dataframe_type": dataframe_type},
        )
    return dataframe_type
