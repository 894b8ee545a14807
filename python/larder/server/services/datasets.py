"""Datasets and their permissions.

Access to a dataset is the highest of: ``rw`` for platform admins (with the admin scope) and the
owner; the user's own permission; the permission of any project (group) the user is a member of.
Datasets the caller cannot access are 404, as if they did not exist.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from larder.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError, PermissionDeniedError
from larder.names import check_name
from larder.server import storage_backend
from larder.server.db.models import Dataset, DatasetPermission, Project, ProjectMember
from larder.server.security import authz
from larder.server.security.authz import Principal
from larder.server.security.secretbox import SecretBox
from larder.server.services import storage, users

ACCESS_LEVELS = ("r", "rw")


def _rank(access: str | None) -> int:
    return {None: 0, "r": 1, "rw": 2}[access]


def my_project_ids(db: Session, user_id: int) -> set[int]:
    return set(db.scalars(select(ProjectMember.project_id).where(ProjectMember.user_id == user_id)))


def access_of(dataset: Dataset, principal: Principal, project_ids: set[int]) -> str | None:
    if principal.is_admin or dataset.owner_id == principal.user_id:
        return "rw"
    best: str | None = None
    for p in dataset.permissions:
        applies = p.user_id == principal.user_id or (p.project_id is not None and p.project_id in project_ids)
        if applies and _rank(p.access) > _rank(best):
            best = p.access
    return best


def _not_found(namespace: str, name: str) -> NotFoundError:
    return NotFoundError(
        f"Dataset '{name}' was not found in namespace '{namespace}', or you have no access to it.",
        details={"namespace": namespace, "dataset": name},
    )


def get_with_access(db: Session, principal: Principal, namespace: str, name: str) -> tuple[Dataset, str]:
    """The dataset and the caller's access (``r``/``rw``); 404 when it is not visible."""
    principal.require_scope("dataset")
    ns = storage.get_namespace(db, namespace)
    ds = db.scalar(select(Dataset).where(Dataset.namespace_id == ns.id, Dataset.name == name))
    if ds is None:
        raise _not_found(namespace, name)
    access = access_of(ds, principal, my_project_ids(db, principal.user_id))
    if access is None:
        raise _not_found(namespace, name)
    return ds, access


def require_write(ds: Dataset, access: str, what: str = "write to") -> None:
    if access != "rw":
        raise PermissionDeniedError(
            f"You may only read dataset '{ds.name}' in namespace '{ds.namespace.name}' and cannot {what} it; "
            "ask its owner for 'rw' permission.",
            details={"namespace": ds.namespace.name, "dataset": ds.name, "access": access},
        )


def can_create(db: Session, principal: Principal) -> bool:
    """Standalone datasets (outside projects) are created by users with the platform role
    ``privileged`` or ``admin``; every user gets a project's datasets by creating or joining it."""
    return principal.role in ("admin", "privileged")


RESERVED_SUFFIXES = tuple(f"_{kind}" for kind in ("featurestore", "models"))


def create_unchecked(
    db: Session, namespace_id: int, name: str, description: str, owner_id: int, project: Project | None = None
) -> Dataset:
    check_name("dataset", name)
    exists = db.scalar(select(Dataset.id).where(Dataset.namespace_id == namespace_id, Dataset.name == name))
    if exists is not None:
        raise AlreadyExistsError(
            f"Dataset '{name}' already exists in this namespace.", details={"dataset": name}
        )
    ds = Dataset(namespace_id=namespace_id, name=name, description=description, owner_id=owner_id)
    if project is not None:
        ds.project_id = project.id
        ds.permissions.append(DatasetPermission(project_id=project.id, access="rw"))
    db.add(ds)
    db.flush()
    return ds


def create(db: Session, principal: Principal, namespace: str, name: str, description: str) -> Dataset:
    principal.require_scope("dataset")
    if not can_create(db, principal):
        raise PermissionDeniedError(
            f"Creating datasets needs the platform role 'privileged' or 'admin' (user '{principal.username}' is "
            f"'{principal.role}'); ask an admin, or keep the data in a project's datasets.",
            details={"user": principal.username, "role": principal.role},
        )
    if name.endswith(RESERVED_SUFFIXES):
        raise InvalidArgumentError(
            f"Dataset names ending in {' or '.join(RESERVED_SUFFIXES)} are reserved for projects' own datasets; "
            f"pick another name than {name!r}.",
            details={"dataset": name, "reserved_suffixes": list(RESERVED_SUFFIXES)},
        )
    ns = storage.get_namespace(db, namespace)
    ds = create_unchecked(db, ns.id, name, description, principal.user_id)
    db.commit()
    db.refresh(ds)
    return ds


def list_visible(db: Session, principal: Principal, namespace: str) -> list[tuple[Dataset, str]]:
    principal.require_scope("dataset")
    ns = storage.get_namespace(db, namespace)
    projects = my_project_ids(db, principal.user_id)
    out = []
    for ds in db.scalars(select(Dataset).where(Dataset.namespace_id == ns.id).order_by(Dataset.name)):
        access = access_of(ds, principal, projects)
        if access is not None:
            out.append((ds, access))
    return out


def delete(db: Session, principal: Principal, box: SecretBox, namespace: str, name: str) -> None:
    ds, _ = get_with_access(db, principal, namespace, name)
    if ds.owner_id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only the owner of dataset '{name}' or a platform admin may delete it.",
            details={"namespace": namespace, "dataset": name},
        )
    storage_backend.delete_dataset_objects(ds.namespace, ds.name, box)
    db.delete(ds)
    db.commit()


def set_permission(
    db: Session,
    principal: Principal,
    namespace: str,
    name: str,
    access: str | None,
    username: str | None = None,
    project: str | None = None,
) -> Dataset:
    """Grant ``r``/``rw`` (or remove with None) to a user or a project's members."""
    ds, _ = get_with_access(db, principal, namespace, name)
    if ds.owner_id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only the owner of dataset '{name}' or a platform admin may change its permissions.",
            details={"namespace": namespace, "dataset": name},
        )
    if access is not None and access not in ACCESS_LEVELS:
        raise InvalidArgumentError(
            f"Unknown access {access!r}; use 'r', 'rw' or null to remove.", details={"access": access}
        )
    if (username is None) == (project is None):
        raise InvalidArgumentError("Give exactly one of 'user' or 'project'.")
    user_id = project_id = None
    if username is not None:
        user_id = users.get_by_name(db, username).id
    elif project is not None:
        from larder.server.services import projects

        project_id = projects.share_target(db, principal, project, {p.project_id for p in ds.permissions}).id
    existing = next((p for p in ds.permissions if p.user_id == user_id and p.project_id == project_id), None)
    if access is None:
        if existing is not None:
            ds.permissions.remove(existing)
    elif existing is not None:
        existing.access = access
    else:
        ds.permissions.append(DatasetPermission(user_id=user_id, project_id=project_id, access=access))
    db.commit()
    db.refresh(ds)
    authz.changed()
    return ds
