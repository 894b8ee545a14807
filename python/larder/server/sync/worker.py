"""The sync worker: drains the outbox to the sync targets, and reconciles both sides.

It runs as a thread of the server (``sync_worker = true``, the default) or as its own process
(``larder sync worker --home H`` with ``sync_worker = false`` in server.toml). Several workers on
one database would send the same rows twice (harmless: applying is idempotent, but wasteful):
run one.

- **Draining**: rows are taken per (dataset, target, key) in id order; only the newest row of a
  key is sent (what the key holds now), and removed with the older ones once the target applied
  it. Keys go in parallel (``sync_threads``). A row that fails is retried with exponential backoff
  and jitter up to ``sync_retry_max_seconds``; one the target refuses for good (a bad request) is
  kept as failed and shown in the status until a reconciliation retries it.
- **Delta tables**: a ``_delta_log/<n>.json`` entry is sent only after every data file it adds
  is on the target, so a reader there never sees a commit whose files are missing.
- **Reconciliation** (every ``sync_reconcile_interval_seconds``, after enabling sync, and on
  demand): both sides' listings are streamed and compared with what the target was last sent
  (size and etag on each side; with ``checksum=True`` also the SHA-256 of the target's bytes),
  and what differs is queued again: objects written to the bucket past Larder, lost or corrupted
  copies, deletes made past Larder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from posixpath import dirname, normpath
from typing import Any, cast
from urllib.parse import unquote

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from larder.errors import LarderError, NotFoundError
from larder.server import storage_backend
from larder.server.db.models import (
    Dataset,
    ObjectEntry,
    SyncObject,
    SyncOutbox,
    SyncPeer,
    SyncState,
    SyncTarget,
    SyncTombstone,
)
from larder.server.security.secretbox import SecretBox
from larder.server.sync import service
from larder.server.sync.peers import Peer, Peers

log = logging.getLogger("larder.server.sync")

BATCH = 64
RECONCILE_BATCH = 500
BACKOFF_BASE_S = 0.5
PERMANENT_STATUSES = (400, 404, 409, 413, 422)  # parked, shown, retried by reconciliation


def is_delta_log_entry(key: str) -> bool:
    name = key.rpartition("/")[2]
    return "/_delta_log/" in f"/{key}" and name.endswith(".json") and name[:-5].isdigit()


@dataclass
class Settings:
    threads: int = 8
    retry_max_s: float = 30.0
    reconcile_interval_s: float = 300.0
    poll_s: float = 1.0


@dataclass
class Report:
    """What one reconciliation found and queued."""

    checked: int = 0
    target_checked: int = 0
    missing: int = 0
    changed: int = 0
    lost_on_target: int = 0
    changed_on_target: int = 0
    corrupt: int = 0
    deleted: int = 0
    retried_failed: int = 0
    checksum: bool = False
    seconds: float = 0.0
    at: str = ""
    repaired: int = field(default=0)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SyncWorker:
    """Drains the outbox and reconciles; see the module doc.

    Args:
        session_factory: the metadata database's sessions.
        box (SecretBox): decrypts the peers' credentials and the stores' keys.
        self_url (Callable[[], str]): this server's public URL (the origin of its writes).
        settings (Settings): threads, backoff cap, reconciliation interval, poll interval.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        box: SecretBox,
        self_url: Callable[[], str],
        settings: Settings | None = None,
    ) -> None:
        self._sessions = session_factory
        self._box = box
        self._self_url = self_url
        self.settings = settings or Settings()
        self._peers = Peers(box)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max(1, self.settings.threads), thread_name_prefix="larder-sync")
        self._inflight: dict[futures.Future[None], tuple[int, int, str]] = {}
        self._reconcile_lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="larder-sync-worker", daemon=True)
        self._thread.start()
        threading.Thread(target=self._reconcile_loop, name="larder-sync-reconcile", daemon=True).start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        service.wake_event().set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.wait_idle(timeout)
        self._peers.close()

    def run(self) -> None:
        wake = service.wake_event()
        while not self._stop.is_set():
            wake.clear()
            try:
                busy = self.run_once()
            except Exception:  # never let the loop die: log, wait, go on
                log.exception("sync worker round failed")
                busy = False
            if not busy:
                wake.wait(self.settings.poll_s)

    def run_once(self) -> bool:
        """One round: hand out the outbox's next keys. True when it handed out any."""
        return self._drain()

    def _reconcile_loop(self) -> None:
        """Due reconciliations, on their own thread: draining goes on while one runs."""
        while not self._stop.is_set():
            try:
                self._reconcile_due()
            except Exception:  # never let the loop die
                log.exception("sync reconciliation round failed")
            self._stop.wait(min(self.settings.poll_s, 1.0))

    # --- draining ------------------------------------------------------------------------------

    def _drain(self) -> bool:
        """Hand the outbox's next keys to free threads (never a key already in flight); True when
        it handed out any. A large object occupies one thread; the others go on."""
        self._inflight = {f: k for f, k in self._inflight.items() if not f.done()}
        free = self.settings.threads - len(self._inflight)
        if free <= 0:
            return False
        busy = set(self._inflight.values())
        now = datetime.now(timezone.utc)
        with self._sessions() as db:
            heads = db.execute(
                select(SyncOutbox.dataset_id, SyncOutbox.target_id, SyncOutbox.key, func.max(SyncOutbox.id))
                .where(SyncOutbox.failed.is_(False))
                .group_by(SyncOutbox.dataset_id, SyncOutbox.target_id, SyncOutbox.key)
                .having(func.max(SyncOutbox.next_attempt_at) <= now)
                .order_by(func.min(SyncOutbox.id))
                .limit(free + len(busy))
            ).all()
        wake = service.wake_event()
        handed = 0
        for ds_id, t_id, key, row_id in heads:
            if (ds_id, t_id, key) in busy or handed >= free:
                continue
            future = self._pool.submit(self._send_one, int(row_id))
            future.add_done_callback(lambda _: wake.set())  # a free thread: look again
            self._inflight[future] = (ds_id, t_id, key)
            busy.add((ds_id, t_id, key))
            handed += 1
        return handed > 0

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until nothing this worker handed out is still being sent (tests, shutdown)."""
        futures.wait(list(self._inflight), timeout=timeout)

    def _send_one(self, row_id: int) -> None:
        with self._sessions() as db:
            row = db.get(SyncOutbox, row_id)
            if row is None:
                return
            ds = db.get(Dataset, row.dataset_id)
            target = db.get(SyncTarget, row.target_id)
            if ds is None or target is None or ds.sync_type is None:
                db.execute(delete(SyncOutbox).where(SyncOutbox.id == row_id))
                db.commit()
                return
            try:
                peer = self._peer(db, target)
                outcome = self._send(db, peer, ds, target, row)
            except Exception as e:  # noqa: BLE001 - every failure is retried or parked
                db.rollback()
                self._failed(db, row_id, target, e)
                return
            db.execute(
                delete(SyncOutbox).where(
                    SyncOutbox.dataset_id == row.dataset_id,
                    SyncOutbox.target_id == row.target_id,
                    SyncOutbox.key == row.key,
                    SyncOutbox.id <= row_id,
                )
            )
            st = _state(db, ds.id, target.id)
            st.last_success_at = datetime.now(timezone.utc)
            st.last_error = ""
            if outcome == "copied":
                st.copied += 1
            elif outcome == "deleted":
                st.deleted += 1
            else:
                st.skipped += 1
            db.commit()

    def _peer(self, db: Session, target: SyncTarget) -> Peer:
        peer = db.scalar(select(SyncPeer).where(SyncPeer.url == target.target_core_service))
        if peer is None:
            raise LarderError(
                f"No credential for the sync target {target.target_core_service}; enable the target again "
                "with api_key=."
            )
        return self._peers.get(peer)

    def _failed(self, db: Session, row_id: int, target: SyncTarget, e: Exception) -> None:
        status = getattr(e, "http_status", None)
        message = (e.message if isinstance(e, LarderError) else f"{type(e).__name__}: {e}")[:1000]
        permanent = status in PERMANENT_STATUSES
        if status in (None, 401, 403, 502, 503, 504) or not isinstance(e, LarderError):
            self._peers.drop(target.target_core_service)  # reconnect: a restarted server, new tokens
        row = db.get(SyncOutbox, row_id)
        if row is None:
            return
        row.attempts += 1
        delay = min(self.settings.retry_max_s, BACKOFF_BASE_S * 2 ** min(row.attempts, 20))
        row.next_attempt_at = datetime.now(timezone.utc) + timedelta(seconds=delay * random.uniform(0.5, 1.0))
        row.last_error = message
        row.failed = permanent
        st = _state(db, row.dataset_id, row.target_id)
        st.last_error, st.last_error_at = message, datetime.now(timezone.utc)
        db.commit()
        log.warning(
            "sync of %s to %s failed (attempt %d%s): %s",
            row.key,
            target.target_core_service,
            row.attempts,
            ", parked" if permanent else "",
            message,
        )

    def _version(self, db: Session, ds: Dataset, row: SyncOutbox) -> tuple[datetime, str, dict[str, str]]:
        self_url = self._self_url()
        if row.op == "put":
            entry = db.scalar(
                select(ObjectEntry).where(ObjectEntry.dataset_id == ds.id, ObjectEntry.key == row.key)
            )
            if entry is not None:
                return entry.last_modified, entry.origin or self_url, json.loads(entry.metadata_json or "{}")
        return row.changed_at, row.origin or self_url, {}

    def _send(self, db: Session, peer: Peer, ds: Dataset, target: SyncTarget, row: SyncOutbox) -> str:
        """Send one change; returns "copied", "deleted" or "skipped"."""
        changed_at, origin, metadata = self._version(db, ds, row)
        body: dict[str, Any] = {
            "op": row.op,
            "key": row.key,
            "changed_at": changed_at.isoformat(),
            "origin": origin,
            "sender": self._self_url(),
            "sender_namespace": ds.namespace.name,
            "repair": row.repair,
        }
        tns = target.target_namespace
        if row.op == "delete":
            res = peer.apply(tns, ds.name, body)
            service.forget_sent(db, target.id, ds.id, row.key)
            self._note(db, ds, row.key, res, changed_at, origin)
            return "deleted" if res.get("applied") else "skipped"
        backend = storage_backend.dataset_backend(ds.namespace, ds.name, self._box, cached=True)
        full = f"{ds.name}/{row.key}"
        info = backend.head(full)
        if info is None:
            return "skipped"  # gone since: its delete follows (or reconciliation sees it)
        if is_delta_log_entry(row.key):
            self._send_delta_files(db, peer, ds, target, backend, row.key)
        # a change's staging is named after it: a retry replaces what an interrupted attempt left
        name = (
            hashlib.sha256(f"{self._self_url()}|{ds.id}|{row.id}".encode()).hexdigest()[:32] if row.id else ""
        )
        with backend.open_read(full) as src:
            staged, size, sha = peer.stage(tns, ds.name, src, name)
        change = {
            **body,
            "staged_key": staged,
            "size": size,
            "etag": info.etag,
            "sha256": sha,
            "metadata": metadata,
        }
        try:
            res = peer.apply(tns, ds.name, change)
        except Exception:
            peer.unstage(tns, ds.name, staged)
            raise
        if res.get("reason") != "stale":
            service._set_sync_object(
                db, ds.id, target.id, row.key, size, info.etag, str(res.get("etag", "")), sha
            )
        else:  # the target keeps a newer version: that is what reconciliation compares with from now on
            service.forget_sent(db, target.id, ds.id, row.key)
        self._note(db, ds, row.key, res, changed_at, origin)
        if res.get("applied"):
            st = _state(db, ds.id, target.id)
            st.copied_bytes += size
            return "copied"
        return "skipped"

    def _note(
        self, db: Session, ds: Dataset, key: str, res: dict[str, Any], changed_at: datetime, origin: str
    ) -> None:
        """Record on this side a conflict the target found: ours lost (stale) or its lost (loser)."""
        if res.get("reason") == "stale" and res.get("winner"):
            w = res["winner"]
            winner, loser = (datetime.fromisoformat(w["changed_at"]), str(w["origin"])), (changed_at, origin)
        elif res.get("loser"):
            lo = res["loser"]
            winner, loser = (
                (changed_at, origin),
                (datetime.fromisoformat(lo["changed_at"]), str(lo["origin"])),
            )
        else:
            return
        service.record_conflict(db, ds, key, winner, loser)

    def _send_delta_files(
        self, db: Session, peer: Peer, ds: Dataset, target: SyncTarget, backend: Any, key: str
    ) -> None:
        """Copy the files a Delta log entry adds that the target does not hold yet (before the entry)."""
        table = dirname(dirname(key))
        with backend.open_read(f"{ds.name}/{key}") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        for line in lines:
            try:
                action = json.loads(line)
            except json.JSONDecodeError:
                continue
            add = action.get("add") if isinstance(action, dict) else None
            if not isinstance(add, dict) or not isinstance(add.get("path"), str) or "://" in add["path"]:
                continue
            data_key = (
                normpath(f"{table}/{unquote(add['path'])}") if table else normpath(unquote(add["path"]))
            )
            if data_key.startswith(".."):
                continue
            info = backend.head(f"{ds.name}/{data_key}")
            if info is None:
                continue
            have = db.scalar(
                select(SyncObject).where(
                    *service.sent(target.id, ds.id),
                    SyncObject.key == data_key,
                )
            )
            queued = db.scalar(
                select(SyncOutbox.id)
                .where(
                    SyncOutbox.dataset_id == ds.id,
                    SyncOutbox.target_id == target.id,
                    SyncOutbox.key == data_key,
                )
                .limit(1)
            )
            if have is not None and have.etag == info.etag and queued is None:
                continue
            inline = SyncOutbox(
                dataset_id=ds.id,
                target_id=target.id,
                op="put",
                key=data_key,
                changed_at=info.last_modified,
                origin="",
                repair=False,
            )
            self._send(db, peer, ds, target, inline)
            db.commit()  # its state row; no write transaction is held over the next upload

    # --- reconciliation -------------------------------------------------------------------------

    def _reconcile_due(self) -> bool:
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=self.settings.reconcile_interval_s)
        with self._sessions() as db:
            pairs = db.execute(
                select(Dataset.id, SyncTarget.id)
                .join(SyncTarget, SyncTarget.namespace_id == Dataset.namespace_id)
                .where(Dataset.sync_type.is_not(None))
            ).all()
            due = []
            for ds_id, t_id in pairs:
                st = db.scalar(
                    select(SyncState).where(SyncState.dataset_id == ds_id, SyncState.target_id == t_id)
                )
                if st is None or st.last_reconciled_at is None or st.last_reconciled_at < cutoff:
                    due.append((ds_id, t_id))
        did = False
        for ds_id, t_id in due:
            try:
                self.reconcile(ds_id, t_id)
                did = True
            except Exception as e:  # noqa: BLE001 - recorded; retried at the next interval
                log.warning("reconciliation of dataset %s with target %s failed: %s", ds_id, t_id, e)
                with self._sessions() as db:
                    st = _state(db, ds_id, t_id)
                    st.last_error = (e.message if isinstance(e, LarderError) else f"{type(e).__name__}: {e}")[
                        :1000
                    ]
                    st.last_error_at = st.last_reconciled_at = datetime.now(timezone.utc)
                    db.commit()
        return did

    def reconcile(self, dataset_id: int, target_id: int, checksum: bool = False) -> dict[str, Any]:
        """Compare both sides of one (dataset, target) and queue what differs; the report."""
        with self._reconcile_lock, self._sessions() as db:
            return self._reconcile(db, dataset_id, target_id, checksum).as_dict()

    def _reconcile(self, db: Session, dataset_id: int, target_id: int, checksum: bool) -> Report:
        started = time.monotonic()
        ds = db.get(Dataset, dataset_id)
        target = db.get(SyncTarget, target_id)
        report = Report(checksum=checksum)
        if ds is None or target is None or ds.sync_type is None:
            return report
        peer = self._peer(db, target)
        gen = time.time_ns() // 1000
        started_at = datetime.now(timezone.utc)
        backend = storage_backend.dataset_backend(ds.namespace, ds.name, self._box, cached=True)
        pending = set(
            db.scalars(
                select(SyncOutbox.key).where(
                    SyncOutbox.dataset_id == ds.id, SyncOutbox.target_id == target.id
                )
            )
        )
        log_keys: list[tuple[str, datetime, int, str]] = []
        prefix = len(ds.name) + 1

        def queue(
            key: str, when: datetime, repair: bool = False, size: int = 0, metadata: str = "{}"
        ) -> None:
            if key in pending:
                return
            pending.add(key)
            service.enqueue(
                db,
                ds,
                "put",
                key,
                when,
                "",
                size,
                json.loads(metadata or "{}"),
                targets=[target],
                repair=repair,
            )

        def sent_rows(keys: list[str]) -> dict[str, SyncObject]:
            query = select(SyncObject).where(*service.sent(target.id, ds.id), SyncObject.key.in_(keys))
            return {r.key: r for r in db.scalars(query)}

        # 1. this side: what the target was never sent, or was sent in another version
        here = (e.info for e in backend.list(ds.name, recursive=True) if not e.is_dir and e.info is not None)
        for batch in _batched(here, RECONCILE_BATCH):
            keys = [i.key[prefix:] for i in batch]
            rows = sent_rows(keys)
            entries = {
                e.key: e
                for e in db.scalars(
                    select(ObjectEntry).where(ObjectEntry.dataset_id == ds.id, ObjectEntry.key.in_(keys))
                )
            }
            for info, key in zip(batch, keys, strict=True):
                report.checked += 1
                row = rows.get(key)
                if row is not None and row.etag == info.etag and row.size == info.size:
                    row.seen = gen
                    continue
                entry = entries.get(key)
                if entry is None or entry.etag != info.etag:  # written past Larder: index it here
                    entry = _index(db, ds.id, key, entry, info)
                if row is None:
                    report.missing += 1
                else:
                    report.changed += 1
                    row.seen = gen
                if is_delta_log_entry(key):
                    log_keys.append((key, entry.last_modified, info.size, entry.metadata_json))
                else:
                    queue(key, entry.last_modified, size=info.size, metadata=entry.metadata_json)
            db.commit()  # per batch: no write lock held through the listings and downloads
        for key, when, size, md in sorted(log_keys):  # Delta log entries after the files they name
            queue(key, when, size=size, metadata=md)

        # 2. the target's side: lost, changed or (checksum) corrupted copies of what it was sent
        for batch in _batched(peer.list(target.target_namespace, ds.name), RECONCILE_BATCH):
            keys = [i.key[prefix:] for i in batch]
            rows = sent_rows(keys)
            for info, key in zip(batch, keys, strict=True):
                report.target_checked += 1
                row = rows.get(key)
                if row is None or row.seen != gen:
                    continue  # not ours to judge (written there), or queued in step 1
                row.seen = gen + 1
                if row.target_etag != info.etag or row.size != info.size:
                    report.changed_on_target += 1
                    queue(key, row.synced_at, repair=True, size=row.size)
                elif (
                    checksum
                    and row.sha256
                    and peer.sha256(target.target_namespace, ds.name, info.key) != row.sha256
                ):
                    report.corrupt += 1
                    queue(key, row.synced_at, repair=True, size=row.size)
            db.commit()

        # 3. sent and seen here but not there: lost on the target; sent but gone here: deleted past
        # Larder. Rows written since this pass began (a change applied meanwhile) are not judged.
        judged = (*service.sent(target.id, ds.id), SyncObject.synced_at < started_at)
        # on a duplex target a key gone there is that side's delete (its reconciliation sends it
        # here): repairing it would bring it back. Simplex targets are repaired.
        if target.sync_type != "duplex" or ds.sync_type != "duplex":
            for row in list(db.scalars(select(SyncObject).where(*judged, SyncObject.seen == gen))):
                report.lost_on_target += 1
                queue(row.key, row.synced_at, repair=True, size=row.size)
        now = datetime.now(timezone.utc)
        for row in list(db.scalars(select(SyncObject).where(*judged, SyncObject.seen < gen))):
            if row.key in pending or backend.head(f"{ds.name}/{row.key}") is not None:
                continue
            if db.get(SyncObject, row.id, populate_existing=True) is None or db.scalar(
                select(SyncTombstone.id).where(
                    SyncTombstone.dataset_id == ds.id, SyncTombstone.key == row.key
                )
            ):
                continue  # deleted meanwhile by a change that arrived: its tombstone stands
            report.deleted += 1
            pending.add(row.key)
            db.execute(delete(ObjectEntry).where(ObjectEntry.dataset_id == ds.id, ObjectEntry.key == row.key))
            service.tombstone(db, ds, row.key, now, "")
            service.enqueue(db, ds, "delete", row.key, now, "", targets=[target])
        report.retried_failed = (
            cast(
                Any,
                db.execute(
                    update(SyncOutbox)
                    .where(
                        SyncOutbox.dataset_id == ds.id,
                        SyncOutbox.target_id == target.id,
                        SyncOutbox.failed.is_(True),
                    )
                    .values(failed=False, attempts=0, next_attempt_at=now)
                ),
            ).rowcount
            or 0
        )
        report.repaired = (
            report.missing
            + report.changed
            + report.lost_on_target
            + report.changed_on_target
            + report.corrupt
            + report.deleted
        )
        report.seconds = round(time.monotonic() - started, 3)
        report.at = now.isoformat()
        st = _state(db, ds.id, target.id)
        st.last_reconciled_at = now
        st.last_reconcile_json = json.dumps(report.as_dict(), sort_keys=True)
        db.commit()
        if report.repaired:
            service.wake_event().set()
            log.info(
                "reconciliation of %s with %s queued %d repair(s)",
                ds.name,
                target.target_core_service,
                report.repaired,
            )
        return report


def _batched(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``n`` (the last one shorter), read as they come: listings of any size."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _index(db: Session, dataset_id: int, key: str, entry: ObjectEntry | None, info: Any) -> ObjectEntry:
    """Index an object written past Larder (or changed there) as a write of this server; a client
    recording the same key at the same moment wins (its savepoint-free insert went first)."""
    if entry is None:
        try:
            with db.begin_nested():
                entry = ObjectEntry(dataset_id=dataset_id, key=key, metadata_json="{}", tags=[])
                entry.size, entry.etag, entry.last_modified, entry.origin = (
                    info.size,
                    info.etag,
                    info.last_modified,
                    "",
                )
                db.add(entry)
            return entry
        except IntegrityError:
            found = db.scalar(
                select(ObjectEntry).where(ObjectEntry.dataset_id == dataset_id, ObjectEntry.key == key)
            )
            assert found is not None
            return found
    entry.size, entry.etag, entry.last_modified, entry.origin = info.size, info.etag, info.last_modified, ""
    return entry


def _state(db: Session, dataset_id: int, target_id: int) -> SyncState:
    st = db.scalar(
        select(SyncState).where(SyncState.dataset_id == dataset_id, SyncState.target_id == target_id)
    )
    if st is None:
        st = SyncState(
            dataset_id=dataset_id,
            target_id=target_id,
            copied=0,
            copied_bytes=0,
            deleted=0,
            skipped=0,
            last_error="",
            last_reconcile_json="{}",
        )
        db.add(st)
        db.flush()
    return st


def not_found_is_gone(e: Exception) -> bool:
    return isinstance(e, NotFoundError)


def make_sync_worker(
    settings: Any, session_factory: sessionmaker[Session], box: SecretBox, self_url: Callable[[], str]
) -> SyncWorker:
    """A worker configured from a home's :class:`~larder.server.settings.ServerSettings`."""
    return SyncWorker(
        session_factory,
        box,
        self_url,
        Settings(
            threads=settings.sync_threads,
            retry_max_s=settings.sync_retry_max_seconds,
            reconcile_interval_s=settings.sync_reconcile_interval_seconds,
            poll_s=settings.sync_poll_seconds,
        ),
    )


def run_standalone(home: Any) -> None:
    """``larder sync worker --home H``: the home's worker in this process, until SIGTERM/SIGINT.

    Its own URL (the origin of this server's writes) is ``public_url`` or ``home/server.url``.

    Raises:
        ConfigurationError: when the home has neither (start the server once, or set public_url).
    """
    import signal

    from larder.errors import ConfigurationError
    from larder.server.db.session import make_engine, make_session_factory, upgrade
    from larder.server.settings import ServerSettings

    settings = ServerSettings.load(home)
    engine = make_engine(settings.database_url)
    upgrade(engine)

    def self_url() -> str:
        if settings.public_url:
            return service.service_base(settings.public_url, "public_url")
        url_file = settings.paths.server_url
        if url_file.is_file():
            return service.service_base(url_file.read_text().strip(), "server.url")
        raise ConfigurationError(
            f"The sync worker of {settings.home} does not know its server's URL: start the server "
            "(it writes server.url) or set public_url in server.toml."
        )

    self_url()
    worker = make_sync_worker(
        settings, make_session_factory(engine), SecretBox(settings.paths.secret_key), self_url
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    log.info("sync worker of %s running (%d threads)", settings.home, worker.settings.threads)
    stop.wait()
    worker.stop()
