"""Sync between linked servers: namespace sync targets, dataset sync, the outbox, and applying a
change that another server sends.

How a change travels (see docs/linked-servers.md):

1. A write or delete recorded here (``objects.record`` / ``objects.forget``) adds one outbox row
   per sync target **in the same transaction** (:func:`enqueue`): a change recorded is a change
   that will be sent, whatever crashes afterwards.
2. The sync worker (``larder.server.sync.worker``) sends each row: it uploads the bytes to a
   hidden staging key in the target dataset (with credentials the target vends), then asks the
   target to **apply** the change (:func:`apply`), which decides by last-writer-wins and publishes
   the staged object under its key in one step, or refuses a stale version.
3. Each version is ``(changed_at, origin)``: its UTC time and the server whose write it is. The
   newer wins on both sides (ties by origin URL), so both sides end with the same bytes; a delete
   leaves a tombstone with its version, so an older copy arriving later cannot bring a key back.
   A change that arrived by sync is never sent back to the server it came from.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import case, delete, event, func, select
from sqlalchemy.orm import Session

from larder.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from larder.names import check_name, check_object_key
from larder.server import storage_backend
from larder.server.db.models import (
    Dataset,
    DatasetPermission,
    Namespace,
    ObjectEntry,
    ObjectTag,
    Project,
    SyncConflict,
    SyncObject,
    SyncOutbox,
    SyncPeer,
    SyncState,
    SyncTarget,
    SyncTombstone,
    User,
)
from larder.server.security.authz import Principal
from larder.server.security.secretbox import SecretBox
from larder.server.services import datasets, storage
from larder.server.sync.policy import allows, check_policy
from larder.storage.backends import TMP_PREFIX

log = logging.getLogger("larder.server.sync")

SYNC_TYPES = ("simplex", "duplex")
API_SUFFIX = "/api/v1"
STAGING_PREFIX = TMP_PREFIX + "sync-"  # hidden from listings, removed by the janitor when stale

# --- waking the worker when a change commits ------------------------------------------------

_wake = threading.Event()


def wake_event() -> threading.Event:
    """Set whenever a transaction that added outbox rows commits (the in-process worker waits on it)."""
    return _wake


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("sync_wake", False):
        _wake.set()


# --- names ------------------------------------------------------------------------------------


def service_base(url: str, what: str = "target_core_service") -> str:
    """``https://host:port`` from ``https://host:port``, ``.../api/v1`` or with a trailing slash.

    Raises:
        InvalidArgumentError: when it is not an http(s) URL.
    """
    if not isinstance(url, str) or not url.strip().startswith(("https://", "http://")) or len(url) > 2000:
        raise InvalidArgumentError(
            f"{what} must be a server's URL such as 'https://cloud.example:8181/api/v1', got {str(url)[:100]!r}.",
            details={what: str(url)[:100]},
        )
    base = url.strip().rstrip("/")
    if base.endswith(API_SUFFIX):
        base = base[: -len(API_SUFFIX)]
    return base.rstrip("/")


def version_key(changed_at: datetime, origin: str) -> tuple[datetime, str]:
    """What last-writer-wins compares: the later time wins, a tie goes to the larger origin URL."""
    return changed_at.astimezone(timezone.utc), origin


def _target_out(t: SyncTarget) -> dict[str, Any]:
    return {
        "target_core_service": t.target_core_service + API_SUFFIX,
        "target_namespace": t.target_namespace,
        "sync_type": t.sync_type,
    }


def _check_sync_type(sync_type: str) -> str:
    if sync_type not in SYNC_TYPES:
        raise InvalidArgumentError(
            f"sync_type must be 'simplex' (1-way) or 'duplex' (2-way), got {sync_type!r}.",
            details={"sync_type": str(sync_type)[:40]},
        )
    return sync_type


def _require_admin_for_sync(principal: Principal, what: str) -> None:
    if principal.role != "admin":
        raise PermissionDeniedError(
            f"{what} needs the platform role 'admin' (user '{principal.username}' is '{principal.role}'); "
            "ask an admin.",
            details={"user": principal.username, "role": principal.role, "required_role": "admin"},
        )
    principal.require_scope("admin")


# --- namespace sync targets ---------------------------------------------------------------------


def list_targets(db: Session, principal: Principal, namespace: str) -> list[dict[str, Any]]:
    principal.require_scope("dataset")
    ns = storage.get_namespace(db, namespace)
    rows = db.scalars(select(SyncTarget).where(SyncTarget.namespace_id == ns.id).order_by(SyncTarget.id))
    return [_target_out(t) for t in rows]


def store_peer(
    db: Session, box: SecretBox, url: str, api_key: str | None, ca_pem: str | None
) -> SyncPeer | None:
    """Keep (or replace) the credential for a server's API; the peer, or None when none is known."""
    base = service_base(url)
    peer = db.scalar(select(SyncPeer).where(SyncPeer.url == base))
    if api_key:
        if peer is None:
            peer = SyncPeer(url=base, api_key_enc="", ca_pem="")
            db.add(peer)
        peer.api_key_enc = box.encrypt(api_key)
        if ca_pem is not None:
            peer.ca_pem = ca_pem
    elif peer is not None and ca_pem is not None:
        peer.ca_pem = ca_pem
    return peer


