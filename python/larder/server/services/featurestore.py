"""The feature store catalog: feature groups, commits, feature views, training datasets, serving.

The Delta log is the truth for data; this catalog holds the metadata (schema, keys, event time,
versions, commits, statistics). Clients write Delta tables directly in the project's
``<project>_featurestore`` dataset, then record each commit here; for online-enabled feature
groups the server then reads that commit's changes and upserts them into the online store.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from larder.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from larder.names import FEATURE_NAME_PATTERN, check_name
from larder.server import storage_backend
from larder.server.db.models import (
    Dataset,
    DatasetPermission,
    FeatureGroup,
    FeatureView,
    Project,
    TrainingDataset,
)
from larder.server.online import OnlineStore
from larder.server.security import authz
from larder.server.security.authz import Principal
from larder.server.security.secretbox import SecretBox
from larder.server.services import datasets, projects

log = logging.getLogger("larder.server.featurestore")


# --- helpers ---------------------------------------------------------------------------------------


def can_read(db: Session, principal: Principal, project: Project) -> bool:
    """The one rule for reading a project's feature store (its groups' metadata and rows, offline
    and online): the caller is a member of ``project`` (or an admin), or a member of a project the
    feature store is shared with. Every path applies it on every request."""
    if principal.is_admin or projects.member_role(project, principal.user_id) is not None:
        return True
    mine = datasets.my_project_ids(db, principal.user_id)
    ds = fs_dataset(db, project)
    return any(p.project_id in mine for p in ds.permissions if p.project_id is not None)


def project_for(db: Session, principal: Principal, project: str) -> Project:
    """The project whose feature store the caller may read (see :func:`can_read`). Anything else
    is the usual 404."""
    principal.require_scope("featurestore")
    proj = db.scalar(select(Project).where(Project.name == project))
    if proj is not None and can_read(db, principal, proj):
        return proj
    return projects.get_visible(db, principal, project)  # raises the same 404 as for a missing project


def feature_store_info(db: Session, principal: Principal, project_name: str) -> dict[str, Any]:
    project = project_for(db, principal, project_name)
    ds = fs_dataset(db, project)
    shared = sorted(
        p.project.name for p in ds.permissions if p.project is not None and p.project_id != project.id
    )
    return {
        "name": f"{project.name}_featurestore",
        "project": project.name,
        "namespace": ds.namespace.name,
        "dataset": ds.name,
        "member": projects.member_role(project, principal.user_id) is not None,
        "shared_with": shared,
    }


def share(db: Session, principal: Principal, project_name: str, other: str, on: bool) -> dict[str, Any]:
    """Grant (or withdraw) read access to the feature store for every member of project ``other``
    (a project the caller is a member of, see ``projects.share_target``)."""
    project = projects.get_visible(db, principal, project_name)
    if projects.member_role(project, principal.user_id) != "data_owner" and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only a data_owner of project '{project.name}' may share its feature store.",
            details={"project": project.name},
        )
    ds = fs_dataset(db, project)
    target = projects.share_target(db, principal, other, {p.project_id for p in ds.permissions})
    existing = [p for p in ds.permissions if p.project_id == target.id and p.user_id is None]
    for p in existing:
        ds.permissions.remove(p)
    if on:
        ds.permissions.append(DatasetPermission(project_id=target.id, access="r"))
    db.commit()
    db.refresh(ds)
    authz.changed()
    return feature_store_info(db, principal, project_name)


def fs_dataset(db: Session, project: Project) -> Dataset:
    name = projects.project_dataset_name(project.name, "featurestore")
    ds = db.scalar(select(Dataset).where(Dataset.project_id == project.id, Dataset.name == name))
    if ds is None:
        raise NotFoundError(f"Project '{project.name}' has no feature store dataset '{name}'.")
    return ds


def table_path(fg: FeatureGroup) -> str:
    """The Delta table's path inside the feature store dataset."""
    return f"feature_groups/{fg.name}_{fg.version}"


def online_table(fg: FeatureGroup) -> str:
    """The name of the group's rows in the online store (random per group, see the model)."""
    return fg.online_table


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return str(v)


def key_of(primary_key: list[str], values: list[Any]) -> str:
    """The canonical online-store key: the compact JSON object of the primary-key values in key
    order (as polars writes it when materializing), ``{"k1":v1,"k2":v2}``."""
    return _joined_key(key_parts(primary_key), values)


