"""Object stores (admin) and namespaces (admin creates/deletes, everyone lists)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from larder.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from larder.names import check_name
from larder.server import storage_backend
from larder.server.db.models import Dataset, Namespace, ObjectStore
from larder.server.security.authz import Principal
from larder.server.security.secretbox import SecretBox

STORE_TYPES = ("local", "s3")


def add_store(
    db: Session,
    box: SecretBox,
    name: str,
    type: str,
    root_path: str | None = None,
    endpoint_url: str | None = None,
    sts_endpoint_url: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    role_arn: str | None = None,
    home: Path | None = None,
) -> ObjectStore:
    """Register an object store (no authorization check; callers check admin).

    A local store's root may not hold the platform home's secrets: it may be ``home/data`` or
    somewhere under it, or a folder outside the home, never the home, a folder above it, or any
    other folder in it (``tls/``, the databases, the admin key).

    Raises:
        InvalidArgumentError: a bad name, type or root path.
        PermissionDeniedError: a local root that would hold the home's secrets.
        AlreadyExistsError: a store of that name exists.
    """
    check_name("object store", name)
    if type not in STORE_TYPES:
        raise InvalidArgumentError(
            f"Unknown object store type {type!r}; use 'local' or 's3'.", details={"type": type}
        )
    if type == "local":
        if not root_path or not Path(root_path).is_absolute():
            raise InvalidArgumentError(
                f"A local object store needs an absolute root path, got {root_path!r}.",
                details={"root_path": root_path},
            )
        root = Path(root_path).resolve()
        if home is not None:
            home = home.resolve()
            data = home / "data"
            inside = root == home or home.is_relative_to(root)
            if inside or (root.is_relative_to(home) and not root.is_relative_to(data)):
                raise PermissionDeniedError(
                    f"A local object store's root may not be {root_path!r}: it would hold the platform home's "
                    f"secrets ({home}: tls/, the databases, admin_api_key). Use a folder under {data} or outside "
                    "the home.",
                    details={"root_path": root_path},
                )
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InvalidArgumentError(
                f"Cannot create the local object store's root {root_path[:200]!r}: {e.strerror}.",
                details={"root_path": root_path[:200]},
            ) from None
    elif bool(access_key_id) != bool(secret_access_key):
        raise InvalidArgumentError(
            "Give both access_key_id and secret_access_key, or neither (the server's default AWS chain)."
        )
    if db.scalar(select(ObjectStore.id).where(ObjectStore.name == name)) is not None:
        raise AlreadyExistsError(f"Object store '{name}' already exists.", details={"object_store": name})
    store = ObjectStore(
        name=name,
        type=type,
        root_path=root_path if type == "local" else None,
        endpoint_url=endpoint_url,
        sts_endpoint_url=sts_endpoint_url,
        region=region,
        access_key_id=access_key_id,
        secret_access_key_enc=box.encrypt(secret_access_key) if secret_access_key else None,
        role_arn=role_arn,
    )
    db.add(store)
    db.flush()
    return store


def list_stores(db: Session, principal: Principal) -> list[ObjectStore]:
    principal.require_admin()
    return list(db.scalars(select(ObjectStore).order_by(ObjectStore.name)))


def get_store(db: Session, name: str) -> ObjectStore:
    store = db.scalar(select(ObjectStore).where(ObjectStore.name == name))
    if store is None:
        raise NotFoundError(f"Object store '{name}' was not found.", details={"object_store": name})
    return store


def create_namespace_unchecked(
    db: Session, box: SecretBox, name: str, description: str, store: ObjectStore, bucket: str | None
) -> Namespace:
    check_name("namespace", name)
    bucket = bucket or name.replace("_", "-")
    if db.scalar(select(Namespace.id).where(Namespace.name == name)) is not None:
        raise AlreadyExistsError(f"Namespace '{name}' already exists.", details={"namespace": name})
    ns = Namespace(name=name, description=description, object_store=store, bucket=bucket)
    storage_backend.create_namespace_storage(ns, box)
    db.add(ns)
    db.flush()
    return ns


def create_namespace(
    db: Session,
    principal: Principal,
    box: SecretBox,
    name: str,
    description: str,
    object_store_name: str,
    bucket: str | None,
) -> Namespace:
    principal.require_admin()
    ns = create_namespace_unchecked(db, box, name, description, get_store(db, object_store_name), bucket)
    db.commit()
    return ns


def list_namespaces(db: Session, principal: Principal) -> list[Namespace]:
    principal.require_scope("dataset")
    return list(db.scalars(select(Namespace).order_by(Namespace.name)))


def get_namespace(db: Session, name: str) -> Namespace:
    ns = db.scalar(select(Namespace).where(Namespace.name == name))
    if ns is None:
        raise NotFoundError(f"Namespace '{name}' was not found.", details={"namespace": name})
    return ns


def delete_namespace(db: Session, principal: Principal, name: str) -> None:
    principal.require_admin()
    ns = get_namespace(db, name)
    held = list(db.scalars(select(Dataset.name).where(Dataset.namespace_id == ns.id).order_by(Dataset.name)))
    if held:
        shown = ", ".join(held[:20]) + (f" and {len(held) - 20} more" if len(held) > 20 else "")
        raise ConflictError(
            f"Namespace '{name}' still holds {len(held)} dataset(s): {shown}. Delete them first.",
            details={"namespace": name, "datasets": held},
        )
    from larder.server.sync.service import refuse_namespace_delete

    refuse_namespace_delete(db, ns)
    db.delete(ns)
    db.commit()