def enable_target(
    db: Session,
    principal: Principal,
    box: SecretBox,
    namespace: str,
    target_core_service: str,
    sync_type: str,
    target_namespace: str,
    self_url: str,
    api_key: str | None = None,
    ca_pem: str | None = None,
    check: Any = None,
) -> dict[str, Any]:
    """Add a sync target to a namespace (admin). ``check(peer, target_namespace)`` verifies that
    the target server answers with the credential and holds the namespace (the worker's
    transport; None skips it).

    Returns:
        dict: ``{"targets": [...], "warning": str | None}``.
    """
    _require_admin_for_sync(principal, "Changing a namespace's sync targets")
    ns = storage.get_namespace(db, namespace)
    _check_sync_type(sync_type)
    check_name("namespace", target_namespace)
    base = service_base(target_core_service)
    if base == service_base(self_url, "this server's URL") and target_namespace == ns.name:
        raise InvalidArgumentError(
            f"Namespace '{ns.name}' cannot be its own sync target; a server may target itself only "
            "with another namespace (another bucket).",
            details={"namespace": ns.name, "target_namespace": target_namespace},
        )
    if ca_pem is not None and ca_pem and "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise InvalidArgumentError("trust_store must be a PEM CA bundle (-----BEGIN CERTIFICATE-----).")
    peer = store_peer(db, box, base, api_key, ca_pem)
    if peer is None:
        raise InvalidArgumentError(
            f"This server has no credential for {base}: pass api_key= (an admin API key of that server, "
            "or of the auth service both trust) and trust_store= (its CA) once; later targets on the same "
            "server reuse it.",
            details={"target_core_service": base},
        )
    if check is not None:
        db.flush()
        check(peer, target_namespace, box)
    existing = find_target(db, ns.id, base, target_namespace)
    if existing is None:
        db.add(
            SyncTarget(
                namespace_id=ns.id,
                target_core_service=base,
                target_namespace=target_namespace,
                sync_type=sync_type,
            )
        )
    else:
        existing.sync_type = sync_type
    db.commit()
    targets = list_targets(db, principal, namespace)
    warning = None
    if len(targets) > 1:
        warning = (
            f"Namespace '{namespace}' now has {len(targets)} sync targets; only one target per namespace is "
            "supported (datasets sync to each, but conflicts between more than two sides are not resolved)."
        )
        log.warning("%s", warning)
    return {"targets": targets, "warning": warning}


def disable_target(
    db: Session, principal: Principal, namespace: str, target_core_service: str, target_namespace: str
) -> list[dict[str, Any]]:
    """Remove a sync target (admin); its pending changes are dropped. Datasets left with no target
    stop syncing."""
    _require_admin_for_sync(principal, "Changing a namespace's sync targets")
    ns = storage.get_namespace(db, namespace)
    base = service_base(target_core_service)
    target = find_target(db, ns.id, base, target_namespace)
    if target is None:
        raise NotFoundError(
            f"Namespace '{namespace}' has no sync target {base}{API_SUFFIX} namespace '{target_namespace}'.",
            details={
                "namespace": namespace,
                "target_core_service": base,
                "target_namespace": target_namespace,
            },
        )
    db.delete(target)
    db.flush()
    if db.scalar(select(func.count()).select_from(SyncTarget).where(SyncTarget.namespace_id == ns.id)) == 0:
        for ds in db.scalars(
            select(Dataset).where(Dataset.namespace_id == ns.id, Dataset.sync_type.is_not(None))
        ):
            ds.sync_type = None
    db.commit()
    return list_targets(db, principal, namespace)


