"""Model pages: a model's versions with their metrics and a chart of one metric across versions
(the best version marked, as ``GET .../best`` picks it), and a version's schema, input example,
tags, lineage (feature view -> training dataset -> model) and artifact downloads."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import Path, Query, Response
from fastapi.responses import FileResponse, RedirectResponse

from larder.errors import InvalidArgumentError, NotFoundError
from larder.server.services import models
from larder.server.ui import charts, reads
from larder.server.ui.project_pages import ProjectName
from larder.server.ui.web import CurrentUI, router

ModelName = Annotated[str, Path(min_length=1, max_length=63)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_VERSIONS_CHARTED = 500


@router.get("/projects/{project}/models")
def models_page(project: ProjectName) -> Response:
    return RedirectResponse(f"/projects/{project}#models-title", status_code=303)


@router.get("/projects/{project}/models/{name}")
def model_page(
    ui: CurrentUI,
    project: ProjectName,
    name: ModelName,
    metric: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    direction: Literal["max", "min"] = "max",
) -> Response:
    reg, versions = models.list_versions(ui.db, ui.principal, project, name)
    if not versions:
        raise NotFoundError(
            f"Model '{name}' has no ready version in project '{project}'.", details={"model": name}
        )
    metrics = [json.loads(mv.metrics_json) for mv in versions]
    names = sorted({k for m in metrics for k in m})
    if metric is None and names:
        latest = metrics[-1]
        metric = next(iter(latest), names[0])
    if metric is not None and metric not in names:
        raise InvalidArgumentError(
            f"Model '{name}' has no metric {metric!r}; its versions have: {', '.join(names) or 'no metrics'}.",
            details={"metric": metric, "known_metrics": names},
        )
    chart = best = None
    if metric is not None:
        _, best = models.best_version(ui.db, ui.principal, project, name, metric, direction)
        shown = versions[-MAX_VERSIONS_CHARTED:]
        index = {mv.version: i for i, mv in enumerate(shown)}
        chart = charts.Chart(
            "metric",
            f"{metric} by version ({'higher' if direction == 'max' else 'lower'} is better; best: v{best.version})",
            [f"v{mv.version}" for mv in shown],
            [{"label": metric, "data": [json.loads(mv.metrics_json).get(metric) for mv in shown]}],
            type="line",
            best=index.get(best.version),
            wide=True,
            x="version",
            y=metric,
            extra={"beginAtZero": False},
        )
    return ui.render(
        "model.html",
        project=project,
        name=name,
        registry=reg,
        versions=list(reversed(versions)),
        metric_names=names,
        metric=metric,
        direction=direction,
        chart=chart,
        best=best,
    )


@router.get("/projects/{project}/models/{name}/{version}")
def model_version(ui: CurrentUI, project: ProjectName, name: ModelName, version: Version) -> Response:
    reg, mv = models.get_version(ui.db, ui.principal, project, name, version)
    files = models.list_files(ui.db, ui.principal, project, name, version)
    tags = models.get_tags(ui.db, ui.principal, project, name, version)
    store = mv.feature_store or f"{reg.project.name}_featurestore"
    fv_project = store.removesuffix("_featurestore")
    return ui.render(
        "model_version.html",
        project=project,
        reg=reg,
        mv=mv,
        metrics=json.loads(mv.metrics_json),
        schema=json.loads(mv.model_schema_json) if mv.model_schema_json else None,
        input_example=json.loads(mv.input_example_json) if mv.input_example_json else None,
        tags=tags,
        files=files,
        feature_store=store,
        fv_project=fv_project,
    )


@router.get("/projects/{project}/models/{name}/{version}/files/{path:path}")
def download(
    ui: CurrentUI,
    project: ProjectName,
    name: ModelName,
    version: Version,
    path: Annotated[str, Path(max_length=1024)],
) -> Response:
    """An artifact of a ready version: the file itself on a local store, or a redirect to a
    presigned URL (5 minutes) on S3, so the bytes never pass through the server there."""
    files = models.list_files(ui.db, ui.principal, project, name, version)
    artifact = next((a for a in files if a.path == path), None)
    if artifact is None:
        raise NotFoundError(
            f"Model '{name}' v{version} has no artifact {path[:200]!r}.", details={"path": path[:200]}
        )
    reg = models.registry(ui.db, ui.principal, project)
    kind, where = reads.artifact_file(reg.dataset, ui.box, f"{name}/{version}/{artifact.path}")
    if kind == "s3":
        return RedirectResponse(str(where), status_code=303)
    filename = FilePath(artifact.path).name
    media = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return FileResponse(where, media_type=media, filename=filename)
