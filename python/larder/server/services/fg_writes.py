"""Writes to feature groups: write leases, commits, online materialization, and reconciliation of
the catalog and the online store with the Delta log.

A write goes: the client takes the group's **write lease** (one writer per table at a time, on
every store; delta-rs cannot detect concurrent commits on S3), commits to the Delta table with its
``larder.write_id`` in the commit's metadata, then records the commit here, which materializes it
online and releases the lease.

**The Delta log is the truth.** A writer can die, or lose the server, between its Delta commit and
its POST; the server can die while materializing. So the catalog keeps, per group, the newest Delta
version it has accounted for (``reconciled_version``), and :func:`reconcile` registers the versions
after it from the log (oldest first, materializing each online), idempotently. It runs before every
recorded commit, when a commit list is read, for groups whose lease expired without a commit, and
for every group when the server starts (:class:`Reconciler`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from larder.errors import ConflictError, InvalidArgumentError, NotFoundError
from larder.server import storage_backend
from larder.server.db.models import FeatureGroup, FeatureGroupCommit, WriteLease
from larder.server.online import OnlineStore
from larder.server.security.authz import Principal
from larder.server.security.secretbox import SecretBox
from larder.server.services.featurestore import (
    _json_default,
    _require_member_write,
    fs_dataset,
    get_feature_group,
    online_table,
    table_path,
)

log = logging.getLogger("larder.server.featurestore")

DEFAULT_LEASE_SECONDS = 30.0
# Delta operations that change no rows: accounted for, not registered as commits
NO_DATA_CHANGE = {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _resource(fg: FeatureGroup) -> str:
    return f"feature_group:{fg.id}"


# --- write leases ------------------------------------------------------------------------------------


def acquire_lease(
    db: Session, principal: Principal, project_name: str, name: str, version: int, seconds: float
) -> WriteLease:
    """Take the group's write lease for ``seconds`` (renewed with :func:`renew_lease`).

    Raises:
        ConflictError: when another writer holds it; ``details`` has ``holder`` and
            ``retry_after_seconds``.
    """
    fg = get_feature_group(db, principal, project_name, name, version)
    _require_member_write(db, principal, fg.project)
    now = _now()
    resource = _resource(fg)
    db.execute(delete(WriteLease).where(WriteLease.resource == resource, WriteLease.expires_at < now))
    lease = WriteLease(
        resource=resource,
        token=secrets.token_hex(16),
        holder_id=principal.user_id,
        acquired_at=now,
        expires_at=now + timedelta(seconds=seconds),
    )
    db.add(lease)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        held = db.scalar(select(WriteLease).where(WriteLease.resource == resource))
        holder = held.holder.username if held is not None else "another writer"
        left = max(0.0, (held.expires_at - now).total_seconds()) if held is not None else 0.0
        raise ConflictError(
            f"Feature group '{name}' version {version} is being written by {holder}; retry when that write "
            f"ends (its lease expires in {left:.0f} s at most).",
            details={"holder": holder, "retry_after_seconds": round(min(left, seconds), 3)},
        ) from None
    return lease


def _held(db: Session, fg: FeatureGroup, token: str) -> WriteLease | None:
    return db.scalar(
        select(WriteLease).where(WriteLease.resource == _resource(fg), WriteLease.token == token)
    )


def renew_lease(
    db: Session, principal: Principal, project_name: str, name: str, version: int, token: str, seconds: float
) -> WriteLease:
    """Extend a lease the caller holds by ``seconds`` from now.

    Raises:
        ConflictError: when the lease expired and was taken by another writer, or released.
    """
    fg = get_feature_group(db, principal, project_name, name, version)
    lease = _held(db, fg, token)
    if lease is None or lease.holder_id != principal.user_id:
        raise ConflictError(
            f"The write lease on feature group '{name}' version {version} was lost (it expired, or was "
            "released); take a new one before writing.",
            details={"name": name, "version": version},
        )
    lease.expires_at = _now() + timedelta(seconds=seconds)
    db.commit()
    return lease


def release_lease(
    db: Session, principal: Principal, project_name: str, name: str, version: int, token: str
) -> None:
    """Give a lease back (nothing happens when it is no longer held)."""
    fg = get_feature_group(db, principal, project_name, name, version)
    db.execute(
        delete(WriteLease).where(
            WriteLease.resource == _resource(fg),
            WriteLease.token == token,
            WriteLease.holder_id == principal.user_id,
        )
    )
    db.commit()


# --- commits -----------------------------------------------------------------------------------------

_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _group_lock(fg_id: int) -> threading.Lock:
    """One lock per group in this process: its commits are registered and materialized in order."""
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(fg_id, threading.Lock())


def _commit_info(entry: dict[str, Any]) -> dict[str, Any]:
    """What a Delta history entry says about a write: Larder's own metadata (``larder.*`` keys, put
    there by delta-rs's custom metadata, or delta-spark's ``userMetadata`` JSON) and the metrics."""
    info = {k: v for k, v in entry.items() if k.startswith("larder.")}
    user = entry.get("userMetadata")
    if isinstance(user, str) and user.startswith("{"):
        with contextlib.suppress(ValueError):
            info.update({k: v for k, v in json.loads(user).items() if k.startswith("larder.")})
    return info


def _counts(entry: dict[str, Any]) -> tuple[int, int, int]:
    """(inserted, updated, deleted) rows from a commit's metrics (delta-rs' names or Spark's)."""
    m = entry.get("operationMetrics") or {}

    def first(*names: str) -> int:
        for n in names:
            if n in m:
                try:
                    return int(m[n])
                except (TypeError, ValueError):
                    return 0
        return 0

    if entry.get("operation") == "MERGE":
        return (
            first("num_target_rows_inserted", "numTargetRowsInserted"),
            first("num_target_rows_updated", "numTargetRowsUpdated"),
            first("num_target_rows_deleted", "numTargetRowsDeleted"),
        )
    return first("num_added_rows", "numOutputRows"), 0, first("num_deleted_rows", "numDeletedRows")


