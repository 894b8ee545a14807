"""Feature groups' Delta tables with deltalake (delta-rs): open (time travel), read, read changes,
write (append, overwrite, merge) with Larder's commit metadata.

Every write carries ``larder.write_id`` (and ``larder.operation``) in its commit's metadata; the
version a write made is found by that id in the table's history, never by reading the newest
version (another tool may commit too). The platform's catalog and online store follow the log.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from larder.errors import ConfigurationError, ConflictError, InvalidArgumentError, NotFoundError
from larder.plan import TableRef

log = logging.getLogger("larder.engine.python")

CHANGE_FEED = {"delta.enableChangeDataFeed": "true"}
COMMIT_ATTEMPTS = 5
HISTORY_SEARCH = 50
CHANGED = ("insert", "update_postimage")  # the change feed's rows a commit wrote


def _what(ref: TableRef) -> str:
    return f"feature group '{ref.name}' v{ref.version}"


def open_table(ref: TableRef, version: int | None = None, as_of: datetime | None = None) -> Any:
    """The group's ``deltalake.DeltaTable`` (at ``version``, or as of a time).

    Raises:
        NotFoundError: before the first commit, or when nothing existed at ``as_of``.
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        dt = DeltaTable(ref.uri, storage_options=ref.storage_options, version=version)
    except TableNotFoundError:
        raise NotFoundError(
            f"Feature group '{ref.name}' v{ref.version} has no data yet; insert() some first.",
            details={"name": ref.name, "version": ref.version},
        ) from None
    check_readable(dt, ref)
    if as_of is not None:
        # by the commits' own timestamps (the platform's committed_at), as the spark engine does:
        # deltalake's load_as_version(datetime) goes by the log files' modification times instead,
        # which trail them (by tens of milliseconds for Spark's commits)
        at = as_of.timestamp() * 1000
        versions = [int(h["version"]) for h in dt.history() if h["timestamp"] <= at]
        try:
            if not versions:
                raise ValueError("before the first commit")
            dt.load_as_version(max(versions))
        except Exception:
            raise NotFoundError(
                f"Feature group '{ref.name}' v{ref.version} has no data as of {as_of.isoformat()} (its first commit "
                "is later).",
                details={"wallclock_time": as_of.isoformat()},
            ) from None
    return dt


UNREADABLE = ("columnMapping", "deletionVectors")
"""Table features deltalake's Arrow readers get wrong (column mapping: all-NULL rows, silently) or
refuse (deletion vectors); Larder's engines never turn them on."""


def check_readable(dt: Any, ref: TableRef) -> None:
    """Refuse a table with column mapping or deletion vectors (turned on by another tool): this
    engine's readers would return wrong rows.

    Raises:
        ConfigurationError: naming the features, and what to do (the spark engine reads them).
    """
    protocol = dt.protocol()
    features = set(protocol.reader_features or [])
    mode = dt.metadata().configuration.get("delta.columnMapping.mode", "none")
    found = [f for f in UNREADABLE if f in features]
    if (protocol.min_reader_version == 2 or mode != "none") and "columnMapping" not in found:
        found.append("columnMapping")
    if found:
        raise ConfigurationError(
            f"The Delta table of {_what(ref)} has {', '.join(found)} (turned on by a tool other than Larder), "
            "which the python engine cannot read correctly; read it with engine='spark', or rewrite it without "
            "them (ALTER TABLE ... DROP FEATURE, then a full rewrite) or into a new version of the feature group.",
            details={"features": found, "name": ref.name, "version": ref.version},
        )


def exists(ref: TableRef) -> bool:
    """Whether the group's table has a first commit."""
    try:
        open_table(ref)
    except NotFoundError:
        return False
    return True


def snapshot(dt: Any) -> Any:
    """Every row of an open table's version as a ``pyarrow.Table``."""
    import pyarrow as pa

    return pa.table(dt.to_pyarrow_table())


def read(ref: TableRef, as_of: datetime | None = None) -> Any:
    """Every row (as of a time) as a ``pyarrow.Table``."""
    return snapshot(open_table(ref, as_of=as_of))


def commits(ref: TableRef) -> list[tuple[int, datetime]]:
    """The table's versions and when they were committed (UTC), oldest first."""
    dt = open_table(ref)
    out = [
        (int(h["version"]), datetime.fromtimestamp(h["timestamp"] / 1000, timezone.utc)) for h in dt.history()
    ]
    return sorted(out)