def find_target(db: Session, namespace_id: int, service: str, namespace: str) -> SyncTarget | None:
    """A namespace's sync target on ``service`` (a base URL) and its ``namespace``, or None."""
    return db.scalar(
        select(SyncTarget).where(
            SyncTarget.namespace_id == namespace_id,
            SyncTarget.target_core_service == service,
            SyncTarget.target_namespace == namespace,
        )
    )


def targets_of(db: Session, ds: Dataset) -> list[SyncTarget]:
    return list(
        db.scalars(
            select(SyncTarget).where(SyncTarget.namespace_id == ds.namespace_id).order_by(SyncTarget.id)
        )
    )


def refuse_namespace_delete(db: Session, ns: Namespace) -> None:
    n = db.scalar(select(func.count()).select_from(SyncTarget).where(SyncTarget.namespace_id == ns.id))
    if n:
        raise ConflictError(
            f"Namespace '{ns.name}' has {n} sync target(s); disable them first "
            f"(ns.disable_sync_target(...) or larder namespace disable-sync-target).",
            details={"namespace": ns.name, "sync_targets": n},
        )


# --- dataset sync -------------------------------------------------------------------------------


def _require_owner(ds: Dataset, principal: Principal, what: str) -> None:
    if ds.owner_id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only the owner of dataset '{ds.name}' ({ds.owner.username}) or a platform admin may {what}.",
            details={"dataset": ds.name, "owner": ds.owner.username},
        )


def dataset_description(ds: Dataset) -> dict[str, Any]:
    """What the target needs to create the dataset like this one (names, never ids)."""
    return {
        "description": ds.description,
        "owner": ds.owner.username,
        "permissions": [
            {
                "user": p.user.username if p.user else None,
                "project": p.project.name if p.project else None,
                "access": p.access,
            }
            for p in ds.permissions
        ],
    }


def enable_dataset(
    db: Session,
    principal: Principal,
    namespace: str,
    dataset: str,
    sync_type: str,
    policy: Any,
    accept: Any = None,
) -> Dataset:
    """Turn on sync for a dataset (owner or admin). ``accept(target, ds)`` asks each target server
    to create (or adopt) the dataset; None skips it (tests of this function alone)."""
    ds, _ = datasets.get_with_access(db, principal, namespace, dataset)
    _require_owner(ds, principal, "enable its sync")
    _check_sync_type(sync_type)
    checked = check_policy(policy)
    targets = targets_of(db, ds)
    if not targets:
        raise ConflictError(
            f"Namespace '{namespace}' has no sync target, so dataset '{dataset}' has nowhere to sync; an admin "
            "adds one with ns.enable_sync_target(...).",
            details={"namespace": namespace, "dataset": dataset},
        )
    if sync_type == "duplex":
        simplex = [t for t in targets if t.sync_type != "duplex"]
        if simplex:
            raise ConflictError(
                f"Namespace '{namespace}' syncs 1-way (simplex) to {simplex[0].target_core_service}{API_SUFFIX}; "
                "a dataset there can only sync simplex. Use sync_type='simplex', or ask an admin for a duplex target.",
                details={"namespace": namespace, "sync_type": sync_type},
            )
    if accept is not None:  # the targets first (HTTP), with nothing of this side's written yet
        for t in targets:
            accept(t, ds)
    ds.sync_type = sync_type
    ds.sync_policy = json.dumps(checked, sort_keys=True) if checked else ""
    for t in targets:  # back-fill: the worker reconciles a (dataset, target) with no state first
        db.execute(delete(SyncState).where(SyncState.dataset_id == ds.id, SyncState.target_id == t.id))
    db.commit()
    db.refresh(ds)
    _wake.set()
    return ds


def disable_dataset(
    db: Session, principal: Principal, namespace: str, dataset: str, release: Any = None
) -> Dataset:
    ds, _ = datasets.get_with_access(db, principal, namespace, dataset)
    _require_owner(ds, principal, "disable its sync")
    was = ds.sync_type
    ds.sync_type = None
    ds.sync_policy = ""
    db.execute(delete(SyncOutbox).where(SyncOutbox.dataset_id == ds.id))
    if was == "duplex" and release is not None:
        for t in targets_of(db, ds):
            release(t, ds)
    db.commit()
    db.refresh(ds)
    return ds