def _operation(entry: dict[str, Any]) -> str:
    """The catalog's name for a Delta commit: the writer's own when it said, else from the log."""
    said = _commit_info(entry).get("larder.operation")
    if isinstance(said, str) and said:
        return said
    op = str(entry.get("operation", ""))
    mode = str((entry.get("operationParameters") or {}).get("mode", ""))
    if op in (
        "WRITE",
        "CREATE TABLE AS SELECT",
        "REPLACE TABLE AS SELECT",
        "CREATE OR REPLACE TABLE AS SELECT",
    ):
        return "overwrite" if mode.lower() == "overwrite" or "REPLACE" in op else "insert"
    if op == "MERGE":
        return "upsert"
    return op.lower().replace(" ", "_")[:16] or "unknown"


def _open(db: Session, box: SecretBox, fg: FeatureGroup, version: int | None = None) -> Any:
    """The group's Delta table (at ``version``) through the python engine, or None before its
    first commit."""
    from larder.engine.python import delta
    from larder.plan import TableRef

    ds = fs_dataset(db, fg.project)
    uri, opts = storage_backend.dataset_location(ds.namespace, ds.name, box)
    try:
        return delta.open_table(
            TableRef(fg.name, fg.version, f"{uri}/{table_path(fg)}", opts or None), version
        )
    except NotFoundError:
        return None


def _history_after(dt: Any, after: int) -> list[dict[str, Any]]:
    """The history entries of the versions after ``after``, oldest first."""
    newest = dt.version()
    if newest <= after:
        return []
    entries = [h for h in dt.history(limit=newest - after) if int(h.get("version", -1)) > after]
    return sorted(entries, key=lambda h: int(h["version"]))


def _register(
    db: Session,
    box: SecretBox,
    online: OnlineStore,
    fg: FeatureGroup,
    entry: dict[str, Any],
    recovered: bool,
    statistics: dict[str, Any] | None = None,
) -> FeatureGroupCommit | None:
    """Materialize one Delta version online and record it (None: it changes no data)."""
    version = int(entry["version"])
    operation = _operation(entry)
    fg.reconciled_version = max(fg.reconciled_version, version)
    if str(entry.get("operation", "")) in NO_DATA_CHANGE:
        return None
    if fg.online_enabled:
        ours = {"insert", "upsert", "overwrite"}
        # a commit of another tool (a delete, an update) is materialized from its snapshot
        materialize(db, box, online, fg, version, overwrite=operation not in ours or operation == "overwrite")
    inserted, updated, deleted = _counts(entry)
    write_id = _commit_info(entry).get("larder.write_id")
    commit = FeatureGroupCommit(
        feature_group_id=fg.id,
        delta_version=version,
        operation=operation,
        rows_inserted=inserted,
        rows_updated=updated,
        rows_deleted=deleted,
        statistics_json=json.dumps(statistics, default=_json_default) if statistics is not None else None,
        committed_at=datetime.fromtimestamp(int(entry.get("timestamp", 0)) / 1000, timezone.utc),
        write_id=str(write_id)[:64] if write_id else None,
        recovered=recovered,
    )
    db.add(commit)
    return commit


