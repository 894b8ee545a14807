"""Spark DataFrames in and out: Larder's column types for Spark's, the checks an insert makes before
anything is written (as the python engine's, computed by Spark on the executors), and the
conversions to the other frame types (through Arrow, as the python engine converts)."""

from __future__ import annotations

from typing import Any

from larder._time import EPOCH_MS_MIN
from larder.errors import InvalidArgumentError

# Larder's recorded type names (Arrow's, as the python engine records them) by Spark's simpleString
_TYPES = {
    "tinyint": "int8",
    "smallint": "int16",
    "int": "int32",
    "bigint": "int64",
    "float": "float",
    "double": "double",
    "boolean": "bool",
    "string": "string",
    "binary": "binary",
    "date": "date32[day]",
    "timestamp": "timestamp[us, tz=UTC]",
}
_SPARK = {v: k for k, v in _TYPES.items()}
# casts an insert may make to a recorded type without losing a value (the python engine casts with
# Arrow's safe cast, which checks the values; here only the widening casts are allowed)
_WIDENING = {
    "int64": {"int8", "int16", "int32"},
    "int32": {"int8", "int16"},
    "int16": {"int8"},
    # int64 too, as Arrow's safe cast (the python engine's) allows it
    "double": {"float", "int8", "int16", "int32", "int64"},
    "timestamp[us, tz=UTC]": {"date32[day]"},
}


def is_spark_frame(data: Any) -> bool:
    """Whether ``data`` is a ``pyspark.sql.DataFrame`` (classic or Spark Connect), without importing
    pyspark."""
    return any(
        c.__module__.startswith("pyspark.sql") and c.__name__ == "DataFrame" for c in type(data).__mro__
    )


def larder_type(field: Any) -> str:
    """The type name Larder records for a Spark column (Arrow's name, as the python engine's).

    Raises:
        InvalidArgumentError: for a ``timestamp_ntz`` column (no time zone: Larder stores UTC).
    """
    simple = field.dataType.simpleString()
    if simple == "timestamp_ntz":
        raise InvalidArgumentError(
            f"Column '{field.name}' holds naive timestamps (timestamp_ntz, no time zone). Larder stores UTC: "
            f"cast it, e.g. df.withColumn('{field.name}', F.to_utc_timestamp('{field.name}', 'UTC')).",
            details={"column": field.name, "type": simple},
        )
    if simple in _TYPES:
        return _TYPES[simple]
    if simple.startswith("decimal("):
        precision, scale = simple[len("decimal(") : -1].split(",")
        return f"decimal128({precision}, {scale})"
    return simple  # nested types keep Spark's name: they cannot be a key or be cast


def schema_of(frame: Any) -> list[dict[str, str]]:
    """A frame's schema as the catalog records it: ``[{"name", "type"}]``."""
    return [{"name": f.name, "type": larder_type(f)} for f in frame.schema.fields]


def _spark_type(name: str) -> str:
    if name in _SPARK:
        return _SPARK[name]
    if name.startswith("decimal128("):
        return "decimal(" + name[len("decimal128(") : -1].replace(" ", "") + ")"
    return name


def enforce_schema(frame: Any, schema: list[dict[str, str]]) -> Any:
    """The frame with the recorded schema's columns, in its order, widened where needed.

    Raises:
        InvalidArgumentError: unknown or missing columns, or a type that differs and cannot be
            widened to the recorded one (the same messages as the python engine's).
    """
    from pyspark.sql import functions as F

    from larder.engine.python._frames import schema_mismatch

    have = {f.name: larder_type(f) for f in frame.schema.fields}
    schema_mismatch(list(have), [f["name"] for f in schema])
    columns = []
    for f in schema:
        got, want = have[f["name"]], f["type"]
        column = F.col(quote(f["name"]))
        if got != want:
            if got not in _WIDENING.get(want, set()):
                raise InvalidArgumentError(
                    f"Column '{f['name']}' has type {got}, but the feature group stores {want}; convert it or "
                    "create a new version of the feature group.",
                    details={"column": f["name"], "expected": want, "got": got},
                )
            column = column.cast(_spark_type(want))
        columns.append(column.alias(f["name"]))
    return frame.select(columns)