def changes(dt: Any, first: int, last: int) -> Any:
    """The rows the versions ``first..last`` inserted or updated (their post-images), from the
    change data feed, without its ``_change_type``/``_commit_*`` columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from larder.engine.python._frames import plain_strings

    cdf = plain_strings(pa.table(dt.load_cdf(starting_version=first, ending_version=last).read_all()))
    cdf = cdf.filter(pc.is_in(cdf["_change_type"], pa.array(list(CHANGED))))
    return cdf


def read_changes(ref: TableRef, start: datetime, end: datetime) -> Any:
    """The rows inserted or updated by the commits made in ``(start, end]``, as a ``pyarrow.Table``
    (empty when there was none)."""
    import pyarrow as pa

    dt = open_table(ref)
    versions = [
        (int(h["version"]), datetime.fromtimestamp(h["timestamp"] / 1000, timezone.utc)) for h in dt.history()
    ]
    chosen = [v for v, ts in versions if start < ts <= end]
    if not chosen:
        return pa.table(dt.to_pyarrow_table()).schema.empty_table()
    cdf = changes(dt, min(chosen), max(chosen))
    return cdf.select([c for c in cdf.column_names if not c.startswith("_")])


def write(ref: TableRef, table: Any, order: Any, overwrite: bool, operation: str, write_id: str) -> int:
    """Write ``table`` to the group's table and return the Delta version the write made.

    ``operation`` is ``"upsert"`` (a merge on the primary key and event time) or ``"insert"`` (an
    append); the first write creates the table (with the change data feed on); ``overwrite``
    replaces every row. New files hold the rows in ``order`` (see ``_frames.in_order``). A commit
    that conflicts with another writer (a tool that took no lease) is retried.

    Raises:
        ConflictError: when it kept conflicting; nothing was written.
    """
    from deltalake.exceptions import CommitFailedError

    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return _write_once(ref, table, order, overwrite, operation, write_id)
        except CommitFailedError as e:
            if attempt == COMMIT_ATTEMPTS:
                raise ConflictError(
                    f"The write to {_what(ref)} conflicted {attempt} times with another writer of its Delta "
                    f"table ({str(e)[:300]}); nothing was written. A tool writing the table without Larder "
                    "changed the same files: retry when it is done.",
                    details={"attempts": attempt},
                ) from None
            log.info("Delta commit conflict on %s (attempt %d): %s; retrying", _what(ref), attempt, e)
            time.sleep(min(2.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


def _write_once(ref: TableRef, table: Any, order: Any, overwrite: bool, operation: str, write_id: str) -> int:
    from deltalake import CommitProperties, DeltaTable, write_deltalake
    from deltalake.exceptions import TableNotFoundError

    from larder.engine.python import _frames

    uri, opts = ref.uri, ref.storage_options
    try:
        dt: Any = DeltaTable(uri, storage_options=opts)
    except TableNotFoundError:
        dt = None
    if dt is not None:
        check_readable(dt, ref)
    said = "overwrite" if overwrite and dt is not None else operation
    props = CommitProperties(custom_metadata={"larder.write_id": write_id, "larder.operation": said})
    if dt is None or overwrite or operation == "insert":
        write_deltalake(
            dt if dt is not None else uri,
            _frames.in_order(table, order),
            mode="overwrite" if overwrite and dt is not None else "append",
            partition_by=(list(ref.partition_key) or None) if dt is None else None,
            storage_options=opts if dt is None else None,
            configuration=CHANGE_FEED if dt is None else None,
            commit_properties=props,
        )
    else:
        predicate = " AND ".join(f't."{k}" = s."{k}"' for k in ref.keys)
        (
            dt.merge(table, predicate=predicate, source_alias="s", target_alias="t", commit_properties=props)
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    for entry in DeltaTable(uri, storage_options=opts).history(limit=HISTORY_SEARCH):
        if entry.get("larder.write_id") == write_id:
            return int(entry["version"])
    raise ConflictError(
        f"The write to {_what(ref)} committed, but its commit is not among the table's {HISTORY_SEARCH} newest; "
        "another tool is committing to it heavily. The platform registers the commit from the Delta log.",
        details={"write_id": write_id},
    )


def open_parquet(uri: str, opts: dict[str, str]) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` that reads in small buffered chunks (no pre-buffering
    of whole column chunks): the first rows of a 1M-row row group cost one data page per column."""
    import pyarrow.parquet as pq

    if uri.startswith("s3://"):
        from pyarrow import fs as pafs

        s3 = pafs.S3FileSystem(
            access_key=opts.get("AWS_ACCESS_KEY_ID"),
            secret_key=opts.get("AWS_SECRET_ACCESS_KEY"),
            region=opts.get("AWS_REGION"),
            endpoint_override=opts.get("AWS_ENDPOINT_URL"),
            scheme="http" if opts.get("AWS_ALLOW_HTTP") else "https",
        )
        return pq.ParquetFile(s3.open_input_file(uri[5:]), pre_buffer=False, buffer_size=1 << 16)
    path = unquote(uri[7:]) if uri.startswith("file://") else uri
    return pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 16)


def head(dt: Any, opts: dict[str, str], limit: int) -> Any:
    """The first ``limit`` rows of a Delta table version. Plain tables (reader protocol 1, not
    partitioned) are read from their data files directly, a batch of ``limit`` rows at a time;
    others (deletion vectors, column mapping, partition values in paths) through deltalake's
    dataset, which applies them."""
    import pyarrow as pa

    protocol = dt.protocol()
    if protocol.min_reader_version != 1 or protocol.reader_features or dt.metadata().partition_columns:
        return dt.to_pyarrow_dataset().head(limit)
    batches, rows = [], 0
    for uri in dt.file_uris():
        for batch in open_parquet(uri, opts).iter_batches(batch_size=limit - rows, use_threads=False):
            batches.append(batch)
            rows += batch.num_rows
            break
        if rows >= limit:
            break
    schema = dt.schema().to_arrow() if not batches else None
    if schema is not None:
        return pa.schema(schema).empty_table()
    return pa.Table.from_batches(batches).slice(0, limit)


def check_partition_columns(table: Any, partition_key: list[str]) -> None:
    """Refuse a frame without the group's partition columns, before anything is written."""
    missing = [c for c in partition_key if c not in table.column_names]
    if missing:
        raise InvalidArgumentError(f"The data frame lacks the partition column(s) {missing}.")
