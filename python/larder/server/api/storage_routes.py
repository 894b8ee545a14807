"""Storage routes: object stores, namespaces, datasets, permissions, credentials, the object index."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from larder.server.api.deps import DB, Caller
from larder.server.api.params import DatasetName, ObjectKey, ObjectKeyOrRoot, StorageName
from larder.server.api.schemas import (
    DatasetCreate,
    DatasetOut,
    NamespaceCreate,
    NamespaceOut,
    ObjectOut,
    ObjectRecord,
    ObjectStoreCreate,
    ObjectStoreOut,
    PermissionOut,
    PermissionSet,
    SearchRequest,
    StorageCredentials,
)
from larder.server.db.models import Dataset, Namespace, ObjectEntry, ObjectStore
from larder.server.services import datasets, objects, storage, vending

router = APIRouter()


def _store(s: ObjectStore) -> ObjectStoreOut:
    return ObjectStoreOut(
        name=s.name,
        type=s.type,
        root_path=s.root_path,
        endpoint_url=s.endpoint_url,
        region=s.region,
        role_arn=s.role_arn,
        created_at=s.created_at,
    )


def _ns(n: Namespace) -> NamespaceOut:
    return NamespaceOut(
        name=n.name,
        description=n.description,
        object_store=n.object_store.name,
        object_store_type=n.object_store.type,
        bucket=n.bucket,
        created_at=n.created_at,
    )


def _ds(d: Dataset, access: str) -> DatasetOut:
    return DatasetOut(
        namespace=d.namespace.name,
        name=d.name,
        description=d.description,
        owner=d.owner.username,
        project=None if d.project_id is None else _project_name(d),
        created_at=d.created_at,
        access=access,
        permissions=[
            PermissionOut(
                user=p.user.username if p.user else None,
                project=p.project.name if p.project else None,
                access=p.access,
            )
            for p in d.permissions
        ],
        sync_type=d.sync_type,
        sync_policy=json.loads(d.sync_policy) if d.sync_policy else None,
        sync_source=d.sync_source,
    )


def _project_name(d: Dataset) -> str | None:
    for p in d.permissions:
        if p.project is not None and p.project_id == d.project_id:
            return p.project.name
    return None


def _obj(e: ObjectEntry) -> ObjectOut:
    return ObjectOut(
        namespace=e.dataset.namespace.name,
        dataset=e.dataset.name,
        key=e.key,
        size=e.size,
        etag=e.etag,
        last_modified=e.last_modified,
        metadata=json.loads(e.metadata_json),
    )


@router.post("/objectstores", status_code=201, tags=["storage"], summary="Register an object store (admin)")
def add_object_store(body: ObjectStoreCreate, request: Request, db: DB, caller: Caller) -> ObjectStoreOut:
    caller.require_admin()
    store = storage.add_store(
        db, request.app.state.secret_box, **body.model_dump(), home=request.app.state.settings.paths.root
    )
    db.commit()
    return _store(store)


@router.get("/objectstores", tags=["storage"], summary="List object stores (admin)")
def list_object_stores(db: DB, caller: Caller) -> list[ObjectStoreOut]:
    return [_store(s) for s in storage.list_stores(db, caller)]


@router.get("/namespaces", tags=["storage"], summary="List namespaces")
def list_namespaces(db: DB, caller: Caller) -> list[NamespaceOut]:
    return [_ns(n) for n in storage.list_namespaces(db, caller)]


@router.post("/namespaces", status_code=201, tags=["storage"], summary="Create a namespace (admin)")
def create_namespace(body: NamespaceCreate, request: Request, db: DB, caller: Caller) -> NamespaceOut:
    ns = storage.create_namespace(
        db, caller, request.app.state.secret_box, body.name, body.description, body.object_store, body.bucket
    )
    return _ns(ns)


@router.get("/namespaces/{namespace}", tags=["storage"], summary="Get a namespace")
def get_namespace(namespace: StorageName, db: DB, caller: Caller) -> NamespaceOut:
    caller.require_scope("dataset")
    return _ns(storage.get_namespace(db, namespace))


@router.delete(
    "/namespaces/{namespace}", status_code=204, tags=["storage"], summary="Delete an empty namespace"
)
def delete_namespace(namespace: StorageName, db: DB, caller: Caller) -> Response:
    storage.delete_namespace(db, caller, namespace)
    return Response(status_code=204)


@router.get(
    "/namespaces/{namespace}/credentials",
    tags=["storage"],
    summary="Short-lived credentials scoped to the given datasets",
)
def get_storage_credentials(
    namespace: StorageName,
    request: Request,
    db: DB,
    caller: Caller,
    dataset: Annotated[list[str], Query(min_length=1, max_length=20)],
) -> StorageCredentials:
    lifetime = request.app.state.settings.vended_credentials_seconds
    out = vending.vend(db, caller, request.app.state.secret_box, namespace, dataset, lifetime)
    return StorageCredentials(**out)


@router.get("/namespaces/{namespace}/datasets", tags=["storage"], summary="List the datasets I may see")
def list_datasets(namespace: StorageName, db: DB, caller: Caller) -> list[DatasetOut]:
    return [_ds(d, a) for d, a in datasets.list_visible(db, caller, namespace)]


@router.post(
    "/namespaces/{namespace}/datasets", status_code=201, tags=["storage"], summary="Create a dataset"
)
def create_dataset(namespace: StorageName, body: DatasetCreate, db: DB, caller: Caller) -> DatasetOut:
    return _ds(datasets.create(db, caller, namespace, body.name, body.description), "rw")


@router.get("/namespaces/{namespace}/datasets/{dataset}", tags=["storage"], summary="Get a dataset")
def get_dataset(namespace: StorageName, dataset: DatasetName, db: DB, caller: Caller) -> DatasetOut:
    return _ds(*datasets.get_with_access(db, caller, namespace, dataset))


@router.delete(
    "/namespaces/{namespace}/datasets/{dataset}",
    status_code=204,
    tags=["storage"],
    summary="Delete a dataset and its objects",
)
def delete_dataset(
    namespace: StorageName, dataset: DatasetName, request: Request, db: DB, caller: Caller
) -> Response:
    datasets.delete(db, caller, request.app.state.secret_box, namespace, dataset)
    return Response(status_code=204)


@router.put(
    "/namespaces/{namespace}/datasets/{dataset}/permissions",
    tags=["storage"],
    summary="Grant or remove a user's or a project's access",
)
def set_permission(
    namespace: StorageName, dataset: DatasetName, body: PermissionSet, db: DB, caller: Caller
) -> DatasetOut:
    ds = datasets.set_permission(db, caller, namespace, dataset, body.access, body.user, body.project)
    return _ds(ds, datasets.get_with_access(db, caller, namespace, dataset)[1])


@router.put(
    "/namespaces/{namespace}/datasets/{dataset}/objects", tags=["storage"], summary="Index a written object"
)
def record_object(
    namespace: StorageName, dataset: DatasetName, body: ObjectRecord, db: DB, caller: Caller
) -> ObjectOut:
    entry = objects.record(db, caller, namespace, dataset, body.key, body.size, body.etag, body.metadata)
    return _obj(entry)


@router.get(
    "/namespaces/{namespace}/datasets/{dataset}/objects", tags=["storage"], summary="An indexed object"
)
def get_object(
    namespace: StorageName, dataset: DatasetName, key: ObjectKey, db: DB, caller: Caller
) -> ObjectOut:
    return _obj(objects.lookup(db, caller, namespace, dataset, key))


@router.delete(
    "/namespaces/{namespace}/datasets/{dataset}/objects",
    tags=["storage"],
    summary="Forget an object (or every object under a prefix)",
)
def forget_object(
    namespace: StorageName,
    dataset: DatasetName,
    db: DB,
    caller: Caller,
    key: ObjectKeyOrRoot = "",
    prefix: bool = False,
) -> dict[str, int]:
    return {"forgotten": objects.forget(db, caller, namespace, dataset, key, prefix)}


@router.post("/search", tags=["storage"], summary="Objects whose metadata matches every given pair")
def search(body: SearchRequest, db: DB, caller: Caller) -> list[ObjectOut]:
    found = objects.search(
        db,
        caller,
        body.metadata,
        body.namespace,
        body.dataset,
        body.modified_after,
        body.modified_before,
        body.limit,
    )
    return [_obj(e) for e in found]
