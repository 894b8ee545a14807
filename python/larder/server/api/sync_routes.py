"""Sync routes: namespace sync targets (admin), dataset sync, status, reconciliation, metrics, and
the server-to-server calls a linked server makes (accept, apply, release)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import Field

from larder.errors import NotFoundError, PermissionDeniedError
from larder.names import OBJECT_KEY_PATTERN, PROJECT_NAME_PATTERN, STORAGE_NAME_PATTERN, USER_NAME_PATTERN
from larder.server.api.deps import DB, Caller
from larder.server.api.params import DatasetName, StorageName
from larder.server.api.schemas import DatasetOut, IsoDatetime, Metadata, Strict
from larder.server.api.storage_routes import _ds
from larder.server.services import datasets
from larder.server.sync import service
from larder.server.sync.peers import Peer

log = logging.getLogger("larder.server.sync")
router = APIRouter()

URL_PATTERN = r"^https?://[^\s/?#@]+(/api/v1)?/?$"
URL = Field(
    min_length=8,
    max_length=2000,
    pattern=URL_PATTERN,
    description="A server's URL: https://host:port[/api/v1]",
)
SyncType = Literal["simplex", "duplex"]
NamespaceName = Annotated[str, Field(pattern=STORAGE_NAME_PATTERN, max_length=63)]


class SyncTargetIn(Strict):
    target_core_service: str = URL
    sync_type: SyncType
    target_namespace: NamespaceName
    api_key: str | None = Field(
        default=None, max_length=512, description="An admin key of the target (kept encrypted)"
    )
    trust_store_pem: str | None = Field(
        default=None, max_length=200_000, description="The target's CA bundle (PEM)"
    )


class SyncTargetOut(Strict):
    target_core_service: str
    target_namespace: str
    sync_type: str


class SyncTargetsOut(Strict):
    targets: list[SyncTargetOut]
    warning: str | None = None


class SyncEnableIn(Strict):
    sync_type: SyncType
    sync_policy: dict[str, Any] | None = None


class ReconcileIn(Strict):
    checksum: bool = False


class GrantIn(Strict):
    user: str | None = Field(default=None, pattern=USER_NAME_PATTERN, max_length=32)
    project: str | None = Field(default=None, pattern=PROJECT_NAME_PATTERN, max_length=63)
    access: Literal["r", "rw"]


class AcceptIn(Strict):
    origin: str = URL
    origin_namespace: NamespaceName
    sync_type: SyncType
    description: str = Field(default="", max_length=2000)
    owner: str = Field(default="", pattern=r"^([a-z][a-z0-9_-]{1,31})?$", max_length=32)
    permissions: list[GrantIn] = Field(default_factory=list, max_length=1000)
    auth_service: str = Field(
        default="", max_length=2000, description="The auth service the origin's users come from"
    )


class ReleaseIn(Strict):
    origin: str = URL


class ApplyIn(Strict):
    op: Literal["put", "delete"]
    key: str = Field(min_length=1, max_length=1024, json_schema_extra={"pattern": OBJECT_KEY_PATTERN})
    changed_at: IsoDatetime
    origin: str = URL
    sender: str = URL
    sender_namespace: NamespaceName
    staged_key: str = Field(default="", max_length=120, pattern=r"^(\.larder-sync-[0-9a-f]{1,64})?$")
    size: int = Field(default=0, ge=0, le=2**62)
    etag: str = Field(default="", max_length=128)
    sha256: str = Field(default="", max_length=64, pattern=r"^([0-9a-f]{64})?$")
    metadata: Metadata | None = None
    repair: bool = False


def _self_url(request: Request) -> str:
    return service.service_base(str(request.app.state.tokens.public_url), "public_url")


def _check(peer_row: Any, target_namespace: str, box: Any) -> None:
    """That the target answers with the credential and holds the namespace."""
    peer = Peer(peer_row.url, box.decrypt(peer_row.api_key_enc), peer_row.ca_pem)
    try:
        peer.check_namespace(target_namespace)
    except NotFoundError:
        raise NotFoundError(
            f"The sync target {peer_row.url} has no namespace '{target_namespace}' (or this server's credential "
            "there cannot see it); an admin of that server creates it first.",
            details={"target_core_service": peer_row.url, "target_namespace": target_namespace},
        ) from None
    finally:
        peer.close()


@router.get("/namespaces/{namespace}/sync-targets", tags=["sync"], summary="A namespace's sync targets")
def get_sync_targets(namespace: StorageName, db: DB, caller: Caller) -> list[SyncTargetOut]:
    return [SyncTargetOut(**t) for t in service.list_targets(db, caller, namespace)]


@router.post("/namespaces/{namespace}/sync-targets", tags=["sync"], summary="Add a sync target (admin)")
def enable_sync_target(
    namespace: StorageName, body: SyncTargetIn, request: Request, db: DB, caller: Caller
) -> SyncTargetsOut:
    out = service.enable_target(
        db,
        caller,
        request.app.state.secret_box,
        namespace,
        body.target_core_service,
        body.sync_type,
        body.target_namespace,
        _self_url(request),
        body.api_key,
        body.trust_store_pem,
        check=_check,
    )
    return SyncTargetsOut(targets=[SyncTargetOut(**t) for t in out["targets"]], warning=out["warning"])


@router.delete("/namespaces/{namespace}/sync-targets", tags=["sync"], summary="Remove a sync target (admin)")
def disable_sync_target(
    namespace: StorageName,
    db: DB,
    caller: Caller,
    target_core_service: Annotated[str, Query(min_length=8, max_length=2000, pattern=URL_PATTERN)],
    target_namespace: Annotated[str, Query(pattern=STORAGE_NAME_PATTERN, max_length=63)],
) -> list[SyncTargetOut]:
    return [
        SyncTargetOut(**t)
        for t in service.disable_target(db, caller, namespace, target_core_service, target_namespace)
    ]


def _peer_for(request: Request, db: Any, target: Any) -> Peer:
    return request.app.state.sync_worker._peer(db, target)


@router.put(
    "/namespaces/{namespace}/datasets/{dataset}/sync", tags=["sync"], summary="Enable a dataset's sync"
)
def enable_sync(
    namespace: StorageName, dataset: DatasetName, body: SyncEnableIn, request: Request, db: DB, caller: Caller
) -> DatasetOut:
    self_url = _self_url(request)

    def accept(target: Any, ds: Any) -> None:
        desc = service.dataset_description(ds)
        _peer_for(request, db, target).accept(
            target.target_namespace,
            ds.name,
            {
                "origin": self_url,
                "origin_namespace": ds.namespace.name,
                "sync_type": body.sync_type,
                "auth_service": request.app.state.tokens.linked_issuer or self_url,
                **desc,
            },
        )

    ds = service.enable_dataset(db, caller, namespace, dataset, body.sync_type, body.sync_policy, accept)
    return _ds(ds, "rw")


@router.delete(
    "/namespaces/{namespace}/datasets/{dataset}/sync", tags=["sync"], summary="Disable a dataset's sync"
)
def disable_sync(
    namespace: StorageName, dataset: DatasetName, request: Request, db: DB, caller: Caller
) -> DatasetOut:
    self_url = _self_url(request)

    def release(target: Any, ds: Any) -> None:
        try:
            _peer_for(request, db, target).release(target.target_namespace, ds.name, self_url)
        except Exception as e:  # noqa: BLE001 - the target may be down: this side stops regardless
            log.warning(
                "could not tell %s that dataset %s stopped syncing: %s",
                target.target_core_service,
                ds.name,
                e,
            )

    ds = service.disable_dataset(db, caller, namespace, dataset, release)
    return _ds(ds, datasets.get_with_access(db, caller, namespace, dataset)[1])


@router.get(
    "/namespaces/{namespace}/datasets/{dataset}/sync", tags=["sync"], summary="A dataset's sync status"
)
def sync_status(namespace: StorageName, dataset: DatasetName, db: DB, caller: Caller) -> dict[str, Any]:
    return service.status(db, caller, namespace, dataset)


@router.post(
    "/namespaces/{namespace}/datasets/{dataset}/sync/reconcile", tags=["sync"], summary="Reconcile now"
)
def reconcile(
    namespace: StorageName, dataset: DatasetName, body: ReconcileIn, request: Request, db: DB, caller: Caller
) -> dict[str, Any]:
    ds, access = datasets.get_with_access(db, caller, namespace, dataset)
    datasets.require_write(ds, access, "reconcile")
    if body.checksum and ds.owner_id != caller.user_id and not caller.is_admin:
        raise PermissionDeniedError(
            f"A checksum reconciliation reads every copy of dataset '{dataset}': only its owner or an admin "
            "may ask for one (without checksum=True any writer may).",
            details={"dataset": dataset},
        )
    worker = request.app.state.sync_worker
    reports = (
        [worker.reconcile(ds.id, t.id, body.checksum) for t in service.targets_of(db, ds)]
        if ds.sync_type
        else []
    )
    return {"reports": reports}


@router.post(
    "/namespaces/{namespace}/datasets/{dataset}/sync/accept",
    tags=["sync"],
    summary="Accept a synced dataset (linked server)",
)
def accept(
    namespace: StorageName, dataset: DatasetName, body: AcceptIn, request: Request, db: DB, caller: Caller
) -> dict[str, Any]:
    return service.accept_dataset(
        db,
        caller,
        namespace,
        dataset,
        body.origin,
        body.origin_namespace,
        body.sync_type,
        {
            "description": body.description,
            "owner": body.owner,
            "permissions": [g.model_dump() for g in body.permissions],
            "auth_service": body.auth_service,
        },
        request.app.state.tokens.linked_issuer,
    )


@router.post(
    "/namespaces/{namespace}/datasets/{dataset}/sync/release",
    tags=["sync"],
    summary="Stop a duplex dataset's way back (linked server)",
)
def release(
    namespace: StorageName, dataset: DatasetName, body: ReleaseIn, db: DB, caller: Caller
) -> dict[str, str]:
    service.release_dataset(db, caller, namespace, dataset, body.origin)
    return {"released": dataset}


@router.post(
    "/namespaces/{namespace}/datasets/{dataset}/sync/apply",
    tags=["sync"],
    summary="Apply a synced change (linked server)",
)
def apply(
    namespace: StorageName, dataset: DatasetName, body: ApplyIn, request: Request, db: DB, caller: Caller
) -> dict[str, Any]:
    change = service.Change(
        op=body.op,
        key=body.key,
        changed_at=body.changed_at,
        origin=service.service_base(body.origin, "origin"),
        sender=service.service_base(body.sender, "sender"),
        sender_namespace=body.sender_namespace,
        staged_key=body.staged_key,
        size=body.size,
        etag=body.etag,
        sha256=body.sha256,
        metadata=body.metadata,
        repair=body.repair,
    )
    return service.apply(
        db, caller, request.app.state.secret_box, namespace, dataset, change, _self_url(request)
    )


@router.get(
    "/metrics",
    tags=["sync"],
    summary="Sync metrics, Prometheus text (admin)",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}
    },
)
def metrics(db: DB, caller: Caller) -> PlainTextResponse:
    return PlainTextResponse(service.metrics(db, caller), media_type="text/plain; version=0.0.4")
