"""Transformation functions on the server: the definitions a feature view applies (checked for
shape, stored with the view) and the functions a project registers by name and version.

The server never runs a function: it stores what the client sent (a built-in's name, or a custom
udf's source, types and arguments) and hands it back. The statistics a view's functions were
fitted with are stored in the training dataset's metadata by the client.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from larder.errors import InvalidArgumentError, NotFoundError
from larder.names import check_name
from larder.server.db.models import TransformationFunction
from larder.server.security.authz import Principal
from larder.server.services.featurestore import (
    _create_versioned,
    _get_versioned,
    _list_versioned,
    _require_member_write,
    project_for,
)

MAX_SOURCE_CHARS = 100_000


def _check_definition(d: dict[str, Any], where: str) -> dict[str, Any]:
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"{where}: a transformation function needs a 'name'.")
    features = d.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise InvalidArgumentError(
            f"{where}: transformation function {name!r} needs 'features', a list of column names.",
            details={"function": name},
        )
    source = d.get("source")
    if not d.get("builtin") and (not isinstance(source, str) or len(source) > MAX_SOURCE_CHARS):
        raise InvalidArgumentError(
            f"{where}: the custom transformation function {name!r} needs its 'source' (at most "
            f"{MAX_SOURCE_CHARS} characters).",
            details={"function": name},
        )
    return d


def check_view_transformations(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A feature view's functions, checked for shape (the client checked them against the query).

    Raises:
        InvalidArgumentError: a definition without a name, features, or (custom) source.
    """
    return [_check_definition(d, "Feature view") for d in definitions]


def create(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int | None,
    definition: dict[str, Any],
) -> TransformationFunction:
    """Register a function under ``name`` (``version=None``: the next version).

    Raises:
        AlreadyExistsError: the version exists.
        InvalidArgumentError: a bad name, or a definition without source.
    """
    project = project_for(db, principal, project_name)
    _require_member_write(db, principal, project)
    check_name("transformation function", name)
    definition = _check_definition(definition, f"Transformation function '{name}'")
    if definition.get("builtin"):
        raise InvalidArgumentError(
            f"'{name}' is a built-in transformation function; built-ins are always available and not registered.",
            details={"name": name},
        )

    def make(v: int) -> TransformationFunction:
        return TransformationFunction(
            project_id=project.id,
            name=name,
            version=v,
            definition_json=json.dumps(definition),
            created_by_id=principal.user_id,
        )

    row: TransformationFunction = _create_versioned(
        db, TransformationFunction, "Transformation function", project.id, name, version, make
    )
    return row


def get(
    db: Session, principal: Principal, project_name: str, name: str, version: int | None
) -> TransformationFunction:
    project = project_for(db, principal, project_name)
    row: TransformationFunction = _get_versioned(
        db, TransformationFunction, "Transformation function", project, name, version
    )
    return row


def list_all(
    db: Session, principal: Principal, project_name: str, name: str | None
) -> list[TransformationFunction]:
    return _list_versioned(db, TransformationFunction, project_for(db, principal, project_name), name)


def delete(db: Session, principal: Principal, project_name: str, name: str, version: int) -> None:
    project = project_for(db, principal, project_name)
    _require_member_write(db, principal, project)
    row = db.scalar(
        select(TransformationFunction).where(
            TransformationFunction.project_id == project.id,
            TransformationFunction.name == name,
            TransformationFunction.version == version,
        )
    )
    if row is None:
        raise NotFoundError(
            f"Transformation function '{name}' version {version} was not found in project '{project.name}'.",
            details={"name": name, "version": version},
        )
    db.delete(row)
    db.commit()
