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
from larder.transform_plan import ENCODERS, SCALERS

BUILTINS = (*SCALERS, *ENCODERS)


def _check_definition(d: dict[str, Any], where: str) -> dict[str, Any]:
    """What the schema cannot say: a custom udf has its source, and a built-in is one Larder has."""
    name = d.get("name")
    if d.get("builtin"):
        if name not in BUILTINS:
            raise InvalidArgumentError(
                f"{where}: there is no built-in transformation function {name!r}; the built-ins are "
                f"{sorted(BUILTINS)}.",
                details={"function": name},
            )
    elif not d.get("source"):
        raise InvalidArgumentError(
            f"{where}: the custom transformation function {name!r} needs its 'source'.",
            details={"function": name},
        )
    return d


def check_view_transformations(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A feature view's functions, checked for shape (the client checked them against the query).

    Raises:
        InvalidArgumentError: a custom udf without source, or an unknown built-in.
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
        InvalidArgumentError: a bad name.
    """
    project = project_for(db, principal, project_name)
    _require_member_write(db, principal, project)
    check_name("transformation function", name)
    definition = _check_definition(definition, f"Transformation function '{name}'")

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
