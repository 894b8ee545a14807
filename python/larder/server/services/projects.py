"""Projects and their members.

Any user may create a project and becomes its owner and ``data_owner``. A project lives in a
namespace (default ``default``) and owns two datasets there, ``<project>_featurestore`` and
``<project>_models``, which every member may read and write. Members see the project;
everyone else gets a 404 that does not reveal whether it exists. ``data_owner`` members manage
members; the owner (or a platform admin) deletes the project.
"""

from __future__ import annotations

from collections.abc import Collection

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
from larder.server.db.models import Dataset, FeatureGroup, Project, ProjectMember, User
from larder.server.online import OnlineStore
from larder.server.security import authz
from larder.server.security.authz import PROJECT_ROLES, Principal
from larder.server.security.secretbox import SecretBox
from larder.server.services import datasets, storage, users


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"Project '{name}' was not found, or you are not a member of it.", details={"project": name}
    )


def member_role(project: Project, user_id: int) -> str | None:
    for m in project.members:
        if m.user_id == user_id:
            return m.role
    return None


PROJECT_DATASETS = ("featurestore", "models")


def project_dataset_name(project: str, kind: str) -> str:
    """``<project>_featurestore`` or ``<project>_models``."""
    return f"{project}_{kind}"


def create(
    db: Session, principal: Principal, name: str, description: str = "", namespace: str = "default"
) -> Project:
    principal.require_scope("project")
    check_name("project", name)
    ns = storage.get_namespace(db, namespace)
    taken = db.scalar(select(Project.id).where(Project.name == name)) is not None or db.scalar(
        select(Dataset.id).where(
            Dataset.namespace_id == ns.id,
            Dataset.name.in_([project_dataset_name(name, k) for k in PROJECT_DATASETS]),
        )
    )
    if taken:
        # the same answer whether a project has the name or its datasets' names are taken: it
        # says that the name is not available, never by whom
        raise AlreadyExistsError(
            f"The project name '{name}' is not available; pick another name.", details={"project": name}
        )
    project = Project(name=name, description=description, owner_id=principal.user_id, namespace_id=ns.id)
    project.members.append(ProjectMember(user_id=principal.user_id, role="data_owner"))
    db.add(project)
    db.flush()
    for kind in PROJECT_DATASETS:
        datasets.create_unchecked(
            db, ns.id, project_dataset_name(name, kind), f"Project {name}: {kind}", principal.user_id, project
        )
    db.commit()
    db.refresh(project)
    return project


def list_mine(db: Session, principal: Principal) -> list[Project]:
    principal.require_scope("project")
    stmt = (
        select(Project)
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == principal.user_id)
        .order_by(Project.name)
    )
    return list(db.scalars(stmt).unique())


def get_visible(db: Session, principal: Principal, name: str) -> Project:
    """The project if the caller is a member (or a platform admin), else a 404."""
    project = db.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise _not_found(name)
    if member_role(project, principal.user_id) is None and not principal.is_admin:
        raise _not_found(name)
    return project


def share_target(db: Session, principal: Principal, name: str, shared_ids: Collection[int | None]) -> Project:
    """The project a share (of a feature store, a registry or a dataset) names: one the caller is
    a member of (any project, for an admin), or one it is already shared with (to withdraw that).
    Anything else is the same 404 as a missing project, so sharing reveals no project's existence.

    Raises:
        NotFoundError: as :func:`get_visible`, whether or not the project exists.
    """
    project = db.scalar(select(Project).where(Project.name == name))
    if project is None or not (
        principal.is_admin or member_role(project, principal.user_id) is not None or project.id in shared_ids
    ):
        raise _not_found(name)
    return project


def get(db: Session, principal: Principal, name: str) -> Project:
    principal.require_scope("project")
    return get_visible(db, principal, name)


def _require_data_owner(project: Project, principal: Principal) -> None:
    if member_role(project, principal.user_id) != "data_owner" and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only a data_owner of project '{project.name}' may manage its members.",
            details={"project": project.name, "required_role": "data_owner"},
        )


def set_member(db: Session, principal: Principal, name: str, username: str, role: str) -> Project:
    principal.require_scope("project")
    if role not in PROJECT_ROLES:
        raise InvalidArgumentError(
            f"Unknown project role {role!r}; use one of {', '.join(PROJECT_ROLES)}.",
            details={"role": role, "allowed": list(PROJECT_ROLES)},
        )
    project = get_visible(db, principal, name)
    _require_data_owner(project, principal)
    user = users.get_by_name(db, username)
    if user.id == project.owner_id and role != "data_owner":
        raise ConflictError(
            f"User '{username}' owns project '{name}' and stays its data_owner.",
            details={"project": name, "user": username},
        )
    for m in project.members:
        if m.user_id == user.id:
            m.role = role
            break
    else:
        project.members.append(ProjectMember(user_id=user.id, role=role))
    db.commit()
    db.refresh(project)
    authz.changed()
    return project


def remove_member(db: Session, principal: Principal, name: str, username: str) -> Project:
    principal.require_scope("project")
    project = get_visible(db, principal, name)
    _require_data_owner(project, principal)
    user: User = users.get_by_name(db, username)
    if user.id == project.owner_id:
        raise ConflictError(
            f"User '{username}' owns project '{name}' and cannot be removed from it.",
            details={"project": name, "user": username},
        )
    member = next((m for m in project.members if m.user_id == user.id), None)
    if member is None:
        raise NotFoundError(
            f"User '{username}' is not a member of project '{name}'.",
            details={"project": name, "user": username},
        )
    project.members.remove(member)
    db.commit()
    db.refresh(project)
    authz.changed()
    return project


def delete(db: Session, principal: Principal, name: str, box: SecretBox, online: OnlineStore) -> None:
    """Delete a project with everything it owns: its datasets and their objects, its feature
    groups' online rows, its catalog entries.

    Raises:
        NotFoundError: unless the caller is a member (or an admin).
        PermissionDeniedError: unless the caller owns the project (or is an admin).
    """
    principal.require_scope("project")
    project = get_visible(db, principal, name)
    if project.owner_id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only the owner of project '{name}' or a platform admin may delete it.",
            details={"project": name},
        )
    for table in db.scalars(select(FeatureGroup.online_table).where(FeatureGroup.project_id == project.id)):
        online.drop(table)
    for ds in db.scalars(select(Dataset).where(Dataset.project_id == project.id)):
        storage_backend.delete_dataset_objects(ds.namespace, ds.name, box)
        db.delete(ds)
    db.delete(project)
    db.commit()
    authz.changed()
