"""The object index: what clients wrote through Larder (size, etag, time, user metadata), and search.

Bulk data never passes through the server; after a write completes, the client records the object
here so that ``conn.search(metadata=...)`` can find it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from larder.errors import InvalidArgumentError, NotFoundError
from larder.names import check_object_key
from larder.server.db.models import Dataset, ObjectEntry, ObjectTag, SyncTombstone
from larder.server.security.authz import Principal
from larder.server.services import datasets, storage
from larder.server.sync import service as sync

MAX_METADATA_PAIRS = 64
MAX_METADATA_KEY = 128
MAX_METADATA_VALUE = 1024


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    if len(metadata) > MAX_METADATA_PAIRS:
        raise InvalidArgumentError(
            f"At most {MAX_METADATA_PAIRS} metadata pairs per object, got {len(metadata)}.",
            details={"pairs": len(metadata)},
        )
    for k, v in metadata.items():
        if (
            not isinstance(k, str)
            or not isinstance(v, str)
            or not k
            or len(k) > MAX_METADATA_KEY
            or len(v) > MAX_METADATA_VALUE
        ):
            raise InvalidArgumentError(
                f"Metadata keys are 1-{MAX_METADATA_KEY} characters and values at most {MAX_METADATA_VALUE} "
                f"characters, both strings; got key {str(k)[:40]!r}.",
                details={"key": str(k)[:40]},
            )
    return metadata


def record(
    db: Session,
    principal: Principal,
    namespace: str,
    dataset: str,
    key: str,
    size: int,
    etag: str,
    metadata: dict[str, str],
    last_modified: datetime | None = None,
) -> ObjectEntry:
    ds, access = datasets.get_with_access(db, principal, namespace, dataset)
    datasets.require_write(ds, access)
    check_object_key(key)
    check_metadata(metadata)
    for attempt in (1, 2):  # the sync worker's reconciliation may index the same new key meanwhile
        entry = db.scalar(select(ObjectEntry).where(ObjectEntry.dataset_id == ds.id, ObjectEntry.key == key))
        if entry is None:
            entry = ObjectEntry(dataset_id=ds.id, key=key)
            db.add(entry)
        entry.size = size
        entry.etag = etag
        entry.last_modified = last_modified or datetime.now(timezone.utc)
        entry.metadata_json = json.dumps(metadata, sort_keys=True)
        entry.tags = [ObjectTag(k=k, v=v) for k, v in metadata.items()]
        entry.origin = ""  # written here
        try:
            if ds.sync_type is not None:  # the change goes to the sync targets, in this transaction
                db.execute(
                    delete(SyncTombstone).where(SyncTombstone.dataset_id == ds.id, SyncTombstone.key == key)
                )
                sync.enqueue(db, ds, "put", key, entry.last_modified, "", size, metadata)
            db.commit()
        except IntegrityError:
            db.rollback()
            if attempt == 2:
                raise
            ds, access = datasets.get_with_access(db, principal, namespace, dataset)
            continue
        break
    assert entry is not None
    return entry


def lookup(db: Session, principal: Principal, namespace: str, dataset: str, key: str) -> ObjectEntry:
    ds, _ = datasets.get_with_access(db, principal, namespace, dataset)
    check_object_key(key)
    entry = db.scalar(select(ObjectEntry).where(ObjectEntry.dataset_id == ds.id, ObjectEntry.key == key))
    if entry is None:
        raise NotFoundError(
            f"No indexed object '{key}' in dataset '{dataset}'.", details={"dataset": dataset, "key": key}
        )
    return entry


def forget(
    db: Session, principal: Principal, namespace: str, dataset: str, key: str, prefix: bool = False
) -> int:
    """Remove index entries for ``key`` (or, with ``prefix``, for every key under ``key/``)."""
    ds, access = datasets.get_with_access(db, principal, namespace, dataset)
    datasets.require_write(ds, access)
    check_object_key(key, allow_empty=True)  # without prefix, "" names no object: nothing to forget
    stmt = select(ObjectEntry).where(ObjectEntry.dataset_id == ds.id)
    if prefix:
        if key:
            stmt = stmt.where(ObjectEntry.key.startswith(key.rstrip("/") + "/", autoescape=True))
    else:
        stmt = stmt.where(ObjectEntry.key == key)
    for attempt in (1, 2):  # the sync worker's reconciliation may tombstone the same key meanwhile
        rows = list(db.scalars(stmt))
        now = datetime.now(timezone.utc)
        for row in rows:
            db.delete(row)
        if ds.sync_type is not None:  # deletes travel as tombstones, in this transaction
            keys = {row.key for row in rows} | ({key} if key and not prefix else set())
            for k in sorted(keys):
                sync.tombstone(db, ds, k, now, "")
                sync.enqueue(db, ds, "delete", k, now, "")
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
            if attempt == 2:
                raise
            continue
        return len(rows)
    raise AssertionError("unreachable")


def search(
    db: Session,
    principal: Principal,
    metadata: dict[str, str],
    namespace: str | None = None,
    dataset: str | None = None,
    modified_after: datetime | None = None,
    modified_before: datetime | None = None,
    limit: int = 100,
) -> list[ObjectEntry]:
    """Objects whose metadata holds every given pair (AND), in datasets the caller may read."""
    principal.require_scope("dataset")
    if not 1 <= limit <= 1000:
        raise InvalidArgumentError(
            f"limit must be between 1 and 1000, got {limit}.", details={"limit": limit}
        )
    if dataset is not None and namespace is None:
        raise InvalidArgumentError("Searching in a dataset needs its namespace too.")
    check_metadata(metadata)
    stmt = select(Dataset)
    if namespace is not None:
        stmt = stmt.where(Dataset.namespace_id == storage.get_namespace(db, namespace).id)
    if dataset is not None:
        stmt = stmt.where(Dataset.name == dataset)
    projects = datasets.my_project_ids(db, principal.user_id)
    visible = [ds.id for ds in db.scalars(stmt) if datasets.access_of(ds, principal, projects) is not None]
    if not visible:
        return []
    query = select(ObjectEntry).where(ObjectEntry.dataset_id.in_(visible))
    for k, v in metadata.items():
        query = query.where(
            exists().where(ObjectTag.object_id == ObjectEntry.id, ObjectTag.k == k, ObjectTag.v == v)
        )
    if modified_after is not None:
        query = query.where(ObjectEntry.last_modified > modified_after)
    if modified_before is not None:
        query = query.where(ObjectEntry.last_modified < modified_before)
    query = query.order_by(ObjectEntry.last_modified.desc(), ObjectEntry.id.desc()).limit(limit)
    return list(db.scalars(query))