def accept_dataset(
    db: Session,
    principal: Principal,
    namespace: str,
    dataset: str,
    origin: str,
    origin_namespace: str,
    sync_type: str,
    description: dict[str, Any],
    shared_auth_service: str = "",
) -> dict[str, Any]:
    """On the target: create (or adopt) the dataset a linked server starts syncing here, owned by
    the user of the same name (else the caller) with the same grants where the names exist here.
    When the origin's users come from the auth service this server trusts
    (``description["auth_service"] == shared_auth_service``), a user not seen here yet is created
    as a federated user of it (role ``user``), as its first token would. A duplex dataset syncs
    back, which needs this namespace's duplex target at the origin."""
    _require_admin_for_sync(principal, "Accepting a synced dataset")
    _check_sync_type(sync_type)
    check_name("dataset", dataset)
    origin = service_base(origin, "origin")
    ns = storage.get_namespace(db, namespace)
    back = find_target(db, ns.id, origin, origin_namespace)
    if sync_type == "duplex" and (back is None or back.sync_type != "duplex"):
        raise ConflictError(
            f"Dataset '{dataset}' syncs 2-way (duplex), but namespace '{namespace}' on this server has no duplex "
            f"sync target back to {origin}{API_SUFFIX} namespace '{origin_namespace}'; an admin of this server adds "
            "it first (ns.enable_sync_target(...)).",
            details={"namespace": namespace, "origin": origin, "origin_namespace": origin_namespace},
        )
    ds = db.scalar(select(Dataset).where(Dataset.namespace_id == ns.id, Dataset.name == dataset))
    skipped: list[str] = []
    federate = bool(shared_auth_service) and description.get("auth_service") == shared_auth_service

    def user_named(name: Any) -> User | None:
        if not isinstance(name, str) or not name:
            return None
        u = db.scalar(select(User).where(User.username == name))
        if u is None and federate:
            check_name("user", name)
            u = User(username=name, email="", role="user", federated_issuer=shared_auth_service)
            db.add(u)
            db.flush()
            log.info(
                "created federated user %s from %s for synced dataset %s", name, shared_auth_service, dataset
            )
        return u

    if ds is None:
        owner = user_named(description.get("owner"))
        ds = datasets.create_unchecked(
            db,
            ns.id,
            dataset,
            str(description.get("description", ""))[:2000],
            (owner or _user(db, principal)).id,
        )
        for p in description.get("permissions", []):
            if p.get("access") not in datasets.ACCESS_LEVELS:
                continue
            if p.get("user"):
                u = user_named(p["user"])
                if u is None:
                    skipped.append(f"user {p['user']}")
                    continue
                ds.permissions.append(DatasetPermission(user_id=u.id, access=p["access"]))
            elif p.get("project"):
                pr = db.scalar(select(Project).where(Project.name == p["project"]))
                if pr is None:
                    skipped.append(f"project {p['project']}")
                    continue
                ds.permissions.append(DatasetPermission(project_id=pr.id, access=p["access"]))
    ds.sync_source = f"{origin}#{origin_namespace}"
    if sync_type == "duplex":
        ds.sync_type = "duplex"
        assert back is not None
        db.execute(delete(SyncState).where(SyncState.dataset_id == ds.id, SyncState.target_id == back.id))
    db.commit()
    _wake.set()
    return {"dataset": ds.name, "owner": ds.owner.username, "skipped_grants": skipped}


def release_dataset(db: Session, principal: Principal, namespace: str, dataset: str, origin: str) -> None:
    """On the target: the origin disabled a duplex dataset's sync; this side stops sending too."""
    _require_admin_for_sync(principal, "Releasing a synced dataset")
    ns = storage.get_namespace(db, namespace)
    ds = db.scalar(select(Dataset).where(Dataset.namespace_id == ns.id, Dataset.name == dataset))
    if ds is not None and (ds.sync_source or "").startswith(service_base(origin, "origin") + "#"):
        ds.sync_type = None
        db.execute(delete(SyncOutbox).where(SyncOutbox.dataset_id == ds.id))
        db.commit()


def _user(db: Session, principal: Principal) -> User:
    u = db.get(User, principal.user_id)
    assert u is not None
    return u


# --- the outbox ---------------------------------------------------------------------------------


