"""Engines: where a connection's data work runs.

A :class:`~larder.connection.Connection` holds one engine. Metadata work (projects, feature store and
model registry handles) goes over REST whatever the engine; bulk data is read and written by the
engine directly in object storage.

- ``"python"``: in-process work with pyarrow, pandas, deltalake and duckdb
  (``pip install 'larder-platform[python]'``).
- ``"spark"``: the active SparkSession (``pip install 'larder-platform[spark]'``).
- ``"hive"``: a HiveServer2 endpoint through PyHive (``pip install 'larder-platform[hive]'``).
- ``"training"``: metadata only, for training jobs; every data operation raises (bare client).

``engine=None`` picks ``"spark"`` when a SparkSession is active in this process (only checked when
``pyspark`` is already imported; this module never imports it) or when running on Databricks
(``DATABRICKS_RUNTIME_VERSION`` is set), and ``"python"`` otherwise.

Example:
    >>> from larder.engine import get_engine
    >>> get_engine("training").name
    'training'
"""

from __future__ import annotations

import importlib.util
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from larder.errors import ConfigurationError

__all__ = [
    "ENGINE_NAMES",
    "Engine",
    "HiveEngine",
    "TrainingEngine",
    "get_engine",
]

ENGINE_NAMES: tuple[str, ...] = ("python", "spark", "hive", "training")
"""The engine names :func:`get_engine` accepts (besides ``None`` for automatic selection)."""


