"""Feature group, feature view and training dataset pages.

The feature group page reads only the catalog (schema, commits and their statistics, which the
client computed at each commit); the preview of rows is its own request (loaded by htmx after the
page) that reads at most :data:`reads.PREVIEW_MAX_ROWS` rows from storage.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Path, Query, Response
from fastapi.responses import RedirectResponse

from larder.errors import LarderError, NotFoundError
from larder.server.db.models import FeatureGroup, FeatureGroupCommit
from larder.server.services import featurestore as fs
from larder.server.services import fg_writes
from larder.server.ui import charts, reads
from larder.server.ui.project_pages import ProjectName
from larder.server.ui.web import UI, CurrentUI, router

Name = Annotated[str, Path(min_length=1, max_length=63)]
Version = Annotated[int, Path(ge=1, le=1_000_000)]
DeltaVersion = Annotated[int | None, Query(ge=0, le=2**31 - 1)]
TIMELINE_MAX = 200
PREVIEW_ROWS = 25


def _commit_or_404(
    commits: list[FeatureGroupCommit], delta_version: int, fg: FeatureGroup
) -> FeatureGroupCommit:
    for c in commits:
        if c.delta_version == delta_version:
            return c
    known = [c.delta_version for c in commits][-20:]
    raise NotFoundError(
        f"Feature group '{fg.name}' v{fg.version} has no commit with Delta version {delta_version}; "
        f"its latest commits are {known or 'none (nothing inserted yet)'}.",
        details={"delta_version": delta_version, "known": known},
    )


def _timeline(commits: list[FeatureGroupCommit]) -> charts.Chart:
    shown = commits[-TIMELINE_MAX:]
    return charts.Chart(
        "timeline",
        "Rows per commit",
        [f"v{c.delta_version}" for c in shown],
        [
            {"label": "inserted", "data": [c.rows_inserted for c in shown], "color": "#00594f"},
            {"label": "updated", "data": [c.rows_updated for c in shown], "color": "#1d4ed8"},
            {"label": "deleted", "data": [c.rows_deleted for c in shown], "color": "#b91c1c"},
        ],
        stacked=True,
        wide=True,
        x="commit (Delta version)",
        y="rows",
    )


@router.get("/projects/{project}/featuregroups/{name}")
def latest_feature_group(ui: CurrentUI, project: ProjectName, name: Name) -> Response:
    fg = fs.get_feature_group(ui.db, ui.principal, project, name, None)
    return RedirectResponse(f"/projects/{project}/featuregroups/{name}/{fg.version}", status_code=303)


@router.get("/projects/{project}/featuregroups/{name}/{version}")
def feature_group(
    ui: CurrentUI, project: ProjectName, name: Name, version: Version, commit: DeltaVersion = None
) -> Response:
    fg = fs.get_feature_group(ui.db, ui.principal, project, name, version)
    versions = [g.version for g in fs.list_feature_groups(ui.db, ui.principal, project, name)]
    commits = fg_writes.recorded_commits(ui.db, ui.principal, project, name, version)
    with_stats = [c for c in commits if c.statistics_json]
    selected = None
    if commit is not None:
        selected = _commit_or_404(commits, commit, fg)
    elif with_stats:
        selected = with_stats[-1]
    stats = (
        json.loads(selected.statistics_json) if selected is not None and selected.statistics_json else None
    )
    histograms = []
    if stats:
        for i, (col, st) in enumerate(stats.get("columns", {}).items()):
            chart = charts.histogram(col, st, i)
            if chart is not None:
                histograms.append(chart)
    primary_key = json.loads(fg.primary_key_json)
    return ui.render(
        "feature_group.html",
        project=project,
        fg=fg,
        versions=versions,
        schema=json.loads(fg.schema_json) if fg.schema_json else [],
        primary_key=primary_key,
        partition_key=json.loads(fg.partition_key_json),
        commits=list(reversed(commits[-TIMELINE_MAX:])),
        commit_count=len(commits),
        stats_commits=list(reversed(with_stats[-TIMELINE_MAX:])),
        selected=selected,
        stats=stats,
        histograms=histograms,
        nulls=charts.nulls(stats["columns"]) if stats and stats.get("columns") else None,
        timeline=_timeline(commits) if commits else None,
        latest=commits[-1] if commits else None,
        location=f"{fs.fs_dataset(ui.db, fg.project).name}/{fs.table_path(fg)}",
    )


@router.get("/projects/{project}/featuregroups/{name}/{version}/preview")
def preview(
    ui: CurrentUI,
    project: ProjectName,
    name: Name,
    version: Version,
    as_of: DeltaVersion = None,
    rows: Annotated[int, Query(ge=1, le=reads.PREVIEW_MAX_ROWS)] = PREVIEW_ROWS,
) -> Response:
    """The first rows of the table, latest or as of a commit (a fragment for htmx, or a page)."""
    fg = fs.get_feature_group(ui.db, ui.principal, project, name, version)
    commits = fg_writes.recorded_commits(ui.db, ui.principal, project, name, version)
    data = error = None
    if commits:
        chosen = _commit_or_404(commits, as_of, fg) if as_of is not None else commits[-1]
        try:
            data = reads.preview_rows(
                fg, fs.fs_dataset(ui.db, fg.project), ui.box, chosen.delta_version, rows
            )
        except LarderError as e:
            error = e.message
    return ui.render(
        "preview.html",
        project=project,
        fg=fg,
        commits=list(reversed(commits[-TIMELINE_MAX:])),
        preview=data,
        error=error,
        rows=rows,
        latest=commits[-1] if commits else None,
    )


# --- feature views ------------------------------------------------------------------------------------


def _query_parts(
    ui: UI, query: dict[str, Any], out: list[dict[str, Any]], join: dict[str, Any] | None
) -> None:
    """The feature groups of a view's query in join order, each with the features it gives and
    how it is joined."""
    out.append({"group": query["left"], "join": join})
    for j in query.get("joins", []):
        _query_parts(ui, j["query"], out, j)


def _sql(ui: UI, query: dict[str, Any]) -> str | None:
    """The query's SQL, as the client's ``Query.to_string()`` writes it, built from the feature
    groups' catalog entries; None when one of them is not visible to the caller."""
    from larder.feature_store.feature_group import FeatureGroup as ClientGroup
    from larder.feature_store.query import Query

    groups: dict[tuple[str, str, int], Any] = {}
    parts: list[dict[str, Any]] = []
    _query_parts(ui, query, parts, None)
    for part in parts:
        ref = part["group"]
        row = ui.db.get(FeatureGroup, ref.get("id"))  # which project holds it; access is checked next
        if row is None:
            return None
        try:
            g = fs.get_feature_group(ui.db, ui.principal, row.project.name, row.name, row.version)
        except LarderError:
            return None
        info = {
            "id": g.id,
            "name": g.name,
            "version": g.version,
            "primary_key": json.loads(g.primary_key_json),
            "event_time": g.event_time,
            "features": json.loads(g.schema_json) if g.schema_json else [],
            "location": {},
        }
        groups[(row.project.name, g.name, g.version)] = ClientGroup(None, info)  # type: ignore[arg-type]
    try:
        return Query.from_dict(query, groups).to_string()
    except Exception:  # a query the client of this version cannot rebuild: show the JSON only
        return None