def key_parts(primary_key: list[str]) -> list[str]:
    """The constant parts of a group's online keys, ``'{"k1":'``, ``',"k2":'`` (see ``key_of``):
    worked out once per serving plan."""
    return [("," if i else "{") + orjson.dumps(k).decode() + ":" for i, k in enumerate(primary_key)]


def _joined_key(parts: list[str], values: Any) -> str:
    dumps = orjson.dumps
    return (
        "".join(p + dumps(v, default=_json_default).decode() for p, v in zip(parts, values, strict=True))
        + "}"
    )


def _check_feature_names(kind: str, names: list[str]) -> list[str]:
    import re

    for n in names:
        if not isinstance(n, str) or not re.fullmatch(FEATURE_NAME_PATTERN, n):
            raise InvalidArgumentError(
                f"Invalid {kind} {n!r}: feature names are 1-63 characters: letters, digits or '_', not starting "
                "with a digit.",
                details={"name": str(n)[:80], "pattern": FEATURE_NAME_PATTERN},
            )
    return names


# --- feature groups --------------------------------------------------------------------------------


def _create_versioned(
    db: Session, cls: Any, kind: str, project_id: int, name: str, version: int | None, make: Any
) -> Any:
    """Insert ``make(version)``; ``version=None`` takes the next one. Concurrent creators race on the
    unique (project, name, version) constraint; the loser retries with the following number."""
    for attempt in range(5):
        v = version
        if v is None:
            latest = db.scalar(
                select(func.max(cls.version)).where(cls.project_id == project_id, cls.name == name)
            )
            v = (latest or 0) + 1
            if v > MAX_VERSION:
                raise ConflictError(
                    f"{kind} '{name}' has a version {MAX_VERSION}, the largest number; create it with an explicit "
                    "version=, or under another name.",
                    details={"name": name, "max_version": MAX_VERSION},
                )
        elif v < 1:
            raise InvalidArgumentError(f"Versions start at 1, got {v}.", details={"version": v})
        row = make(v)
        db.add(row)
        try:
            db.commit()
            return row
        except IntegrityError:
            db.rollback()
            if version is not None:
                raise AlreadyExistsError(
                    f"{kind} '{name}' version {version} already exists; omit version to create the next one.",
                    details={"name": name, "version": version},
                ) from None
            log.debug("version race on %s %s (attempt %d)", kind, name, attempt)
    raise ConflictError(f"Could not assign a version to {kind.lower()} '{name}'; retry.")


def _get_versioned(db: Session, cls: Any, kind: str, project: Project, name: str, version: int | None) -> Any:
    """A version (default: the newest) of a feature group or feature view of ``project``."""
    stmt = select(cls).where(cls.project_id == project.id, cls.name == name)
    if version is None:
        row = db.scalar(stmt.order_by(cls.version.desc()).limit(1))
    else:
        row = db.scalar(stmt.where(cls.version == version))
    if row is None:
        which = "any version" if version is None else f"version {version}"
        raise NotFoundError(
            f"{kind} '{name}' ({which}) was not found in project '{project.name}'.",
            details={"name": name, "version": version, "project": project.name},
        )
    return row


def _list_versioned(db: Session, cls: Any, project: Project, name: str | None) -> list[Any]:
    """The feature groups or feature views of ``project`` (only those named ``name`` if given),
    by name, then version."""
    stmt = select(cls).where(cls.project_id == project.id)
    if name is not None:
        stmt = stmt.where(cls.name == name)
    return list(db.scalars(stmt.order_by(cls.name, cls.version)))


def create_feature_group(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int | None,
    description: str,
    primary_key: list[str],
    event_time: str | None,
    partition_key: list[str],
    online_enabled: bool,
    statistics_enabled: bool,
) -> FeatureGroup:
    project = project_for(db, principal, project_name)
    _require_member_write(db, principal, project)
    check_name("feature group", name)
    if not primary_key:
        raise InvalidArgumentError(
            f"Feature group '{name}' needs a primary key: primary_key=['id', ...].", details={"name": name}
        )
    _check_feature_names("primary key column", primary_key)
    _check_feature_names("partition key column", partition_key)
    if event_time is not None:
        _check_feature_names("event time column", [event_time])
        if event_time in primary_key:
            raise InvalidArgumentError(
                f"The event time column '{event_time}' cannot also be a primary key column.",
                details={"event_time": event_time},
            )
    if len(set(primary_key)) != len(primary_key):
        raise InvalidArgumentError(f"Duplicate columns in primary_key {primary_key}.")

    def make(v: int) -> FeatureGroup:
        return FeatureGroup(
            project_id=project.id,
            name=name,
            version=v,
            description=description,
            primary_key_json=json.dumps(primary_key),
            event_time=event_time,
            partition_key_json=json.dumps(partition_key),
            online_enabled=online_enabled,
            statistics_enabled=statistics_enabled,
            created_by_id=principal.user_id,
        )

    return _create_versioned(db, FeatureGroup, "Feature group", project.id, name, version, make)