def reconcile(
    db: Session,
    box: SecretBox,
    online: OnlineStore,
    fg: FeatureGroup,
    dt: Any = None,
    below: int | None = None,
) -> list[FeatureGroupCommit]:
    """Register the Delta versions of ``fg``'s table after ``fg.reconciled_version`` (and before
    ``below``, when given) that no writer recorded: oldest first, each materialized online before
    it is recorded. Returns the commits registered. Idempotent: a version already recorded is only
    accounted for. Needs the group's lock (see :func:`_group_lock`)."""
    if fg.schema_json is None:
        return []
    dt = dt if dt is not None else _open(db, box, fg)
    if dt is None:
        return []
    entries = [
        e for e in _history_after(dt, fg.reconciled_version) if below is None or int(e["version"]) < below
    ]
    recorded = set(
        db.scalars(
            select(FeatureGroupCommit.delta_version).where(
                FeatureGroupCommit.feature_group_id == fg.id,
                FeatureGroupCommit.delta_version > fg.reconciled_version,
            )
        )
    )
    out = []
    for entry in entries:
        if int(entry["version"]) in recorded:
            fg.reconciled_version = max(fg.reconciled_version, int(entry["version"]))
            continue
        commit = _register(db, box, online, fg, entry, recovered=True)
        db.commit()  # one version at a time: a crash here loses nothing done so far
        if commit is not None:
            log.warning(
                "registered Delta version %d of feature group %s v%d from the log (%s; no writer recorded it)",
                commit.delta_version,
                fg.name,
                fg.version,
                commit.operation,
            )
            out.append(commit)
    db.commit()
    return out


def _entry(dt: Any, fg: FeatureGroup, delta_version: int) -> dict[str, Any]:
    """The history entry of one Delta version of the group's table."""
    newest = dt.version() if dt is not None else -1
    entry = None
    if 0 <= delta_version <= newest:
        entry = next(
            (h for h in dt.history(limit=newest - delta_version + 1) if h.get("version") == delta_version),
            None,
        )
    if entry is None:
        raise InvalidArgumentError(
            f"Feature group '{fg.name}' version {fg.version} has no Delta version {delta_version} in its log (the "
            f"newest is {newest}); record the version your write made.",
            details={"delta_version": delta_version, "newest": newest},
        )
    return entry


def record_commit(
    db: Session,
    principal: Principal,
    box: SecretBox,
    online: OnlineStore,
    project_name: str,
    name: str,
    version: int,
    delta_version: int,
    write_id: str | None,
    lease: str | None,
    statistics: dict[str, Any] | None,
) -> FeatureGroupCommit:
    """Record a writer's Delta commit (materializing it online first), and release its lease.

    The version must be in the Delta log and, when ``write_id`` is given, carry it. Versions before
    it that no writer recorded are registered first (:func:`reconcile`). Recording a commit again
    returns it; a commit the server already registered from the log gets the writer's statistics.
    The operation and the row counts come from the log.

    Raises:
        ConflictError: no schema yet; the version was written by another writer.
        InvalidArgumentError: the version is not in the Delta log, or changes no data.
    """
    fg = get_feature_group(db, principal, project_name, name, version)
    _require_member_write(db, principal, fg.project)
    if fg.schema_json is None:
        raise ConflictError(f"Feature group '{name}' has no schema yet; its first insert records one.")
    with _group_lock(fg.id):
        db.refresh(fg)
        dt = _open(db, box, fg)
        entry = _entry(dt, fg, delta_version)
        if write_id is not None and _commit_info(entry).get("larder.write_id") != write_id:
            raise ConflictError(
                f"Delta version {delta_version} of feature group '{name}' was written by another writer; record "
                "the version your write made.",
                details={"delta_version": delta_version},
            )
        reconcile(db, box, online, fg, dt, below=delta_version)
        commit = db.scalar(
            select(FeatureGroupCommit).where(
                FeatureGroupCommit.feature_group_id == fg.id,
                FeatureGroupCommit.delta_version == delta_version,
            )
        )
        if commit is None:
            commit = _register(db, box, online, fg, entry, recovered=False, statistics=statistics)
            if commit is None:
                raise InvalidArgumentError(
                    f"Delta version {delta_version} of feature group '{name}' changes no data "
                    f"({entry.get('operation')}); there is nothing to record.",
                    details={"delta_version": delta_version},
                )
        elif commit.recovered:  # registered from the log meanwhile: the writer's statistics complete it
            commit.recovered = False
            if statistics is not None:
                commit.statistics_json = json.dumps(statistics, default=_json_default)
        fg.reconciled_version = max(fg.reconciled_version, delta_version)
        if lease is not None:
            db.execute(
                delete(WriteLease).where(WriteLease.resource == _resource(fg), WriteLease.token == lease)
            )
        db.commit()
        return commit


def list_commits(
    db: Session,
    principal: Principal,
    box: SecretBox,
    online: OnlineStore,
    project_name: str,
    name: str,
    version: int,
) -> list[FeatureGroupCommit]:
    """The group's commits, oldest first, after registering any the log has and the catalog lacks."""
    fg = get_feature_group(db, principal, project_name, name, version)
    with _group_lock(fg.id):
        db.refresh(fg)
        reconcile(db, box, online, fg)
    return recorded_commits(db, principal, project_name, name, version)