def enqueue(
    db: Session,
    ds: Dataset,
    op: str,
    key: str,
    changed_at: datetime,
    origin: str,
    size: int = 0,
    metadata: dict[str, str] | None = None,
    skip_service: str | None = None,
    repair: bool = False,
    targets: list[SyncTarget] | None = None,
) -> int:
    """Add the change to the outbox of each of the dataset's targets (but ``skip_service``, where
    it came from), in the caller's transaction. Returns the rows added."""
    if ds.sync_type is None:
        return 0
    policy = json.loads(ds.sync_policy) if ds.sync_policy else None
    # a policy selects the writes that sync; a delete always follows (the target may hold the key
    # from before a policy change, and deleting a key it never had is a no-op there)
    if op == "put" and not allows(policy, "PUT", key, size, metadata or {}):
        return 0
    added = 0
    for t in targets if targets is not None else targets_of(db, ds):
        if skip_service is not None and t.target_core_service == skip_service:
            continue
        if origin and t.target_core_service == origin:  # never back to the server that wrote it
            continue
        db.add(
            SyncOutbox(
                dataset_id=ds.id,
                target_id=t.id,
                op=op,
                key=key,
                changed_at=changed_at,
                origin=origin,
                repair=repair,
                attempts=0,
                next_attempt_at=datetime.now(timezone.utc),
                last_error="",
                failed=False,
            )
        )
        added += 1
    if added:
        db.info["sync_wake"] = True
    return added


def tombstone(db: Session, ds: Dataset, key: str, deleted_at: datetime, origin: str) -> None:
    row = db.scalar(select(SyncTombstone).where(SyncTombstone.dataset_id == ds.id, SyncTombstone.key == key))
    if row is None:
        db.add(SyncTombstone(dataset_id=ds.id, key=key, deleted_at=deleted_at, origin=origin))
    else:
        row.deleted_at, row.origin = deleted_at, origin


# --- applying a change another server sends -------------------------------------------------------


@dataclass
class Change:
    """One change as the sender describes it."""

    op: str  # "put" | "delete"
    key: str
    changed_at: datetime
    origin: str  # the server whose write it is
    sender: str  # the server sending it (its public URL)
    sender_namespace: str
    staged_key: str = ""
    size: int = 0
    etag: str = ""  # the sender's etag of the object
    sha256: str = ""
    metadata: dict[str, str] | None = None
    repair: bool = False


def _current_version(
    db: Session, ds: Dataset, key: str, self_url: str
) -> tuple[tuple[datetime, str] | None, ObjectEntry | None, bool]:
    """(version, entry, deleted) of the key here: its index entry, else its tombstone, else None."""
    entry = db.scalar(select(ObjectEntry).where(ObjectEntry.dataset_id == ds.id, ObjectEntry.key == key))
    if entry is not None:
        return version_key(entry.last_modified, entry.origin or self_url), entry, False
    tomb = db.scalar(select(SyncTombstone).where(SyncTombstone.dataset_id == ds.id, SyncTombstone.key == key))
    if tomb is not None:
        return version_key(tomb.deleted_at, tomb.origin or self_url), None, True
    return None, None, False


def _reverse_target(db: Session, ds: Dataset, change: Change) -> SyncTarget | None:
    return find_target(db, ds.namespace_id, change.sender, change.sender_namespace)


def record_conflict(
    db: Session, ds: Dataset, key: str, winner: tuple[datetime, str], loser: tuple[datetime, str]
) -> None:
    """Record (once) that ``key`` was written on both sides: the winner's and the loser's versions."""
    if conflict_known(db, ds.id, key, winner, loser):
        return
    db.add(
        SyncConflict(
            dataset_id=ds.id,
            key=key,
            winner_changed_at=winner[0],
            winner_origin=winner[1],
            loser_changed_at=loser[0],
            loser_origin=loser[1],
        )
    )
    log.warning(
        "sync conflict on %s/%s: %s@%s wins over %s@%s",
        ds.name,
        key,
        winner[1],
        winner[0].isoformat(),
        loser[1],
        loser[0].isoformat(),
    )


def conflict_known(
    db: Session, dataset_id: int, key: str, winner: tuple[datetime, str], loser: tuple[datetime, str]
) -> bool:
    """Whether this conflict (the same key, winner and loser versions) is recorded already."""
    return (
        db.scalar(
            select(SyncConflict.id)
            .where(
                SyncConflict.dataset_id == dataset_id,
                SyncConflict.key == key,
                SyncConflict.winner_origin == winner[1],
                SyncConflict.winner_changed_at == winner[0],
                SyncConflict.loser_origin == loser[1],
                SyncConflict.loser_changed_at == loser[0],
            )
            .limit(1)
        )
        is not None
    )