def get_feature_group(
    db: Session, principal: Principal, project_name: str, name: str, version: int | None
) -> FeatureGroup:
    project = project_for(db, principal, project_name)
    return _get_versioned(db, FeatureGroup, "Feature group", project, name, version)


def list_feature_groups(
    db: Session, principal: Principal, project_name: str, name: str | None
) -> list[FeatureGroup]:
    return _list_versioned(db, FeatureGroup, project_for(db, principal, project_name), name)


def _require_member_write(db: Session, principal: Principal, project: Project) -> None:
    if projects.member_role(project, principal.user_id) is None and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only members of project '{project.name}' may change its feature store.",
            details={"project": project.name},
        )


def delete_feature_group(
    db: Session,
    principal: Principal,
    box: SecretBox,
    online: OnlineStore,
    project_name: str,
    name: str,
    version: int,
) -> None:
    fg = get_feature_group(db, principal, project_name, name, version)
    _require_member_write(db, principal, fg.project)
    ds = fs_dataset(db, fg.project)
    storage_backend.delete_prefix(ds.namespace, f"{ds.name}/{table_path(fg)}", box)
    online.drop(online_table(fg))
    db.delete(fg)
    db.commit()
    authz.changed()  # views over it stop serving at once


def update_feature_group(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int,
    description: str | None,
    feature_descriptions: dict[str, str] | None = None,
) -> FeatureGroup:
    """Change a version's description and/or some of its features' descriptions (members who
    may write the feature store). Feature descriptions live in the recorded schema, beside each
    feature's name and type.

    Raises:
        InvalidArgumentError: neither is given; a feature the schema lacks; no schema yet.
    """
    fg = get_feature_group(db, principal, project_name, name, version)
    _require_member_write(db, principal, fg.project)
    if description is None and feature_descriptions is None:
        raise InvalidArgumentError("Nothing to update: give a description or feature_descriptions.")
    if feature_descriptions:
        if fg.schema_json is None:
            raise InvalidArgumentError(
                f"Feature group '{name}' version {version} has no schema yet (its first insert records it): "
                f"insert first, then describe the feature(s) {sorted(feature_descriptions)}.",
                details={"features": sorted(feature_descriptions)},
            )
        schema = json.loads(fg.schema_json)
        known = [f["name"] for f in schema]
        unknown = sorted(set(feature_descriptions) - set(known))
        if unknown:
            raise InvalidArgumentError(
                f"Feature group '{name}' version {version} has no feature(s) {unknown}; it has {known}.",
                details={"unknown": unknown, "features": known},
            )
        for f in schema:
            if f["name"] in feature_descriptions:
                f["description"] = feature_descriptions[f["name"]]
                if not f["description"]:
                    del f["description"]
        fg.schema_json = json.dumps(schema)
    if description is not None:
        fg.description = description
    db.commit()
    return fg


def _feature_entry(f: dict[str, str]) -> dict[str, str]:
    """A feature as the schema records it: name and type, and its description when it has one."""
    entry = {"name": f["name"], "type": f["type"]}
    if f.get("description"):
        entry["description"] = f["description"]
    return entry


def set_schema(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int,
    schema: list[dict[str, str]],
) -> FeatureGroup:
    """Record the schema inferred on the first insert; afterwards it must match exactly."""
    fg = get_feature_group(db, principal, project_name, name, version)
    _require_member_write(db, principal, fg.project)
    _check_feature_names("feature", [f["name"] for f in schema])
    schema = [_feature_entry(f) for f in schema]
    if fg.schema_json is not None:
        current = json.loads(fg.schema_json)
        if [(f["name"], f["type"]) for f in current] != [(f["name"], f["type"]) for f in schema]:
            raise ConflictError(
                f"Feature group '{name}' version {version} already has another schema; create a new version to "
                "change it.",
                details={"current": current, "given": schema},
            )
        return fg
    columns = {f["name"] for f in schema}
    missing = [
        c
        for c in json.loads(fg.primary_key_json) + ([fg.event_time] if fg.event_time else [])
        if c not in columns
    ]
    if missing:
        raise InvalidArgumentError(
            f"The schema lacks the key/event time column(s) {missing} of feature group '{name}'.",
            details={"missing": missing},
        )
    fg.schema_json = json.dumps(schema)
    db.commit()
    return fg


