"""The model registry's catalog: models, versions, artifact manifests, tags, sharing and cleanup.

Artifacts never pass through the server: clients write them straight into the project's
``<project>_models`` dataset under ``<name>/<version>/`` with vended credentials. The server keeps
the catalog and decides what readers see:

- A version is created ``pending`` (with a random upload token) and is invisible to every read.
  The uploader records its files (path, size, checksum and its algorithm, part checksums) and then finalizes it; the
  server checks that every recorded file is in the store with the recorded size (one listing of the
  prefix, no data read) and only then marks it ``ready``.
- Version numbers come from ``registered_models.last_version``, bumped with one atomic
  ``UPDATE ... RETURNING`` inside the transaction that inserts the version; the unique constraint
  ``(model_id, version)`` catches the remaining race with explicit versions (retried). Numbers are
  never handed out twice, even after a delete.
- Cleanup: a pending version whose uploader stopped sending heartbeats for
  :data:`PENDING_STALE_SECONDS` (a killed process) is *stale*. Stale versions of the project are
  removed, objects and unfinished S3 multipart uploads included, whenever a new version is created
  in the project, and on demand (``POST .../models/_cleanup``, ``ModelRegistry.cleanup()``).
  Deleting a version first marks it ``deleting`` (invisible), then removes its objects, then the
  row, so a crash half-way leaves a row that the next cleanup finishes.

Visibility: members of the project (and platform admins) read and write its registry; members of a
project the registry is *shared with* read it. Sharing is a project (group) read grant on the
``<project>_models`` dataset, which is exactly what lets those readers fetch the artifacts with
vended credentials; only a data_owner of the project shares or unshares. Everyone else gets a 404
that does not reveal whether the project exists.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from larder.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from larder.names import CHECKSUM_ALGORITHMS, check_name, check_object_key
from larder.server import storage_backend
from larder.server.db.models import (
    Dataset,
    DatasetPermission,
    ModelArtifact,
    ModelVersion,
    ModelVersionTag,
    Project,
    RegisteredModel,
)
from larder.server.security import authz
from larder.server.security.authz import Principal
from larder.server.security.secretbox import SecretBox
from larder.server.services import datasets, projects

log = logging.getLogger("larder.server.models")

FRAMEWORKS = ("python", "sklearn", "torch", "tensorflow")
DIRECTIONS = ("max", "min")
PENDING_STALE_SECONDS = 900
"""A pending version without a heartbeat for this long (seconds) is abandoned and cleaned up."""
MAX_JSON_BYTES = 256 * 1024
MAX_VERSION = 2**31 - 1  # versions are 32-bit in every database
MAX_METRICS = 200
MAX_METRIC_NAME = 128
MAX_FILES_PER_BATCH = 1000
MAX_PARTS_PER_FILE = 10_000
MAX_TAGS = 100
TAG_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")  # a 256-bit digest in hex: SHA-256 and BLAKE3 alike
_VERSION_RETRIES = 20
_TMP_PREFIX = ".larder-"


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- the registry and who may see it ----------------------------------------------------------------


@dataclass
class Registry:
    """A project's registry as the caller sees it."""

    project: Project
    dataset: Dataset
    access: str  # "rw" for members and admins, "r" through a share
    role: str | None  # the caller's role in the project (None for admins and share readers)

    @property
    def shared_with(self) -> list[str]:
        return sorted(
            p.project.name
            for p in self.dataset.permissions
            if p.project is not None and p.project_id != self.project.id and p.user_id is None
        )


def _registry_not_found(project: str) -> NotFoundError:
    return NotFoundError(
        f"The model registry of project '{project}' was not found, or it is not shared with you; ask a "
        f"data owner of '{project}' to add you to the project or to share its registry with your project.",
        details={"project": project},
    )


def _models_dataset(db: Session, project: Project) -> Dataset:
    name = projects.project_dataset_name(project.name, "models")
    ds = db.scalar(select(Dataset).where(Dataset.project_id == project.id, Dataset.name == name))
    if ds is None:
        raise ConflictError(
            f"Project '{project.name}' has no '{name}' dataset to hold model artifacts (it was deleted); "
            "ask a platform admin to recreate it.",
            details={"project": project.name, "dataset": name},
        )
    return ds