def _pending_toward(db: Session, ds: Dataset, key: str, target: SyncTarget | None) -> bool:
    if target is None:
        return False
    return (
        db.scalar(
            select(SyncOutbox.id)
            .where(SyncOutbox.dataset_id == ds.id, SyncOutbox.target_id == target.id, SyncOutbox.key == key)
            .limit(1)
        )
        is not None
    )


def apply(
    db: Session,
    principal: Principal,
    box: SecretBox,
    namespace: str,
    dataset: str,
    change: Change,
    self_url: str,
) -> dict[str, Any]:
    """Apply a change another server sends (admin: the link's service identity).

    Returns:
        dict: ``{"applied": bool, "reason": "applied"|"duplicate"|"stale", "etag": str}`` — the
        etag of what this side holds for the key afterwards ("" when it holds nothing).
    """
    _require_admin_for_sync(principal, "Applying a synced change")
    ds, _ = datasets.get_with_access(db, principal, namespace, dataset)
    check_object_key(change.key)
    from larder.server.services.objects import check_metadata

    check_metadata(change.metadata or {})
    if change.op not in ("put", "delete"):
        raise InvalidArgumentError(f"op must be 'put' or 'delete', got {change.op!r}.")
    backend = storage_backend.dataset_backend(ds.namespace, ds.name, box, cached=True)
    staged = f"{ds.name}/{change.staged_key}" if change.staged_key else ""
    if change.op == "put" and (not change.staged_key.startswith(STAGING_PREFIX) or "/" in change.staged_key):
        raise InvalidArgumentError(
            f"staged_key must be '{STAGING_PREFIX}<id>' at the dataset's root, got {change.staged_key[:80]!r}."
        )
    incoming = version_key(change.changed_at, change.origin)
    current, entry, deleted = _current_version(db, ds, change.key, self_url)
    if current is None:  # written here past Larder and not indexed yet: that is a version too
        there = backend.head(f"{ds.name}/{change.key}")
        if there is not None:
            entry = ObjectEntry(
                dataset_id=ds.id,
                key=change.key,
                size=there.size,
                etag=there.etag,
                last_modified=there.last_modified,
                metadata_json="{}",
                origin="",
                tags=[],
            )
            db.add(entry)
            current = version_key(there.last_modified, self_url)
    reverse = _reverse_target(db, ds, change)
    conflict: dict[str, str] | None = None

    def drop_staged() -> None:
        if staged:
            with contextlib.suppress(NotFoundError):
                backend.delete(staged)

    if current is not None and current > incoming:
        drop_staged()
        if not change.repair and current[1] != incoming[1]:
            record_conflict(db, ds, change.key, current, incoming)
        db.commit()
        return {
            "applied": False,
            "reason": "stale",
            "etag": entry.etag if entry else "",
            "winner": {"origin": current[1], "changed_at": current[0].isoformat()},
        }
    if current == incoming and not change.repair:
        drop_staged()
        return {"applied": False, "reason": "duplicate", "etag": entry.etag if entry else ""}
    if (
        current is not None
        and current != incoming
        and current[1] == self_url
        and reverse is not None
        and _pending_toward(db, ds, change.key, reverse)
    ):
        # written here too and not yet sent there: both sides wrote before either synced; the
        # sender records it too (from the answer), this side's version is not sent any more
        record_conflict(db, ds, change.key, incoming, current)
        conflict = {"origin": current[1], "changed_at": current[0].isoformat()}
        db.execute(
            delete(SyncOutbox).where(
                SyncOutbox.dataset_id == ds.id,
                SyncOutbox.target_id == reverse.id,
                SyncOutbox.key == change.key,
            )
        )
    full = f"{ds.name}/{change.key}"
    etag = ""
    if change.op == "put":
        info = storage_backend.publish(ds.namespace, box, staged, full, change.size)
        etag = info.etag
        if entry is None:
            entry = ObjectEntry(dataset_id=ds.id, key=change.key)
            db.add(entry)
        metadata = change.metadata or {}
        entry.size = info.size
        entry.etag = etag
        entry.last_modified = incoming[0]
        entry.origin = change.origin
        entry.metadata_json = json.dumps(metadata, sort_keys=True)
        entry.tags = [ObjectTag(k=k, v=v) for k, v in metadata.items()]
        db.execute(
            delete(SyncTombstone).where(SyncTombstone.dataset_id == ds.id, SyncTombstone.key == change.key)
        )
        if reverse is not None:  # what the sender holds is what we now hold: reconciliation's basis
            _set_sync_object(db, ds.id, reverse.id, change.key, entry.size, etag, change.etag, change.sha256)
    else:
        if not deleted:
            with contextlib.suppress(NotFoundError):
                backend.delete(full)
            if entry is not None:
                db.delete(entry)
        tombstone(db, ds, change.key, incoming[0], change.origin)
        if reverse is not None:
            forget_sent(db, reverse.id, ds.id, change.key)
    enqueue(
        db,
        ds,
        change.op,
        change.key,
        incoming[0],
        change.origin,
        change.size,
        change.metadata,
        skip_service=change.sender,
    )
    db.commit()
    out: dict[str, Any] = {"applied": True, "reason": "applied", "etag": etag}
    if conflict is not None:
        out["loser"] = conflict
    return out


