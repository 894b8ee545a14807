"""The python engine: in-process data work with pyarrow, deltalake, duckdb and Larder's own
sorted-search point-in-time matcher (``pip install 'larder-platform[python]'``).

Its frames are ``pyarrow.Table``s; what users get back is converted at the end (pandas, polars,
pyarrow, numpy or Python rows). Modules:

- ``delta``: feature groups' Delta tables (open with time travel, read, read changes, write);
- ``query``: a query plan run as ``_pit`` matches or as duckdb SQL (``sql``);
- ``_frames``: frames in and out, and the checks an insert makes before anything is written;
- ``_sources``: a Delta table version as a duckdb table; ``_pit``: the matcher;
- ``statistics``: what a commit's statistics hold; ``training``: training data splits and files;
- ``transform``: transformation functions' statistics fitted on a split, and applied to frames.

Nothing here imports its libraries at import time.
"""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from larder.engine import _DataEngine
from larder.plan import QueryPlan, TableRef, Term


@dataclass
class Prepared:
    """A frame checked for an insert: the Arrow rows, the order new files store them in (by
    primary key and event time; None: as given), and their schema as the catalog records it."""

    table: Any
    order: Any
    schema: list[dict[str, str]]
    dropped: int = 0
    dropped_example: dict[str, str] | None = None

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)


class StatisticsFuture(Future[dict[str, Any] | None]):
    """The statistics of an insert, computed on a thread of their own. ``cancel()`` also stops
    them while they run (a plain future cannot): the insert cancels them when it fails, and the
    process when it exits, so no statistics thread outlives what it was for.

    The thread is not a daemon: the interpreter joins it before it finalizes (a daemon thread
    still inside duckdb at exit would be killed in C++ code and abort the process).
    """

    def __init__(self) -> None:
        super().__init__()
        from larder.engine.python import statistics

        self.token = statistics.CancelToken()

    def cancel(self) -> bool:
        self.token.cancel()
        return super().cancel()


_RUNNING: weakref.WeakSet[StatisticsFuture] = weakref.WeakSet()
_RUNNING_LOCK = threading.Lock()