@router.get("/projects/{project}/featureviews/{name}")
def latest_feature_view(ui: CurrentUI, project: ProjectName, name: Name) -> Response:
    fv = fs.get_feature_view(ui.db, ui.principal, project, name, None)
    return RedirectResponse(f"/projects/{project}/featureviews/{name}/{fv.version}", status_code=303)


def _td_view(td: Any) -> dict[str, Any]:
    meta = json.loads(td.metadata_json)
    split = meta.get("split") or {}
    rows = meta.get("rows") or {}
    return {
        "version": td.version,
        "description": td.description,
        "created_at": td.created_at,
        # in-memory training data records only its transformation statistics: no split files
        "splits": [] if meta.get("in_memory") else split.get("splits") or list(rows),
        "rows": rows,
        "times": split.get("times") or {},
        "test_size": split.get("test_size"),
        "validation_size": split.get("validation_size"),
        "seed": split.get("seed"),
        "columns": meta.get("columns") or [],
        "start_time": meta.get("start_time"),
        "end_time": meta.get("end_time"),
    }


@router.get("/projects/{project}/featureviews/{name}/{version}")
def feature_view(ui: CurrentUI, project: ProjectName, name: Name, version: Version) -> Response:
    fv = fs.get_feature_view(ui.db, ui.principal, project, name, version)
    versions = [v.version for v in fs.list_feature_views(ui.db, ui.principal, project, name)]
    query = fs.view_query(ui.db, fv)
    parts: list[dict[str, Any]] = []
    _query_parts(ui, query, parts, None)
    tds = [_td_view(td) for td in fs.list_training_datasets(ui.db, ui.principal, project, name, version)]
    split_chart = None
    if tds:
        latest = tds[-1]
        split_chart = charts.Chart(
            "splits",
            f"Rows per split, training dataset v{latest['version']}",
            list(latest["rows"]),
            [{"label": "rows", "data": list(latest["rows"].values())}],
            x="split",
            y="rows",
        )
    return ui.render(
        "feature_view.html",
        project=project,
        fv=fv,
        versions=versions,
        parts=parts,
        labels=json.loads(fv.labels_json),
        sql=_sql(ui, query),
        query_json=query,
        tds=list(reversed(tds)),
        split_chart=split_chart,
    )


@router.get("/projects/{project}/featureviews/{name}/{version}/trainingdatasets/{td_version}")
def training_dataset(
    ui: CurrentUI, project: ProjectName, name: Name, version: Version, td_version: Version
) -> Response:
    """A training dataset: its splits, and per split the column statistics of its Parquet file
    (row and null counts, min and max, from the file's footer: no data is read)."""
    fv = fs.get_feature_view(ui.db, ui.principal, project, name, version)
    td = fs.get_training_dataset(ui.db, ui.principal, project, name, version, td_version)
    view = _td_view(td)
    dataset = fs.fs_dataset(ui.db, fv.project)
    summaries = {}
    for split in view["splits"][:10]:
        try:
            summaries[split] = reads.parquet_summary(dataset, ui.box, f"{td.location}/{split}.parquet")
        except LarderError as e:
            summaries[split] = {"error": e.message}
    null_chart = None
    if summaries:
        split, first = next(iter(summaries.items()))
        if "columns" in first:
            null_chart = charts.Chart(
                "td-nulls",
                f"Null values per column ({split} split)",
                [c["name"] for c in first["columns"]],
                [{"label": "nulls", "data": [c["nulls"] or 0 for c in first["columns"]]}],
                horizontal=True,
                wide=True,
                x="null values",
            )
    return ui.render(
        "training_dataset.html",
        project=project,
        fv=fv,
        td=view,
        location=f"{dataset.name}/{td.location}",
        summaries=summaries,
        null_chart=null_chart,
    )