def naive_as_utc(frame: Any) -> Any:
    """The frame with its ``timestamp_ntz`` columns (naive: no time zone) taken as UTC, as the python
    engine takes naive pandas/Arrow timestamps, with a :class:`~larder.errors.NaiveTimeWarning`
    naming them. Whatever the session's time zone, ``2024-01-01 00:00`` becomes
    ``2024-01-01T00:00:00Z``."""
    from pyspark.sql import functions as F

    naive = [f.name for f in frame.schema.fields if f.dataType.simpleString() == "timestamp_ntz"]
    if not naive:
        return frame
    from larder._time import warn_naive

    warn_naive(
        f"Column(s) {naive} hold naive timestamps (timestamp_ntz); Larder takes them as UTC. Convert them "
        "to timestamps with a time zone to say otherwise."
    )
    zone = frame.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"
    # the wall clock read as UTC, re-expressed in the session's zone, then cast to an instant there
    columns = [
        F.convert_timezone(F.lit("UTC"), F.lit(zone), F.col(quote(f.name))).cast("timestamp").alias(f.name)
        if f.name in naive
        else F.col(quote(f.name))
        for f in frame.schema.fields
    ]
    return frame.select(columns)


_INTEGERS = ("tinyint", "smallint", "int", "bigint")


def event_time_as_timestamp(frame: Any, event_time: str | None) -> tuple[Any, bool]:
    """The frame with an integer or date event time converted to timestamps, as the python
    engine converts them (``_frames.event_time_as_timestamp``): integers are epoch milliseconds,
    a date is midnight UTC (whatever the session's time zone). Returns ``(frame, from_integers)``:
    whether integers were converted (:func:`check_insert` then refuses values that look like epoch
    seconds, in its one job)."""
    from pyspark.sql import functions as F

    if not event_time or event_time not in frame.columns:
        return frame, False
    simple = frame.schema[event_time].dataType.simpleString()
    column = F.col(quote(event_time))
    if simple in _INTEGERS:
        converted = F.timestamp_millis(column.cast("bigint"))
    elif simple == "date":
        converted = F.timestamp_seconds(F.unix_date(column).cast("bigint") * 86400)
    else:
        return frame, False
    return frame.withColumn(event_time, converted), simple in _INTEGERS


def quote(name: str) -> str:
    """A column name as Spark parses it (in backticks).

    Example:
        >>> quote("a.b")
        '`a.b`'
    """
    return "`" + name.replace("`", "``") + "`"


