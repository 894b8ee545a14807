"""Model registry routes: ``/projects/{project}/models...`` (scope ``modelregistry``).

Thin: every rule lives in :mod:`larder.server.services.models`. Names starting with ``_``
(``_registry``, ``_shares``, ``_cleanup``) can never be model names (those start with a letter).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from larder.server.api.deps import DB, Caller
from larder.server.api.params import ModelName, OtherProject, ProjectName, TagName, Version
from larder.server.api.registry_schemas import (
    ArtifactOut,
    ArtifactsRecord,
    CleanedVersion,
    CleanupOut,
    FeatureViewRef,
    Finalize,
    ModelSummaryOut,
    ModelVersionCreate,
    ModelVersionOut,
    RecordedOut,
    RegistryOut,
    TagOut,
    TagSet,
    UploadToken,
)
from larder.server.db.models import ModelArtifact, ModelVersion
from larder.server.services import models
from larder.server.services.models import Registry

router = APIRouter(tags=["modelregistry"])
BASE = "/projects/{project}/models"
# ":int": "latest" (a route of its own) is not a version, so DELETE .../versions/latest is a 405
VERSION = BASE + "/{name}/versions/{version:int}"


def _registry(reg: Registry) -> RegistryOut:
    return RegistryOut(
        project=reg.project.name,
        namespace=reg.dataset.namespace.name,
        dataset=reg.dataset.name,
        object_store_type=reg.dataset.namespace.object_store.type,
        access="rw" if reg.access == "rw" else "r",
        shared_with=reg.shared_with,
    )


def _version(reg: Registry, mv: ModelVersion, with_token: bool = False) -> ModelVersionOut:
    fv = None
    if mv.feature_view_name is not None and mv.feature_view_version is not None:
        fv = FeatureViewRef(
            feature_store=mv.feature_store or f"{reg.project.name}_featurestore",
            name=mv.feature_view_name,
            version=mv.feature_view_version,
        )
    return ModelVersionOut(
        project=reg.project.name,
        name=mv.model.name,
        version=mv.version,
        status=mv.status,  # type: ignore[arg-type]
        framework=mv.framework,
        description=mv.description,
        metrics=json.loads(mv.metrics_json),
        model_schema=None if mv.model_schema_json is None else json.loads(mv.model_schema_json),
        input_example=None if mv.input_example_json is None else json.loads(mv.input_example_json),
        feature_view=fv,
        training_dataset_version=mv.training_dataset_version,
        created_by=mv.created_by.username,
        created_at=mv.created_at,
        ready_at=mv.ready_at,
        file_count=mv.file_count,
        total_size=mv.total_size,
        namespace=reg.dataset.namespace.name,
        dataset=reg.dataset.name,
        path=f"{mv.model.name}/{mv.version}",
        upload_token=mv.upload_token if with_token else None,
    )


def _artifact(a: ModelArtifact) -> ArtifactOut:
    return ArtifactOut(
        path=a.path,
        size=a.size,
        checksum=a.checksum,
        checksum_algorithm=a.checksum_algorithm,
        part_size=a.part_size,
        parts=None if a.parts_json is None else json.loads(a.parts_json),
    )


# --- the registry: where it lives, sharing, cleanup --------------------------------------------------


@router.get(BASE + "/_registry", summary="The registry: its dataset, my access, who it is shared with")
def get_registry(project: ProjectName, db: DB, caller: Caller) -> RegistryOut:
    return _registry(models.registry(db, caller, project))


@router.put(
    BASE + "/_shares/{other}", summary="Share the registry (read only) with every member of another project"
)
def share(project: ProjectName, other: OtherProject, db: DB, caller: Caller) -> RegistryOut:
    return _registry(models.share(db, caller, project, other, True))


@router.delete(BASE + "/_shares/{other}", summary="Stop sharing the registry with another project")
def unshare(project: ProjectName, other: OtherProject, db: DB, caller: Caller) -> RegistryOut:
    return _registry(models.share(db, caller, project, other, False))


@router.post(
    BASE + "/_cleanup",
    summary="Remove abandoned pending versions (no heartbeat for older_than_seconds) and their objects",
)
def cleanup(
    project: ProjectName,
    request: Request,
    db: DB,
    caller: Caller,
    older_than_seconds: Annotated[int, Query(ge=0, le=10 * 365 * 86400)] = models.PENDING_STALE_SECONDS,
) -> CleanupOut:
    removed = models.cleanup(db, caller, request.app.state.secret_box, project, older_than_seconds)
    return CleanupOut(removed=[CleanedVersion(name=n, version=v) for n, v in removed])


# --- models and versions ------------------------------------------------------------------------------


@router.get(BASE, summary="Models with their ready versions")
def list_models(project: ProjectName, db: DB, caller: Caller) -> list[ModelSummaryOut]:
    return [
        ModelSummaryOut(name=n, versions=vs, latest_version=max(vs))
        for n, vs in models.list_models(db, caller, project)
    ]


@router.get(BASE + "/{name}/versions", summary="A model's ready versions, oldest first")
def list_versions(
    project: ProjectName, name: ModelName, db: DB, caller: Caller, include_pending: bool = False
) -> list[ModelVersionOut]:
    reg, versions = models.list_versions(db, caller, project, name, include_pending)
    return [_version(reg, mv) for mv in versions]


@router.post(BASE + "/{name}/versions", status_code=201, summary="Start saving a version (pending)")
def create_version(
    project: ProjectName, name: ModelName, body: ModelVersionCreate, request: Request, db: DB, caller: Caller
) -> ModelVersionOut:
    reg, mv = models.create_version(
        db, caller, request.app.state.secret_box, project, name, **body.model_dump()
    )
    return _version(reg, mv, with_token=True)


@router.get(BASE + "/{name}/versions/latest", summary="The newest ready version")
def latest_version(project: ProjectName, name: ModelName, db: DB, caller: Caller) -> ModelVersionOut:
    return _version(*models.latest_version(db, caller, project, name))


@router.get(BASE + "/{name}/best", summary="The ready version with the best value of a metric")
def best_version(
    project: ProjectName,
    name: ModelName,
    db: DB,
    caller: Caller,
    metric: Annotated[str, Query(min_length=1, max_length=128, pattern=r"^[^\x00]*$")],
    direction: Literal["max", "min"] = "max",
) -> ModelVersionOut:
    return _version(*models.best_version(db, caller, project, name, metric, direction))


@router.get(VERSION, summary="A ready version")
def get_version(
    project: ProjectName, name: ModelName, version: Version, db: DB, caller: Caller
) -> ModelVersionOut:
    return _version(*models.get_version(db, caller, project, name, version))


@router.delete(VERSION, status_code=204, summary="Delete a version (ready or pending) and its artifacts")
def delete_version(
    project: ProjectName, name: ModelName, version: Version, request: Request, db: DB, caller: Caller
) -> Response:
    models.delete_version(db, caller, request.app.state.secret_box, project, name, version)
    return Response(status_code=204)


@router.put(VERSION + "/heartbeat", status_code=204, summary="Keep a pending version alive while uploading")
def heartbeat(
    project: ProjectName, name: ModelName, version: Version, body: UploadToken, db: DB, caller: Caller
) -> Response:
    models.heartbeat(db, caller, project, name, version, body.upload_token)
    return Response(status_code=204)


@router.post(VERSION + "/files", summary="Record uploaded artifacts of a pending version (idempotent)")
def record_files(
    project: ProjectName, name: ModelName, version: Version, body: ArtifactsRecord, db: DB, caller: Caller
) -> RecordedOut:
    files = [f.model_dump() for f in body.files]
    return RecordedOut(
        recorded=models.record_files(db, caller, project, name, version, body.upload_token, files)
    )


@router.post(VERSION + "/finalize", summary="Make a pending version ready once all artifacts are stored")
def finalize(
    project: ProjectName,
    name: ModelName,
    version: Version,
    body: Finalize,
    request: Request,
    db: DB,
    caller: Caller,
) -> ModelVersionOut:
    reg, mv = models.finalize(
        db,
        caller,
        request.app.state.secret_box,
        project,
        name,
        version,
        body.upload_token,
        body.file_count,
        body.total_size,
    )
    return _version(reg, mv)


@router.get(VERSION + "/files", summary="The artifact manifest of a ready version")
def list_files(
    project: ProjectName, name: ModelName, version: Version, db: DB, caller: Caller
) -> list[ArtifactOut]:
    return [_artifact(a) for a in models.list_files(db, caller, project, name, version)]


# --- tags -------------------------------------------------------------------------------------------


@router.get(VERSION + "/tags", summary="All tags of a version")
def get_tags(
    project: ProjectName, name: ModelName, version: Version, db: DB, caller: Caller
) -> dict[str, object]:
    return models.get_tags(db, caller, project, name, version)


@router.get(VERSION + "/tags/{tag}", summary="One tag of a version")
def get_tag(
    project: ProjectName, name: ModelName, version: Version, tag: TagName, db: DB, caller: Caller
) -> TagOut:
    return TagOut(name=tag, value=models.get_tag(db, caller, project, name, version, tag))


@router.put(VERSION + "/tags/{tag}", summary="Set a tag (any JSON value)")
def set_tag(
    project: ProjectName,
    name: ModelName,
    version: Version,
    tag: TagName,
    body: TagSet,
    db: DB,
    caller: Caller,
) -> TagOut:
    return TagOut(name=tag, value=models.set_tag(db, caller, project, name, version, tag, body.value))


@router.delete(VERSION + "/tags/{tag}", status_code=204, summary="Delete a tag")
def delete_tag(
    project: ProjectName, name: ModelName, version: Version, tag: TagName, db: DB, caller: Caller
) -> Response:
    models.delete_tag(db, caller, project, name, version, tag)
    return Response(status_code=204)