def recorded_commits(
    db: Session, principal: Principal, project_name: str, name: str, version: int
) -> list[FeatureGroupCommit]:
    """The commits the catalog holds now, oldest first (no look at the Delta log: for pages)."""
    fg = get_feature_group(db, principal, project_name, name, version)
    stmt = select(FeatureGroupCommit).where(FeatureGroupCommit.feature_group_id == fg.id)
    return list(db.scalars(stmt.order_by(FeatureGroupCommit.delta_version)))


# --- online materialization -------------------------------------------------------------------------


def _rows_to_online(fg: FeatureGroup, table: Any) -> list[tuple[str, int, bytes]]:
    """Arrow rows -> (key, event_time_us, payload) for the online store, vectorized with polars
    (about 10x faster than Python rows and json)."""
    import polars as pl

    pk = json.loads(fg.primary_key_json)
    names = [c for c in table.column_names if not c.startswith("_")]
    df = pl.from_arrow(table.select(names))
    assert isinstance(df, pl.DataFrame)
    et = pl.col(fg.event_time).dt.epoch("us") if fg.event_time else pl.lit(0, dtype=pl.Int64)
    out = df.select(
        pl.struct([pl.col(c) for c in pk]).struct.json_encode().alias("k"),
        et.fill_null(0).alias("et"),
        pl.struct(pl.all()).struct.json_encode().alias("v"),
    )
    return [(k, int(e), v.encode()) for k, e, v in out.iter_rows()]


def materialize(
    db: Session, box: SecretBox, online: OnlineStore, fg: FeatureGroup, delta_version: int, overwrite: bool
) -> int:
    """Upsert one Delta commit's new rows into the online store; returns the rows written.
    ``overwrite``: replace the group's online rows with the version's snapshot."""
    from larder.engine.python import delta

    dt = _open(db, box, fg, delta_version)
    if dt is None:
        raise NotFoundError(f"Feature group '{fg.name}' version {fg.version} has no Delta table yet.")
    if overwrite:
        online.drop(online_table(fg))
        table = delta.snapshot(dt)
    else:
        try:
            table = delta.changes(dt, delta_version, delta_version)
        except Exception as e:  # no change data feed: fall back to the whole snapshot (correct, slower)
            log.warning(
                "no change data feed for %s v%d (%s); materializing the snapshot", fg.name, delta_version, e
            )
            table = delta.snapshot(dt)
    rows = _rows_to_online(fg, table)
    if rows:
        online.upsert(online_table(fg), rows)
    return len(rows)


# --- the reconciler ------------------------------------------------------------------------------------


class Reconciler:
    """A server thread that brings the catalog and the online store to the Delta log: every group
    when the server starts, then, every ``interval_s`` seconds, the groups whose write lease
    expired without a commit (a writer that died between its Delta commit and its POST)."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        box: SecretBox,
        online: OnlineStore,
        interval_s: float = 5.0,
    ) -> None:
        self._session_factory = session_factory
        self._box = box
        self._online = online
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="larder-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _reconcile(self, fg_ids: list[int]) -> int:
        done = 0
        for fg_id in fg_ids:
            if self._stop.is_set():
                break
            try:
                with self._session_factory() as db, _group_lock(fg_id):
                    fg = db.get(FeatureGroup, fg_id)
                    if fg is not None:
                        done += len(reconcile(db, self._box, self._online, fg))
            except Exception:  # one broken table must not stop the others
                log.exception("reconciling feature group %d failed", fg_id)
        return done

    def sweep_all(self) -> int:
        """Reconcile every feature group that has a schema; returns the commits registered."""
        with self._session_factory() as db:
            ids = list(db.scalars(select(FeatureGroup.id).where(FeatureGroup.schema_json.is_not(None))))
        return self._reconcile(ids)

    def sweep_expired_leases(self) -> int:
        """Reconcile the groups whose lease expired, and drop those leases."""
        now = _now()
        with self._session_factory() as db:
            expired = list(db.scalars(select(WriteLease).where(WriteLease.expires_at < now)))
            ids = [
                int(lease.resource.split(":", 1)[1])
                for lease in expired
                if lease.resource.startswith("feature_group:")
            ]
        found = self._reconcile(ids)
        with self._session_factory() as db:
            db.execute(
                delete(WriteLease).where(
                    WriteLease.id.in_([lease.id for lease in expired]), WriteLease.expires_at < now
                )
            )
            db.commit()
        return found

    def _run(self) -> None:
        try:
            found = self.sweep_all()
            if found:
                log.warning("registered %d commit(s) from Delta logs at start-up", found)
        except Exception:
            log.exception("the start-up reconciliation failed")
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep_expired_leases()
            except Exception:
                log.exception("reconciling after expired write leases failed")
