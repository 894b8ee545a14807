"""Feature groups' Delta tables with delta-spark: read (time travel), read changes, write (append,
overwrite, merge) with Larder's commit metadata — the same tables, log and metadata the python
engine's ``delta`` module writes with deltalake.

Every write carries ``{"larder.write_id", "larder.operation"}`` as the commit's ``userMetadata``
(JSON; the platform reads both forms); the version a write made is found by that id in the table's
history. Larder's tables never get deletion vectors or column mapping (deltalake's readers return
wrong rows or refuse them): the first write turns them off and every write checks the protocol.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from datetime import datetime, timezone
from typing import Any

from larder.errors import ConfigurationError, ConflictError, NotFoundError
from larder.plan import TableRef

log = logging.getLogger("larder.engine.spark")

NEW_TABLE = {"delta.enableChangeDataFeed": "true", "delta.enableDeletionVectors": "false"}
"""The table properties of a feature group's first write."""
FORBIDDEN_FEATURES = ("deletionVectors", "columnMapping")
"""Table features Larder's tables must not have: deltalake (the python engine) cannot read them."""
COMMIT_ATTEMPTS = 5
HISTORY_SEARCH = 50
CHANGED = ("insert", "update_postimage")
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
# the commit metadata is a session setting: one write at a time per process sets it
_WRITE_LOCK = threading.Lock()


def _what(ref: TableRef) -> str:
    return f"feature group '{ref.name}' v{ref.version}"


def path_of(spark: Any, ref: TableRef) -> str:
    """The table's path as Spark reads it (``file:///...``; ``s3a://`` for S3, with the vended
    credentials set for the bucket in the session's Hadoop configuration)."""
    if not ref.uri.startswith("s3://"):
        return ref.uri
    bucket, _, key = ref.uri[len("s3://") :].partition("/")
    opts = ref.storage_options or {}
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for k, v in s3a_options(bucket, opts).items():
        conf.set(k, v)
    return f"s3a://{bucket}/{key}"


def s3a_options(bucket: str, opts: dict[str, str]) -> dict[str, str]:
    """Hadoop S3A settings for vended credentials, scoped to their bucket (``fs.s3a.bucket.<b>.*``).
    They hold secrets: never log them. Spark needs ``org.apache.hadoop:hadoop-aws`` for ``s3a``."""
    p = f"fs.s3a.bucket.{bucket}."
    out = {
        p + "aws.credentials.provider": "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
        p + "access.key": opts.get("AWS_ACCESS_KEY_ID", ""),
        p + "secret.key": opts.get("AWS_SECRET_ACCESS_KEY", ""),
        p + "session.token": opts.get("AWS_SESSION_TOKEN", ""),
        p + "path.style.access": "true",
        p + "endpoint.region": opts.get("AWS_REGION", "us-east-1"),
    }
    if opts.get("AWS_ENDPOINT_URL"):
        out[p + "endpoint"] = opts["AWS_ENDPOINT_URL"]
        out[p + "connection.ssl.enabled"] = str(not opts["AWS_ENDPOINT_URL"].startswith("http://")).lower()
    return out


def _table(spark: Any, ref: TableRef) -> Any:
    """The group's ``delta.tables.DeltaTable``, or None before the first commit."""
    from delta.tables import DeltaTable

    path = path_of(spark, ref)
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return DeltaTable.forPath(spark, path)


def history(spark: Any, ref: TableRef, limit: int | None = None) -> list[tuple[int, datetime, str | None]]:
    """``(version, file modification time (UTC), userMetadata)`` of the table's commits, newest first
    (for lookups by version or write id; :func:`commit_times` for lookups by time).

    Raises:
        NotFoundError: before the first commit.
    """
    dt = _table(spark, ref)
    if dt is None:
        raise NotFoundError(
            f"Feature group '{ref.name}' v{ref.version} has no data yet; insert() some first.",
            details={"name": ref.name, "version": ref.version},
        )
    rows = dt.history(limit).select("version", "timestamp", "userMetadata").toArrow().to_pylist()
    return [(int(r["version"]), _utc(r["timestamp"]), r["userMetadata"]) for r in rows]


def commit_times(spark: Any, ref: TableRef) -> list[tuple[int, datetime]]:
    """``(version, committed_at (UTC))`` of every commit, by the commits' own timestamps (see
    :func:`_commit_timestamps`), newest first.

    Raises:
        NotFoundError: before the first commit.
    """
    written = _commit_timestamps(spark, ref)
    return [(v, written.get(v) or ts) for v, ts, _ in history(spark, ref)]


def _commit_timestamps(spark: Any, ref: TableRef) -> dict[int, datetime]:
    """Each commit's own ``commitInfo.timestamp`` (UTC), read from the log's JSON files.

    Delta Spark's history gives a commit file's modification time instead, a few milliseconds
    later than the timestamp deltalake reports and the platform records: time travel and the change
    feed by time must pick the same versions on both engines. Commits whose JSON was cleaned up after
    a checkpoint fall back to the modification time."""
    from pyspark.sql import functions as F

    logs = (
        spark.read.schema("commitInfo struct<timestamp: bigint>")
        .json(path_of(spark, ref).rstrip("/") + "/_delta_log/[0-9]*.json")
        .select(
            F.regexp_extract(F.input_file_name(), r"/(\d{20})\.json$", 1).alias("v"),
            F.col("commitInfo.timestamp").alias("ts"),
        )
        .where("ts IS NOT NULL AND v != ''")
    )
    return {
        int(r["v"]): datetime.fromtimestamp(r["ts"] / 1000, timezone.utc) for r in logs.toArrow().to_pylist()
    }


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def version_as_of(spark: Any, ref: TableRef, as_of: datetime) -> int:
    """The newest version committed at or before ``as_of``.

    Raises:
        NotFoundError: before the first commit, or when nothing existed at ``as_of``.
    """
    versions = [v for v, ts in commit_times(spark, ref) if ts <= as_of]
    if not versions:
        raise NotFoundError(
            f"Feature group '{ref.name}' v{ref.version} has no data as of {as_of.isoformat()} (its first commit "
            "is later).",
            details={"wallclock_time": as_of.isoformat()},
        )
    return max(versions)