def registry(db: Session, principal: Principal, project_name: str, write: bool = False) -> Registry:
    """The registry of ``project_name`` if the caller may see it (and write it, with ``write``).

    Raises:
        PermissionDeniedError: without the ``modelregistry`` scope, or writing a shared registry.
        NotFoundError: when the project does not exist, or the caller is neither a member nor in a
            project it is shared with.
    """
    principal.require_scope("modelregistry")
    try:
        project = projects.get_visible(db, principal, project_name)
        access = "rw"
    except NotFoundError:
        project_or_none = db.scalar(select(Project).where(Project.name == project_name))
        if project_or_none is None:
            raise _registry_not_found(project_name) from None
        project = project_or_none
        ds = db.scalar(
            select(Dataset).where(
                Dataset.project_id == project.id,
                Dataset.name == projects.project_dataset_name(project.name, "models"),
            )
        )
        mine = datasets.my_project_ids(db, principal.user_id)
        shared = ds is not None and any(
            p.project_id is not None and p.project_id != project.id and p.project_id in mine
            for p in ds.permissions
        )
        if not shared:
            raise _registry_not_found(project_name) from None
        access = "r"
    reg = Registry(
        project, _models_dataset(db, project), access, projects.member_role(project, principal.user_id)
    )
    if write and access != "rw":
        raise PermissionDeniedError(
            f"The model registry of project '{project_name}' is shared with you read-only; only members "
            f"of '{project_name}' may change it.",
            details={"project": project_name, "access": access},
        )
    return reg


def share(db: Session, principal: Principal, project_name: str, other: str, on: bool) -> Registry:
    """Share (``on``) or stop sharing the registry with every member of project ``other`` (read only).

    Raises:
        PermissionDeniedError: unless the caller is a data_owner of the project (or an admin).
        NotFoundError: when ``other`` does not exist or the caller is not a member of it (see
            ``projects.share_target``). InvalidArgumentError: ``other`` is the project.
    """
    reg = registry(db, principal, project_name, write=True)
    if reg.role != "data_owner" and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only a data_owner of project '{project_name}' may share its model registry.",
            details={"project": project_name, "required_role": "data_owner"},
        )
    check_name("project", other)
    target = projects.share_target(db, principal, other, {p.project_id for p in reg.dataset.permissions})
    if target.id == reg.project.id:
        raise ConflictError(
            f"Project '{other}' always reads its own model registry; share it with another project.",
            details={"project": other},
        )
    grant = next(
        (p for p in reg.dataset.permissions if p.project_id == target.id and p.user_id is None), None
    )
    if on and grant is None:
        reg.dataset.permissions.append(DatasetPermission(project_id=target.id, access="r"))
    elif not on and grant is not None:
        reg.dataset.permissions.remove(grant)
    db.commit()
    db.refresh(reg.dataset)
    authz.changed()
    return reg


# --- validation ---------------------------------------------------------------------------------------


def _json_text(value: Any, what: str) -> str:
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, sort_keys=False)
    except ValueError:  # 1e999 arrives as inf
        raise InvalidArgumentError(
            f"{what} holds a number that is not finite (NaN or infinity); JSON numbers must be finite.",
            details={"field": what},
        ) from None
    if len(text.encode()) > MAX_JSON_BYTES:
        raise InvalidArgumentError(
            f"{what} is {len(text.encode())} bytes as JSON; the limit is {MAX_JSON_BYTES} bytes. Pass a "
            "few rows only (e.g. X[:5]).",
            details={"field": what, "bytes": len(text.encode()), "limit": MAX_JSON_BYTES},
        )
    return text