def _cancel_running_statistics() -> None:
    """At interpreter exit (before non-daemon threads are joined): stop statistics still running."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for future in running:
        future.cancel()


# threading's own exit hooks run before the interpreter joins the remaining threads (the atexit
# module's run after it, too late to cut a long computation short); concurrent.futures uses it too
_register_exit = getattr(threading, "_register_atexit", None)
if _register_exit is not None:
    _register_exit(_cancel_running_statistics)


def _run_statistics(future: StatisticsFuture, table: Any) -> None:
    from larder.engine.python import statistics

    try:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(statistics.compute_or_none(table, future.token))
            except BaseException as e:  # noqa: BLE001 - handed to the waiter
                future.set_exception(e)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(future)


def start_statistics(table: Any) -> StatisticsFuture:
    """Start computing the statistics of an Arrow table on a thread of its own (see
    :class:`StatisticsFuture`); the result is None when they fail or are cancelled."""
    future = StatisticsFuture()
    with _RUNNING_LOCK:
        _RUNNING.add(future)
    thread = threading.Thread(target=_run_statistics, args=(future, table), name="larder-stats")
    thread.start()
    return future


class PythonEngine(_DataEngine):
    """In-process data work with pyarrow, pandas, deltalake and duckdb (``larder-platform[python]``)."""

    name = "python"
    extra = "python"
    modules = ("pyarrow", "pandas", "deltalake", "duckdb")

    # --- frames ---------------------------------------------------------------------------------

    def check_dataframe_type(self, dataframe_type: str) -> str:
        from larder.engine.python import _frames

        return _frames.check_dataframe_type(dataframe_type)

    def to_dataframe(self, frame: Any, dataframe_type: str) -> Any:
        from larder.engine.python import _frames

        return _frames.from_arrow(frame, dataframe_type)

    def columns(self, frame: Any) -> list[str]:
        return list(frame.column_names)

    def select(self, frame: Any, columns: list[str]) -> Any:
        return frame.select(columns)

    def head(self, frame: Any, n: int) -> Any:
        return frame.slice(0, n)

    def num_rows(self, frame: Any) -> int:
        return int(frame.num_rows)

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
        from larder.engine.python import _frames, delta

        table = _frames.normalize(_frames.to_arrow(data))
        # the checks (integer keys: sorts of the packed keys, which also give the stored order;
        # others: polars hashes them on every core)
        checked = _frames.check_insert(table, primary_key, event_time, schema, duplicates)
        if partition_key:
            delta.check_partition_columns(checked.table, partition_key)
        return Prepared(
            checked.table, checked.order, _frames.schema_of(checked.table), checked.dropped, checked.example
        )

    def statistics(self, prepared: Prepared) -> Future[dict[str, Any] | None]:
        """Statistics of the rows, computed in a thread of their own (one duckdb thread, on one core
        beside the Delta write, which uses one core); the future's result is None when they fail
        (statistics never fail an insert). ``cancel()`` on the future stops them (see
        :class:`StatisticsFuture`)."""
        return start_statistics(prepared.table)

    def write(self, ref: TableRef, prepared: Prepared, overwrite: bool, operation: str, write_id: str) -> int:
        from larder.engine.python import delta

        return delta.write(ref, prepared.table, prepared.order, overwrite, operation, write_id)

    def read(self, ref: TableRef, as_of: datetime | None = None) -> Any:
        from larder.engine.python import delta

        return delta.read(ref, as_of)

    def read_changes(self, ref: TableRef, start: datetime, end: datetime) -> Any:
        from larder.engine.python import delta

        return delta.read_changes(ref, start, end)

    def distinct_keys(self, frame: Any, primary_key: list[str]) -> list[list[Any]]:
        keys = frame.select(primary_key).group_by(primary_key).aggregate([]).to_pylist()
        return [[k[c] for c in primary_key] for k in keys]

    def from_rows(self, rows: list[dict[str, Any]], like: Any) -> Any:
        """Rows (dicts of JSON values) as a frame with ``like``'s schema (ISO 8601 text becomes
        timestamps)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from larder.engine.python import _frames

        if not rows:
            return like.schema.empty_table()
        table = pa.Table.from_pylist(rows)
        cols = []
        for f in like.schema:
            col = table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            if col.type != f.type:
                col = pc.cast(col, f.type)
            cols.append(col)
        return _frames.normalize(pa.Table.from_arrays(cols, schema=like.schema))

    # --- queries --------------------------------------------------------------------------------

    def query(
        self, plan: QueryPlan, where: list[Term] | None = None, order_by: list[str] | None = None
    ) -> Any:
        from larder.engine.python import query

        return query.run(plan, where, order_by)

    def query_sql(self, plan: QueryPlan) -> str:
        from larder.engine.python.sql import plan_sql

        return plan_sql(plan)

    def sql(self, text: str, tables: dict[str, TableRef], views: dict[str, str]) -> Any:
        """Run ad-hoc SQL (duckdb dialect) over feature groups: ``tables`` names each table by a
        name (``weather_1``), ``views`` gives other names (``weather``) to some of them. The
        connection reaches no file: the tables are read through Arrow (see ``_sources.connect``).

        Raises:
            InvalidArgumentError: when duckdb refuses the SQL (its reason, and the tables' names).
        """
        import duckdb

        from larder.engine.python import delta
        from larder.engine.python._sources import DeltaSource, connect
        from larder.engine.python.sql import quote_ident
        from larder.errors import InvalidArgumentError

        con = connect()
        try:
            for name, ref in tables.items():
                DeltaSource(delta.open_table(ref)).register(con, name, lazy=True, direct=False)
            for view, name in views.items():
                view_sql = f"CREATE OR REPLACE VIEW {quote_ident(view)} AS SELECT * FROM {quote_ident(name)}"  # noqa: S608
                con.execute(view_sql)
            try:
                return con.sql(text).to_arrow_table()
            except duckdb.Error as e:
                raise InvalidArgumentError(
                    f"The SQL failed: {e}", details={"tables": sorted(views) or sorted(tables)}
                ) from None
        finally:
            con.close()

    # --- training data --------------------------------------------------------------------------

    def split(
        self,
        frame: Any,
        event_time: str | None,
        sizes: dict[str, float],
        times: dict[str, tuple[datetime | None, datetime | None]],
        seed: int | None,
    ) -> dict[str, Any]:
        from larder.engine.python import training

        return training.split(frame, event_time, sizes, times, seed)

    def write_training_data(self, filesystem: Any, folder: str, parts: dict[str, Any]) -> dict[str, int]:
        from larder.engine.python import training

        return training.write(filesystem, folder, parts)

    def read_training_data(self, filesystem: Any, folder: str, splits: list[str]) -> dict[str, Any]:
        from larder.engine.python import training

        return training.read(filesystem, folder, splits)

    # --- transformation functions ---------------------------------------------------------------

    def fit_transformations(self, frame: Any, needed: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        from larder.engine.python import transform

        return transform.fit(frame, needed)

    def apply_transformations(self, frame: Any, plan: Any) -> Any:
        from larder.engine.python import transform

        return transform.apply(frame, plan)