def online_read(
    db: Session,
    principal: Principal,
    online: OnlineStore,
    project_name: str,
    name: str,
    version: int,
    keys: list[list[Any]],
) -> list[dict[str, Any] | None]:
    fg = get_feature_group(db, principal, project_name, name, version)
    if not fg.online_enabled:
        raise ConflictError(
            f"Feature group '{name}' version {version} is not online-enabled; read it offline or create a version "
            "with online_enabled=True.",
            details={"name": name, "version": version},
        )
    pk = json.loads(fg.primary_key_json)
    for i, k in enumerate(keys):
        if len(k) != len(pk):
            raise InvalidArgumentError(
                f"Key {i} has {len(k)} value(s), but feature group '{name}' version {version} has the primary key "
                f"{pk}: give one value per key column, in that order.",
                details={"key": i, "values": len(k), "primary_key": pk},
            )
    payloads = online.get(online_table(fg), [key_of(pk, k) for k in keys])
    return [orjson.loads(p) if p is not None else None for p in payloads]


# --- feature views and training datasets -------------------------------------------------------------


def _query_feature_groups(query: dict[str, Any]) -> list[dict[str, Any]]:
    out = [query["left"]]
    for j in query.get("joins", []):
        out.extend(_query_feature_groups(j["query"]))
    return out


MAX_QUERY_DEPTH = 8
MAX_VERSION = 1_000_000  # feature group and feature view versions (the API's bound)


def _resolve_query(
    db: Session, principal: Principal, project: Project, query: dict[str, Any]
) -> dict[str, Any]:
    """Check a view's query before it is stored: every feature group it reads exists, is the one
    its id names, is readable by the caller (:func:`can_read`) and has the features it selects and
    its filter tests; it nests at most ``MAX_QUERY_DEPTH`` deep. Returns the query with each
    group's project named."""

    def depth(q: dict[str, Any]) -> int:
        return 1 + max((depth(j["query"]) for j in q.get("joins", [])), default=0)

    refs = _query_feature_groups(query)
    if depth(query) > MAX_QUERY_DEPTH:  # the schema says so too: for callers of the service
        raise InvalidArgumentError(
            f"The query is {depth(query)} joins deep; a feature view nests at most {MAX_QUERY_DEPTH} deep.",
            details={"depth": depth(query)},
        )
    seen: dict[tuple[str, int], set[str]] = {}
    for ref in refs:
        where = ref.get("project") or project.name
        try:
            fg = get_feature_group(db, principal, where, ref["name"], ref["version"])
        except NotFoundError:
            raise NotFoundError(
                f"The query reads feature group '{ref['name']}' version {ref['version']} of project '{where}', "
                "which does not exist or is not visible to you.",
                details={"feature_group": ref["name"], "version": ref["version"], "project": where},
            ) from None
        if fg.id != ref["id"]:
            raise ConflictError(
                f"Feature group '{fg.name}' version {fg.version} of project '{where}' was re-created since the "
                "query was built; get the feature group again and rebuild the query.",
                details={"feature_group": fg.name, "version": fg.version, "project": where},
            )
        known = {f["name"] for f in json.loads(fg.schema_json)} if fg.schema_json else None
        unknown = [f for f in ref["features"] if known is not None and f not in known]
        if unknown:
            raise InvalidArgumentError(
                f"Feature group '{fg.name}' version {fg.version} has no feature(s) {unknown}.",
                details={"feature_group": fg.name, "features": unknown},
            )
        ref["project"] = fg.project.name
        seen[(fg.name, fg.version)] = (
            {f["name"] for f in json.loads(fg.schema_json)} if fg.schema_json else set()
        )
    stack = [query]
    while stack:  # every filter term names a group of the query and one of its features
        q = stack.pop()
        stack.extend(j["query"] for j in q.get("joins", []))
        terms = [q.get("filter")]
        while terms:
            t = terms.pop()
            if not t:
                continue
            if "logic" in t:
                terms.extend([t.get("left"), t.get("right")])
                continue
            group = (t["group"][0], t["group"][1])
            if group not in seen or t["feature"] not in seen[group]:
                raise InvalidArgumentError(
                    f"The query's filter tests feature {t['feature']!r} of feature group {group[0]!r} version "
                    f"{group[1]}, which the query does not read.",
                    details={"feature": t["feature"], "feature_group": group[0], "version": group[1]},
                )
    return query


