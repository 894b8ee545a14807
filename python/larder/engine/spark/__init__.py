"""The spark engine: data work on the active SparkSession with delta-spark, on the same Delta
tables, commit metadata and catalog as the python engine (``pip install 'larder-platform[spark]'``).

Its frames are ``pyspark.sql.DataFrame``s (``dataframe_type="spark"``, the default here; the other
types are converted through Arrow on the driver). Inserts take Spark DataFrames (checked and
written on the executors) or pandas / polars / Arrow frames (checked by the python engine's code,
then handed to Spark). Modules:

- ``session``: the active session, or a local one; the Spark configuration Larder's tables need;
- ``delta``: read (time travel), read changes, write (``MERGE``, append, overwrite);
- ``query``: point-in-time joins as a sorted union per key; ``_frames``: types and insert checks;
- ``statistics``: a commit's statistics as the python engine computes them;
- ``transform``: transformation functions, fitted and applied with the python engine's code.

Nothing here imports pyspark at import time.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from larder.engine import _DataEngine
from larder.errors import InvalidArgumentError
from larder.plan import QueryPlan, TableRef, Term

DATAFRAME_TYPES = ("default", "spark", "pandas", "polars", "pyarrow", "numpy", "python")
"""The ``dataframe_type`` values the spark engine returns; ``"default"`` is its own, ``"spark"``."""


@dataclass
class Prepared:
    """A frame checked for an insert: the Spark frame to write, its schema as the catalog records
    it, how many rows it has, and (for a frame that came as Arrow) the Arrow rows, whose statistics
    the python engine computes on the driver."""

    frame: Any
    schema: list[dict[str, str]]
    num_rows: int
    arrow: Any = field(default=None, repr=False)
    dropped: int = 0
    dropped_example: dict[str, str] | None = None


class SparkEngine(_DataEngine):
    """Data work on the active SparkSession with delta-spark (``larder-platform[spark]``).

    The session is the active one when there is one (it needs Delta Lake: see
    :func:`larder.engine.spark.session.spark_config`), else a local one the engine builds (logged).

    Example:
        >>> conn = larder.connection(engine="spark")  # doctest: +SKIP
        >>> weather.insert(spark.read.parquet("s3a://raw/weather/"))  # doctest: +SKIP
        >>> df = weather.read()  # a pyspark.sql.DataFrame  # doctest: +SKIP
    """

    name = "spark"
    extra = "spark"
    modules = ("pyspark", "delta")

    def __init__(self) -> None:
        self._spark: Any = None

    @property
    def spark(self) -> Any:
        """The SparkSession data work runs on (the active one, or a local one built once)."""
        if self._spark is None or self._spark.sparkContext._jsc is None:
            from larder.engine.spark.session import get_session

            self._spark = get_session()
        return self._spark

    # --- frames ---------------------------------------------------------------------------------

    def check_dataframe_type(self, dataframe_type: str) -> str:
        if dataframe_type not in DATAFRAME_TYPES:
            raise InvalidArgumentError(
                f"Unknown dataframe_type {dataframe_type!r}; use one of {', '.join(DATAFRAME_TYPES)}.",
                details={"dataframe_type": dataframe_type},
            )
        return dataframe_type

    def to_dataframe(self, frame: Any, dataframe_type: str) -> Any:
        from larder.engine.python._frames import from_arrow
        from larder.engine.spark._frames import to_arrow

        if self.check_dataframe_type(dataframe_type) in ("spark", "default"):
            return frame
        return from_arrow(to_arrow(frame), dataframe_type)

    def columns(self, frame: Any) -> list[str]:
        return list(frame.columns)

    def select(self, frame: Any, columns: list[str]) -> Any:
        from larder.engine.spark._frames import quote

        return frame.select(*[quote(c) for c in columns])

    def head(self, frame: Any, n: int) -> Any:
        return frame.limit(n)

    def num_rows(self, frame: Any) -> int:
        return int(frame.count())

    # --- feature groups -------------------------------------------------------------------------

    def prepare_insert(
        self,
        data: Any,
        primary_key: list[str],
        event_time: str | None,
        schema: list[dict[str, str]] | None,
        partition_key: list[str],
        duplicates: str = "keep_last",
    ) -> Prepared:
        """Check an insert: a Spark DataFrame on the executors (its rows counted, null and duplicate
        keys looked for, its types against the recorded ``schema``; with ``duplicates="keep_last"``
        the write keeps the last row of each key in the input's order, see
        ``_frames.keep_last``); a pandas / polars / Arrow frame or list of dicts by the python
        engine's checks, then made a Spark DataFrame."""
        from larder.engine.python._frames import check_duplicates_option
        from larder.engine.spark import _frames

        check_duplicates_option(duplicates)
        if not _frames.is_spark_frame(data):
            from larder.engine.python import PythonEngine

            checked = PythonEngine().prepare_insert(
                data, primary_key, event_time, schema, partition_key, duplicates
            )
            table = _frames_in_order(checked)
            return Prepared(
                self.spark.createDataFrame(table),
                checked.schema,
                checked.num_rows,
                arrow=table,
                dropped=checked.dropped,
                dropped_example=checked.dropped_example,
            )
        data = _frames.naive_as_utc(data)
        data, epoch_ms = _frames.event_time_as_timestamp(data, event_time)
        frame = data if schema is None else _frames.enforce_schema(data, schema)
        recorded = _frames.schema_of(frame)  # refuses naive timestamps before any Spark job
        missing = [c for c in partition_key if c not in frame.columns]
        if missing:
            raise InvalidArgumentError(f"The data frame lacks the partition column(s) {missing}.")
        counted = _frames.check_insert(frame, primary_key, event_time, duplicates, epoch_ms)
        if counted["dropped"]:
            frame = _frames.keep_last(frame, primary_key + ([event_time] if event_time else []))
        return Prepared(
            frame, recorded, counted["rows"], dropped=counted["dropped"], dropped_example=counted["example"]
        )

    def statistics(self, prepared: Prepared) -> Future[dict[str, Any] | None]:
        """Statistics of the rows, computed in a thread beside the write (Spark runs both jobs at
        once); the future's result is None when they fail (statistics never fail an insert)."""
        if prepared.arrow is not None:
            from larder.engine.python import statistics as python_statistics

            task: Any = lambda: python_statistics.compute_or_none(prepared.arrow)  # noqa: E731
        else:
            from larder.engine.spark import statistics

            task = lambda: statistics.compute_or_none(prepared.frame)  # noqa: E731
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="larder-stats")
        try:
            return pool.submit(task)
        finally:
            pool.shutdown(wait=False)

    def write(self, ref: TableRef, prepared: Prepared, overwrite: bool, operation: str, write_id: str) -> int:
        from larder.engine.spark import delta

        return delta.write(self.spark, ref, prepared.frame, overwrite, operation, write_id)

    def read(self, ref: TableRef, as_of: datetime | None = None) -> Any:
        from larder.engine.spark import delta

        return delta.read(self.spark, ref, as_of)

    def read_changes(self, ref: TableRef, start: datetime, end: datetime) -> Any:
        from larder.engine.spark import delta

        return delta.read_changes(self.spark, ref, start, end)

    def distinct_keys(self, frame: Any, primary_key: list[str]) -> list[list[Any]]:
        from larder.engine.spark._frames import quote

        keys = frame.select(*[quote(c) for c in primary_key]).distinct().toArrow().to_pylist()
        return [[k[c] for c in primary_key] for k in keys]

    def from_rows(self, rows: list[dict[str, Any]], like: Any) -> Any:
        """Rows (dicts of JSON values) as a Spark frame with ``like``'s columns and types."""
        from pyspark.sql.pandas.types import to_arrow_schema

        from larder.engine.python import PythonEngine

        empty = to_arrow_schema(like.schema, timezone="UTC").empty_table()
        table = PythonEngine().from_rows(rows, empty)
        return self.spark.createDataFrame(table, schema=like.schema)

    # --- queries --------------------------------------------------------------------------------

    def query(
        self, plan: QueryPlan, where: list[Term] | None = None, order_by: list[str] | None = None
    ) -> Any:
        from larder.engine.spark import query

        return query.run(self.spark, plan, where, order_by)

    def query_sql(self, plan: QueryPlan) -> str:
        """The plan's SQL, which defines what the query returns on every engine (duckdb's dialect,
        tables named by their aliases); the spark engine runs it as DataFrame operations (see
        ``larder.engine.spark.query``)."""
        from larder.engine.python.sql import plan_sql

        return plan_sql(plan)

    def sql(self, text: str, tables: dict[str, TableRef], views: dict[str, str]) -> Any:
        """Run ad-hoc Spark SQL over feature groups: each table and view is a temporary view of the
        session while the SQL is analysed (then dropped: the returned frame keeps its plan); files
        cannot be read by path (``spark.sql.runSQLOnFiles`` is off meanwhile).

        Raises:
            InvalidArgumentError: when Spark refuses the SQL (its reason, and the tables' names).
        """
        from larder.engine.spark import delta

        spark = self.spark
        names = {name: delta.read(spark, ref) for name, ref in tables.items()}
        names.update({view: names[name] for view, name in views.items()})
        before = spark.conf.get("spark.sql.runSQLOnFiles", "true")
        for name, frame in names.items():
            frame.createOrReplaceTempView(name)
        spark.conf.set("spark.sql.runSQLOnFiles", "false")
        try:
            return spark.sql(text)
        except Exception as e:
            if type(e).__module__.startswith("pyspark.errors"):
                raise InvalidArgumentError(
                    f"The SQL failed: {str(e)[:2000]}", details={"tables": sorted(views) or sorted(tables)}
                ) from None
            raise
        finally:
            spark.conf.set("spark.sql.runSQLOnFiles", before)
            for name in names:
                spark.catalog.dropTempView(name)

    # --- training data --------------------------------------------------------------------------

    def split(
        self,
        frame: Any,
        event_time: str | None,
        sizes: dict[str, float],
        times: dict[str, tuple[datetime | None, datetime | None]],
        seed: int | None,
    ) -> dict[str, Any]:
        """Split by time ranges of ``event_time`` (exact), or at random by fractions with Spark's
        ``randomSplit`` (each row lands in a split with the split's probability: the sizes are
        close to the fractions, not exact as on the python engine)."""
        from pyspark.sql import functions as F

        from larder.engine.python.training import SPLITS, check_split
        from larder.engine.spark._frames import quote

        timed = check_split(event_time, sizes, times)
        if timed:
            assert event_time
            out = {}
            for s in [s for s in SPLITS if times.get(s, (None, None)) != (None, None)]:
                start, end = times[s]
                part = frame
                if start is not None:
                    part = part.where(F.col(quote(event_time)) >= F.lit(start))
                if end is not None:
                    part = part.where(F.col(quote(event_time)) < F.lit(end))
                out[s] = part
            return out
        names = [s for s in ("test", "validation") if s in sizes]
        weights = [sizes[s] for s in names] + [1 - sum(sizes.values())]
        parts = frame.randomSplit(weights, seed)
        got = dict(zip([*names, "train"], parts, strict=True))
        return {s: got[s] for s in SPLITS if s in got}

    def write_training_data(self, filesystem: Any, folder: str, parts: dict[str, Any]) -> dict[str, int]:
        """Each split as ``<folder>/<split>.parquet``, the python engine's files (readable by either
        engine); the rows pass through the driver as Arrow."""
        from larder.engine.python import training
        from larder.engine.spark._frames import to_arrow

        return training.write(filesystem, folder, {name: to_arrow(frame) for name, frame in parts.items()})

    def read_training_data(self, filesystem: Any, folder: str, splits: list[str]) -> dict[str, Any]:
        from larder.engine.python import training

        tables = training.read(filesystem, folder, splits)
        return {name: self.spark.createDataFrame(table) for name, table in tables.items()}

    # --- transformation functions ---------------------------------------------------------------

    def fit_transformations(self, frame: Any, needed: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        """The python engine's statistics of the needed columns of a training split, collected to
        the driver as Arrow (see ``larder.engine.spark.transform``)."""
        from larder.engine.spark import transform

        return transform.fit(frame, needed)

    def apply_transformations(self, frame: Any, plan: Any) -> Any:
        """The python engine's transformations, run on each Arrow batch in the executors
        (``mapInArrow``)."""
        from larder.engine.spark import transform

        return transform.apply(frame, plan)


def _frames_in_order(prepared: Any) -> Any:
    """A python-engine prepared insert's rows in their stored order, as one Arrow table."""
    import pyarrow as pa

    from larder.engine.python._frames import in_order

    rows = in_order(prepared.table, prepared.order)
    return rows if isinstance(rows, pa.Table) else rows.read_all()