def _installed(module: str) -> bool:
    """True when ``module`` can be imported, without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class Engine(ABC):
    """The interface every engine implements: the data operations of the feature store.

    Feature store objects (``FeatureGroup``, ``Query``, ``FeatureView``) keep the semantics and the
    REST metadata, and hand every data operation to the connection's engine through these methods.
    An engine works with frames of its own (``pyarrow.Table`` for ``python``,
    ``pyspark.sql.DataFrame`` for ``spark``) and converts what users get back at the end
    (:meth:`to_dataframe`). Tables are named by ``larder.plan.TableRef`` (a feature group's Delta
    table and the short-lived, dataset-scoped credentials the platform vended); queries arrive as
    ``larder.plan.QueryPlan``.

    Attributes:
        name (str): the engine's name, one of :data:`ENGINE_NAMES`.
        extra (str | None): the ``pip`` extra that installs its libraries, e.g. ``"spark"``.
        modules (tuple[str, ...]): the importable modules it needs.
        metadata_only (bool): True when the engine refuses every data operation.
    """

    name: ClassVar[str]
    extra: ClassVar[str | None] = None
    modules: ClassVar[tuple[str, ...]] = ()
    metadata_only: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def missing_modules(self) -> list[str]:
        """The modules this engine needs that are not installed (empty when it can run)."""
        return [m for m in self.modules if not _installed(m)]

    def check_available(self) -> None:
        """Check that the engine's libraries are installed, without importing them.

        Raises:
            ConfigurationError: naming the missing modules and the extra to install, e.g.
                ``pip install 'larder-platform[spark]'``.
        """
        missing = self.missing_modules()
        if missing:
            raise ConfigurationError(
                f"The '{self.name}' engine needs {', '.join(missing)}, which is not installed: "
                f"pip install 'larder-platform[{self.extra}]' (or choose another engine: "
                f"{', '.join(repr(n) for n in ENGINE_NAMES)}).",
                details={"engine": self.name, "missing": missing, "extra": self.extra},
            )

    def require_data(self, operation: str) -> None:
        """Check that this engine can do data work before a data operation starts.

        Args:
            operation (str): what is about to run, e.g. ``"insert"``; named in the error.

        Raises:
            ConfigurationError: when the engine is metadata-only (``training``), not built yet, or
                its extra is not installed.

        Example:
            >>> get_engine("training").require_data("insert")  # doctest: +SKIP
            Traceback (most recent call last):
            larder.errors.ConfigurationError: The 'training' engine is metadata-only and cannot insert; ...
        """
        self.check_available()

    # --- frames -----------------------------------------------------------------------------------

    @abstractmethod
    def check_dataframe_type(self, dataframe_type: str) -> str:
        """Check a ``dataframe_type`` argument (``"pandas"``, ``"polars"``, ``"pyarrow"``,
        ``"numpy"``, ``"python"``, and the engine's own).

        Raises:
            InvalidArgumentError: naming the allowed ones.
        """

    @abstractmethod
    def to_dataframe(self, frame: Any, dataframe_type: str) -> Any:
        """The engine's frame as ``dataframe_type``."""

    @abstractmethod
    def columns(self, frame: Any) -> list[str]:
        """A frame's column names, in order."""

    @abstractmethod
    def select(self, frame: Any, columns: list[str]) -> Any:
        """A frame of these columns."""

    @abstractmethod
    def head(self, frame: Any, n: int) -> Any:
        """The first ``n`` rows."""

    @abstractmethod
    def num_rows(self, frame: Any) -> int:
        """How many rows a frame holds."""

    # --- feature groups ---------------------------------------------------------------------------

    @abstractmethod
    def prepare_insert(
        self,
        data: Any,
        primary_key: list[str],
        event_time: str | None,
        schema: list[dict[str, str]] | None,
        partition_key: list[str],
        duplicates: str = "keep_last",
    ) -> Any:
        """Check a frame for an insert before anything is written: key and event time columns,
        no null keys, timezone-aware timestamps, the recorded ``schema`` (None before the first
        insert), and rows repeating a (primary key, event time): ``duplicates="keep_last"`` keeps
        the last of each in the input's row order, ``"error"`` refuses them. Returns what
        :meth:`write` and :meth:`statistics` take; its ``schema`` (``[{"name", "type"}]``),
        ``num_rows``, ``dropped`` (rows dropped as duplicates) and ``dropped_example`` (one
        repeated key, or None) attributes say what it holds.

        Raises:
            InvalidArgumentError: naming what is wrong, with an example row.
        """

    @abstractmethod
    def statistics(self, prepared: Any) -> Any:
        """Statistics of prepared rows, computing beside the write: a ``concurrent.futures.Future``
        whose result is ``{"row_count", "columns": {...}}`` (or None when they failed)."""

    @abstractmethod
    def write(self, ref: Any, prepared: Any, overwrite: bool, operation: str, write_id: str) -> int:
        """Write prepared rows to the group's table (``operation``: ``"upsert"`` merges on the
        primary key and event time, ``"insert"`` appends; ``overwrite`` replaces every row), with
        ``write_id`` in the commit's metadata; returns the Delta version the write made.

        Raises:
            ConflictError: when another writer of the table kept conflicting; nothing was written.
        """

    @abstractmethod
    def read(self, ref: Any, as_of: datetime | None = None) -> Any:
        """Every row of the group's table (as of a time, UTC) as the engine's frame.

        Raises:
            NotFoundError: before the first insert, or when nothing existed at ``as_of``.
        """

    @abstractmethod
    def read_changes(self, ref: Any, start: datetime, end: datetime) -> Any:
        """The rows inserted or updated by the commits made in ``(start, end]``."""

    @abstractmethod
    def distinct_keys(self, frame: Any, primary_key: list[str]) -> list[list[Any]]:
        """The distinct primary-key values of a frame, each a list in key order."""

    @abstractmethod
    def from_rows(self, rows: list[dict[str, Any]], like: Any) -> Any:
        """Rows (JSON values) as a frame with the columns and types of ``like``."""

    # --- queries ----------------------------------------------------------------------------------

    @abstractmethod
    def query(self, plan: Any, where: list[Any] | None = None, order_by: list[str] | None = None) -> Any:
        """Run a query plan (point-in-time joins, filters, time travel) into the engine's frame.
        ``where`` (``larder.plan.Term`` on alias ``fg0``) keeps the left group's rows before the
        joins; ``order_by`` sorts by those output columns."""

    @abstractmethod
    def query_sql(self, plan: Any) -> str:
        """The SQL the engine runs for a plan (what ``Query.to_string()`` shows)."""

    @abstractmethod
    def sql(self, text: str, tables: dict[str, Any], views: dict[str, str]) -> Any:
        """Run ad-hoc SQL over feature groups (``tables``: name -> ``TableRef``; ``views``: other
        names for some of them), reaching nothing else."""

    # --- training data ----------------------------------------------------------------------------

    @abstractmethod
    def split(
        self,
        frame: Any,
        event_time: str | None,
        sizes: dict[str, float],
        times: dict[str, tuple[datetime | None, datetime | None]],
        seed: int | None,
    ) -> dict[str, Any]:
        """A frame split by time ranges of ``event_time`` or at random by fractions."""

    @abstractmethod
    def write_training_data(self, filesystem: Any, folder: str, parts: dict[str, Any]) -> dict[str, int]:
        """Write each split under ``folder`` of the feature store's dataset; returns rows per split."""

    @abstractmethod
    def read_training_data(self, filesystem: Any, folder: str, splits: list[str]) -> dict[str, Any]:
        """The splits :meth:`write_training_data` wrote."""

    # --- transformation functions -----------------------------------------------------------------

    def fit_transformations(self, frame: Any, needed: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        """The statistics transformation functions need (``needed``: column -> statistic names,
        see ``larder.feature_store.transformation_functions.statistics_needed``), fitted on
        ``frame`` (a training split): column -> ``{"min", "max", "mean", "stddev",
        "percentiles", "unique_values", "count"}`` (those asked for), as JSON values.

        Raises:
            ConfigurationError: on an engine that cannot run transformation functions yet.
        """
        raise self._no_transformations()

    def apply_transformations(self, frame: Any, plan: Any) -> Any:
        """``frame`` transformed by a ``larder.transform_plan.TransformPlan``: the features the
        functions drop removed, their outputs after the other columns, sorted by name.

        Raises:
            ConfigurationError: on an engine that cannot run transformation functions yet.
        """
        raise self._no_transformations()

    def transform_vectors(self, plan: Any, names: list[str], vectors: list[list[Any]]) -> list[list[Any]]:
        """Feature vectors (values in ``names`` order) transformed by a plan: built-ins value by
        value, custom udfs over one pandas Series per input for all the vectors at once. The same on
        every engine (``larder.engine._vectors``)."""
        from larder.engine._vectors import transform

        return transform(plan, names, vectors)

    def _no_transformations(self) -> ConfigurationError:
        return ConfigurationError(
            f"Transformation functions do not run on the '{self.name}' engine yet; connect with "
            "engine='python', or read raw values with transformed=False.",
            details={"engine": self.name, "operation": "transformation functions"},
        )


class _DataEngine(Engine):
    """An engine that does data work; a method it does not have yet says so."""

    def _not_yet(self, operation: str) -> ConfigurationError:
        self.check_available()
        return ConfigurationError(
            f"{operation}() on the '{self.name}' engine is not available in larder {_version()} yet; connect "
            "with engine='python'.",
            details={"engine": self.name, "operation": operation},
        )


def _not_built(method: str) -> Any:
    def refuse(self: _DataEngine, *args: Any, **kwargs: Any) -> Any:
        raise self._not_yet(method)

    refuse.__name__ = method
    refuse.__doc__ = "Not built yet on this engine: raises ``ConfigurationError``."
    return refuse


_METHODS = [
    "check_dataframe_type",
    "to_dataframe",
    "columns",
    "select",
    "head",
    "num_rows",
    "prepare_insert",
    "statistics",
    "write",
    "read",
    "read_changes",
    "distinct_keys",
    "from_rows",
    "query",
    "query_sql",
    "sql",
    "split",
    "write_training_data",
    "read_training_data",
    "fit_transformations",
    "apply_transformations",
]


def _version() -> str:
    import larder

    return larder.__version__


class HiveEngine(_DataEngine):
    """Data work through a HiveServer2 endpoint with PyHive (``larder-platform[hive]``)."""

    name = "hive"
    extra = "hive"
    modules = ("pyhive",)

    def require_data(self, operation: str) -> None:
        raise self._not_yet(operation)


for _m in _METHODS:
    setattr(HiveEngine, _m, _not_built(_m))
HiveEngine.__abstractmethods__ = frozenset()


class TrainingEngine(Engine):
    """Metadata only, for training jobs that read prepared files: every data operation raises."""

    name = "training"
    metadata_only = True

    def require_data(self, operation: str) -> None:
        """Always refuses: the training engine does no data work (see :meth:`Engine.require_data`).

        Args:
            operation (str): what was about to run, named in the error.

        Raises:
            ConfigurationError: always, naming the engine and the engines that can do it.

        Example:
            >>> TrainingEngine().require_data("read")  # doctest: +SKIP
        """
        raise self._refuse(operation)

    def _refuse(self, operation: str) -> ConfigurationError:
        return ConfigurationError(
            f"The 'training' engine is metadata-only and cannot {operation}; connect with "
            "engine='python' (or 'spark' or 'hive') to read or write data.",
            details={"engine": self.name, "operation": operation},
        )


def _refusing(method: str) -> Any:
    def refuse(self: TrainingEngine, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse(method)

    refuse.__name__ = method
    refuse.__doc__ = "Refused: the training engine is metadata-only (raises ``ConfigurationError``)."
    return refuse


for _m in _METHODS:
    setattr(TrainingEngine, _m, _refusing(_m))
TrainingEngine.__abstractmethods__ = frozenset()


def _python_engine() -> type[Engine]:
    from larder.engine.python import PythonEngine

    return PythonEngine


def _spark_engine() -> type[Engine]:
    from larder.engine.spark import SparkEngine

    return SparkEngine


_ENGINES: dict[str, Callable[[], type[Engine]]] = {
    "python": _python_engine,
    "spark": _spark_engine,
    "hive": lambda: HiveEngine,
    "training": lambda: TrainingEngine,
}


def _active_spark_session() -> bool:
    """True when pyspark is already imported and a SparkSession is active (never imports pyspark)."""
    if sys.modules.get("pyspark") is None:
        return False
    try:
        from pyspark.sql import SparkSession

        return SparkSession.getActiveSession() is not None
    except Exception:  # a broken or partial pyspark must not break connecting
        return False


def default_engine_name() -> str:
    """The engine ``engine=None`` selects: ``"spark"`` with an active SparkSession or on
    Databricks (``DATABRICKS_RUNTIME_VERSION``), else ``"python"``.

    Example:
        >>> default_engine_name() in ("python", "spark")
        True
    """
    if os.environ.get("DATABRICKS_RUNTIME_VERSION") or _active_spark_session():
        return "spark"
    return "python"


def get_engine(name: str | None = None) -> Engine:
    """Return the engine called ``name``, or the automatic choice for None.

    An explicitly named engine is checked at once (its libraries must be installed); the
    automatic choice is checked at its first data operation, so metadata-only work runs on the
    bare client.

    Args:
        name (str | None): ``"python"``, ``"spark"``, ``"hive"``, ``"training"`` or None
            (automatic, see :func:`default_engine_name`). Case-insensitive.

    Returns:
        Engine: a new engine instance.

    Raises:
        ConfigurationError: for an unknown name (the message lists the allowed ones), or when a
            named engine's extra is not installed (the message names it, e.g.
            ``pip install 'larder-platform[spark]'``).

    Example:
        >>> get_engine("training")
        TrainingEngine()
    """
    if name is None:
        return _ENGINES[default_engine_name()]()()
    key = name.strip().lower() if isinstance(name, str) else name
    factory = _ENGINES.get(key) if isinstance(key, str) else None
    if factory is None:
        raise ConfigurationError(
            f"Unknown engine {name!r}; use one of {', '.join(repr(n) for n in ENGINE_NAMES)}, or None "
            "to choose automatically (spark with an active SparkSession or on Databricks, else python).",
            details={"engine": str(name), "allowed": list(ENGINE_NAMES)},
        )
    engine = factory()()
    engine.check_available()
    return engine