def create_feature_view(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int | None,
    description: str,
    query: dict[str, Any],
    labels: list[str],
    transformations: list[dict[str, Any]] | None = None,
) -> FeatureView:
    project = project_for(db, principal, project_name)
    _require_member_write(db, principal, project)
    check_name("feature view", name)
    query = _resolve_query(db, principal, project, query)
    from larder.server.services.transformations import check_view_transformations

    transformations = check_view_transformations(transformations or [])

    def make(v: int) -> FeatureView:
        return FeatureView(
            project_id=project.id,
            name=name,
            version=v,
            description=description,
            query_json=json.dumps(query),
            labels_json=json.dumps(labels),
            transformations_json=json.dumps(transformations),
            created_by_id=principal.user_id,
        )

    return _create_versioned(db, FeatureView, "Feature view", project.id, name, version, make)


def view_query(db: Session, fv: FeatureView) -> dict[str, Any]:
    """The view's query with each group's project named (views stored before queries named them
    read groups of their own project, or the project of the group their id names)."""
    query = json.loads(fv.query_json)
    for ref in _query_feature_groups(query):
        if not ref.get("project"):
            fg = db.get(FeatureGroup, ref["id"])
            ref["project"] = fg.project.name if fg is not None else fv.project.name
    return query


def get_feature_view(
    db: Session, principal: Principal, project_name: str, name: str, version: int | None
) -> FeatureView:
    project = project_for(db, principal, project_name)
    return _get_versioned(db, FeatureView, "Feature view", project, name, version)


def list_feature_views(
    db: Session, principal: Principal, project_name: str, name: str | None
) -> list[FeatureView]:
    return _list_versioned(db, FeatureView, project_for(db, principal, project_name), name)


def delete_feature_view(
    db: Session, principal: Principal, box: SecretBox, project_name: str, name: str, version: int
) -> None:
    fv = get_feature_view(db, principal, project_name, name, version)
    _require_member_write(db, principal, fv.project)
    ds = fs_dataset(db, fv.project)
    storage_backend.delete_prefix(ds.namespace, f"{ds.name}/training_datasets/{fv.name}_{fv.version}", box)
    db.delete(fv)
    db.commit()
    authz.changed()


def create_training_dataset(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int,
    description: str,
    metadata: dict[str, Any],
) -> TrainingDataset:
    """Reserve the next training dataset version; the client writes the files, then marks it ready."""
    fv = get_feature_view(db, principal, project_name, name, version)
    _require_member_write(db, principal, fv.project)
    for _attempt in range(5):
        latest = db.scalar(
            select(func.max(TrainingDataset.version)).where(TrainingDataset.feature_view_id == fv.id)
        )
        v = (latest or 0) + 1
        td = TrainingDataset(
            feature_view_id=fv.id,
            version=v,
            description=description,
            location=f"training_datasets/{fv.name}_{fv.version}/{v}",
            metadata_json=json.dumps({**metadata, "status": "pending"}, default=_json_default),
            created_by_id=principal.user_id,
        )
        db.add(td)
        try:
            db.commit()
            return td
        except IntegrityError:
            db.rollback()
    raise ConflictError(f"Could not assign a training dataset version for '{name}'; retry.")


def finish_training_dataset(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int,
    td_version: int,
    metadata: dict[str, Any],
) -> TrainingDataset:
    td = get_training_dataset(db, principal, project_name, name, version, td_version, include_pending=True)
    _require_member_write(db, principal, get_feature_view(db, principal, project_name, name, version).project)
    current = json.loads(td.metadata_json)
    if current.get("status") == "ready":
        raise ConflictError(f"Training dataset version {td_version} is immutable once ready.")
    td.metadata_json = json.dumps({**current, **metadata, "status": "ready"}, default=_json_default)
    db.commit()
    return td


def get_training_dataset(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int,
    td_version: int,
    include_pending: bool = False,
) -> TrainingDataset:
    fv = get_feature_view(db, principal, project_name, name, version)
    td = db.scalar(
        select(TrainingDataset).where(
            TrainingDataset.feature_view_id == fv.id, TrainingDataset.version == td_version
        )
    )
    if td is None or (not include_pending and json.loads(td.metadata_json).get("status") != "ready"):
        raise NotFoundError(
            f"Feature view '{name}' version {version} has no training dataset version {td_version}.",
            details={"name": name, "version": version, "training_dataset_version": td_version},
        )
    return td