def check_metrics(metrics: Any) -> dict[str, float]:
    """Metric names are 1-128 character strings; values finite numbers (not booleans)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise InvalidArgumentError(
            f"metrics must be a dict of name -> number, got {type(metrics).__name__}.",
            details={"field": "metrics"},
        )
    if len(metrics) > MAX_METRICS:
        raise InvalidArgumentError(
            f"At most {MAX_METRICS} metrics per model version, got {len(metrics)}.",
            details={"metrics": len(metrics)},
        )
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if not isinstance(k, str) or not 1 <= len(k) <= MAX_METRIC_NAME:
            raise InvalidArgumentError(
                f"Metric names are strings of 1-{MAX_METRIC_NAME} characters, got {str(k)[:40]!r}.",
                details={"metric": str(k)[:40]},
            )
        try:
            finite = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            raise InvalidArgumentError(
                f"Metric {k!r} has the value {str(v)[:40]!r}; metric values must be finite numbers "
                "(int or float), so that get_best_model() can compare them.",
                details={"metric": k, "value": str(v)[:40]},
            )
        out[k] = v
    return out


def _check_positive(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(
            f"{what} must be a positive integer, got {value!r}.", details={what: value}
        )
    return value


def _check_framework(framework: str) -> str:
    if framework not in FRAMEWORKS:
        raise InvalidArgumentError(
            f"Unknown framework {framework!r}; use one of {', '.join(FRAMEWORKS)}.",
            details={"framework": framework, "allowed": list(FRAMEWORKS)},
        )
    return framework


def _check_feature_store(name: str | None) -> str | None:
    if name is None:
        return None
    project = name[: -len("_featurestore")] if name.endswith("_featurestore") else name
    check_name("project", project)
    return f"{project}_featurestore"


# --- versions --------------------------------------------------------------------------------------


def _model(db: Session, reg: Registry, name: str) -> RegisteredModel | None:
    check_name("model", name)
    return db.scalar(
        select(RegisteredModel).where(
            RegisteredModel.project_id == reg.project.id, RegisteredModel.name == name
        )
    )


def _model_or_create(db: Session, reg: Registry, name: str) -> RegisteredModel:
    for _ in range(_VERSION_RETRIES):
        found = _model(db, reg, name)
        if found is not None:
            return found
        db.add(RegisteredModel(project_id=reg.project.id, name=name, last_version=0))
        try:
            db.commit()
        except IntegrityError:  # another request created it first
            db.rollback()
    raise ConflictError(f"Could not register model '{name}'; try again.", details={"model": name})


def _version_not_found(reg: Registry, name: str, version: int | None) -> NotFoundError:
    if version is None:
        return NotFoundError(
            f"Model '{name}' has no ready version in the registry of project '{reg.project.name}'.",
            details={"project": reg.project.name, "model": name},
        )
    return NotFoundError(
        f"Model '{name}' version {version} was not found in the registry of project '{reg.project.name}' "
        "(it does not exist, was deleted, or is still being saved).",
        details={"project": reg.project.name, "model": name, "version": version},
    )


def create_version(
    db: Session,
    principal: Principal,
    box: SecretBox,
    project_name: str,
    name: str,
    version: int | None = None,
    framework: str = "python",
    description: str = "",
    metrics: dict[str, Any] | None = None,
    model_schema: Any = None,
    input_example: Any = None,
    feature_store: str | None = None,
    feature_view_name: str | None = None,
    feature_view_version: int | None = None,
    training_dataset_version: int | None = None,
) -> tuple[Registry, ModelVersion]:
    """Create a ``pending`` version (the next number, or ``version``) for the caller to upload into.

    Raises:
        AlreadyExistsError: when ``version`` exists already (ready or pending).
        InvalidArgumentError: on a bad name, framework, metric, lineage field or oversized JSON.
    """
    reg = registry(db, principal, project_name, write=True)
    check_name("model", name)
    _check_framework(framework)
    if "\x00" in description:
        raise InvalidArgumentError("The description contains a NUL character; remove it.")
    clean_metrics = check_metrics(metrics)
    _check_positive(version, "version")
    _check_positive(feature_view_version, "feature_view_version")
    _check_positive(training_dataset_version, "training_dataset_version")
    if feature_view_name is not None and (
        not isinstance(feature_view_name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", feature_view_name)
    ):
        raise InvalidArgumentError(
            f"Invalid feature view name {str(feature_view_name)[:80]!r}: 1-63 letters, digits, '_', '.' or '-'.",
            details={"feature_view_name": str(feature_view_name)[:80]},
        )
    if (feature_view_name is None) != (feature_view_version is None):
        raise InvalidArgumentError(
            "Give both feature_view_name and feature_view_version, or neither.",
            details={"feature_view_name": feature_view_name, "feature_view_version": feature_view_version},
        )
    schema_text = None if model_schema is None else _json_text(model_schema, "model_schema")
    example_text = None if input_example is None else _json_text(input_example, "input_example")
    fields: dict[str, Any] = {
        "framework": framework,
        "description": description,
        "metrics_json": json.dumps(clean_metrics),
        "model_schema_json": schema_text,
        "input_example_json": example_text,
        "feature_store": _check_feature_store(feature_store or reg.project.name)
        if feature_view_name
        else None,
        "feature_view_name": feature_view_name,
        "feature_view_version": feature_view_version,
        "training_dataset_version": training_dataset_version,
        "created_by_id": principal.user_id,
    }
    try:  # the automatic trigger of cleanup; best effort, it never blocks a save
        cleanup_stale(db, box, reg, PENDING_STALE_SECONDS)
    except Exception:
        db.rollback()
        log.warning("cleanup of stale model versions in %s failed", reg.project.name, exc_info=True)
    model = _model_or_create(db, reg, name)
    mv = _insert_version(db, reg, model, version, fields)
    try:  # leftovers of an earlier writer with this number; finalize() refuses unrecorded objects anyway
        _delete_prefix(reg.dataset, f"{name}/{mv.version}", box)
    except Exception:
        log.warning("could not clear %s/%s before the upload", name, mv.version, exc_info=True)
    return reg, mv


def _insert_version(
    db: Session, reg: Registry, model: RegisteredModel, version: int | None, fields: dict[str, Any]
) -> ModelVersion:
    for _ in range(_VERSION_RETRIES):
        if version is None:
            number = db.execute(
                update(RegisteredModel)
                .where(RegisteredModel.id == model.id, RegisteredModel.last_version < MAX_VERSION)
                .values(last_version=RegisteredModel.last_version + 1)
                .returning(RegisteredModel.last_version)
            ).scalar_one_or_none()
            if number is None:  # a version was saved with the largest number: there is no next one
                db.rollback()
                raise ConflictError(
                    f"Model '{model.name}' has a version {MAX_VERSION}, the largest number; save with an explicit "
                    "version=, or under another model name.",
                    details={"model": model.name, "max_version": MAX_VERSION},
                )
        else:
            number = version
            exists = db.scalar(
                select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == number)
            )
            if exists is not None:
                db.rollback()
                raise _exists(reg, model.name, number, exists.status)
            db.execute(
                update(RegisteredModel)
                .where(RegisteredModel.id == model.id)
                .values(
                    last_version=case(
                        (RegisteredModel.last_version < number, number), else_=RegisteredModel.last_version
                    )
                )
            )
        now = _now()
        mv = ModelVersion(
            model_id=model.id,
            version=number,
            status="pending",
            upload_token=secrets.token_hex(16),
            created_at=now,
            heartbeat_at=now,
            **fields,
        )
        db.add(mv)
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
            if version is not None:
                raise _exists(reg, model.name, version, "pending") from None
            continue  # an explicit version took this number between our UPDATE and INSERT
        db.refresh(mv)
        return mv
    raise ConflictError(
        f"Could not assign a version to model '{model.name}' after {_VERSION_RETRIES} attempts; try again.",
        details={"model": model.name},
    )


def _exists(reg: Registry, name: str, version: int, status: str) -> AlreadyExistsError:
    state = "is still being saved" if status == "pending" else "already exists"
    return AlreadyExistsError(
        f"Model '{name}' version {version} {state} in project '{reg.project.name}'; versions are "
        f"immutable: save without version=... to get the next number, or delete version {version} first.",
        details={"project": reg.project.name, "model": name, "version": version, "status": status},
    )


def _row(db: Session, reg: Registry, name: str, version: int, statuses: tuple[str, ...]) -> ModelVersion:
    model = _model(db, reg, name)
    if model is None:
        raise _version_not_found(reg, name, version)
    mv = db.scalar(
        select(ModelVersion).where(
            ModelVersion.model_id == model.id,
            ModelVersion.version == version,
            ModelVersion.status.in_(statuses),
        )
    )
    if mv is None:
        raise _version_not_found(reg, name, version)
    return mv


def _pending(db: Session, reg: Registry, name: str, version: int, token: str) -> ModelVersion:
    mv = _row(db, reg, name, version, ("pending",))
    if not secrets.compare_digest(mv.upload_token.encode(), token.encode()):
        raise ConflictError(
            f"Model '{name}' version {version} is being saved by another upload; it was not created by "
            "this save() call.",
            details={"model": name, "version": version},
        )
    return mv


def heartbeat(
    db: Session, principal: Principal, project_name: str, name: str, version: int, token: str
) -> None:
    """Keep a pending version alive while its artifacts upload (see :data:`PENDING_STALE_SECONDS`)."""
    reg = registry(db, principal, project_name, write=True)
    mv = _pending(db, reg, name, version, token)
    mv.heartbeat_at = _now()
    db.commit()


def _check_file(entry: dict[str, Any]) -> dict[str, Any]:
    path = check_object_key(entry.get("path"))
    size, digest = entry.get("size"), entry.get("checksum")
    algorithm = entry.get("checksum_algorithm", "sha256")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise InvalidArgumentError(
            f"Artifact {path!r}: checksum_algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}, got {algorithm!r}."
        )
    part_size, parts = entry.get("part_size"), entry.get("parts")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidArgumentError(f"Artifact {path!r}: size must be a non-negative integer.")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidArgumentError(f"Artifact {path!r}: checksum must be 64 lowercase hex digits.")
    if (part_size is None) != (parts is None):
        raise InvalidArgumentError(f"Artifact {path!r}: give both part_size and parts, or neither.")
    if part_size is not None:
        assert parts is not None
        expected = max(1, -(-size // part_size)) if isinstance(part_size, int) and part_size > 0 else -1
        if (
            expected < 0
            or not isinstance(parts, list)
            or len(parts) != expected
            or len(parts) > MAX_PARTS_PER_FILE
            or not all(isinstance(p, str) and _DIGEST.match(p) for p in parts)
        ):
            raise InvalidArgumentError(
                f"Artifact {path!r}: parts must hold one checksum (64 hex digits) per part of part_size bytes "
                f"({expected} for {size} bytes).",
                details={"path": path},
            )
    return {
        "path": path,
        "size": size,
        "checksum": digest,
        "checksum_algorithm": algorithm,
        "part_size": part_size,
        "parts": parts,
    }


def record_files(
    db: Session,
    principal: Principal,
    project_name: str,
    name: str,
    version: int,
    token: str,
    files: list[dict[str, Any]],
) -> int:
    """Record (or re-record, idempotently) artifact entries of a pending version; returns how many."""
    reg = registry(db, principal, project_name, write=True)
    mv = _pending(db, reg, name, version, token)
    if len(files) > MAX_FILES_PER_BATCH:
        raise InvalidArgumentError(
            f"Record at most {MAX_FILES_PER_BATCH} artifacts per request, got {len(files)}.",
            details={"files": len(files)},
        )
    clean = [_check_file(f) for f in files]
    paths = [f["path"] for f in clean]
    if len(set(paths)) != len(paths):
        raise InvalidArgumentError("The same artifact path appears twice in one request.")
    existing = {
        a.path: a
        for a in db.scalars(
            select(ModelArtifact).where(
                ModelArtifact.model_version_id == mv.id, ModelArtifact.path.in_(paths)
            )
        )
    }
    for f in clean:
        row = existing.get(f["path"])
        if row is None:
            row = ModelArtifact(model_version_id=mv.id, path=f["path"])
            db.add(row)
        row.size, row.part_size = f["size"], f["part_size"]
        row.checksum, row.checksum_algorithm = f["checksum"], f["checksum_algorithm"]
        row.parts_json = None if f["parts"] is None else json.dumps(f["parts"])
    mv.heartbeat_at = _now()
    db.commit()
    return len(clean)


def finalize(
    db: Session,
    principal: Principal,
    box: SecretBox,
    project_name: str,
    name: str,
    version: int,
    token: str,
    file_count: int,
    total_size: int,
) -> tuple[Registry, ModelVersion]:
    """Make a pending version ``ready`` once its recorded artifacts are all in the store.

    Raises:
        ConflictError: when the recorded files do not add up to ``file_count``/``total_size``, or a
            recorded file is missing from the store or has another size, or unrecorded objects are
            under the version's prefix. The version stays pending (and is cleaned up later).
    """
    reg = registry(db, principal, project_name, write=True)
    mv = _pending(db, reg, name, version, token)
    rows = list(db.scalars(select(ModelArtifact).where(ModelArtifact.model_version_id == mv.id)))
    count, size = len(rows), sum(r.size for r in rows)
    if count == 0:
        raise ConflictError(
            f"Model '{name}' version {version} has no artifacts recorded; nothing to finalize."
        )
    if (count, size) != (file_count, total_size):
        raise ConflictError(
            f"Model '{name}' version {version}: {count} artifacts of {size} bytes are recorded, but the "
            f"upload reported {file_count} of {total_size} bytes; record every file before finalizing.",
            details={
                "recorded_files": count,
                "recorded_bytes": size,
                "files": file_count,
                "bytes": total_size,
            },
        )
    stored = _list_sizes(reg.dataset, f"{name}/{version}", box)
    wrong = [r.path for r in rows if stored.get(r.path) != r.size]
    extra = sorted(set(stored) - {r.path for r in rows})
    if wrong or extra:
        raise ConflictError(
            f"Model '{name}' version {version} cannot be finalized: "
            + (
                f"{len(wrong)} artifact(s) missing or of another size in the store (e.g. {wrong[0]!r})"
                if wrong
                else ""
            )
            + ("; " if wrong and extra else "")
            + (f"{len(extra)} unrecorded object(s) under its folder (e.g. {extra[0]!r})" if extra else "")
            + ".",
            details={"missing_or_wrong_size": wrong[:20], "unrecorded": extra[:20]},
        )
    mv.status = "ready"
    mv.file_count, mv.total_size = count, size
    mv.ready_at = _now()
    db.commit()
    db.refresh(mv)
    try:  # the folder shows in dataset listings from now on (the saver removes the marker too)
        _delete_marker(reg.dataset, f"{name}/{version}", box)
    except Exception:
        log.warning("could not remove the pending marker of %s/%s", name, version, exc_info=True)
    return reg, mv


def delete_version(
    db: Session, principal: Principal, box: SecretBox, project_name: str, name: str, version: int
) -> None:
    """Delete a version (ready or pending) and its artifacts.

    Raises:
        PermissionDeniedError: unless the caller created it, is a data_owner, or an admin.
    """
    reg = registry(db, principal, project_name, write=True)
    mv = _row(db, reg, name, version, ("ready", "pending", "deleting"))
    if mv.created_by_id != principal.user_id and reg.role != "data_owner" and not principal.is_admin:
        raise PermissionDeniedError(
            f"Only the user who saved model '{name}' version {version} or a data_owner of project "
            f"'{project_name}' may delete it.",
            details={"model": name, "version": version, "required_role": "data_owner"},
        )
    _remove(db, reg, mv, box)


def _remove(db: Session, reg: Registry, mv: ModelVersion, box: SecretBox) -> None:
    mv.status = "deleting"  # invisible from here on; a crash below leaves it to cleanup_stale
    mv.heartbeat_at = _now()
    db.commit()
    _delete_prefix(reg.dataset, f"{mv.model.name}/{mv.version}", box)
    db.delete(mv)
    db.commit()


def cleanup_stale(
    db: Session, box: SecretBox, reg: Registry, older_than_seconds: int
) -> list[tuple[str, int]]:
    """Remove pending (and half-deleted) versions of the registry idle for ``older_than_seconds``."""
    cutoff = _now() - timedelta(seconds=older_than_seconds)
    stale = list(
        db.scalars(
            select(ModelVersion)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
            .where(
                RegisteredModel.project_id == reg.project.id,
                ModelVersion.status.in_(("pending", "deleting")),
                ModelVersion.heartbeat_at <= cutoff,
            )
        )
    )
    removed = []
    for mv in stale:
        log.info("cleaning up abandoned model version %s/%s %s", reg.project.name, mv.model.name, mv.version)
        removed.append((mv.model.name, mv.version))
        _remove(db, reg, mv, box)
    return removed


def cleanup(
    db: Session, principal: Principal, box: SecretBox, project_name: str, older_than_seconds: int
) -> list[tuple[str, int]]:
    """``POST .../models/_cleanup``: remove stale pending versions now (members only)."""
    reg = registry(db, principal, project_name, write=True)
    if older_than_seconds < 0:
        raise InvalidArgumentError(
            f"older_than_seconds must be >= 0, got {older_than_seconds}.",
            details={"older_than_seconds": older_than_seconds},
        )
    return cleanup_stale(db, box, reg, older_than_seconds)


# --- reads --------------------------------------------------------------------------------------------


def list_models(db: Session, principal: Principal, project_name: str) -> list[tuple[str, list[int]]]:
    """Every model name with its ready versions (names without a ready version are left out)."""
    reg = registry(db, principal, project_name)
    rows = db.execute(
        select(RegisteredModel.name, ModelVersion.version)
        .join(ModelVersion, ModelVersion.model_id == RegisteredModel.id)
        .where(RegisteredModel.project_id == reg.project.id, ModelVersion.status == "ready")
        .order_by(RegisteredModel.name, ModelVersion.version)
    ).all()
    out: dict[str, list[int]] = {}
    for name, version in rows:
        out.setdefault(name, []).append(version)
    return list(out.items())


def list_versions(
    db: Session, principal: Principal, project_name: str, name: str, include_pending: bool = False
) -> tuple[Registry, list[ModelVersion]]:
    """The ready versions of a model (oldest first); with ``include_pending`` (members only) also those
    being saved or deleted."""
    reg = registry(db, principal, project_name, write=include_pending)
    model = _model(db, reg, name)
    if model is None:
        return reg, []
    stmt = select(ModelVersion).where(ModelVersion.model_id == model.id)
    if not include_pending:
        stmt = stmt.where(ModelVersion.status == "ready")
    return reg, list(db.scalars(stmt.order_by(ModelVersion.version)))


def get_version(
    db: Session, principal: Principal, project_name: str, name: str, version: int
) -> tuple[Registry, ModelVersion]:
    reg = registry(db, principal, project_name)
    return reg, _row(db, reg, name, version, ("ready",))


def latest_version(
    db: Session, principal: Principal, project_name: str, name: str
) -> tuple[Registry, ModelVersion]:
    reg = registry(db, principal, project_name)
    model = _model(db, reg, name)
    mv = None
    if model is not None:
        mv = db.scalar(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id, ModelVersion.status == "ready")
            .order_by(ModelVersion.version.desc())
            .limit(1)
        )
    if mv is None:
        raise _version_not_found(reg, name, None)
    return reg, mv


def best_version(
    db: Session, principal: Principal, project_name: str, name: str, metric: str, direction: str
) -> tuple[Registry, ModelVersion]:
    """The ready version with the highest (``max``) or lowest (``min``) value of ``metric``; ties go
    to the newest version. Versions without the metric are skipped.

    Raises:
        InvalidArgumentError: on a direction other than max/min, or a metric no version has.
        NotFoundError: when the model has no ready version.
    """
    if direction not in DIRECTIONS:
        raise InvalidArgumentError(
            f"Unknown direction {direction!r}; use 'max' (higher is better) or 'min' (lower is better).",
            details={"direction": direction, "allowed": list(DIRECTIONS)},
        )
    reg, versions = list_versions(db, principal, project_name, name)
    if not versions:
        raise _version_not_found(reg, name, None)
    scored: list[tuple[float, int, ModelVersion]] = []
    known: set[str] = set()
    for mv in versions:
        values = json.loads(mv.metrics_json)
        known.update(values)
        if metric in values:
            scored.append((values[metric], mv.version, mv))
    if not scored:
        raise InvalidArgumentError(
            f"Unknown metric {metric!r} for model '{name}': no version has it. Known metrics: "
            f"{', '.join(sorted(known)) or 'none (the versions were saved without metrics)'}.",
            details={"model": name, "metric": metric, "known_metrics": sorted(known)},
        )
    sign = 1 if direction == "max" else -1
    return reg, max(scored, key=lambda t: (sign * t[0], t[1]))[2]


def list_files(
    db: Session, principal: Principal, project_name: str, name: str, version: int
) -> list[ModelArtifact]:
    reg = registry(db, principal, project_name)
    mv = _row(db, reg, name, version, ("ready",))
    return list(
        db.scalars(
            select(ModelArtifact).where(ModelArtifact.model_version_id == mv.id).order_by(ModelArtifact.path)
        )
    )


def count_tags(db: Session, mv: ModelVersion) -> int:
    return int(
        db.scalar(select(func.count(ModelVersionTag.id)).where(ModelVersionTag.model_version_id == mv.id))
        or 0
    )


# --- tags ----------------------------------------------------------------------------------------------


def _check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not re.fullmatch(TAG_NAME_PATTERN, tag):
        raise InvalidArgumentError(
            f"Invalid tag name {str(tag)[:80]!r}: use 1-63 characters: letters, digits, '_', '.' or '-', "
            "starting with a letter or digit.",
            details={"tag": str(tag)[:80], "pattern": TAG_NAME_PATTERN},
        )
    return tag


def get_tags(db: Session, principal: Principal, project_name: str, name: str, version: int) -> dict[str, Any]:
    reg = registry(db, principal, project_name)
    mv = _row(db, reg, name, version, ("ready",))
    rows = db.scalars(
        select(ModelVersionTag)
        .where(ModelVersionTag.model_version_id == mv.id)
        .order_by(ModelVersionTag.name)
    )
    return {t.name: json.loads(t.value_json) for t in rows}


def get_tag(db: Session, principal: Principal, project_name: str, name: str, version: int, tag: str) -> Any:
    _check_tag(tag)
    tags = get_tags(db, principal, project_name, name, version)
    if tag not in tags:
        raise NotFoundError(
            f"Model '{name}' version {version} has no tag {tag!r}.",
            details={"model": name, "version": version, "tag": tag},
        )
    return tags[tag]


def set_tag(
    db: Session, principal: Principal, project_name: str, name: str, version: int, tag: str, value: Any
) -> Any:
    reg = registry(db, principal, project_name, write=True)
    _check_tag(tag)
    mv = _row(db, reg, name, version, ("ready",))
    text = _json_text(value, f"tag {tag!r}")
    row = db.scalar(
        select(ModelVersionTag).where(ModelVersionTag.model_version_id == mv.id, ModelVersionTag.name == tag)
    )
    if row is None:
        if count_tags(db, mv) >= MAX_TAGS:
            raise InvalidArgumentError(
                f"Model '{name}' version {version} already has {MAX_TAGS} tags, the limit.",
                details={"limit": MAX_TAGS},
            )
        db.add(ModelVersionTag(model_version_id=mv.id, name=tag, value_json=text))
    else:
        row.value_json = text
    try:
        db.commit()
    except IntegrityError:  # set concurrently: the other writer's value stands, ours replaces it
        db.rollback()
        return set_tag(db, principal, project_name, name, version, tag, value)
    return json.loads(text)


def delete_tag(
    db: Session, principal: Principal, project_name: str, name: str, version: int, tag: str
) -> None:
    reg = registry(db, principal, project_name, write=True)
    _check_tag(tag)
    mv = _row(db, reg, name, version, ("ready",))
    row = db.scalar(
        select(ModelVersionTag).where(ModelVersionTag.model_version_id == mv.id, ModelVersionTag.name == tag)
    )
    if row is None:
        raise NotFoundError(
            f"Model '{name}' version {version} has no tag {tag!r}.",
            details={"model": name, "version": version, "tag": tag},
        )
    db.delete(row)
    db.commit()


# --- the store, with the object store's own credentials (listings and deletes only) -------------------


def _list_sizes(ds: Dataset, prefix: str, box: SecretBox) -> dict[str, int]:
    """``{relative path: size}`` of the objects under ``<dataset>/<prefix>/`` (in-flight temp files skipped)."""
    ns = ds.namespace
    out: dict[str, int] = {}
    if ns.object_store.type == "local":
        base = storage_backend.local_root(ns) / ds.name / prefix
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(_TMP_PREFIX)]
            for fname in filenames:
                if fname.startswith(_TMP_PREFIX):
                    continue
                full = os.path.join(dirpath, fname)
                out[os.path.relpath(full, base).replace(os.sep, "/")] = os.path.getsize(full)
        return out
    client = storage_backend.s3_client(ns.object_store, box)
    key_prefix = f"{ds.name}/{prefix.strip('/')}/"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=ns.bucket, Prefix=key_prefix):
        for o in page.get("Contents", []):
            out[o["Key"][len(key_prefix) :]] = int(o["Size"])
    return out


def _delete_marker(ds: Dataset, prefix: str, box: SecretBox) -> None:
    """Delete the marker that hides the folder ``<dataset>/<prefix>`` from listings while it is written
    (``storage.backends.pending_marker``; nothing happens when there is none)."""
    from larder.storage.backends import pending_marker

    key = pending_marker(f"{ds.name}/{prefix.strip('/')}")
    ns = ds.namespace
    if ns.object_store.type == "local":
        (storage_backend.local_root(ns) / key).unlink(missing_ok=True)
        return
    storage_backend.s3_client(ns.object_store, box).delete_object(Bucket=ns.bucket, Key=key)


def _delete_prefix(ds: Dataset, prefix: str, box: SecretBox) -> int:
    """Delete every object under ``<dataset>/<prefix>/`` (and the folder's pending marker), and abort
    unfinished multipart uploads there."""
    _delete_marker(ds, prefix, box)
    ns = ds.namespace
    if ns.object_store.type == "local":
        base = storage_backend.local_root(ns) / ds.name / prefix
        if not base.is_dir():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base, ignore_errors=True)
        with contextlib.suppress(OSError):
            base.parent.rmdir()  # the model's folder, once its last version is gone
        return count
    client = storage_backend.s3_client(ns.object_store, box)
    key_prefix = f"{ds.name}/{prefix.strip('/')}/"
    deleted = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=ns.bucket, Prefix=key_prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=ns.bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=ns.bucket, Prefix=key_prefix):
        for up in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=ns.bucket, Key=up["Key"], UploadId=up["UploadId"])
    return deleted
