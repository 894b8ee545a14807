"""A project's feature store: feature groups, feature views, and SQL over them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from larder.errors import ConfigurationError, InvalidArgumentError, NotFoundError, PermissionDeniedError
from larder.names import check_name

if TYPE_CHECKING:
    from larder.client.rest import RestClient
    from larder.connection import Connection
    from larder.engine import Engine
    from larder.feature_store.feature_group import FeatureGroup
    from larder.feature_store.feature_view import FeatureView
    from larder.feature_store.query import Query
    from larder.feature_store.transformation_functions import TransformationFunction
    from larder.plan import TableRef
    from larder.storage import Dataset


class FeatureStore:
    """A project's feature store, as handed out by :meth:`Connection.get_feature_store`.

    Creating the handle makes no REST call. Offline data lives as Delta tables in the project's
    ``<project>_featurestore`` dataset; the catalog (schemas, keys, versions, commits) on the server.

    Args:
        name (str): the feature store's name, ``"<project>_featurestore"``.
        project (str): the project that owns it (the caller's, or a project shared with the caller).
        connection (Connection): the connection it talks through.

    Example:
        >>> import larder
        >>> fs = larder.connection().get_feature_store()  # doctest: +SKIP
        >>> weather = fs.get_or_create_feature_group("weather", primary_key=["origin"], event_time="time_hour")  # doctest: +SKIP
    """

    def __init__(self, name: str, project: str, connection: Connection) -> None:
        self._name = name
        self._project = project
        self._connection = connection
        self._dataset_handle: Dataset | None = None

    @property
    def name(self) -> str:
        """The feature store's name, ``"<project>_featurestore"``."""
        return self._name

    @property
    def project(self) -> str:
        """The project that owns the feature store."""
        return self._project

    @property
    def connection(self) -> Connection:
        """The connection the feature store talks through."""
        return self._connection

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureStore):
            return NotImplemented
        return (self._name, self._project, self._connection) == (
            other._name,
            other._project,
            other._connection,
        )

    def __hash__(self) -> int:
        return hash((self._name, self._project, id(self._connection)))

    def __repr__(self) -> str:
        return f"FeatureStore(name={self._name!r}, project={self._project!r})"

    # --- plumbing ----------------------------------------------------------------------------------

    @property
    def _rest(self) -> RestClient:
        client = self._connection._client
        if client is None:
            raise ConfigurationError("The connection is closed; call connect() first.")
        return client

    def _engine(self, operation: str | None) -> Engine:
        """The connection's engine, checked to do data work when ``operation`` is given.

        Raises:
            ConfigurationError: when the engine cannot do ``operation`` (``training``, or an engine
                not built yet), or its extra is not installed.
        """
        engine = self._connection.get_engine()
        if operation is not None:
            engine.require_data(operation)
        return engine

    def _dataset(self) -> Dataset:
        """The project's feature store dataset (where Delta tables and training data live)."""
        if self._dataset_handle is None:
            info = self._rest.get(f"/projects/{self._project}/featurestore")
            self._dataset_handle = self._connection.get_namespace(info["namespace"]).get_dataset(
                info["dataset"]
            )
        return self._dataset_handle

    def share_with(self, project: str) -> None:
        """Let every member of ``project`` read this feature store (its feature groups, feature
        views and data; not write). Needs the data_owner role here.

        Args:
            project (str): the project whose members get read access.

        Raises:
            PermissionDeniedError: when you are not a data_owner of this project.
            NotFoundError: when ``project`` does not exist.

        Example:
            >>> fs.share_with("fraud_analytics")  # doctest: +SKIP
        """
        check_name("project", project)
        self._rest.put(f"/projects/{self._project}/featurestore/shares/{project}")

    def stop_sharing(self, project: str) -> None:
        """Withdraw what :meth:`share_with` granted to ``project``.

        Args:
            project (str): the project to withdraw the read access from.

        Example:
            >>> fs.stop_sharing("fraud_analytics")  # doctest: +SKIP
        """
        check_name("project", project)
        self._rest.delete(f"/projects/{self._project}/featurestore/shares/{project}")

    @property
    def shared_with(self) -> list[str]:
        """The projects this feature store is shared with (read only)."""
        return list(self._rest.get(f"/projects/{self._project}/featurestore")["shared_with"])

    # --- feature groups ---------------------------------------------------------------------------

    def create_feature_group(
        self,
        name: str,
        version: int | None = None,
        description: str = "",
        primary_key: list[str] | None = None,
        event_time: str | None = None,
        partition_key: list[str] | None = None,
        online_enabled: bool = False,
        statistics_config: bool | dict[str, Any] = True,
        expectation_suite: Any = None,
    ) -> FeatureGroup:
        """Create a feature group version (its data arrives with the first ``insert``).

        Args:
            name (str): 1-63 characters: lowercase letters, digits or ``_``, starting with a letter.
            version (int | None): default None: one more than the newest version (1 for a new name).
            description (str): what it holds.
            primary_key (list[str]): the key columns (required, non-empty).
            event_time (str | None): the event time column (timestamps, stored as UTC); enables
                point-in-time joins and makes ``(primary key, event time)`` the upsert key.
            partition_key (list[str] | None): Delta partition columns.
            online_enabled (bool): also keep the latest row per key in the online store.
            statistics_config (bool | dict): compute statistics per commit (default True;
                ``{"enabled": False}`` or False disables).
            expectation_suite (None): hsfs's Great Expectations suite; only None (the default)
                is accepted: data validation is not part of Larder.

        Returns:
            FeatureGroup: the new version.

        Raises:
            InvalidArgumentError: a bad name, no primary key, the event time in the primary key, an
                expectation suite.
            AlreadyExistsError: the given version exists.

        Example:
            >>> weather = fs.create_feature_group("weather", primary_key=["origin"], event_time="time_hour",
            ...                                   online_enabled=True)  # doctest: +SKIP
        """
        from larder.feature_store.feature_group import FeatureGroup

        check_name("feature group", name)
        if expectation_suite is not None:
            raise InvalidArgumentError(
                f"Feature group '{name}': expectation_suite is not supported (data validation is not part of "
                "Larder); validate the data before insert() and pass expectation_suite=None.",
                details={"name": name},
            )
        if not primary_key:
            raise InvalidArgumentError(
                f"Feature group '{name}' needs a primary key: primary_key=['id', ...].",
                details={"name": name},
            )
        enabled = (
            statistics_config
            if isinstance(statistics_config, bool)
            else bool(statistics_config.get("enabled", True))
        )
        body = {
            "name": name,
            "version": version,
            "description": description,
            "primary_key": list(primary_key),
            "event_time": event_time,
            "partition_key": list(partition_key or []),
            "online_enabled": online_enabled,
            "statistics_enabled": enabled,
        }
        return FeatureGroup(self, self._rest.post(f"/projects/{self._project}/featuregroups", body))

    def get_feature_group(self, name: str, version: int | None = None) -> FeatureGroup:
        """A feature group version.

        Args:
            name (str): the feature group's name.
            version (int | None): the version; default None: version 1, as hsfs does, so that a
                migrated script reads what it read before. When newer versions exist, a
                :class:`~larder.errors.VersionNotPinnedWarning` says so: pin the version you mean.

        Returns:
            FeatureGroup: the version's handle (its data is read with :meth:`FeatureGroup.read`).

        Raises:
            NotFoundError: naming the feature group and version (with no version given and
                version 1 deleted: naming the newest version).

        Example:
            >>> weather = fs.get_feature_group("weather", version=1)  # doctest: +SKIP
        """
        from larder.feature_store.feature_group import FeatureGroup

        check_name("feature group", name)
        path = f"/projects/{self._project}/featuregroups/{name}"
        if version is not None:
            return FeatureGroup(self, self._rest.get(path, params={"version": version}))
        return FeatureGroup(self, _first_version(self._rest, path, "feature group", name))

    def get_feature_groups(self, name: str | None = None) -> list[FeatureGroup]:
        """Every version of a feature group, or of every feature group.

        Args:
            name (str | None): the feature group's name; default None: all feature groups.

        Returns:
            list[FeatureGroup]: ordered by name, then version (``[]`` when there is none).

        Example:
            >>> [g.version for g in fs.get_feature_groups("weather")]  # doctest: +SKIP
            [1, 2]
        """
        from larder.feature_store.feature_group import FeatureGroup

        params = {"name": name} if name else None
        return [
            FeatureGroup(self, g)
            for g in self._rest.get(f"/projects/{self._project}/featuregroups", params=params)
        ]

    def get_or_create_feature_group(
        self, name: str, version: int | None = None, **kwargs: Any
    ) -> FeatureGroup:
        """The feature group version if it exists, else a new one.

        Args:
            name (str): the feature group's name.
            version (int | None): the version; default None: version 1 (as hsfs).
            **kwargs: the other arguments of :meth:`create_feature_group` (``primary_key``,
                ``event_time``, ``online_enabled``, ...), used only when it is created.

        Returns:
            FeatureGroup: the existing or new version.

        Example:
            >>> weather = fs.get_or_create_feature_group("weather", primary_key=["origin"],
            ...                                          event_time="time_hour")  # doctest: +SKIP
        """
        try:
            return self.get_feature_group(name, version or 1)
        except NotFoundError:
            return self.create_feature_group(name, version=version or 1, **kwargs)

    # --- feature views -----------------------------------------------------------------------------

    def _groups_for(
        self, view: str, data: dict[str, Any], cache: dict[tuple[str, str, int], FeatureGroup]
    ) -> None:
        left = data["left"]
        key = (left["project"], left["name"], left["version"])
        if key not in cache:
            store = self if left["project"] == self._project else None
            try:
                if store is None:
                    store = self._connection.get_feature_store(left["project"])
                cache[key] = store.get_feature_group(left["name"], left["version"])
            except NotFoundError:
                if store is self:
                    raise
                raise PermissionDeniedError(
                    f"Feature view '{view}' reads feature group '{left['name']}' version {left['version']} of "
                    f"project '{left['project']}', whose feature store you cannot read; ask a data owner of "
                    f"'{left['project']}' to share it with your project.",
                    details={"feature_view": view, "feature_group": left["name"], "project": left["project"]},
                ) from None
        for j in data.get("joins", []):
            self._groups_for(view, j["query"], cache)

    def _feature_view(self, info: dict[str, Any]) -> FeatureView:
        from larder.feature_store.feature_view import FeatureView
        from larder.feature_store.query import Query

        groups: dict[tuple[str, str, int], FeatureGroup] = {}
        self._groups_for(info["name"], info["query"], groups)
        return FeatureView(self, info, Query.from_dict(info["query"], groups))

    def create_feature_view(
        self,
        name: str,
        query: Query,
        version: int | None = None,
        labels: list[str] | None = None,
        description: str = "",
        transformation_functions: list[Any] | dict[str, Any] | None = None,
    ) -> FeatureView:
        """Create a feature view version from a query and its label columns.

        Args:
            name (str): 1-63 characters: lowercase letters, digits or ``_``, starting with a letter.
            query (Query): e.g. ``flights.select_all().join(weather.select(["temp"]), on=["origin"])``.
            version (int | None): default None: the next version.
            labels (list[str] | None): columns of the query that are labels (``y``).
            description (str): what it is for.
            transformation_functions (list | dict | None): functions applied to what the view
                returns (training data, batch data, feature vectors), fitted on the training split:
                hsfs 4's list of bound functions (``[label_encoder("category"),
                min_max_scaler("amount"), my_udf]``; an unbound udf reads the features named like its
                arguments), or hsfs 3's dict ``{"amount": min_max_scaler}`` (the output keeps the
                feature's name). Default None: none. See :mod:`larder.builtin_transformations`.

        Returns:
            FeatureView: the new version.

        Raises:
            InvalidArgumentError: a bad name, a label that is not a column of the query, or a
                transformation function over a column the query does not select.
            AlreadyExistsError: the given version exists.

        Example:
            >>> from larder.builtin_transformations import min_max_scaler
            >>> fv = fs.create_feature_view("delays", query, labels=["delayed"],
            ...                             transformation_functions=[min_max_scaler("dep_delay")])  # doctest: +SKIP
        """
        from larder.feature_store.query import Query

        check_name("feature view", name)
        if not isinstance(query, Query):
            raise InvalidArgumentError(f"create_feature_view() takes a Query, not {type(query).__name__}.")
        labels = list(labels or [])
        columns = query._plan(with_tables=False).columns
        unknown = [c for c in labels if c not in columns]
        if unknown:
            raise InvalidArgumentError(
                f"Label(s) {unknown} are not columns of the query (it has {columns}).",
                details={"labels": unknown},
            )
        from larder.feature_store.transformation_functions import check_functions

        functions = check_functions(transformation_functions, columns, name)
        body: dict[str, Any] = {
            "name": name,
            "version": version,
            "description": description,
            "query": query.to_dict(),
            "labels": labels,
        }
        if functions:
            body["transformation_functions"] = [f.to_dict() for f in functions]
        return self._feature_view(self._rest.post(f"/projects/{self._project}/featureviews", body))

    def get_feature_view(self, name: str, version: int | None = None) -> FeatureView:
        """A feature view version.

        Args:
            name (str): the feature view's name.
            version (int | None): the version; default None: version 1, as hsfs does (with a
                :class:`~larder.errors.VersionNotPinnedWarning` when newer versions exist).

        Returns:
            FeatureView: the view, with its query rebuilt over its feature groups.

        Raises:
            NotFoundError: naming the feature view and version.

        Example:
            >>> fv = fs.get_feature_view("delays", version=1)  # doctest: +SKIP
        """
        check_name("feature view", name)
        path = f"/projects/{self._project}/featureviews/{name}"
        if version is not None:
            return self._feature_view(self._rest.get(path, params={"version": version}))
        return self._feature_view(_first_version(self._rest, path, "feature view", name))

    def get_feature_views(self, name: str | None = None) -> list[FeatureView]:
        """Every version of a feature view, or of every feature view.

        Args:
            name (str | None): the feature view's name; default None: all feature views.

        Returns:
            list[FeatureView]: ordered by name, then version.

        Example:
            >>> [v.version for v in fs.get_feature_views("delays")]  # doctest: +SKIP
            [1]
        """
        params = {"name": name} if name else None
        return [
            self._feature_view(v)
            for v in self._rest.get(f"/projects/{self._project}/featureviews", params=params)
        ]

    def get_or_create_feature_view(
        self,
        name: str,
        query: Query,
        version: int | None = None,
        labels: list[str] | None = None,
        description: str = "",
        transformation_functions: list[Any] | dict[str, Any] | None = None,
    ) -> FeatureView:
        """The feature view version if it exists, else a new one.

        Args:
            name (str): the feature view's name.
            query (Query): the query to create it from (used only when it is created).
            version (int | None): the version; default None: version 1 (as hsfs).
            labels (list[str] | None): the label columns (used only when it is created).
            description (str): what it is for (used only when it is created).
            transformation_functions (list | dict | None): see :meth:`create_feature_view` (used
                only when it is created).

        Returns:
            FeatureView: the existing or new version.

        Example:
            >>> fv = fs.get_or_create_feature_view("delays", query, labels=["delayed"])  # doctest: +SKIP
        """
        try:
            return self.get_feature_view(name, version or 1)
        except NotFoundError:
            return self.create_feature_view(
                name, query, version or 1, labels, description, transformation_functions
            )

    # --- transformation functions ----------------------------------------------------------------

    def create_transformation_function(
        self, transformation_function: Any, version: Any = None, output_type: Any = None
    ) -> TransformationFunction:
        """A transformation function to register in this feature store (hsfs 4): call
        ``.save()`` on the result to store it.

        Args:
            transformation_function (HopsworksUdf | Callable): a function decorated with
                :func:`larder.hopsworks_udf.udf`; or, as hsfs 3, a plain function of one value per
                feature with its ``output_type`` (it then runs row by row: ``mode="python"``).
            version (int | None): its version; default None: the next one when saved. (hsfs 3's
                positional ``output_type`` in this place is taken as the output type.)
            output_type (type | None): hsfs 3's output type of a plain function.

        Returns:
            TransformationFunction: not saved yet.

        Raises:
            InvalidArgumentError: neither a ``@udf`` function nor a plain function with an
                ``output_type``, or a version that is not an int from 1.

        Example:
            >>> from larder.hopsworks_udf import udf
            >>> @udf(float)
            ... def plus_one(value):
            ...     return value + 1
            >>> fs.create_transformation_function(plus_one, version=1).save()  # doctest: +SKIP
        """
        from larder.feature_store.transformation_functions import HopsworksUdf, TransformationFunction, udf

        if isinstance(version, type):  # hsfs 3's order: (function, output_type, version)
            version, output_type = output_type, version
        if output_type is not None and callable(transformation_function):
            if isinstance(transformation_function, HopsworksUdf):
                raise InvalidArgumentError(
                    "create_transformation_function(): a @udf function has its return_type already; drop "
                    "output_type=."
                )
            transformation_function = udf(output_type, mode="python")(transformation_function)
        if not isinstance(transformation_function, HopsworksUdf):
            raise InvalidArgumentError(
                f"create_transformation_function() takes a function decorated with @udf(return_type), not "
                f"{type(transformation_function).__name__}: from larder.hopsworks_udf import udf (or, as hsfs "
                "3, a plain function with output_type=...).",
            )
        if version is not None and (not isinstance(version, int) or version < 1):
            raise InvalidArgumentError(
                f"A transformation function's version is an int from 1, got {version!r}."
            )
        return TransformationFunction(self, transformation_function, version)

    def get_transformation_function(self, name: str, version: int | None = None) -> TransformationFunction:
        """A transformation function: a built-in (``"min_max_scaler"``, ...) or one saved here.

        Args:
            name (str): its name.
            version (int | None): its version; default None: version 1, as hsfs does (built-ins
                have only version 1).

        Returns:
            TransformationFunction: callable with feature names, as the udf is.

        Raises:
            NotFoundError: no function of that name and version.

        Example:
            >>> min_max_scaler = fs.get_transformation_function("min_max_scaler")  # doctest: +SKIP
            >>> fs.create_feature_view("v", query, transformation_functions=[min_max_scaler("amount")])  # doctest: +SKIP
        """
        from larder.feature_store.transformation_functions import (
            BUILTINS,
            HopsworksUdf,
            TransformationFunction,
            builtin,
        )

        if name in BUILTINS:
            if version not in (None, 1):
                raise NotFoundError(
                    f"The built-in transformation function '{name}' has only version 1, not {version}.",
                    details={"name": name, "version": version},
                )
            return TransformationFunction(self, builtin(name), 1)
        check_name("transformation function", name)
        out = self._rest.get(
            f"/projects/{self._project}/transformationfunctions/{name}", params={"version": version or 1}
        )
        return TransformationFunction(self, HopsworksUdf.from_dict(out["definition"]), int(out["version"]))

    def get_transformation_functions(self) -> list[TransformationFunction]:
        """Every transformation function: the built-ins, then those saved here (by name, version).

        Returns:
            list[TransformationFunction]: the functions.

        Example:
            >>> [f.name for f in fs.get_transformation_functions()][:2]  # doctest: +SKIP
            ['label_encoder', 'min_max_scaler']
        """
        from larder.feature_store.transformation_functions import (
            BUILTINS,
            HopsworksUdf,
            TransformationFunction,
            builtin,
        )

        out = [TransformationFunction(self, builtin(n), 1) for n in sorted(BUILTINS)]
        for row in self._rest.get(f"/projects/{self._project}/transformationfunctions"):
            out.append(
                TransformationFunction(self, HopsworksUdf.from_dict(row["definition"]), int(row["version"]))
            )
        return out

    # --- SQL ------------------------------------------------------------------------------------------

    def sql(self, query: str, dataframe_type: str = "default") -> Any:
        """Run SQL (duckdb dialect) over the project's feature groups, by name.

        Each feature group is a table named after it (its newest version) and ``<name>_<version>``
        (every version). The query runs in duckdb inside this process, over the Delta tables, and
        sees nothing else: no file, no other project's table (``read_parquet``, ``read_text``,
        ``COPY ... TO``, ``ATTACH`` and extensions are refused, and the settings are locked).

        Args:
            query (str): the SQL, e.g. ``"SELECT origin, avg(temp) FROM weather GROUP BY origin"``.
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"`` or
                ``"python"``.

        Returns:
            Any: the result in the requested type.

        Raises:
            InvalidArgumentError: when duckdb refuses the SQL (the message has duckdb's reason and
                the table names), or on an unknown ``dataframe_type``.
            ConfigurationError: on an engine other than ``python``.

        Example:
            >>> fs.sql("SELECT origin, avg(temp) FROM weather GROUP BY origin")  # doctest: +SKIP
        """
        engine = self._engine("sql")
        engine.check_dataframe_type(dataframe_type)
        tables: dict[str, TableRef] = {}
        views: dict[str, str] = {}
        newest: dict[str, int] = {}
        for fg in self.get_feature_groups():
            if fg._schema is None:
                continue
            versioned = f"{fg.name}_{fg.version}"
            tables[versioned] = fg._ref()
            if fg.version >= newest.get(fg.name, 0):
                newest[fg.name] = fg.version
                views[fg.name] = versioned
        return engine.to_dataframe(engine.sql(query, tables, views), dataframe_type)


def _first_version(rest: RestClient, path: str, what: str, name: str) -> dict[str, Any]:
    """Version 1 of a feature group or view fetched by name alone, as hsfs does; a
    :class:`VersionNotPinnedWarning` when newer versions exist (the newest is fetched first: one
    call when it is version 1)."""
    newest = rest.get(path)
    if newest["version"] == 1:
        return dict(newest)
    from larder._compat import warn_unpinned

    warn_unpinned(what, name, int(newest["version"]))
    try:
        return dict(rest.get(path, params={"version": 1}))
    except NotFoundError:
        raise NotFoundError(
            f"The {what} '{name}' has no version 1 (it was deleted; the newest is version {newest['version']}). "
            f"Without version=..., hsfs and Larder take version 1: pass version={newest['version']} (or the one "
            "you mean).",
            details={what.replace(" ", "_"): name, "newest_version": newest["version"]},
        ) from None