def list_training_datasets(
    db: Session, principal: Principal, project_name: str, name: str, version: int
) -> list[TrainingDataset]:
    fv = get_feature_view(db, principal, project_name, name, version)
    rows = db.scalars(
        select(TrainingDataset)
        .where(TrainingDataset.feature_view_id == fv.id)
        .order_by(TrainingDataset.version)
    )
    return [td for td in rows if json.loads(td.metadata_json).get("status") == "ready"]


# --- serving -----------------------------------------------------------------------------------------


def serving_plan(db: Session, principal: Principal, fv: FeatureView) -> dict[str, Any]:
    """For each feature group of the view: its online table, the entry columns that give its
    primary key, and the features (with output names) it contributes.

    Each group is looked up by its id and checked to be the group the view was created over and
    readable by ``principal`` now (:func:`can_read`, the offline path's rule).

    Raises:
        NotFoundError: when a group of the view was deleted.
        PermissionDeniedError: when the caller may no longer read a group's feature store.
    """
    query = json.loads(fv.query_json)
    labels = set(json.loads(fv.labels_json))
    groups: list[dict[str, Any]] = []

    def group(ref: dict[str, Any]) -> FeatureGroup:
        fg = db.get(FeatureGroup, ref["id"])
        if fg is None or (fg.name, fg.version) != (ref["name"], ref["version"]):
            raise NotFoundError(
                f"Feature view '{fv.name}' version {fv.version} reads feature group '{ref['name']}' version "
                f"{ref['version']}, which was deleted; create a new version of the view.",
                details={"feature_view": fv.name, "feature_group": ref["name"], "version": ref["version"]},
            )
        if fg.project_id != fv.project_id and not can_read(db, principal, fg.project):
            raise PermissionDeniedError(
                f"Feature view '{fv.name}' version {fv.version} reads feature group '{fg.name}' version "
                f"{fg.version} of project '{fg.project.name}', whose feature store you cannot read; ask a "
                f"data owner of '{fg.project.name}' to share it with your project.",
                details={"feature_view": fv.name, "feature_group": fg.name, "project": fg.project.name},
            )
        return fg

    def walk(q: dict[str, Any], key_map: dict[str, str], root: bool, prefix: str) -> None:
        left = q["left"]
        fg = group(left)
        pk = json.loads(fg.primary_key_json)
        # vectors hold what training's X holds: no labels, no event times, not the root's keys
        skip = set(labels) | ({fg.event_time} if fg.event_time else set()) | (set(pk) if root else set())
        features = [(f, prefix + f) for f in left["features"] if prefix + f not in skip and f not in skip]
        groups.append(
            {
                "name": fg.name,
                "table": online_table(fg),
                "online": fg.online_enabled,
                "entry_keys": [key_map.get(c, c) for c in pk],
                "primary_key": pk,
                "features": features,
            }
        )
        for j in q.get("joins", []):
            right_on = j.get("right_on") or j.get("on") or []
            left_on = j.get("left_on") or j.get("on") or []
            mapping = {r: key_map.get(lft, lft) for lft, r in zip(left_on, right_on, strict=True)}
            walk(j["query"], mapping, False, prefix + (j.get("prefix") or ""))

    walk(query, {}, True, "")
    order: list[str] = []
    for g in groups:
        order.extend(out for _, out in g["features"])
    return {"groups": groups, "features": order}


