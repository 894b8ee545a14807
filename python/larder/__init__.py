"""Larder: an open ML data platform and the connector that reaches it from anywhere.

``import larder`` is cheap: it imports no requests, pandas, pyarrow, boto3 or server code. Heavy
modules load when first used (``requests`` at the first connection, ``boto3`` only for the AWS
secrets stores).

- :func:`connection` (hsfs style) and :func:`connect` (Hoss style, from a URL) open a
  :class:`Connection`.
- :mod:`larder.errors` holds every exception Larder raises on purpose.

Example:
    >>> import larder
    >>> larder.__version__  # doctest: +SKIP
    '0.1.0'
    >>> conn = larder.connection()  # no host: the embedded local platform  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

# Bound after the submodule import on purpose: ``larder.connection`` is the function (as in hsfs),
# not the module of the same name (reach that with ``from larder.connection import ...``).
from larder import errors  # noqa: E402
from larder.connection import Connection, connect, connection  # noqa: E402


def setup_spark(spark: object, config: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Apply Larder's Spark configuration to a running session and print what needs a restart
    (see :func:`larder.engine.spark.session.setup_spark`; pass ``conn.spark_config()`` for a
    connection's object store).

    Example:
        >>> larder.setup_spark(spark, conn.spark_config())  # doctest: +SKIP
    """
    from larder.engine.spark.session import setup_spark as setup

    return setup(spark, config)


def spark_config(cores: int | None = None) -> dict[str, str]:
    """The Spark settings Larder's tables need (see :func:`larder.engine.spark.session.spark_config`):
    ``cores`` sizes the partition counts (default: this machine's).

    Example:
        >>> larder.spark_config()["spark.sql.session.timeZone"]
        'UTC'
    """
    from larder.engine.spark.session import spark_config as config

    return config(cores)


def __getattr__(name: str) -> object:
    # hsfs 4 / hopsworks: ``from hopsworks import udf`` -> ``from larder import udf`` (loaded when asked for)
    if name == "udf":
        from larder.hopsworks_udf import udf

        return udf
    raise AttributeError(f"module 'larder' has no attribute {name!r}")


__all__ = [
    "Connection",
    "__version__",
    "connect",
    "connection",
    "errors",
    "setup_spark",
    "spark_config",
    "udf",
]
