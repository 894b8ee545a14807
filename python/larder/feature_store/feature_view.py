"""Feature views: a query of features (point-in-time joined) plus labels, for training and serving.

Training data comes back in memory (``training_data``, ``train_test_split``) or is materialized as
an immutable, versioned Parquet training dataset in the feature store dataset
(``create_training_data`` / ``get_training_data``). Serving reads feature vectors from the online
store over REST (``get_feature_vector``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from larder.errors import InvalidArgumentError, NotFoundError
from larder.feature_store.feature_group import _aware
from larder.feature_store.transformation_functions import ViewTransformations
from larder.plan import Term

if TYPE_CHECKING:
    from larder.engine import Engine
    from larder.feature_store.feature import Feature
    from larder.feature_store.feature_store import FeatureStore
    from larder.feature_store.query import Query

RETURN_TYPES = ("list", "dict", "pandas", "polars", "numpy")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Job:
    """The job hsfs's ``create_training_data`` returns, already finished: Larder materializes
    training data within the call, so the job's state is ``"FINISHED"`` when you get it.

    Attributes:
        name (str): ``"<view>_<version>_td_<training dataset version>"``.
        state (str): ``"FINISHED"``.
        started_at (datetime): when the materialization started (UTC).
        finished_at (datetime): when it finished (UTC).

    Example:
        >>> version, job = fv.create_training_data()  # doctest: +SKIP
        >>> job.get_final_state(), round(job.duration, 1)  # doctest: +SKIP
        ('FINISHED', 1.3)
    """

    name: str
    state: str
    started_at: datetime
    finished_at: datetime

    @property
    def duration(self) -> float:
        """How long it ran, in seconds."""
        return (self.finished_at - self.started_at).total_seconds()

    def get_state(self) -> str:
        """The job's state (hsfs's ``job.get_state()``): always ``"FINISHED"``.

        Returns:
            str: ``"FINISHED"``.

        Example:
            >>> job.get_state()  # doctest: +SKIP
            'FINISHED'
        """
        return self.state

    def get_final_state(self) -> str:
        """The job's final state (hsfs's ``job.get_final_state()``): ``"FINISHED"``.

        Returns:
            str: ``"FINISHED"``.

        Example:
            >>> job.get_final_state()  # doctest: +SKIP
            'FINISHED'
        """
        return self.state


class TrainingDatasetVersion(int):
    """A training dataset's version number (an ``int``) that also unpacks as hsfs's
    ``(version, job)``: ``v = fv.create_training_data()`` and ``v, job = fv.create_training_data()``
    both work.

    Attributes:
        job (Job): the finished job that materialized it.

    Example:
        >>> version, job = fv.create_training_data()  # doctest: +SKIP
        >>> X_train, X_test, y_train, y_test = fv.get_train_test_split(version)  # doctest: +SKIP
    """

    job: Job

    def __new__(cls, version: int, job: Job) -> TrainingDatasetVersion:
        value = super().__new__(cls, version)
        value.job = job
        return value

    def __iter__(self) -> Iterator[Any]:
        return iter((int(self), self.job))

    def __repr__(self) -> str:
        return repr(int(self))


class FeatureView:
    """A versioned feature view. Get one from :meth:`FeatureStore.create_feature_view` or
    :meth:`FeatureStore.get_feature_view`.

    Attributes:
        name (str): the feature view's name.
        version (int): the version, from 1.
        description (str): what it is for.
        query (Query): the features and their (point-in-time) joins.
        labels (list[str]): the label columns (``y``); the other columns, less the left feature
            group's primary key and the event times, are the features (``X``).
        training_dataset_version (int | None): what :meth:`init_serving` was given.

    Example:
        >>> query = flights.select_all().join(weather.select(["temp"]), on=["origin"])  # doctest: +SKIP
        >>> fv = fs.create_feature_view("delays", query, labels=["delayed"])  # doctest: +SKIP
        >>> X, y = fv.training_data()  # doctest: +SKIP
        >>> fv.get_feature_vector({"origin": "JFK"}, passed_features={"origin": "JFK"})  # doctest: +SKIP
    """

    def __init__(self, feature_store: FeatureStore, info: dict[str, Any], query: Query) -> None:
        self._fs = feature_store
        self.name: str = info["name"]
        self.version: int = info["version"]
        self.description: str = info.get("description", "")
        self.labels: list[str] = list(info.get("labels") or [])
        self.query = query
        self._serving_features: list[str] | None = None
        self.training_dataset_version: int | None = None
        self._transformations = ViewTransformations(self, info.get("transformation_functions"))
        self._serving_plan: Any = None
        self._batch_version: int | None = None

    def __repr__(self) -> str:
        return f"FeatureView({self.name!r}, version={self.version}, labels={self.labels})"

    @property
    def features(self) -> list[Feature]:
        """Every column of the view, in query order, as :class:`Feature` objects (as hsfs's
        ``fv.features``): the selected features of each feature group, under their names in the
        view (a join's ``prefix`` included), with their types and feature group. The labels are
        among them (see :attr:`labels`)."""
        from larder.feature_store.feature import Feature

        groups = {(g.name, g.version): g for g in self.query._groups()}
        plan = self.query._plan(with_tables=False)
        out = []
        for o in plan.outputs:
            table = plan.sources[o.alias].table
            fg = groups.get((table.name, table.version))
            typed = next((f for f in fg.features if f.name == o.column), None) if fg is not None else None
            out.append(
                Feature(
                    o.name,
                    typed.type if typed is not None else "",
                    typed.primary if typed is not None else False,
                    typed.event_time if typed is not None else False,
                    fg,
                    typed.description if typed is not None else "",
                )
            )
        return out

    @property
    def schema(self) -> list[Feature]:
        """hsfs's name for :attr:`features`."""
        return self.features

    @property
    def _path(self) -> str:
        return f"/projects/{self._fs.project}/featureviews/{self.name}/{self.version}"

    # --- columns -----------------------------------------------------------------------------------

    def _feature_columns(
        self, columns: list[str], primary_key: bool, event_time: bool, labels: list[str] | None = None
    ) -> list[str]:
        """``X``'s columns: the query's columns less the labels, the left feature group's primary
        key (unless ``primary_key``) and every group's event time column, under whatever name the
        query returns it (a join's prefix included; unless ``event_time``). Join keys that are
        ordinary columns of the left group (``origin`` in flights) stay: they are features."""
        labels = self.labels if labels is None else labels
        left = self.query.feature_group
        drop = set() if primary_key else set(left.primary_key)
        if not event_time:
            plan = self.query._plan(with_tables=False)
            drop.update(o.name for o in plan.outputs if o.column == plan.sources[o.alias].table.event_time)
        return [c for c in columns if c not in labels and c not in drop]

    def _time_where(self, start_time: Any, end_time: Any) -> list[Term]:
        et = self.query.feature_group.event_time
        start = _aware(start_time, "start_time")
        end = _aware(end_time, "end_time")
        if (start or end) and not et:
            raise InvalidArgumentError(
                f"start_time/end_time need an event time on '{self.query.feature_group.name}', which has none."
            )
        parts = []
        if start is not None:
            parts.append(Term("fg0", et or "", ">=", start))
        if end is not None:
            parts.append(Term("fg0", et or "", "<", end))
        return parts

    def _engine(self, operation: str, dataframe_type: str | None = None) -> Engine:
        engine = self._fs._engine(operation)
        if dataframe_type is not None:
            engine.check_dataframe_type(dataframe_type)
        return engine

    def _table(self, start_time: Any = None, end_time: Any = None) -> Any:
        # a stable order (the left group's primary key, then event time), so that the rows come
        # back the same way every time and seeded splits are reproducible
        left = self.query.feature_group
        order = [c for c in [*left.primary_key, left.event_time] if c]
        table = self.query._run(self._time_where(start_time, end_time), order_by=order)
        missing = [c for c in self.labels if c not in self._fs._engine("read").columns(table)]
        if missing:
            raise InvalidArgumentError(f"Label column(s) {missing} are not in the feature view's query.")
        return table

    def _xy(
        self,
        table: Any,
        dataframe_type: str,
        primary_key: bool,
        event_time: bool,
        statistics: dict[str, Any] | None = None,
    ) -> tuple[Any, Any]:
        engine = self._fs._engine("read")
        labels = self.labels
        if statistics is not None and self._transformations:  # transformation functions applied
            table, labels = self._transformations.apply(engine, table, statistics)
        features = self._feature_columns(engine.columns(table), primary_key, event_time, labels)
        x = engine.to_dataframe(engine.select(table, features), dataframe_type)
        y = engine.to_dataframe(engine.select(table, labels), dataframe_type) if labels else None
        return x, y

    @property
    def transformation_functions(self) -> list[Any]:
        """The transformation functions the view applies (:class:`~larder.feature_store.
        transformation_functions.HopsworksUdf`, bound to their features); ``[]`` when none."""
        return list(self._transformations.functions)

    # --- in-memory training data ----------------------------------------------------------------------

    def training_data(
        self,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        dataframe_type: str = "default",
        primary_key: bool = False,
        event_time: bool = False,
        description: str = "",
    ) -> tuple[Any, Any]:
        """Point-in-time correct training data: ``(X, y)``.

        Args:
            start_time (datetime | str | None): keep rows whose (left) event time is at or after
                this: a datetime, date, string (``"%Y-%m-%d"``, ``"%Y-%m-%d %H:%M:%S"``, ISO 8601)
                or epoch milliseconds; naive values are UTC (see :mod:`larder._time`). Default: no
                lower bound.
            end_time (datetime | str | None): keep rows whose (left) event time is before this.
                Default: no upper bound.
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"``, ``"python"``.
            primary_key (bool): keep the left feature group's primary key columns in ``X`` (default False).
            event_time (bool): keep the event time columns in ``X`` (default False).
            description (str): hsfs's description of the in-memory dataset; accepted, and not
                stored (nothing is materialized; :meth:`create_training_data` stores one).

        Returns:
            tuple: ``(X, y)``; ``y`` is None when the view has no labels.

        Raises:
            InvalidArgumentError: a time that cannot be read, or times on a view whose left group has
                no event time.

        Example:
            >>> X, y = fv.training_data(start_time=datetime(2013, 1, 1, tzinfo=timezone.utc))  # doctest: +SKIP
        """
        engine = self._engine("read", dataframe_type)
        table = self._table(start_time, end_time)
        stats = self._transformations.fit_in_memory(engine, table, {"splits": ["all"]})
        return self._xy(table, dataframe_type, primary_key, event_time, stats)

    def _split(
        self,
        table: Any,
        sizes: dict[str, float | None],
        times: dict[str, tuple[Any, Any]],
        seed: int | None,
    ) -> dict[str, Any]:
        aware = {s: (_aware(a, f"{s} time"), _aware(b, f"{s} time")) for s, (a, b) in times.items()}
        fractions = {s: float(v) for s, v in sizes.items() if v is not None}
        event_time = self.query.feature_group.event_time
        return self._fs._engine("read").split(table, event_time, fractions, aware, seed)

    def train_test_split(
        self,
        test_size: float | None = None,
        train_start: Any = None,
        train_end: Any = None,
        test_start: Any = None,
        test_end: Any = None,
        seed: int | None = None,
        dataframe_type: str = "default",
        primary_key: bool = False,
        event_time: bool = False,
    ) -> tuple[Any, Any, Any, Any]:
        """Training data split in two: a random split (reproducible with ``seed``) or a time split.

        Args:
            test_size (float | None): the fraction of rows in the test split, in (0, 1), for a
                random split.
            train_start (datetime | str | None): time split: the train split's first event time.
            train_end (datetime | str | None): time split: the end of the train split (exclusive).
            test_start (datetime | str | None): time split: the test split's first event time.
            test_end (datetime | str | None): time split: the end of the test split (exclusive).
            seed (int | None): the random split's seed (default None: a new split every time).
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"``, ``"python"``.
            primary_key (bool): keep the primary key columns in ``X`` (default False).
            event_time (bool): keep the event time columns in ``X`` (default False).

        Returns:
            tuple: ``(X_train, X_test, y_train, y_test)``.

        Raises:
            InvalidArgumentError: when neither a size nor times are given, or sizes are out of range.

        Example:
            >>> X_tr, X_te, y_tr, y_te = fv.train_test_split(test_size=0.2, seed=42)  # doctest: +SKIP
        """
        self._engine("read", dataframe_type)
        parts = self._split(
            self._table(),
            {"test": test_size},
            self._times(train=(train_start, train_end), test=(test_start, test_end)),
            seed,
        )
        # transformation statistics: fitted on the train split alone, applied to both
        split = {"splits": list(parts), "test_size": test_size, "seed": seed}
        stats = self._transformations.fit_in_memory(self._fs._engine("read"), parts["train"], split)
        xt, yt = self._xy(parts["train"], dataframe_type, primary_key, event_time, stats)
        xs, ys = self._xy(parts["test"], dataframe_type, primary_key, event_time, stats)
        return xt, xs, yt, ys

    def train_validation_test_split(
        self,
        validation_size: float | None = None,
        test_size: float | None = None,
        train_start: Any = None,
        train_end: Any = None,
        validation_start: Any = None,
        validation_end: Any = None,
        test_start: Any = None,
        test_end: Any = None,
        seed: int | None = None,
        dataframe_type: str = "default",
        primary_key: bool = False,
        event_time: bool = False,
    ) -> tuple[Any, Any, Any, Any, Any, Any]:
        """Training data split in three, randomly or by time (see :meth:`train_test_split`).

        Args:
            validation_size (float | None): random split: the fraction of rows for validation.
            test_size (float | None): random split: the fraction of rows for test (the sizes sum
                below 1; train gets the rest).
            train_start (datetime | str | None): time split: the train split's first event time.
            train_end (datetime | str | None): time split: the end of the train split (exclusive).
            validation_start (datetime | str | None): time split: the validation split's start.
            validation_end (datetime | str | None): time split: its end (exclusive).
            test_start (datetime | str | None): time split: the test split's start.
            test_end (datetime | str | None): time split: its end (exclusive).
            seed (int | None): the random split's seed.
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"``, ``"python"``.
            primary_key (bool): keep the primary key columns in ``X`` (default False).
            event_time (bool): keep the event time columns in ``X`` (default False).

        Returns:
            tuple: ``(X_train, X_val, X_test, y_train, y_val, y_test)``.

        Raises:
            InvalidArgumentError: when neither sizes nor times are given, or sizes are out of range.

        Example:
            >>> X_tr, X_va, X_te, y_tr, y_va, y_te = fv.train_validation_test_split(
            ...     validation_size=0.1, test_size=0.2, seed=7)  # doctest: +SKIP
        """
        self._engine("read", dataframe_type)
        parts = self._split(
            self._table(),
            {"validation": validation_size, "test": test_size},
            self._times(
                train=(train_start, train_end),
                validation=(validation_start, validation_end),
                test=(test_start, test_end),
            ),
            seed,
        )
        split = {
            "splits": list(parts),
            "validation_size": validation_size,
            "test_size": test_size,
            "seed": seed,
        }
        stats = self._transformations.fit_in_memory(self._fs._engine("read"), parts["train"], split)
        xt, yt = self._xy(parts["train"], dataframe_type, primary_key, event_time, stats)
        xv, yv = self._xy(parts["validation"], dataframe_type, primary_key, event_time, stats)
        xs, ys = self._xy(parts["test"], dataframe_type, primary_key, event_time, stats)
        return xt, xv, xs, yt, yv, ys

    @staticmethod
    def _times(**ranges: tuple[Any, Any]) -> dict[str, tuple[Any, Any]]:
        if all(r == (None, None) for r in ranges.values()):
            return {}
        return dict(ranges)

    # --- materialized training datasets ----------------------------------------------------------------

    def create_training_data(
        self,
        start_time: Any = None,
        end_time: Any = None,
        description: str = "",
        test_size: float | None = None,
        validation_size: float | None = None,
        train_start: Any = None,
        train_end: Any = None,
        validation_start: Any = None,
        validation_end: Any = None,
        test_start: Any = None,
        test_end: Any = None,
        seed: int | None = None,
        data_format: str = "parquet",
    ) -> TrainingDatasetVersion:
        """Materialize training data as an immutable Parquet training dataset; returns its version.

        Without split arguments one ``all`` split is written; with sizes or times, ``train`` /
        ``validation`` / ``test`` splits (as :meth:`train_test_split`). The query, the split and the
        row counts are recorded with it.

        Args:
            start_time (datetime | str | None): keep rows whose (left) event time is at or after this.
            end_time (datetime | str | None): keep rows whose (left) event time is before this.
            description (str): what this training dataset is (default ``""``).
            test_size (float | None): random split: the test fraction.
            validation_size (float | None): random split: the validation fraction.
            train_start (datetime | str | None): time split: the train split's start.
            train_end (datetime | str | None): time split: the train split's end (exclusive).
            validation_start (datetime | str | None): time split: the validation split's start.
            validation_end (datetime | str | None): time split: the validation split's end (exclusive).
            test_start (datetime | str | None): time split: the test split's start.
            test_end (datetime | str | None): time split: the test split's end (exclusive).
            seed (int | None): the random split's seed.
            data_format (str): the files' format; ``"parquet"`` (default, and the only one so far:
                others are refused).

        Returns:
            TrainingDatasetVersion: the training dataset version (1, 2, ...), an ``int`` that also
            unpacks as hsfs's ``(version, job)`` (the job has finished; see :class:`Job`).

        Raises:
            InvalidArgumentError: a time that cannot be read, sizes out of range, a time split on a
                view without an event time, or a ``data_format`` other than ``"parquet"``.

        Example:
            >>> v = fv.create_training_data(train_end=nov1, test_start=nov1, description="Jan-Oct / Nov-Dec")  # doctest: +SKIP
            >>> X_tr, X_te, y_tr, y_te = fv.get_training_data(v)  # doctest: +SKIP
        """
        if data_format != "parquet":
            raise InvalidArgumentError(
                f"data_format={data_format!r} is not supported: Larder writes training datasets as Parquet "
                "(data_format='parquet'); read them with get_training_data() and write another format yourself.",
                details={"data_format": str(data_format), "supported": ["parquet"]},
            )
        started = datetime.now(timezone.utc)
        engine = self._engine("create_training_data")
        times = self._times(
            train=(train_start, train_end),
            validation=(validation_start, validation_end),
            test=(test_start, test_end),
        )
        sizes = {"validation": validation_size, "test": test_size}
        table = self._table(start_time, end_time)
        if times or any(v is not None for v in sizes.values()):
            parts = self._split(table, {k: v for k, v in sizes.items() if v is not None}, times, seed)
        else:
            parts = {"all": table}
        split_meta = {
            "splits": list(parts),
            "test_size": test_size,
            "validation_size": validation_size,
            "seed": seed,
            "times": {
                s: [str(_aware(a, s)) if a else None, str(_aware(b, s)) if b else None]
                for s, (a, b) in times.items()
            },
        }
        meta: dict[str, Any] = {
            "query_sql": self.query.to_string(),
            "start_time": str(_aware(start_time, "start_time")) if start_time else None,
            "end_time": str(_aware(end_time, "end_time")) if end_time else None,
            "split": split_meta,
            "columns": engine.columns(table),
            "labels": self.labels,
        }
        train = parts.get("train", parts.get("all"))
        if train is None and self._transformations.needs_statistics:
            raise InvalidArgumentError(
                f"Feature view '{self.name}' fits its transformation functions on the train split; give it "
                "one (train_start/train_end, or test_size for a random split).",
            )
        stats = self._transformations.fit(engine, train) if train is not None else None
        if stats is not None:  # fitted on the train split alone; the files keep the raw values
            meta["transformation_statistics"] = stats
        td = self._fs._rest.post(
            f"{self._path}/trainingdatasets", {"description": description, "metadata": meta}
        )
        rows = engine.write_training_data(self._fs._dataset().filesystem(), td["location"]["path"], parts)
        self._fs._rest.put(f"{self._path}/trainingdatasets/{td['version']}", {"metadata": {"rows": rows}})
        version = int(td["version"])
        job = Job(f"{self.name}_{self.version}_td_{version}", "FINISHED", started, datetime.now(timezone.utc))
        return TrainingDatasetVersion(version, job)

    def create_train_test_split(self, **kwargs: Any) -> TrainingDatasetVersion:
        """:meth:`create_training_data` with a train/test split (hsfs's name for it).

        Args:
            **kwargs: the arguments of :meth:`create_training_data` (``test_size``, ``seed``, or
                ``train_end`` and ``test_start``, ...).

        Returns:
            TrainingDatasetVersion: the version, which unpacks as ``(version, job)``.

        Example:
            >>> v = fv.create_train_test_split(test_size=0.2, seed=42)  # doctest: +SKIP
        """
        return self.create_training_data(**kwargs)

    def get_training_data(
        self,
        training_dataset_version: int,
        dataframe_type: str = "default",
        primary_key: bool = False,
        event_time: bool = False,
        transformed: bool = True,
    ) -> tuple[Any, ...]:
        """Read a materialized training dataset.

        Args:
            training_dataset_version (int): the version :meth:`create_training_data` returned.
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"``, ``"python"``.
            primary_key (bool): keep the primary key columns in ``X`` (default False).
            event_time (bool): keep the event time columns in ``X`` (default False).
            transformed (bool): apply the view's transformation functions with the statistics
                fitted on this version's train split (default True); False: the raw values.

        Returns:
            tuple: ``(X, y)`` without splits; ``(X_train, X_test, y_train, y_test)`` with a train/test
            split; ``(X_train, X_val, X_test, y_train, y_val, y_test)`` with three.

        Raises:
            NotFoundError: when the version does not exist (or is still being written), or holds
                only the transformation statistics of in-memory training data.

        Example:
            >>> X_train, X_test, y_train, y_test = fv.get_training_data(1)  # doctest: +SKIP
        """
        engine = self._engine("read", dataframe_type)
        td = self._fs._rest.get(f"{self._path}/trainingdatasets/{training_dataset_version}")
        if td["metadata"].get("in_memory"):
            raise NotFoundError(
                f"Training dataset version {training_dataset_version} of feature view '{self.name}' holds the "
                "transformation statistics of in-memory training data (training_data/train_test_split), no "
                "files; materialize training data with fv.create_training_data(...) to read it back.",
                details={"training_dataset_version": training_dataset_version},
            )
        stats = td["metadata"].get("transformation_statistics") if transformed else None
        splits = td["metadata"]["split"]["splits"]
        tables = engine.read_training_data(self._fs._dataset().filesystem(), td["location"]["path"], splits)
        if splits == ["all"]:
            return self._xy(tables["all"], dataframe_type, primary_key, event_time, stats)
        pairs = [self._xy(tables[s], dataframe_type, primary_key, event_time, stats) for s in splits]
        return tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)

    def get_train_test_split(self, training_dataset_version: int, **kwargs: Any) -> tuple[Any, ...]:
        """:meth:`get_training_data` (hsfs's name for it).

        Args:
            training_dataset_version (int): the training dataset version.
            **kwargs: the other arguments of :meth:`get_training_data`.

        Returns:
            tuple: ``(X_train, X_test, y_train, y_test)`` for a train/test split.

        Example:
            >>> X_train, X_test, y_train, y_test = fv.get_train_test_split(1)  # doctest: +SKIP
        """
        return self.get_training_data(training_dataset_version, **kwargs)

    def get_training_datasets(self) -> list[dict[str, Any]]:
        """The materialized training datasets of this feature view version.

        Returns:
            list[dict]: one ``{"version", "description", "metadata", "created_at", ...}`` each; the
            metadata holds the query's SQL, the split and the row counts per split.

        Example:
            >>> [td["version"] for td in fv.get_training_datasets()]  # doctest: +SKIP
            [1, 2]
        """
        return list(self._fs._rest.get(f"{self._path}/trainingdatasets"))

    def get_batch_data(
        self,
        start_time: Any = None,
        end_time: Any = None,
        dataframe_type: str = "default",
        primary_key: bool = False,
        event_time: bool = False,
        transformed: bool = True,
    ) -> Any:
        """Features without labels, for batch inference.

        Args:
            start_time (datetime | date | str | int | None): keep rows whose (left) event time is
                at or after this (any form :meth:`training_data` takes). Default: no lower bound.
            end_time (datetime | date | str | int | None): keep rows whose (left) event time is
                before this. Default: no upper bound.
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"``, ``"python"``.
            primary_key (bool): keep the left feature group's primary key columns (default False,
                as hsfs), e.g. to join the predictions back to their keys.
            event_time (bool): keep the event time columns of the query's groups (default False,
                as hsfs), e.g. to sort a time series.
            transformed (bool): apply the view's transformation functions (default True) with the
                statistics of the training dataset version :meth:`init_batch_scoring` picked
                (default: version 1, as hsfs); False: the raw values.

        Returns:
            Any: ``X`` in the requested type, in the order of the left group's primary key and
            event time.

        Raises:
            InvalidArgumentError: a time that cannot be read, or times on a view whose left group
                has no event time.
            NotFoundError: transformation functions that need statistics, and no training dataset
                to take them from.

        Example:
            >>> X = fv.get_batch_data(start_time="2013-12-01", primary_key=True, event_time=True)  # doctest: +SKIP
        """
        self._engine("read", dataframe_type)
        stats = None
        if transformed and self._transformations:
            stats = self._transformations.statistics(self._batch_version)
        x, _ = self._xy(self._table(start_time, end_time), dataframe_type, primary_key, event_time, stats)
        return x

    def init_batch_scoring(self, training_dataset_version: int | None = None) -> None:
        """Pick the training dataset whose fitted transformation statistics :meth:`get_batch_data`
        applies (as hsfs's ``init_batch_scoring``).

        Args:
            training_dataset_version (int | None): the training dataset the model was trained on;
                default None: version 1, as hsfs.

        Raises:
            NotFoundError: when the version is not a training dataset of this view.

        Example:
            >>> fv.init_batch_scoring(training_dataset_version=2)  # doctest: +SKIP
            >>> X = fv.get_batch_data()  # doctest: +SKIP
        """
        if training_dataset_version is not None:
            self._check_training_dataset(training_dataset_version)
        self._batch_version = training_dataset_version
        if self._transformations:
            self._transformations.statistics(training_dataset_version)

    def _check_training_dataset(self, training_dataset_version: int) -> None:
        known = [td["version"] for td in self.get_training_datasets()]
        if training_dataset_version not in known:
            raise NotFoundError(
                f"Feature view '{self.name}' v{self.version} has no training dataset version "
                f"{training_dataset_version} (it has {known or 'none'}).",
                details={"training_dataset_version": training_dataset_version, "versions": known},
            )

    # --- serving ---------------------------------------------------------------------------------------

    def init_serving(self, training_dataset_version: int | None = None, external: bool | None = None) -> None:
        """Prepare online serving: fixes the feature order of the vectors (as ``X``'s columns).

        Called by the first :meth:`get_feature_vector` when you do not call it yourself.

        Args:
            training_dataset_version (int | None): the training dataset the served model was
                trained on (as hsfs): it must exist. Its fitted transformation statistics are what
                the vectors' transformation functions apply; default None: version 1, as hsfs.
            external (bool | None): hsfs's choice of the online store's network path; accepted
                and ignored (vectors always come from the platform's REST API).

        Raises:
            NotFoundError: when ``training_dataset_version`` is not a training dataset of this view.

        Example:
            >>> fv.init_serving(training_dataset_version=1)  # doctest: +SKIP
        """
        if training_dataset_version is not None:
            self._check_training_dataset(training_dataset_version)
        self.training_dataset_version = training_dataset_version
        columns = self.query._plan(with_tables=False).columns
        self._serving_features = self._feature_columns(columns, False, False)
        self._serving_plan = None
        if self._transformations and training_dataset_version is not None:  # else at the first vector
            self._serving_plan = self._transformations.vector_plan(
                self._serving_features, training_dataset_version
            )

    def _vectors(
        self,
        entries: list[dict[str, Any]],
        passed_features: list[dict[str, Any]] | None,
        allow_missing: bool,
        transformed: bool = True,
    ) -> tuple[list[str], list[list[Any]]]:
        names, vectors = self._raw_vectors(entries, passed_features, allow_missing)
        if not transformed or not self._transformations:
            return names, vectors
        if self._serving_plan is None:  # the statistics of training dataset version 1, as hsfs
            self._serving_plan = self._transformations.vector_plan(names, self.training_dataset_version)
        plan = self._serving_plan
        return plan.columns, self._fs._engine(None).transform_vectors(plan, names, vectors)

    def _raw_vectors(
        self, entries: list[dict[str, Any]], passed_features: list[dict[str, Any]] | None, allow_missing: bool
    ) -> tuple[list[str], list[list[Any]]]:
        if self._serving_features is None:
            self.init_serving()
        assert self._serving_features is not None
        body = {"entries": entries, "passed_features": passed_features, "allow_missing": allow_missing}
        out = self._fs._rest.post_fast(f"{self._path}/vectors", body)
        index = {f: i for i, f in enumerate(out["features"])}
        names = self._serving_features
        vectors: list[list[Any]] = out["vectors"]
        for i, passed in enumerate(passed_features or []):  # the values as passed, not as JSON gives them
            for k, v in passed.items():
                if k in index:
                    vectors[i][index[k]] = v
        if out["features"] == names:  # the server's order is X's (the usual case)
            return names, vectors
        return names, [[v[index[f]] if f in index else None for f in names] for v in vectors]

    def get_feature_vector(
        self,
        entry: dict[str, Any],
        return_type: str = "list",
        passed_features: dict[str, Any] | None = None,
        allow_missing: bool = False,
        transformed: bool = True,
    ) -> Any:
        """One feature vector from the online store, in the order of ``X``'s columns.

        Args:
            entry (dict): the key columns of every online feature group in the view, by the names
                used in the query (e.g. ``{"origin": "JFK", "tailnum": "N14228"}``).
            return_type (str): ``"list"`` (default), ``"dict"``, ``"pandas"``, ``"polars"`` or
                ``"numpy"``.
            passed_features (dict | None): feature values you provide (e.g. request-time features,
                or those of a feature group that is not online).
            allow_missing (bool): nulls for keys missing online instead of an error.
            transformed (bool): apply the view's transformation functions (default True), with the
                statistics of the training dataset :meth:`init_serving` picked; False: the raw
                values, in the order of the untransformed features.

        Returns:
            Any: a list of values (default), a dict by feature name, a one-row pandas or polars
            DataFrame, or a 1-D numpy array (float64 with NaN for nulls when every value is a
            number, else objects).

        Raises:
            NotFoundError: a key has no online row (unless ``allow_missing``); the message names it.
            InvalidArgumentError: the entry lacks a key column, or an unknown ``return_type``.

        Example:
            >>> fv.get_feature_vector({"origin": "JFK", "tailnum": "N14228"})  # doctest: +SKIP
            [22.9, 0.0, 1013.2, 2004, 'Fixed wing multi engine']
        """
        if return_type not in RETURN_TYPES:
            raise InvalidArgumentError(f"Unknown return_type {return_type!r}; use one of {RETURN_TYPES}.")
        passed = [passed_features] if passed_features else None
        names, vectors = self._vectors([entry], passed, allow_missing, transformed)
        return self._shape(names, vectors, return_type, single=True)

    def get_feature_vectors(
        self,
        entry: list[dict[str, Any]] | None = None,
        return_type: str = "list",
        passed_features: list[dict[str, Any]] | None = None,
        allow_missing: bool = False,
        entries: list[dict[str, Any]] | None = None,
        transformed: bool = True,
    ) -> Any:
        """Many feature vectors in one request (see :meth:`get_feature_vector`).

        Args:
            entry (list[dict] | None): one entry of key columns per vector (hsfs's name).
            entries (list[dict] | None): the same, by Larder's earlier name (give one of the two).
            return_type (str): ``"list"`` (default: a list of lists), ``"dict"`` (a list of dicts) or
                ``"pandas"`` (a DataFrame, one row per entry).
            passed_features (list[dict] | None): feature values you provide, one dict per entry.
            allow_missing (bool): nulls for keys missing online instead of an error.
            transformed (bool): apply the view's transformation functions (default True); False:
                the raw values (see :meth:`get_feature_vector`).

        Returns:
            Any: the vectors, in the order of ``entries``.

        Raises:
            InvalidArgumentError: no entries, an entry without a key column, an unknown ``return_type``.
            NotFoundError: a key has no online row (unless ``allow_missing``).

        Example:
            >>> fv.get_feature_vectors([{"origin": "JFK"}, {"origin": "LGA"}], return_type="pandas")  # doctest: +SKIP
        """
        if return_type not in RETURN_TYPES:
            raise InvalidArgumentError(f"Unknown return_type {return_type!r}; use one of {RETURN_TYPES}.")
        if entry is not None and entries is not None:
            raise InvalidArgumentError("Pass the entries as entry=[...] or entries=[...], not both.")
        entries = entry if entry is not None else entries
        if not entries:
            raise InvalidArgumentError("get_feature_vectors() needs at least one entry.")
        names, vectors = self._vectors(list(entries), passed_features, allow_missing, transformed)
        return self._shape(names, vectors, return_type, single=False)

    @staticmethod
    def _shape(names: list[str], vectors: list[list[Any]], return_type: str, single: bool) -> Any:
        if return_type == "pandas":
            import pandas as pd

            return pd.DataFrame(vectors, columns=names)
        if return_type == "polars":
            import polars as pl

            return pl.DataFrame(vectors, schema=names, orient="row")
        if return_type == "numpy":
            import numpy as np

            # float64 (nulls as NaN) when every value is a number, else objects as they came
            numeric = all(isinstance(x, (int, float, np.number)) or x is None for v in vectors for x in v)
            rows = np.array(vectors, dtype=np.float64 if numeric else object)  # None -> NaN in float64
            return rows[0] if single else rows
        if return_type == "dict":
            dicts = [dict(zip(names, v, strict=True)) for v in vectors]
            return dicts[0] if single else dicts
        return vectors[0] if single else vectors

    def transform(self, feature_vector: Any) -> Any:
        """Apply the view's transformation functions to untransformed features (hsfs 4's
        ``fv.transform``), with the statistics of the training dataset :meth:`init_serving` picked
        (default: version 1, as hsfs): what ``get_feature_vector(s)`` returns with
        ``transformed=True``, from what it returns with ``transformed=False``.

        Args:
            feature_vector (list | dict | pandas.DataFrame): one raw vector (a list in the order of
                the untransformed features, or a dict by feature name), a list of such lists, or a
                DataFrame of raw features.

        Returns:
            Any: the same shape, transformed (a dict keyed by the transformed names).

        Raises:
            InvalidArgumentError: a vector of the wrong length, or a dict or DataFrame without a
                feature a function reads.
            NotFoundError: functions that need statistics, and no training dataset to take them from.

        Example:
            >>> fv.init_serving(training_dataset_version=1)  # doctest: +SKIP
            >>> raw = fv.get_feature_vector({"cc_num": 1}, transformed=False)  # doctest: +SKIP
            >>> fv.transform(raw) == fv.get_feature_vector({"cc_num": 1})  # doctest: +SKIP
            True
        """
        from larder.feature_store.transformation_functions import make_plan

        if self._serving_features is None:
            self.init_serving()
        assert self._serving_features is not None
        names = self._serving_features
        if not self._transformations:
            return feature_vector
        stats = self._transformations.statistics(self.training_dataset_version)
        if type(feature_vector).__name__ == "DataFrame" and hasattr(feature_vector, "columns"):
            import pyarrow as pa

            columns = [str(c) for c in feature_vector.columns]
            missing = [f for fn in self._transformations.functions for f in fn.transformation_features]
            missing = [f for f in dict.fromkeys(missing) if f not in columns and f not in self.labels]
            if missing:
                raise InvalidArgumentError(
                    f"transform(): the DataFrame lacks {missing}, which the view's functions read.",
                    details={"missing": missing},
                )
            table = pa.Table.from_pandas(feature_vector, preserve_index=False)
            plan = make_plan(columns, self._transformations.functions, stats)
            from larder.engine import get_engine

            # a pandas frame in this process: the python engine's work, whatever the connection's engine
            return get_engine("python").apply_transformations(table, plan).to_pandas()
        plan = make_plan(names, self._transformations.functions, stats)
        single = isinstance(feature_vector, dict) or (
            isinstance(feature_vector, (list, tuple))
            and not any(isinstance(v, (list, tuple)) for v in feature_vector)
        )
        rows = [feature_vector] if single else list(feature_vector)
        as_dicts = isinstance(rows[0], dict) if rows else False
        vectors = []
        for r in rows:
            if as_dicts:
                missing = [n for n in names if n not in r]
                if missing:
                    raise InvalidArgumentError(
                        f"transform(): the vector lacks {missing}.", details={"missing": missing}
                    )
                vectors.append([r[n] for n in names])
            elif len(r) != len(names):
                raise InvalidArgumentError(
                    f"transform(): a vector has {len(r)} values; the view's untransformed features are {names}.",
                    details={"features": names},
                )
            else:
                vectors.append(list(r))
        out: list[Any] = self._fs._engine(None).transform_vectors(plan, names, vectors)
        if as_dicts:
            out = [dict(zip(plan.columns, v, strict=True)) for v in out]
        return out[0] if single else out

    def delete(self) -> None:
        """Delete this feature view version and its training datasets.

        Example:
            >>> fs.get_feature_view("delays", version=1).delete()  # doctest: +SKIP
        """
        self._fs._rest.delete(self._path)
