"""A model version in a registry: metadata, artifacts, tags and lineage (hsml's ``Model``)."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from larder.errors import (
    AlreadyExistsError,
    ConfigurationError,
    ConflictError,
    ConnectionFailedError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from larder.model_registry import _transfer
from larder.model_registry.schema import ModelSchema, Schema, input_example_to_json
from larder.names import check_name
from larder.storage.backends import pending_marker

if TYPE_CHECKING:
    from larder.model_registry.model_registry import ModelRegistry

log = logging.getLogger("larder.model_registry")

FRAMEWORKS = ("python", "sklearn", "torch", "tensorflow")
MAX_METRIC_NAME = 128


def check_metrics(metrics: Any) -> dict[str, float]:
    """Validate metrics: a dict of 1-128 character names to finite numbers (booleans refused).

    Raises:
        larder.errors.InvalidArgumentError: naming the first bad metric and its value.
    """
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise InvalidArgumentError(
            f"metrics must be a dict of name -> number, e.g. {{'auc': 0.83}}, not {type(metrics).__name__}.",
            details={"field": "metrics"},
        )
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if not isinstance(k, str) or not 1 <= len(k) <= MAX_METRIC_NAME:
            raise InvalidArgumentError(
                f"Metric names are strings of 1-{MAX_METRIC_NAME} characters, got {str(k)[:40]!r}.",
                details={"metric": str(k)[:40]},
            )
        if type(v).__module__.split(".")[0] == "numpy" and hasattr(v, "item"):
            v = v.item()  # numpy scalars, e.g. from sklearn.metrics
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidArgumentError(
                f"Metric {k!r} has the value {str(v)[:40]!r}; metric values must be finite numbers (int or "
                "float) so that get_best_model() can compare them.",
                details={"metric": k, "value": str(v)[:40]},
            )
        out[k] = v
    return out


def _feature_view_ref(fv: Any) -> tuple[str | None, str, int] | None:
    """``(feature store or None, name, version)`` from a FeatureView, a ``(name, version)`` tuple or a dict."""
    if fv is None:
        return None
    store: Any = None
    if isinstance(fv, dict):
        name, version, store = fv.get("name"), fv.get("version"), fv.get("feature_store")
    elif isinstance(fv, tuple) and len(fv) == 2:
        name, version = fv
    else:
        name, version = getattr(fv, "name", None), getattr(fv, "version", None)
        store = getattr(fv, "feature_store_name", None) or getattr(fv, "featurestore_name", None)
        for attr in ("feature_store", "_feature_store", "_fs"):  # the FeatureStore it came from
            if store is None:
                store = getattr(getattr(fv, attr, None), "name", None)
    if not isinstance(name, str) or isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidArgumentError(
            "feature_view must be a FeatureView (with .name and .version), a (name, version) tuple or a dict "
            f"with 'name' and 'version'; got {type(fv).__name__} with name={name!r}, version={version!r}.",
            details={"feature_view": repr(fv)[:120]},
        )
    return (store if isinstance(store, str) else None), name, version


def _positive(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(
            f"{what} must be a positive integer, got {value!r}.", details={what: repr(value)}
        )
    return value


MAX_JSON_BYTES = 256 * 1024


def _check_json_size(value: Any, what: str) -> None:
    if value is None:
        return
    try:
        size = len(json.dumps(value, allow_nan=False).encode())
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(
            f"{what} cannot be stored as JSON: {e}.", details={"field": what}
        ) from None
    if size > MAX_JSON_BYTES:
        raise InvalidArgumentError(
            f"{what} is {size} bytes as JSON; the limit is {MAX_JSON_BYTES} bytes. Pass a few rows only "
            "(e.g. X[:5]).",
            details={"field": what, "bytes": size, "limit": MAX_JSON_BYTES},
        )


def _ts(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


class Model:
    """A model version: created with ``mr.<flavour>.create_model(...)``, registered by :meth:`save`,
    or fetched with :meth:`ModelRegistry.get_model`.

    Attributes:
        name (str): the model name.
        version (int | None): the version; None until saved when none was asked for.
        framework (str): ``"python"``, ``"sklearn"``, ``"torch"`` or ``"tensorflow"`` (metadata only).
        description (str): free text.
        metrics (dict[str, float]): e.g. ``{"auc": 0.83}``; ``training_metrics`` is an alias.
        model_schema (dict | None): the :class:`ModelSchema` as a dict.
        input_example (Any): the input example as JSON values.
        feature_view_name (str | None): lineage: the feature view it was trained from.
        feature_view_version (int | None): lineage: that feature view's version.
        feature_store (str | None): lineage: the feature store of that view.
        training_dataset_version (int | None): lineage: the training dataset version it was trained on.
        status (str): ``"new"`` (not saved yet), ``"ready"``, or ``"deleted"``.
        created_by (str | None): the user who saved it (set once saved).
        created_at (datetime | None): when it was saved, UTC (set once saved).
        file_count (int): how many artifact files it has (set once saved).
        total_size (int): the artifacts' total size in bytes (set once saved).

    Example:
        >>> model = mr.sklearn.create_model("fraud", metrics={"auc": 0.91})  # doctest: +SKIP
        >>> model.save("model_dir")  # doctest: +SKIP
        Model(name='fraud', version=1, framework='sklearn', status='ready')
        >>> mr.get_model("fraud", 1).download("/tmp/fraud")  # doctest: +SKIP
        '/tmp/fraud'
    """

    def __init__(
        self,
        registry: ModelRegistry,
        name: str,
        version: int | None = None,
        framework: str = "python",
        description: str = "",
        metrics: dict[str, Any] | None = None,
        model_schema: ModelSchema | dict[str, Any] | None = None,
        input_example: Any = None,
        feature_view: Any = None,
        training_dataset_version: int | None = None,
    ) -> None:
        self._registry = registry
        self.name = check_name("model", name)
        self.version = _positive(version, "version")
        if framework not in FRAMEWORKS:
            raise InvalidArgumentError(
                f"Unknown framework {framework!r}; use one of {', '.join(FRAMEWORKS)}.",
                details={"framework": framework},
            )
        self.framework = framework
        if not isinstance(description, str):
            raise InvalidArgumentError(f"description must be a string, not {type(description).__name__}.")
        self.description = description
        self.metrics = check_metrics(metrics)
        if isinstance(model_schema, (ModelSchema, Schema)):
            model_schema = (
                model_schema.to_dict()
                if isinstance(model_schema, ModelSchema)
                else ModelSchema(model_schema).to_dict()
            )
        elif model_schema is not None and not isinstance(model_schema, dict):
            raise InvalidArgumentError(
                f"model_schema must be a ModelSchema (e.g. ModelSchema(Schema(X), Schema(y))), not "
                f"{type(model_schema).__name__}.",
                details={"field": "model_schema"},
            )
        self.model_schema: dict[str, Any] | None = model_schema
        self.input_example = None if input_example is None else input_example_to_json(input_example)
        _check_json_size(self.model_schema, "model_schema")
        _check_json_size(self.input_example, "input_example")
        ref = _feature_view_ref(feature_view)
        self.feature_store: str | None = ref[0] if ref else None
        self.feature_view_name: str | None = ref[1] if ref else None
        self.feature_view_version: int | None = ref[2] if ref else None
        self.training_dataset_version = _positive(training_dataset_version, "training_dataset_version")
        self.status = "new"
        self.created_by: str | None = None
        self.created_at: datetime | None = None
        self.ready_at: datetime | None = None
        self.file_count = 0
        self.total_size = 0
        self._namespace: str | None = None
        self._dataset: str | None = None

    @classmethod
    def _from_json(cls, registry: ModelRegistry, d: dict[str, Any]) -> Model:
        m = cls.__new__(cls)
        m._registry = registry
        m._load(d)
        return m

    def _load(self, d: dict[str, Any]) -> None:
        self.name = d["name"]
        self.version = int(d["version"])
        self.framework = d.get("framework", "python")
        self.description = d.get("description", "")
        self.metrics = dict(d.get("metrics") or {})
        self.model_schema = d.get("model_schema")
        self.input_example = d.get("input_example")
        fv = d.get("feature_view")
        self.feature_store = fv["feature_store"] if fv else None
        self.feature_view_name = fv["name"] if fv else None
        self.feature_view_version = int(fv["version"]) if fv else None
        self.training_dataset_version = d.get("training_dataset_version")
        self.status = d.get("status", "ready")
        self.created_by = d.get("created_by")
        self.created_at = _ts(d.get("created_at"))
        self.ready_at = _ts(d.get("ready_at"))
        self.file_count = int(d.get("file_count", 0))
        self.total_size = int(d.get("total_size", 0))
        self._namespace = d.get("namespace")
        self._dataset = d.get("dataset")

    # --- naming ------------------------------------------------------------------------------------

    @property
    def registry(self) -> ModelRegistry:
        """The registry the model belongs to."""
        return self._registry

    @property
    def project(self) -> str:
        """The project whose registry holds the model."""
        return self._registry.project

    @property
    def training_metrics(self) -> dict[str, float]:
        """hsml's name for :attr:`metrics`."""
        return self.metrics

    @property
    def model_path(self) -> str:
        """Where the model's versions live: ``<namespace>/<project>_models/<name>``."""
        info = self._registry._info()
        return f"{info['namespace']}/{info['dataset']}/{self.name}"

    @property
    def version_path(self) -> str:
        """Where this version's artifacts live: ``<namespace>/<project>_models/<name>/<version>``."""
        return f"{self.model_path}/{self.version}"

    @property
    def created(self) -> datetime | None:
        """When the version was saved, UTC (hsml's name for :attr:`created_at`; None until saved)."""
        return self.created_at

    @property
    def creator(self) -> str | None:
        """The user who saved the version (hsml's name for :attr:`created_by`; None until saved)."""
        return self.created_by

    def get_url(self) -> str:
        """The version's page in the platform's web UI (hsml's ``model.get_url()``).

        Returns:
            str: ``https://HOST:PORT/projects/<project>/models/<name>/<version>``.

        Raises:
            larder.errors.ConflictError: before the version is saved.
            larder.errors.ConfigurationError: when the connection is closed.

        Example:
            >>> mr.get_model("fraud", 1).get_url()  # doctest: +SKIP
            'https://larder.example.com:8181/projects/fraud/models/fraud/1'
        """
        self._url()  # saved?
        base = self._registry.connection.url
        if base is None:
            raise ConfigurationError("get_url() needs an open connection; call connect() first.")
        return f"{base}/projects/{self.project}/models/{self.name}/{self.version}"

    def __repr__(self) -> str:
        return (
            f"Model(name={self.name!r}, version={self.version!r}, framework={self.framework!r}, "
            f"status={self.status!r})"
        )

    def _url(self) -> str:
        if self.version is None or self.status == "new":
            raise ConflictError(
                f"Model '{self.name}' has not been saved yet; call save(path) first.",
                details={"model": self.name},
            )
        return f"/projects/{self.project}/models/{self.name}/versions/{self.version}"

    # --- save -----------------------------------------------------------------------------------------

    def save(
        self, path: str | os.PathLike[str], keep_original_files: bool = True, progress: bool | None = None
    ) -> Model:
        """Upload the model's files and register the version.

        The files go straight to the project's models dataset (``<name>/<version>/...``) in the object
        store, streamed in 8 MiB parts with several parts in flight, each part hashed (SHA-256 on S3
        stores, which verify every part they receive; BLAKE3 on local stores, 3x cheaper) and each
        file checked by the composite checksum of its parts (the hash of the part digests, as S3
        computes it); memory use does not grow with the model's size. The version is registered *pending*: it becomes visible to
        :meth:`ModelRegistry.get_model` and friends only once every file is uploaded and its checksum
        recorded. If anything fails (or you press Ctrl-C), what was uploaded is removed and no version
        appears; a process killed outright leaves a pending version that the registry cleans up (see
        :meth:`ModelRegistry.cleanup`).

        Args:
            path (str | os.PathLike): a model file, or a directory whose files (recursively) form the
                model. Paths inside the version keep the directory's layout; a file is stored under
                its own name.
            keep_original_files (bool): keep the local files (default True). False deletes the
                uploaded files (and the then-empty directories) once the version is ready.
            progress (bool | None): show a tqdm progress bar; default None shows it for transfers
                of 64 MiB or more.

        Returns:
            Model: this model, now with its ``version`` and ``status == "ready"``.

        Raises:
            larder.errors.InvalidArgumentError: when ``path`` does not exist or holds no file, a file
                changes size while uploading, or a metric/field is invalid.
            larder.errors.AlreadyExistsError: when this model was saved already, or the requested
                ``version`` exists (versions are immutable).
            larder.errors.PermissionDeniedError: when the registry is shared with you read-only, or
                the API key lacks the ``modelregistry`` or ``dataset`` scope.

        Example:
            >>> model = mr.sklearn.create_model("fraud", metrics={"auc": 0.91})  # doctest: +SKIP
            >>> model.save("model_dir")  # doctest: +SKIP
            Model(name='fraud', version=1, framework='sklearn', status='ready')
        """
        if self.status == "ready":
            raise AlreadyExistsError(
                f"Model '{self.name}' version {self.version} is saved already; versions are immutable. Create a "
                f"new model object (mr.{self.framework}.create_model('{self.name}', ...)) to save a new version.",
                details={"model": self.name, "version": self.version},
            )
        if self.status == "deleted":
            raise ConflictError(
                f"Model '{self.name}' version {self.version} was deleted; create a new model object to save again.",
                details={"model": self.name, "version": self.version},
            )
        root = Path(os.fspath(path)).expanduser()
        files = _transfer.scan(root)
        check_metrics(self.metrics)
        reg = self._registry
        rest = reg._rest()
        info = reg._info()
        backend, access = reg._backend()
        if access.get(info["dataset"]) != "rw":
            raise PermissionDeniedError(
                f"You may only read the model registry of project '{reg.project}' (it is shared with you); "
                "save models in your own project's registry.",
                details={"project": reg.project},
            )
        body = {
            "version": self.version,
            "framework": self.framework,
            "description": self.description,
            "metrics": self.metrics,
            "model_schema": self.model_schema,
            "input_example": self.input_example,
            "feature_store": self.feature_store,
            "feature_view_name": self.feature_view_name,
            "feature_view_version": self.feature_view_version,
            "training_dataset_version": self.training_dataset_version,
        }
        created = rest.post(f"/projects/{reg.project}/models/{self.name}/versions", body)
        version, token = int(created["version"]), created["upload_token"]
        url = f"/projects/{reg.project}/models/{self.name}/versions/{version}"
        prefix = f"{info['dataset']}/{self.name}/{version}"

        def heartbeat() -> None:
            try:
                rest.put(url + "/heartbeat", {"upload_token": token})
            except (ConnectionFailedError, ServiceUnavailableError) as e:  # transient: the next one may work
                log.warning("heartbeat for model %s version %s failed: %s", self.name, version, e.message)

        marker = pending_marker(prefix)  # listings of the dataset skip the folder until it is complete
        try:
            with backend.open_write(marker, {}):
                pass
            artifacts = _transfer.upload(
                backend,
                prefix,
                files,
                progress=progress,
                heartbeat=heartbeat,
                desc=f"save {self.name} v{version}",
            )
            for batch in _transfer.iter_batches(artifacts):
                rest.post(url + "/files", {"upload_token": token, "files": [a.to_json() for a in batch]})
            done = rest.post(
                url + "/finalize",
                {
                    "upload_token": token,
                    "file_count": len(artifacts),
                    "total_size": sum(a.size for a in artifacts),
                },
            )
        except BaseException:
            log.warning("saving model %s version %s failed; removing what was uploaded", self.name, version)
            with contextlib.suppress(Exception):
                _transfer._Store(backend, prefix).remove_all()
            with contextlib.suppress(Exception):
                backend.delete(marker)
            with contextlib.suppress(Exception):
                rest.delete(url)
            raise
        with contextlib.suppress(Exception):  # the server removed it at finalize
            backend.delete(marker)
        self._load(done)
        log.info(
            "saved model %s version %s (%d files, %d bytes)", self.name, version, len(files), self.total_size
        )
        if not keep_original_files:
            _remove_local(root, files)
        return self

    # --- download / delete -----------------------------------------------------------------------------

    def download(self, local_path: str | os.PathLike[str] | None = None, progress: bool | None = None) -> str:
        """Download the version's files, verifying every size and checksum (SHA-256 or BLAKE3, as saved).

        Files are written to a hidden staging folder first and moved into place only when all of
        them verified, so a failure leaves nothing half-written behind.

        Args:
            local_path (str | os.PathLike | None): the directory to download into (created if needed;
                files already there with the same names are replaced). Default None: a new
                temporary directory.
            progress (bool | None): show a tqdm progress bar; default None shows it for 64 MiB or more.

        Returns:
            str: the directory holding the model's files (for a model saved from a single file, that
            file is inside it).

        Raises:
            larder.errors.NotFoundError: when the version does not exist (e.g. it was deleted).
            larder.model_registry.ArtifactCorruptedError: when a stored file is missing or its size or
                checksum differs from what was recorded at save time.

        Example:
            >>> path = mr.get_model("fraud", 1).download()  # doctest: +SKIP
        """
        url = self._url()
        rest = self._registry._rest()
        artifacts = [_transfer.Artifact.from_json(a) for a in rest.get(url + "/files")]
        info = self._registry._info()
        backend, _ = self._registry._backend()
        made = local_path is None
        if local_path is None:
            dest = Path(tempfile.mkdtemp(prefix=f"larder-{self.name}-{self.version}-"))
        else:
            dest = Path(os.fspath(local_path)).expanduser()
        try:
            _transfer.download(
                backend,
                f"{info['dataset']}/{self.name}/{self.version}",
                artifacts,
                dest,
                progress=progress,
                desc=f"download {self.name} v{self.version}",
            )
        except BaseException:
            if made:
                shutil.rmtree(dest, ignore_errors=True)
            raise
        return str(dest)

    def delete(self) -> None:
        """Delete this version and its files from the registry (its creator or a data_owner).

        Raises:
            larder.errors.NotFoundError: when it no longer exists.
            larder.errors.PermissionDeniedError: when you may not delete it.

        Example:
            >>> mr.get_model("fraud", 1).delete()  # doctest: +SKIP
        """
        self._registry._rest().delete(self._url())
        self.status = "deleted"

    # --- tags ------------------------------------------------------------------------------------------

    def set_tag(self, name: str, value: Any) -> None:
        """Attach a tag (any JSON value, up to 256 KiB) to this version, replacing one of the same name.

        Args:
            name (str): 1-63 characters: letters, digits, ``_``, ``.`` or ``-``.
            value (Any): a JSON-serializable value.

        Raises:
            larder.errors.InvalidArgumentError: on a bad name or value.

        Example:
            >>> model.set_tag("stage", "production")  # doctest: +SKIP
        """
        self._registry._rest().put(
            f"{self._url()}/tags/{_tag(name)}", {"value": input_example_to_json(value)}
        )

    def get_tag(self, name: str) -> Any:
        """The value of a tag.

        Args:
            name (str): the tag's name.

        Returns:
            Any: the JSON value that was set.

        Raises:
            larder.errors.NotFoundError: when the version has no such tag.

        Example:
            >>> model.get_tag("stage")  # doctest: +SKIP
            'production'
        """
        return self._registry._rest().get(f"{self._url()}/tags/{_tag(name)}")["value"]

    def delete_tag(self, name: str) -> None:
        """Remove a tag.

        Args:
            name (str): the tag's name.

        Raises:
            larder.errors.NotFoundError: when the version has no such tag.

        Example:
            >>> model.delete_tag("stage")  # doctest: +SKIP
        """
        self._registry._rest().delete(f"{self._url()}/tags/{_tag(name)}")

    def get_tags(self) -> dict[str, Any]:
        """All tags of this version.

        Returns:
            dict[str, Any]: ``{name: value}``, sorted by name.

        Example:
            >>> model.get_tags()  # doctest: +SKIP
            {'stage': 'production'}
        """
        return dict(self._registry._rest().get(f"{self._url()}/tags"))

    # --- lineage ---------------------------------------------------------------------------------------

    def get_feature_view(self) -> Any:
        """The feature view this model was trained from (to serve it with the same features).

        Returns:
            FeatureView: ``conn.get_feature_store(<its store>).get_feature_view(name, version)``.

        Raises:
            larder.errors.NotFoundError: when the model was saved without ``feature_view=``.
            larder.errors.ConfigurationError: when this client's feature store cannot open feature
                views yet (the lineage is still readable in ``feature_view_name``/``_version``).

        Example:
            >>> fv = mr.get_model("fraud").get_feature_view()  # doctest: +SKIP
        """
        if self.feature_view_name is None or self.feature_view_version is None:
            raise NotFoundError(
                f"Model '{self.name}' version {self.version} was saved without a feature view "
                "(create_model(..., feature_view=fv)).",
                details={"model": self.name, "version": self.version},
            )
        fs = self._registry.connection.get_feature_store(self.feature_store)
        getter = getattr(fs, "get_feature_view", None)
        if getter is None:
            raise ConfigurationError(
                f"This Larder client's feature store cannot open feature views yet; model '{self.name}' "
                f"version {self.version} was trained on feature view '{self.feature_view_name}' version "
                f"{self.feature_view_version} of '{self.feature_store}' (training dataset version "
                f"{self.training_dataset_version}). Upgrade larder to use get_feature_view().",
                details={
                    "feature_store": self.feature_store,
                    "feature_view": self.feature_view_name,
                    "version": self.feature_view_version,
                },
            )
        return getter(self.feature_view_name, self.feature_view_version)


def _tag(name: Any) -> str:
    import re

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
        raise InvalidArgumentError(
            f"Invalid tag name {str(name)[:80]!r}: use 1-63 characters: letters, digits, '_', '.' or '-', "
            "starting with a letter or digit.",
            details={"tag": str(name)[:80]},
        )
    return name


def _remove_local(root: Path, files: list[_transfer.LocalFile]) -> None:
    """keep_original_files=False: delete the uploaded files, then directories left empty."""
    for f in files:
        with contextlib.suppress(FileNotFoundError):
            f.path.unlink()
    if root.is_dir():
        for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