class ServingCache:
    """The hot path of online serving keeps no database round trip per request: who the key is,
    that it may serve the feature view, and the view's serving plan are remembered for ``ttl_s``
    seconds (default 2). Within this process, a change of who may see what (a member removed, a
    share withdrawn, a key revoked, a group, view or project deleted: ``authz.changed()``) drops
    every entry at once; a server running as several processes serves such a change in the other
    processes for up to ``ttl_s``. The rest of the API checks the database on every request."""

    def __init__(self, session_factory: Any, tokens: Any = None, ttl_s: float = 2.0) -> None:
        self._session_factory = session_factory
        self._tokens = tokens
        self.ttl_s = ttl_s
        # (key prefix or token digest, project, view, version) ->
        #   (started, epoch, salt, secret hash or "", plan, user name)
        self._entries: dict[tuple[str, str, str, int], tuple[float, int, str, str, dict[str, Any], str]] = {}
        self._lock = threading.Lock()

    def plan(
        self, authorization: str | None, project: str, name: str, version: int
    ) -> tuple[dict[str, Any], str]:
        """The serving plan of a feature view for this caller, and the caller's user name.

        An API key is remembered by its prefix and checked against its salted hash on each hit; an
        access token by its SHA-256, and only while it has not expired (``tokens.verify`` checks it
        again on a miss).

        Raises:
            UnauthenticatedError, PermissionDeniedError, NotFoundError: as the rest of the API.
        """
        import hashlib
        import time

        from larder.server.security import apikeys
        from larder.server.security.authz import authenticate

        scheme, _, credential = (authorization or "").partition(" ")
        parts = apikeys.split(credential) if scheme.lower() == "apikey" else None
        token = credential.strip() if scheme.lower() == "bearer" and self._tokens is not None else ""
        ident = parts[0] if parts is not None else ("jwt:" + hashlib.sha256(token.encode()).hexdigest())
        if parts is not None or token:
            with self._lock:
                hit = self._entries.get((ident, project, name, version))
            if (
                hit is not None
                and time.monotonic() - hit[0] < self.ttl_s
                and hit[1] == authz.epoch()
                and (apikeys.matches(hit[2], hit[3], parts[1]) if parts is not None else self._live(token))
            ):
                return hit[4], hit[5]
        seen = authz.epoch()  # before reading: a change made meanwhile makes this entry stale
        started = time.monotonic()
        with self._session_factory() as db:
            principal = authenticate(db, authorization, self._tokens)
            fv = get_feature_view(db, principal, project, name, version)
            plan = serving_plan(db, principal, fv)
            salt, secret_hash = "", ""
            if parts is not None:
                from larder.server.db.models import ApiKey

                row = db.scalar(select(ApiKey).where(ApiKey.prefix == principal.key_prefix))
                assert row is not None
                salt, secret_hash = row.salt, row.secret_hash
            elif not token:
                return plan, principal.username
            with self._lock:
                if len(self._entries) > 10_000:  # keys x views: bounded, stale ones go first
                    self._entries = {
                        k: v for k, v in self._entries.items() if started - v[0] < self.ttl_s and v[1] == seen
                    }
                self._entries[(ident, project, name, version)] = (
                    started,
                    seen,
                    salt,
                    secret_hash,
                    plan,
                    principal.username,
                )
        return plan, principal.username

    def _live(self, token: str) -> bool:
        """Whether a token remembered here is still within its lifetime (its signature was checked)."""
        try:
            self._tokens.verify(token)  # a dictionary hit for a token verified before
        except Exception:
            return False
        return True


@dataclass(frozen=True)
class _GroupFill:
    """How one group of a serving plan fills a vector: ``own`` holds ``(source feature, slot)`` for
    slots no other online group fills (written as they come), ``shared`` those that several groups
    fill (the first group with a row wins, as in training data); ``key_parts`` are the constant
    parts of the group's online keys (``key_parts()``)."""

    own: list[tuple[str, int]]
    shared: list[tuple[str, int]]
    key_parts: list[str]


@dataclass(frozen=True)
class _Layout:
    """A serving plan worked out once (kept in the plan). A vector is built by name (``names``,
    each output name once, ``slot`` its index), then laid out as ``plan["features"]`` (``expand``,
    None when no name repeats there); ``contested`` are the slots of ``shared`` fills."""

    names: list[str]
    slot: dict[str, int]
    contested: list[int]
    expand: list[int] | None
    groups: list[_GroupFill]


def _layout(plan: dict[str, Any]) -> _Layout:
    layout = plan.get("layout")
    if isinstance(layout, _Layout):
        return layout
    order: list[str] = plan["features"]
    names = list(dict.fromkeys(order))
    slot = {f: i for i, f in enumerate(names)}
    fillers: dict[str, int] = {}
    for g in plan["groups"]:
        if g["online"]:
            for out in {out for _, out in g["features"]}:
                fillers[out] = fillers.get(out, 0) + 1
    groups = []
    for g in plan["groups"]:
        fill = [(src, slot[out]) for src, out in g["features"]]
        groups.append(
            _GroupFill(
                own=[(src, j) for src, j in fill if fillers.get(names[j], 0) == 1],
                shared=[(src, j) for src, j in fill if fillers.get(names[j], 0) > 1],
                key_parts=key_parts(g["primary_key"]),
            )
        )
    layout = _Layout(
        names=names,
        slot=slot,
        contested=sorted({j for g in groups for _, j in g.shared}),
        expand=None if len(names) == len(order) else [slot[f] for f in order],
        groups=groups,
    )
    plan["layout"] = layout
    return layout


