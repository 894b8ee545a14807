"""The handle of one project's model registry (hsml's ``ModelRegistry``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from larder.errors import ConfigurationError, InvalidArgumentError, NotFoundError
from larder.model_registry.model import Model
from larder.names import check_name

if TYPE_CHECKING:
    from larder.client.rest import RestClient
    from larder.connection import Connection
    from larder.model_registry.schema import ModelSchema

DIRECTIONS = ("max", "min")


class Flavour:
    """``mr.python``, ``mr.sklearn``, ``mr.torch``, ``mr.tensorflow``: create models of a framework.

    The framework is recorded as metadata only: nothing is imported, so registering and downloading
    need no ML library.

    Attributes:
        framework (str): ``"python"``, ``"sklearn"``, ``"torch"`` or ``"tensorflow"``.

    Example:
        >>> mr.torch.create_model("resnet", metrics={"top1": 0.76}).framework  # doctest: +SKIP
        'torch'
    """

    def __init__(self, registry: ModelRegistry, framework: str) -> None:
        self._registry = registry
        self.framework = framework

    def __repr__(self) -> str:
        return f"Flavour({self.framework!r}, project={self._registry.project!r})"

    def create_model(
        self,
        name: str,
        version: int | None = None,
        metrics: dict[str, Any] | None = None,
        description: str = "",
        input_example: Any = None,
        model_schema: ModelSchema | dict[str, Any] | None = None,
        feature_view: Any = None,
        training_dataset_version: int | None = None,
    ) -> Model:
        """Describe a new model version; nothing is registered until :meth:`Model.save`.

        Args:
            name (str): the model name, 2-63 characters: lowercase letters, digits, ``_`` or ``-``,
                starting with a letter (:data:`larder.names.MODEL_NAME_PATTERN`).
            version (int | None): the version to create (>= 1). Default None: the next free number,
                assigned atomically when saving (concurrent saves get distinct versions).
            metrics (dict[str, float] | None): e.g. ``{"auc": 0.83, "loss": 0.21}``; finite numbers.
            description (str): free text (default ``""``).
            input_example (Any): a few rows of input (pandas/polars/pyarrow table, numpy array, lists,
                dicts), stored as JSON (up to 256 KiB); see
                :func:`larder.model_registry.schema.input_example_to_json`.
            model_schema (ModelSchema | None): e.g. ``ModelSchema(Schema(X_train), Schema(y_train))``.
            feature_view (FeatureView | tuple[str, int] | dict | None): the feature view the model
                was trained from (lineage); a ``FeatureView``, ``(name, version)`` or
                ``{"name", "version", "feature_store"}``.
            training_dataset_version (int | None): the training dataset version it was trained on.

        Returns:
            Model: the unsaved model (``status == "new"``).

        Raises:
            larder.errors.InvalidArgumentError: on a name outside the pattern, a non-numeric metric,
                or another invalid argument.

        Example:
            >>> model = mr.sklearn.create_model("fraud", metrics={"auc": 0.91},
            ...                                 model_schema=ModelSchema(Schema(X), Schema(y)),
            ...                                 input_example=X[:5], feature_view=fv,
            ...                                 training_dataset_version=1)  # doctest: +SKIP
            >>> model.save("model_dir")  # doctest: +SKIP
        """
        return Model(
            self._registry,
            name,
            version=version,
            framework=self.framework,
            description=description,
            metrics=metrics,
            model_schema=model_schema,
            input_example=input_example,
            feature_view=feature_view,
            training_dataset_version=training_dataset_version,
        )


class ModelRegistry:
    """A project's model registry, as handed out by :meth:`Connection.get_model_registry`.

    Creating it makes no REST call. Models are created through a framework flavour
    (``mr.python``, ``mr.sklearn``, ``mr.torch``, ``mr.tensorflow``) and read back with
    :meth:`get_model`, :meth:`get_models` and :meth:`get_best_model`. Artifacts live in the project's
    ``<project>_models`` dataset and move directly between you and the object store; the API key
    needs the ``modelregistry`` scope, plus ``dataset`` to move artifacts.

    Sharing: a data_owner of project A calls ``mr.share_with("b")``; every member of project B may
    then read A's registry (``conn.get_model_registry("a")``) and download its models, but not
    change it.

    Args:
        project (str): the project that owns the registry (the caller's, or a shared project).
        connection (Connection): the connection it talks through.

    Example:
        >>> import larder
        >>> mr = larder.connection().get_model_registry()  # doctest: +SKIP
        >>> model = mr.python.create_model("churn", metrics={"auc": 0.83})  # doctest: +SKIP
        >>> model.save("model.pkl")  # doctest: +SKIP
        >>> mr.get_best_model("churn", "auc", "max").download()  # doctest: +SKIP
    """

    def __init__(self, project: str, connection: Connection) -> None:
        self._project = project
        self._connection = connection
        self._lock = threading.Lock()
        self._registry_info: dict[str, Any] | None = None
        self.python = Flavour(self, "python")
        self.sklearn = Flavour(self, "sklearn")
        self.torch = Flavour(self, "torch")
        self.tensorflow = Flavour(self, "tensorflow")

    @property
    def project(self) -> str:
        """The project that owns the registry."""
        return self._project

    @property
    def connection(self) -> Connection:
        """The connection the registry talks through."""
        return self._connection

    @property
    def shared(self) -> bool:
        """True when the registry belongs to another project than the connection's."""
        return self._project != self._connection.project

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelRegistry):
            return NotImplemented
        return (self._project, self._connection) == (other._project, other._connection)

    def __hash__(self) -> int:
        return hash((self._project, id(self._connection)))

    def __repr__(self) -> str:
        return f"ModelRegistry(project={self._project!r})"

    # --- plumbing ----------------------------------------------------------------------------------

    def _rest(self) -> RestClient:
        client = self._connection._client
        if client is None or not self._connection.connected:
            raise ConfigurationError(
                "The model registry needs an open connection, and this one is closed; call connect() first.",
                details={"project": self._project},
            )
        return client

    def _base(self) -> str:
        return f"/projects/{self._project}/models"

    def _info(self, refresh: bool = False) -> dict[str, Any]:
        """``GET .../models/_registry``: namespace, dataset, my access, shares (cached)."""
        with self._lock:
            if self._registry_info is None or refresh:
                self._registry_info = dict(self._rest().get(f"{self._base()}/_registry"))
            return self._registry_info

    def _backend(self) -> tuple[Any, dict[str, str]]:
        info = self._info()
        return self._connection._storage().backend(info["namespace"], [info["dataset"]])

    # --- reading models ------------------------------------------------------------------------------

    def get_model(self, name: str, version: int | None = None) -> Model:
        """A ready model version (pending saves are invisible).

        Args:
            name (str): the model name.
            version (int | None): the version; default None: version 1, as hsml does, so that a
                migrated script loads what it loaded before; when newer ready versions exist, a
                :class:`~larder.errors.VersionNotPinnedWarning` says so (pin the version you mean,
                or use :meth:`get_best_model`).

        Returns:
            Model: the version's metadata (artifacts are fetched by :meth:`Model.download`).

        Raises:
            larder.errors.NotFoundError: when the model or version does not exist (or was deleted).
            larder.errors.InvalidArgumentError: on a name outside the pattern.

        Example:
            >>> mr.get_model("fraud", version=3)  # doctest: +SKIP
            Model(name='fraud', version=3, framework='sklearn', status='ready')
        """
        check_name("model", name)
        if version is None:
            data = self._rest().get(f"{self._base()}/{name}/versions/latest")
            if data["version"] != 1:
                from larder._compat import warn_unpinned

                newest = int(data["version"])
                warn_unpinned("model", name, newest)
                try:
                    data = self._rest().get(f"{self._base()}/{name}/versions/1")
                except NotFoundError:
                    raise NotFoundError(
                        f"Model '{name}' has no ready version 1 (it was deleted; the newest is version {newest}). "
                        f"Without version=..., hsml and Larder take version 1: pass version={newest} (or the one "
                        "you mean).",
                        details={"model": name, "newest_version": newest},
                    ) from None
        else:
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise InvalidArgumentError(f"version must be a positive integer, got {version!r}.")
            data = self._rest().get(f"{self._base()}/{name}/versions/{version}")
        return Model._from_json(self, data)

    def get_models(self, name: str) -> list[Model]:
        """Every ready version of a model, oldest first.

        Args:
            name (str): the model name.

        Returns:
            list[Model]: the versions (``[]`` when there is none).

        Raises:
            larder.errors.InvalidArgumentError: on a name outside the pattern.

        Example:
            >>> [m.version for m in mr.get_models("fraud")]  # doctest: +SKIP
            [1, 2, 3]
        """
        check_name("model", name)
        return [Model._from_json(self, d) for d in self._rest().get(f"{self._base()}/{name}/versions")]

    def get_best_model(self, name: str, metric: str, direction: str = "max") -> Model:
        """The ready version with the best value of ``metric`` (ties: the newest version).

        Args:
            name (str): the model name.
            metric (str): a metric recorded at save time, e.g. ``"auc"``.
            direction (str): ``"max"`` (higher is better, default) or ``"min"`` (lower is better).

        Returns:
            Model: the best version. Versions without the metric are skipped.

        Raises:
            larder.errors.InvalidArgumentError: on another direction, or a metric no version has (the
                message lists the known metrics).
            larder.errors.NotFoundError: when the model has no ready version.

        Example:
            >>> mr.get_best_model("fraud", "loss", direction="min")  # doctest: +SKIP
        """
        check_name("model", name)
        if direction not in DIRECTIONS:
            raise InvalidArgumentError(
                f"Unknown direction {direction!r}; use 'max' (higher is better) or 'min' (lower is better).",
                details={"direction": direction},
            )
        if not isinstance(metric, str) or not metric:
            raise InvalidArgumentError(f"metric must be a metric name such as 'auc', got {metric!r}.")
        data = self._rest().get(
            f"{self._base()}/{name}/best", params={"metric": metric, "direction": direction}
        )
        return Model._from_json(self, data)

    def get_model_names(self) -> list[str]:
        """The names of the models that have at least one ready version, sorted.

        Returns:
            list[str]: the model names.

        Example:
            >>> mr.get_model_names()  # doctest: +SKIP
            ['fraud', 'ranker']
        """
        return [m["name"] for m in self._rest().get(self._base())]

    # --- sharing and housekeeping ----------------------------------------------------------------------

    @property
    def shared_with(self) -> list[str]:
        """The projects whose members may read this registry (fresh from the server)."""
        return list(self._info(refresh=True)["shared_with"])

    def share_with(self, project: str) -> None:
        """Let every member of ``project`` read this registry and download its models (data_owner only).

        Technically a read grant for that project on the ``<project>_models`` dataset; undo it with
        :meth:`stop_sharing`.

        Args:
            project (str): the project whose members get read access.

        Raises:
            larder.errors.PermissionDeniedError: unless you are a data_owner of this registry's project.
            larder.errors.NotFoundError: when ``project`` does not exist.

        Example:
            >>> conn.get_model_registry().share_with("serving")  # doctest: +SKIP
        """
        check_name("project", project)
        self._registry_info = dict(self._rest().put(f"{self._base()}/_shares/{project}"))

    def stop_sharing(self, project: str) -> None:
        """Withdraw the read access given by :meth:`share_with` (data_owner only).

        Members of ``project`` lose catalog access at once; artifact reads stop when the storage
        credentials already vended to them expire (at most the server's
        ``vended_credentials_seconds``).

        Args:
            project (str): the project to withdraw the access from.

        Raises:
            larder.errors.PermissionDeniedError: unless you are a data_owner of this registry's project.

        Example:
            >>> conn.get_model_registry().stop_sharing("serving")  # doctest: +SKIP
        """
        check_name("project", project)
        self._registry_info = dict(self._rest().delete(f"{self._base()}/_shares/{project}"))

    def cleanup(self, older_than_seconds: int = 900) -> list[tuple[str, int]]:
        """Remove abandoned saves now: pending versions without a heartbeat for ``older_than_seconds``
        (default 900), with their uploaded objects and unfinished multipart uploads.

        A saving client sends a heartbeat every 60 s, and the server runs this cleanup (with the
        default age) whenever a new version is created in the project, so you rarely need it; pass
        0 only when no save is running.

        Args:
            older_than_seconds (int): remove pending versions without a heartbeat for this many
                seconds (>= 0, default 900).

        Returns:
            list[tuple[str, int]]: the (name, version) pairs removed.

        Raises:
            larder.errors.InvalidArgumentError: when ``older_than_seconds`` is not an integer >= 0.

        Example:
            >>> mr.cleanup(older_than_seconds=3600)  # doctest: +SKIP
            [('fraud', 7)]
        """
        if (
            isinstance(older_than_seconds, bool)
            or not isinstance(older_than_seconds, int)
            or older_than_seconds < 0
        ):
            raise InvalidArgumentError(
                f"older_than_seconds must be an integer >= 0, got {older_than_seconds!r}."
            )
        out = self._rest().post(f"{self._base()}/_cleanup", params={"older_than_seconds": older_than_seconds})
        return [(r["name"], int(r["version"])) for r in out["removed"]]
