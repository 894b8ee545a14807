"""The project page: members and roles, who its feature store and model registry are shared with,
and what they hold. A member sees all of it; a member of a project that the feature store or the
registry is shared with sees only that part (as the REST API answers them); anyone else a 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Response

from larder.errors import NotFoundError, PermissionDeniedError
from larder.server.services import featurestore as fs
from larder.server.services import models, projects
from larder.server.ui.web import UI, CurrentUI, router

ProjectName = Annotated[str, Path(min_length=1, max_length=63)]


def _part(ui: UI, fn: Any, *args: Any) -> tuple[Any, bool]:
    """``(result, visible)``: None and False when the part is not visible (404); None and True
    with a note when the key lacks its scope (403)."""
    try:
        return fn(ui.db, ui.principal, *args), True
    except NotFoundError:
        return None, False
    except PermissionDeniedError as e:
        ui.notes.append(e.message)
        return None, True


def versions_by_name(rows: list[Any]) -> list[tuple[str, list[Any]]]:
    """Versioned rows (by name, then version) grouped by name: ``[(name, [rows...])]``."""
    out: dict[str, list[Any]] = {}
    for r in rows:
        out.setdefault(r.name, []).append(r)
    return list(out.items())


@router.get("/projects/{project}")
def project_page(ui: CurrentUI, project: ProjectName) -> Response:
    proj, member = _part(ui, projects.get, project)
    store, store_visible = _part(ui, fs.feature_store_info, project)
    registry, registry_visible = _part(ui, models.registry, project)
    if not (member or store_visible or registry_visible):
        raise NotFoundError(
            f"Project '{project}' was not found, or you are not a member of it.", details={"project": project}
        )
    groups = views = model_list = None
    if store is not None:
        groups = versions_by_name(fs.list_feature_groups(ui.db, ui.principal, project, None))
        views = versions_by_name(fs.list_feature_views(ui.db, ui.principal, project, None))
    if registry is not None:
        model_list = models.list_models(ui.db, ui.principal, project)
    return ui.render(
        "project.html",
        name=project,
        project=proj,
        store=store,
        registry=registry,
        groups=groups,
        views=views,
        models=model_list,
    )