_UNSET = object()


def _online_keys(g: dict[str, Any], parts: list[str], entries: list[dict[str, Any]]) -> list[str]:
    """The online-store key of each entry for group ``g`` (see ``key_of``)."""
    entry_keys = g["entry_keys"]
    try:
        if len(entry_keys) == 1:  # the usual case, inline: one string per entry
            (k,) = entry_keys
            head, dumps = parts[0], orjson.dumps
            return [head + dumps(e[k], default=_json_default).decode() + "}" for e in entries]
        return [_joined_key(parts, [e[k] for k in entry_keys]) for e in entries]
    except KeyError:
        for i, e in enumerate(entries):
            absent_keys = [k for k in entry_keys if k not in e]
            if absent_keys:
                raise InvalidArgumentError(
                    f"Entry {i} lacks the key column(s) {absent_keys} needed for feature group '{g['name']}'.",
                    details={"entry": i, "missing_keys": absent_keys},
                ) from None
        raise


def feature_vectors(
    plan: dict[str, Any],
    online: OnlineStore,
    entries: list[dict[str, Any]],
    passed_features: list[dict[str, Any]] | None,
    allow_missing: bool,
) -> dict[str, Any]:
    """Assemble feature vectors from the online store following a view's serving plan.

    Passed features win over online values; where two groups give the same name, the first with a
    row wins. Returns ``{"features": plan["features"], "vectors": [[...] per entry], "missing":
    [{"entry", "feature_group", "key"}]}``.
    """
    layout = _layout(plan)
    n = len(entries)
    if passed_features is not None and len(passed_features) != n:
        raise InvalidArgumentError(
            f"passed_features has {len(passed_features)} dicts for {n} entries; pass one dict per entry "
            "(an empty one where you pass nothing).",
            details={"entries": n, "passed_features": len(passed_features)},
        )
    width = len(layout.names)
    vectors: list[list[Any]] = [[None] * width for _ in range(n)]
    contested = layout.contested  # _UNSET until the first group with a row fills them
    for vec in vectors if contested else ():
        for j in contested:
            vec[j] = _UNSET
    missing: list[dict[str, Any]] = []
    loads = orjson.loads
    earlier: list[tuple[set[str], list[bool]]] = []  # online groups so far: names, entries with a row
    checked = not allow_missing and not all(g["online"] for g in plan["groups"])  # a group not online
    for g, fill in zip(plan["groups"], layout.groups, strict=True):
        if not g["online"]:
            for i in range(n) if checked else ():
                passed = passed_features[i] if passed_features else {}
                absent = [
                    out
                    for _, out in g["features"]
                    if out not in passed and not any(out in names and rows[i] for names, rows in earlier)
                ]
                if absent:
                    raise InvalidArgumentError(
                        f"Feature group '{g['name']}' is not online; pass its features {absent} with passed_features, "
                        "or allow_missing=True to get nulls.",
                        details={"feature_group": g["name"], "features": absent},
                    )
            continue
        payloads = online.get(g["table"], _online_keys(g, fill.key_parts, entries))
        if checked:
            earlier.append(({out for _, out in g["features"]}, [p is not None for p in payloads]))
        own, shared = fill.own, fill.shared
        for i, p in enumerate(payloads):
            if p is None:
                missing.append(
                    {
                        "entry": i,
                        "feature_group": g["name"],
                        "key": {k: entries[i][k] for k in g["entry_keys"]},
                    }
                )
                continue
            row = loads(p)
            vec = vectors[i]
            for src, j in own:
                vec[j] = row.get(src)
            for src, j in shared:
                if vec[j] is _UNSET:
                    vec[j] = row.get(src)
    for vec in vectors if contested else ():
        for j in contested:
            if vec[j] is _UNSET:
                vec[j] = None
    if missing and not allow_missing:
        first = missing[0]
        raise NotFoundError(
            f"No online row in feature group '{first['feature_group']}' for {first['key']} (entry {first['entry']})"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + "; pass allow_missing=True to get nulls instead.",
            details={"missing": missing[:100]},
        )
    if passed_features:
        slot = layout.slot
        for vec, passed in zip(vectors, passed_features, strict=True):
            for f, v in passed.items():
                at = slot.get(f)
                if at is not None:
                    vec[at] = v
    expand = layout.expand
    if expand is not None:
        vectors = [[vec[j] for j in expand] for vec in vectors]
    return {"features": plan["features"], "vectors": vectors, "missing": missing}