def sent(target_id: int, dataset_id: int) -> tuple[Any, Any]:
    """The where-clause of what one target was sent of one dataset (``sync_objects`` rows)."""
    return SyncObject.target_id == target_id, SyncObject.dataset_id == dataset_id


def forget_sent(db: Session, target_id: int, dataset_id: int, key: str) -> None:
    """The target no longer holds ``key`` as this server sent it."""
    db.execute(delete(SyncObject).where(*sent(target_id, dataset_id), SyncObject.key == key))


def _set_sync_object(
    db: Session,
    dataset_id: int,
    target_id: int,
    key: str,
    size: int,
    etag: str,
    target_etag: str,
    sha256: str,
) -> None:
    row = db.scalar(select(SyncObject).where(*sent(target_id, dataset_id), SyncObject.key == key))
    if row is None:
        row = SyncObject(dataset_id=dataset_id, target_id=target_id, key=key, seen=0)
        db.add(row)
    row.size, row.etag, row.target_etag, row.sha256 = size, etag, target_etag, sha256
    row.synced_at = datetime.now(timezone.utc)


# --- status and metrics ----------------------------------------------------------------------------


def status(db: Session, principal: Principal, namespace: str, dataset: str) -> dict[str, Any]:
    """The dataset's sync state: per target, what is pending, the lag, errors, reconciliation."""
    ds, _ = datasets.get_with_access(db, principal, namespace, dataset)
    return dataset_status(db, ds)


def dataset_status(db: Session, ds: Dataset) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    out_targets = []
    for t in targets_of(db, ds) if ds.sync_type else []:
        pending, oldest, failed = db.execute(
            select(
                func.count(SyncOutbox.id),
                func.min(SyncOutbox.created_at),
                func.sum(case((SyncOutbox.failed, 1), else_=0)),
            ).where(SyncOutbox.dataset_id == ds.id, SyncOutbox.target_id == t.id)
        ).one()
        st = db.scalar(select(SyncState).where(SyncState.dataset_id == ds.id, SyncState.target_id == t.id))
        last_error = db.scalar(
            select(SyncOutbox.last_error)
            .where(SyncOutbox.dataset_id == ds.id, SyncOutbox.target_id == t.id, SyncOutbox.last_error != "")
            .order_by(SyncOutbox.id)
            .limit(1)
        )
        oldest_at = (
            oldest.replace(tzinfo=timezone.utc) if oldest is not None and oldest.tzinfo is None else oldest
        )
        backfill = st is None or st.last_reconciled_at is None  # enabled, not yet compared and copied
        out_targets.append(
            {
                **_target_out(t),
                "state": "error"
                if (failed or last_error)
                else ("syncing" if pending or backfill else "idle"),
                "backfill_pending": backfill,
                "pending": int(pending or 0),
                "failed": int(failed or 0),
                "lag_seconds": (now - oldest_at).total_seconds() if oldest_at is not None else 0.0,
                "copied": st.copied if st else 0,
                "copied_bytes": st.copied_bytes if st else 0,
                "deleted": st.deleted if st else 0,
                "skipped": st.skipped if st else 0,
                "last_error": last_error or (st.last_error if st else ""),
                "last_success_at": st.last_success_at.isoformat() if st and st.last_success_at else None,
                "last_reconciled_at": st.last_reconciled_at.isoformat()
                if st and st.last_reconciled_at
                else None,
                "last_reconciliation": json.loads(st.last_reconcile_json) if st else {},
            }
        )
    conflicts = list(
        db.scalars(
            select(SyncConflict)
            .where(SyncConflict.dataset_id == ds.id)
            .order_by(SyncConflict.id.desc())
            .limit(20)
        )
    )
    n_conflicts = db.scalar(
        select(func.count()).select_from(SyncConflict).where(SyncConflict.dataset_id == ds.id)
    )
    return {
        "namespace": ds.namespace.name,
        "dataset": ds.name,
        "sync_type": ds.sync_type,
        "sync_policy": json.loads(ds.sync_policy) if ds.sync_policy else None,
        "source": ds.sync_source,
        "state": (
            "disabled"
            if not ds.sync_type
            else max(
                (t["state"] for t in out_targets), key=["idle", "syncing", "error"].index, default="idle"
            )
        ),
        "pending": sum(t["pending"] for t in out_targets),
        "backfill_pending": any(t["backfill_pending"] for t in out_targets),
        "lag_seconds": max((t["lag_seconds"] for t in out_targets), default=0.0),
        "targets": out_targets,
        "conflicts": int(n_conflicts or 0),
        "recent_conflicts": [
            {
                "key": c.key,
                "winner": {"origin": c.winner_origin, "changed_at": c.winner_changed_at.isoformat()},
                "loser": {"origin": c.loser_origin, "changed_at": c.loser_changed_at.isoformat()},
                "detected_at": c.detected_at.isoformat(),
            }
            for c in conflicts
        ],
    }


