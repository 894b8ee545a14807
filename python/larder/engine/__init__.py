"""Engines: where a connection's data work runs.

A :class:`~larder.connection.Connection` holds one engine. Metadata work (projects, feature store and
model registry handles) goes over REST whatever the engine; bulk data is read and written by the
engine directly in object storage.

- ``"python"``: in-process work with pyarrow, pandas, deltalake and duckdb
  (``pip install 'larder[python]'``).
- ``"spark"``: the active SparkSession (``pip install 'larder[spark]'``).
- ``"hive"``: a HiveServer2 endpoint through PyHive (``pip install 'larder[hive]'``).
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
from collections.abc import Mapping
from typing import Any, ClassVar

from larder.errors import ConfigurationError

__all__ = [
    "ENGINE_NAMES",
    "Engine",
    "HiveEngine",
    "PythonEngine",
    "SparkEngine",
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
    """The interface every engine implements.

    Data operations take and return the engine's own data frames (``pyarrow``/``pandas`` for
    ``python``, ``pyspark.sql.DataFrame`` for ``spark``). Paths are object-store URIs
    (``file:///...``, ``s3://bucket/...``); ``storage_options`` carries the short-lived,
    dataset-scoped credentials the platform vends.

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
                ``pip install 'larder[spark]'``.
        """
        missing = self.missing_modules()
        if missing:
            raise ConfigurationError(
                f"The '{self.name}' engine needs {', '.join(missing)}, which is not installed: "
                f"pip install 'larder[{self.extra}]' (or choose another engine: "
                f"{', '.join(repr(n) for n in ENGINE_NAMES)}).",
                details={"engine": self.name, "missing": missing, "extra": self.extra},
            )

    def require_data(self, operation: str) -> None:
        """Check that this engine can do data work before a data operation starts.

        Args:
            operation (str): what is about to run, e.g. ``"insert"``; named in the error.

        Raises:
            ConfigurationError: when the engine is metadata-only (``training``) or its extra is
                not installed.

        Example:
            >>> get_engine("training").require_data("insert")  # doctest: +SKIP
            Traceback (most recent call last):
            larder.errors.ConfigurationError: The 'training' engine is metadata-only and cannot insert; ...
        """
        self.check_available()

    @abstractmethod
    def read(
        self,
        path: str,
        data_format: str = "delta",
        version: int | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> Any:
        """Read a table or files into the engine's data frame.

        Args:
            path (str): the object-store URI of the table or files.
            data_format (str): ``"delta"`` (default), ``"parquet"``, ``"csv"`` or ``"json"``.
            version (int | None): a Delta table version for time travel; None reads the newest.
            storage_options (Mapping[str, str] | None): object-store settings and credentials.

        Returns:
            Any: the engine's data frame.

        Raises:
            ConfigurationError: when the engine cannot do data work (``training``) or its extra
                is not installed.
        """

    @abstractmethod
    def write(
        self,
        data: Any,
        path: str,
        mode: str = "append",
        data_format: str = "delta",
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        """Write a data frame to a table.

        Args:
            data (Any): the engine's data frame (or anything it can convert).
            path (str): the object-store URI of the table.
            mode (str): ``"append"`` (default), ``"overwrite"`` or ``"merge"``.
            data_format (str): ``"delta"`` (default) or ``"parquet"``.
            storage_options (Mapping[str, str] | None): object-store settings and credentials.

        Raises:
            ConfigurationError: when the engine cannot do data work (``training``) or its extra
                is not installed.
        """

    @abstractmethod
    def sql(self, query: str, tables: Mapping[str, Any] | None = None) -> Any:
        """Run a SQL query over named tables and return the engine's data frame.

        Args:
            query (str): the SQL text.
            tables (Mapping[str, Any] | None): table name -> data frame or table URI.

        Raises:
            ConfigurationError: when the engine cannot do data work (``training``) or its extra
                is not installed.
        """


class _DataEngine(Engine):
    """An engine that does data work; its operations arrive with the feature store."""

    def _not_yet(self, operation: str) -> NotImplementedError:
        self.check_available()
        return NotImplementedError(
            f"{operation}() of the '{self.name}' engine is not implemented in larder {_version()} yet."
        )

    def read(
        self,
        path: str,
        data_format: str = "delta",
        version: int | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> Any:
        raise self._not_yet("read")

    def write(
        self,
        data: Any,
        path: str,
        mode: str = "append",
        data_format: str = "delta",
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        raise self._not_yet("write")

    def sql(self, query: str, tables: Mapping[str, Any] | None = None) -> Any:
        raise self._not_yet("sql")


def _version() -> str:
    import larder

    return larder.__version__


class PythonEngine(_DataEngine):
    """In-process data work with pyarrow, pandas, deltalake and duckdb (``larder[python]``)."""

    name = "python"
    extra = "python"
    modules = ("pyarrow", "pandas", "deltalake", "duckdb")


class SparkEngine(_DataEngine):
    """Data work on the active SparkSession (``larder[spark]``)."""

    name = "spark"
    extra = "spark"
    modules = ("pyspark",)


class HiveEngine(_DataEngine):
    """Data work through a HiveServer2 endpoint with PyHive (``larder[hive]``)."""

    name = "hive"
    extra = "hive"
    modules = ("pyhive",)


class TrainingEngine(Engine):
    """Metadata only, for training jobs that read prepared files: every data operation raises."""

    name = "training"

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

    def read(
        self,
        path: str,
        data_format: str = "delta",
        version: int | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> Any:
        raise self._refuse("read")

    def write(
        self,
        data: Any,
        path: str,
        mode: str = "append",
        data_format: str = "delta",
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        raise self._refuse("write")

    def sql(self, query: str, tables: Mapping[str, Any] | None = None) -> Any:
        raise self._refuse("sql")


_ENGINES: dict[str, type[Engine]] = {
    "python": PythonEngine,
    "spark": SparkEngine,
    "hive": HiveEngine,
    "training": TrainingEngine,
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
            ``pip install 'larder[spark]'``).

    Example:
        >>> get_engine("training")
        TrainingEngine()
    """
    if name is None:
        return _ENGINES[default_engine_name()]()
    key = name.strip().lower() if isinstance(name, str) else name
    cls = _ENGINES.get(key) if isinstance(key, str) else None
    if cls is None:
        raise ConfigurationError(
            f"Unknown engine {name!r}; use one of {', '.join(repr(n) for n in ENGINE_NAMES)}, or None "
            "to choose automatically (spark with an active SparkSession or on Databricks, else python).",
            details={"engine": str(name), "allowed": list(ENGINE_NAMES)},
        )
    engine = cls()
    engine.check_available()
    return engine
