"""Transformation function routes under ``/api/v1/projects/{project}/transformationfunctions``
(scope ``featurestore``): the functions a project registers by name and version."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from larder.names import FEATURE_GROUP_NAME_PATTERN
from larder.server.api.deps import DB, Caller
from larder.server.api.fs_schemas import CustomUdfDefinition
from larder.server.api.params import FgName, ProjectName, Version
from larder.server.api.schemas import JsonInt, Strict
from larder.server.db.models import TransformationFunction
from larder.server.services import transformations as tf

router = APIRouter(tags=["featurestore"])


class TransformationFunctionCreate(Strict):
    name: str = Field(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63)
    version: Annotated[JsonInt, Field(ge=1, le=1_000_000)] | None = None
    definition: CustomUdfDefinition


class TransformationFunctionOut(BaseModel):
    name: str
    version: JsonInt
    definition: dict[str, Any]
    created_at: datetime


def _out(row: TransformationFunction) -> TransformationFunctionOut:
    return TransformationFunctionOut(
        name=row.name,
        version=row.version,
        definition=json.loads(row.definition_json),
        created_at=row.created_at,
    )


@router.post(
    "/projects/{project}/transformationfunctions",
    status_code=201,
    summary="Register a transformation function version",
)
def create_transformation_function(
    project: ProjectName, body: TransformationFunctionCreate, db: DB, caller: Caller
) -> TransformationFunctionOut:
    definition = body.definition.model_dump(mode="json")
    return _out(tf.create(db, caller, project, body.name, body.version, definition))


@router.get("/projects/{project}/transformationfunctions", summary="List transformation functions")
def list_transformation_functions(
    project: ProjectName, db: DB, caller: Caller, name: Annotated[str | None, Query(max_length=63)] = None
) -> list[TransformationFunctionOut]:
    return [_out(r) for r in tf.list_all(db, caller, project, name)]


@router.get(
    "/projects/{project}/transformationfunctions/{name}",
    summary="Get a transformation function (latest version by default)",
)
def get_transformation_function(
    project: ProjectName,
    name: FgName,
    db: DB,
    caller: Caller,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> TransformationFunctionOut:
    return _out(tf.get(db, caller, project, name, version))


@router.delete(
    "/projects/{project}/transformationfunctions/{name}/{version}",
    status_code=204,
    summary="Delete a transformation function version",
)
def delete_transformation_function(
    project: ProjectName, name: FgName, version: Version, db: DB, caller: Caller
) -> Response:
    tf.delete(db, caller, project, name, version)
    return Response(status_code=204)
