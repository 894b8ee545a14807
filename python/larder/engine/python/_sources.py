"""How a feature group's Delta table becomes a duckdb table for a query.

Two ways, same rows and types:

- **Parquet files, read by duckdb** (``read_parquet`` over the version's data files): for tables on
  a *local* store whose files hold every column as the table has it (Delta reader protocol 1: no
  deletion vectors, no column mapping; no partition columns, whose values live in the paths). duckdb
  reads only the columns the query needs, in parallel, while it joins: on 1M labels x 5M feature
  rows, 0.6-1 s less than materializing Arrow tables first in a fresh process, and ~40% less peak
  memory. Before use, the view's column types are compared with the ones deltalake's Arrow dataset
  gives; any difference falls back to the Arrow way.
- **Arrow tables** (``DeltaTable.to_pyarrow_dataset().to_table(columns)``), for everything else
  (S3 stores, partitioned or protocol-2+ tables). Materialized, not registered as a lazy dataset:
  duckdb's ASOF join rescans a registered dataset (~130x slower).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any
from urllib.parse import unquote

from larder.engine.python.sql import quote_ident

# read_parquet treats these as glob syntax; a path holding one is read through Arrow instead
_GLOB_CHARS = set("*?[]{}")


def connect(*sources: DeltaSource, threads: int | None = None) -> Any:
    """A fresh in-memory duckdb connection that reads and returns timestamps in UTC (Larder stores
    every timestamp as UTC); the caller closes it.

    It is locked down before it is returned: it reaches no file but the data files of ``sources``
    (which :meth:`DeltaSource.register` may read directly), so no SQL run in it can read another
    file (``read_text``, ``read_csv``, ``glob``), write one (``COPY ... TO``), ``ATTACH`` a
    database or load an extension, and its settings cannot be changed back. Arrow tables and
    datasets registered in it are read as usual.

    Args:
        *sources: the tables whose files it may read (none: it reads no file at all).
        threads: duckdb's thread count (default: duckdb's, one per core).
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    files = sorted({f for src in sources for f in src.files})
    if files:
        con.execute("SET allowed_paths = $files", {"files": files})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


class DeltaSource:
    """The data of one Delta table version, restricted to ``columns`` (None: all), ready to be
    named in a duckdb connection with :meth:`register`."""

    def __init__(self, dt: Any, columns: Collection[str] | None = None) -> None:
        self._dt = dt
        self._dataset = dt.to_pyarrow_dataset()
        names = self._dataset.schema.names
        self.columns = [c for c in names if columns is None or c in columns]
        self._files = _direct_files(dt)
        self._table: Any = None

    @property
    def rows(self) -> int | None:
        """The version's row count from the Delta log (None when the log does not record it)."""
        import pyarrow as pa

        try:
            actions = pa.table(self._dt.get_add_actions(flatten=True))
            return int(pa.compute.sum(actions["num_records"]).as_py() or 0)
        except (KeyError, pa.ArrowInvalid, TypeError):
            return None

    @property
    def files(self) -> list[str]:
        """The data files duckdb may read directly (empty when it reads the rows through Arrow)."""
        return self._files or []

    @property
    def direct(self) -> bool:
        """True when duckdb may read the Parquet files itself (see the module's docstring)."""
        return self._files is not None

    def arrow(self) -> Any:
        """The rows as a ``pyarrow.Table`` (only :attr:`columns`), read once: when a query's
        matched joins (``query._matched``) give way to its SQL, the tables they read are not read
        again from S3."""
        if self._table is None:
            self._table = self._dataset.to_table(columns=self.columns)
        return self._table

    def register(self, con: Any, name: str, lazy: bool = False, direct: bool = True) -> None:
        """Make ``name`` a table of ``con`` (a duckdb connection) holding these rows.

        ``lazy``: when the files are not read directly, register the Arrow *dataset* (scanned
        when a query needs it) instead of materializing a table; for ad-hoc SQL over many groups.
        ``direct``: let duckdb read the files itself when it can (``con`` must allow them: see
        :func:`connect`); False reads them through Arrow."""
        cols = ", ".join(quote_ident(c) for c in self.columns)
        if self._files is not None and direct:
            rel = con.read_parquet(self._files, hive_partitioning=False, union_by_name=True).project(cols)
            expected = con.from_arrow(self._dataset.schema.empty_table()).project(cols)
            if [str(t) for t in rel.types] == [str(t) for t in expected.types]:
                rel.create_view(name, replace=True)
                return
        if lazy:  # scanned when a query needs it, only the columns asked for
            con.from_arrow(self._dataset).project(cols).create_view(name, replace=True)
        else:
            con.register(name, self.arrow())


def _direct_files(dt: Any) -> list[str] | None:
    """The version's data files when duckdb can read them as they are, else None."""
    if not str(dt.table_uri).startswith("file://"):
        return None
    protocol = dt.protocol()
    if protocol.min_reader_version != 1 or protocol.reader_features:
        return None
    if dt.metadata().partition_columns:
        return None
    # deltalake percent-encodes local paths ("my%20data"): duckdb needs the real file names
    files = [unquote(f) for f in dt.file_uris()]
    if not files or any(not f.startswith("/") or _GLOB_CHARS.intersection(f) for f in files):
        return None
    if not os.path.isfile(files[0]):
        return None
    return files