def check_insert(
    frame: Any,
    primary_key: list[str],
    event_time: str | None,
    duplicates: str = "keep_last",
    epoch_ms: bool = False,
) -> dict[str, Any]:
    """Check a Spark frame for an insert, as the python engine checks Arrow (see its
    ``_frames.check_insert``), in one Spark job: the rows grouped by key and event time, then their
    count, the number of groups, the nulls in the key and event time and the keys seen more than
    once (duplicates within the insert) over the groups.

    Args:
        frame (pyspark.sql.DataFrame): the rows.
        primary_key (list[str]): the key columns.
        event_time (str | None): the event time column.
        duplicates (str): ``"keep_last"`` (default: duplicates are counted; :func:`keep_last`
            drops them) or ``"error"`` (refused).
        epoch_ms (bool): the event time was converted from epoch milliseconds
            (:func:`event_time_as_timestamp`): values below 10^11 ms are refused.

    Returns:
        dict: ``{"rows": n, "dropped": rows that repeat a key, "example": one such key or None}``;
        ``rows`` counts the rows written (without the dropped ones).

    Raises:
        InvalidArgumentError: naming what is wrong (the python engine's messages), with an example.
    """
    from pyspark.sql import functions as F

    from larder.engine.python._frames import check_columns

    types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    check_columns([f.name for f in frame.schema.fields], primary_key, event_time)
    if event_time and types[event_time] not in ("timestamp", "timestamp_ntz"):
        raise InvalidArgumentError(
            f"Event time column '{event_time}' must hold timestamps, dates or epoch milliseconds (int), not "
            f"{types[event_time]}; parse it, e.g. F.to_timestamp('{event_time}').",
            details={"column": event_time, "type": types[event_time]},
        )
    needed = primary_key + ([event_time] if event_time else [])
    # one job: the rows grouped by key (one shuffle), then one row of figures over the groups; a null
    # key or event time is a group of its own
    groups = frame.groupBy(*[quote(c) for c in needed]).agg(F.count(F.lit(1)).alias("__n"))
    n = F.col("__n")
    row = groups.agg(
        F.sum(n).alias("rows"),
        F.count(F.lit(1)).alias("groups"),
        *[F.sum(F.when(F.col(quote(c)).isNull(), n)).alias(f"n{i}") for i, c in enumerate(needed)],
        F.sum(F.when(n > 1, 1).otherwise(0)).alias("dups"),
        F.first(F.when(n > 1, F.struct(*[F.col(quote(c)) for c in needed])), ignorenulls=True).alias(
            "example"
        ),
        *(
            [
                F.min(
                    F.when(
                        F.abs(F.unix_millis(F.col(quote(event_time)))) < EPOCH_MS_MIN,
                        F.unix_millis(F.col(quote(event_time))),
                    )
                ).alias("seconds_like")
            ]
            if epoch_ms and event_time
            else []
        ),
    ).collect()[0]
    if not row["rows"]:
        raise InvalidArgumentError("The data frame is empty: nothing to insert.")
    for i, c in enumerate(needed):
        nulls = int(row[f"n{i}"] or 0)
        if nulls and c in primary_key:
            raise InvalidArgumentError(
                f"Primary key column '{c}' has {nulls} null value(s); every row needs a key.",
                details={"column": c, "nulls": nulls},
            )
        if nulls:
            raise InvalidArgumentError(
                f"Event time column '{event_time}' has {nulls} null value(s).", details={"column": event_time}
            )
    if epoch_ms and row["seconds_like"] is not None:
        bad = int(row["seconds_like"])
        raise InvalidArgumentError(
            f"Event time column '{event_time}' holds integers, read as epoch milliseconds (as hsfs), but {bad} is "
            f"below 10^11: it looks like epoch seconds (or is no time). Pass milliseconds (e.g. "
            f"F.col('{event_time}') * 1000) or timestamps.",
            details={"column": event_time, "value": bad},
        )
    if not row["dups"]:
        return {"rows": int(row["rows"]), "dropped": 0, "example": None}
    total = int(row["dups"])
    row0 = {k: str(v) for k, v in row["example"].asDict().items()}
    if duplicates == "error":
        raise InvalidArgumentError(
            f"{total} key(s) appear more than once in this insert, e.g. {row0}; each ({', '.join(needed)}) must "
            "be unique within one insert (write_options={'duplicates': 'error'}; the default 'keep_last' keeps "
            "the last row of each).",
            details={"duplicates": total, "example": row0},
        )
    return {"rows": int(row["groups"]), "dropped": int(row["rows"]) - int(row["groups"]), "example": row0}


def keep_last(frame: Any, keys: list[str]) -> Any:
    """The frame less the rows whose ``keys`` a later row repeats, "later" in the input's row
    order: each row is numbered by ``monotonically_increasing_id`` (partition by partition, in
    order within each), then the highest number of each key is kept. Lazy: it runs in the write's
    job (and the statistics')."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    row, rank = "__larder_row", "__larder_rank"
    latest = Window.partitionBy(*[F.col(quote(c)) for c in keys]).orderBy(F.col(row).desc())
    return (
        frame.withColumn(row, F.monotonically_increasing_id())
        .withColumn(rank, F.row_number().over(latest))
        .where(F.col(rank) == 1)
        .drop(row, rank)
    )


def to_arrow(frame: Any) -> Any:
    """A Spark frame's rows as a ``pyarrow.Table`` with the python engine's canonical types."""
    from larder.engine.python import _frames

    return _frames.normalize(frame.toArrow())