def metrics(db: Session, principal: Principal) -> str:
    """Prometheus text for every syncing dataset (admin)."""
    _require_admin_for_sync(principal, "Reading the sync metrics")
    lines = [
        "# HELP larder_sync_pending Changes waiting to be sent to a sync target.",
        "# TYPE larder_sync_pending gauge",
    ]
    series: dict[str, list[str]] = {
        "larder_sync_pending": [],
        "larder_sync_failed": [],
        "larder_sync_lag_seconds": [],
        "larder_sync_copied_total": [],
        "larder_sync_copied_bytes_total": [],
        "larder_sync_deleted_total": [],
        "larder_sync_conflicts_total": [],
    }
    helps = {
        "larder_sync_failed": ("gauge", "Changes a target refused for good (retried by reconciliation)."),
        "larder_sync_lag_seconds": ("gauge", "Seconds since the oldest change still waiting was recorded."),
        "larder_sync_copied_total": ("counter", "Objects a target applied."),
        "larder_sync_copied_bytes_total": ("counter", "Bytes of the objects a target applied."),
        "larder_sync_deleted_total": ("counter", "Deletes a target applied."),
        "larder_sync_conflicts_total": ("counter", "Keys written on both sides before either synced."),
    }
    for ds in db.scalars(select(Dataset).where(Dataset.sync_type.is_not(None)).order_by(Dataset.id)):
        st = dataset_status(db, ds)
        for t in st["targets"]:
            labels = (
                f'namespace="{_esc(st["namespace"])}",dataset="{_esc(st["dataset"])}",'
                f'target="{_esc(t["target_core_service"])}",target_namespace="{_esc(t["target_namespace"])}"'
            )
            series["larder_sync_pending"].append(f"larder_sync_pending{{{labels}}} {t['pending']}")
            series["larder_sync_failed"].append(f"larder_sync_failed{{{labels}}} {t['failed']}")
            series["larder_sync_lag_seconds"].append(
                f"larder_sync_lag_seconds{{{labels}}} {t['lag_seconds']:.3f}"
            )
            series["larder_sync_copied_total"].append(f"larder_sync_copied_total{{{labels}}} {t['copied']}")
            series["larder_sync_copied_bytes_total"].append(
                f"larder_sync_copied_bytes_total{{{labels}}} {t['copied_bytes']}"
            )
            series["larder_sync_deleted_total"].append(
                f"larder_sync_deleted_total{{{labels}}} {t['deleted']}"
            )
        ds_labels = f'namespace="{_esc(st["namespace"])}",dataset="{_esc(st["dataset"])}"'
        series["larder_sync_conflicts_total"].append(
            f"larder_sync_conflicts_total{{{ds_labels}}} {st['conflicts']}"
        )
    lines += series.pop("larder_sync_pending")
    for name, rows in series.items():
        kind, text = helps[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *rows]
    return "\n".join(lines) + "\n"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