def read(spark: Any, ref: TableRef, as_of: datetime | None = None, version: int | None = None) -> Any:
    """Every row (as of a time, or of a version) as a Spark DataFrame.

    Raises:
        NotFoundError: before the first commit, or when nothing existed at ``as_of``.
    """
    if as_of is not None:
        version = version_as_of(spark, ref, as_of)
    elif version is None:
        history(spark, ref, 1)  # the same NotFoundError before the first commit
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path_of(spark, ref))


def read_changes(spark: Any, ref: TableRef, start: datetime, end: datetime) -> Any:
    """The rows inserted or updated by the commits made in ``(start, end]`` (the change data feed's
    post-images), without the feed's own (``_``) columns; empty when there was none."""
    from pyspark.sql import functions as F

    chosen = [v for v, ts in commit_times(spark, ref) if start < ts <= end]
    if not chosen:
        return read(spark, ref).limit(0)
    cdf = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", min(chosen))
        .option("endingVersion", max(chosen))
        .load(path_of(spark, ref))
    )
    cdf = cdf.where(F.col("_change_type").isin(*CHANGED))
    return cdf.select([c for c in cdf.columns if not c.startswith("_")])


def write(spark: Any, ref: TableRef, frame: Any, overwrite: bool, operation: str, write_id: str) -> int:
    """Write ``frame`` to the group's table and return the Delta version the write made.

    ``operation`` is ``"upsert"`` (a ``MERGE`` on the primary key and event time) or ``"insert"``
    (an append); the first write creates the table (change data feed on, deletion vectors off);
    ``overwrite`` replaces every row. A commit that conflicts with another writer (a tool that took
    no lease) is retried.

    Raises:
        ConflictError: when it kept conflicting; nothing was written.
        ConfigurationError: when the table has a feature the python engine cannot read (deletion
            vectors, column mapping), which another tool turned on.
    """
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return _write_once(spark, ref, frame, overwrite, operation, write_id)
        except Exception as e:
            if "Concurrent" not in type(e).__name__ and "io.delta.exceptions.Concurrent" not in str(e):
                raise
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


def _write_once(spark: Any, ref: TableRef, frame: Any, overwrite: bool, operation: str, write_id: str) -> int:
    path = path_of(spark, ref)
    dt = _table(spark, ref)
    if dt is not None:
        check_protocol(dt, ref)
    said = "overwrite" if overwrite and dt is not None else operation
    metadata = json.dumps({"larder.write_id": write_id, "larder.operation": said})
    with _WRITE_LOCK:
        spark.conf.set(_USER_METADATA, metadata)
        try:
            if dt is None or overwrite or operation == "insert":
                writer = frame.write.format("delta").mode(
                    "overwrite" if overwrite and dt is not None else "append"
                )
                if dt is None:
                    for k, v in NEW_TABLE.items():
                        writer = writer.option(k, v)
                    if ref.partition_key:
                        writer = writer.partitionBy(*ref.partition_key)
                writer.save(path)
            else:
                condition = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in ref.keys)
                (
                    dt.alias("t")
                    .merge(frame.alias("s"), condition)
                    .whenMatchedUpdateAll()
                    .whenNotMatchedInsertAll()
                    .execute()
                )
        finally:
            spark.conf.unset(_USER_METADATA)
    table = _table(spark, ref)
    assert table is not None
    check_protocol(table, ref)
    for version, _, user_metadata in history(spark, ref, HISTORY_SEARCH):
        if user_metadata and _write_id(user_metadata) == write_id:
            return version
    raise ConflictError(
        f"The write to {_what(ref)} committed, but its commit is not among the table's {HISTORY_SEARCH} newest; "
        "another tool is committing to it heavily. The platform registers the commit from the Delta log.",
        details={"write_id": write_id},
    )


def _write_id(user_metadata: str) -> str | None:
    try:
        value = json.loads(user_metadata)
    except ValueError:
        return None
    return value.get("larder.write_id") if isinstance(value, dict) else None


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def check_protocol(dt: Any, ref: TableRef) -> None:
    """Refuse a table with deletion vectors or column mapping (the python engine cannot read it).

    Raises:
        ConfigurationError: naming the feature and how to remove it.
    """
    detail = dt.detail().select("tableFeatures", "properties").collect()[0]
    features = set(detail["tableFeatures"] or [])
    props = detail["properties"] or {}
    found = [f for f in FORBIDDEN_FEATURES if f in features]
    if props.get("delta.columnMapping.mode", "none") not in ("none", None) and "columnMapping" not in found:
        found.append("columnMapping")
    if props.get("delta.enableDeletionVectors") == "true" and "deletionVectors" not in found:
        found.append("deletionVectors")
    if found:
        raise ConfigurationError(
            f"The Delta table of {_what(ref)} has {', '.join(found)} (turned on by a tool other than Larder); the "
            "python engine cannot read such tables correctly, so Larder does not write them. Create a new version "
            "of the feature group, or rewrite the table without them (ALTER TABLE ... DROP FEATURE, then a full "
            "rewrite).",
            details={"features": found},
        )
