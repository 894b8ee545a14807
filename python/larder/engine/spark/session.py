"""The SparkSession the spark engine works in, and the Spark configuration Larder's tables need.

The engine uses the active session (Databricks, EMR, ``spark-submit``, a notebook that made one);
when there is none it builds a local one (``local[*]`` capped at what the machine has) with
:func:`spark_config` and logs that it did. A session made elsewhere needs Delta Lake's SQL extension
and catalog; :func:`check_session` says what is missing and how to add it.

Versions measured to work together: ``pyspark`` 4.2 with ``delta-spark`` 4.4.0 and the jar
``io.delta:delta-spark_4.2_2.13:4.4.0`` (Maven Central, fetched once per machine into the Ivy cache
when a session starts, never at import).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from larder.errors import ConfigurationError

log = logging.getLogger("larder.engine.spark")

DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
"""The Delta Lake jar for Spark 4.2 (Scala 2.13) that ``delta-spark`` 4.4.0 on PyPI matches."""

# Jars Delta's pom drags in that Spark already ships (newer): leaving them out saves ~20 s per
# start and avoids resolving poms whose jars a local Maven cache may lack.
_EXCLUDES = (
    "org.slf4j:slf4j-api",
    "org.apache.logging.log4j:log4j-slf4j2-impl",
    "org.apache.logging.log4j:log4j-api",
    "org.apache.logging.log4j:log4j-core",
    "org.roaringbitmap:RoaringBitmap",
    "org.roaringbitmap:shims",
    "com.fasterxml.jackson.core:jackson-databind",
    "com.fasterxml.jackson.core:jackson-annotations",
    "com.fasterxml.jackson.core:jackson-core",
    "org.apache.hadoop:hadoop-client-runtime",
    "org.apache.hadoop:hadoop-client-api",
    "org.apache.parquet:parquet-hadoop",
    "org.apache.parquet:parquet-column",
    "org.apache.parquet:parquet-common",
    "org.apache.parquet:parquet-format-structures",
    "org.apache.parquet:parquet-encoding",
    "org.apache.parquet:parquet-jackson",
    "org.xerial.snappy:snappy-java",
    "io.airlift:aircompressor",
    "commons-pool:commons-pool",
    "com.github.luben:zstd-jni",
    "commons-logging:commons-logging",
)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def spark_config(cores: int | None = None) -> dict[str, str]:
    """The Spark settings Larder's feature group tables need, as ``{key: value}`` strings.

    Delta Lake's package, SQL extension and catalog; UTC as the session time zone (Larder stores
    UTC); and, for a small machine, few shuffle and snapshot partitions (Spark's default of 200 made
    a 10-row write take 86 s on 2 cores).

    Args:
        cores (int | None): the cores the session will have; partitions are sized to them
            (default: this machine's).

    Returns:
        dict[str, str]: settings for ``SparkSession.builder.config(...)``, ``spark-submit --conf``
        or a cluster's Spark config.

    Example:
        >>> spark_config(2)["spark.sql.shuffle.partitions"]
        '2'
    """
    cores = cores or os.cpu_count() or 2
    return {
        "spark.jars.packages": DELTA_PACKAGE,
        "spark.jars.excludes": ",".join(_EXCLUDES),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(max(2, cores)),
        "spark.databricks.delta.snapshotPartitions": str(max(2, cores)),
    }


def check_session(spark: Any) -> None:
    """Check that a session can read and write Delta tables.

    Raises:
        ConfigurationError: when Delta's SQL extension or catalog is not configured, naming the
            settings to add (they must be set before the session starts).
    """
    conf = spark.conf
    extensions = conf.get("spark.sql.extensions", "") or ""
    catalog = conf.get("spark.sql.catalog.spark_catalog", "") or ""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):  # Delta is built in there
        return
    missing = []
    if DELTA_EXTENSION not in extensions:
        missing.append(f"spark.sql.extensions={DELTA_EXTENSION}")
    if catalog != DELTA_CATALOG:
        missing.append(f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}")
    if missing:
        raise ConfigurationError(
            "The active SparkSession cannot work with Delta tables: it lacks "
            + ", ".join(missing)
            + f" (and the package {DELTA_PACKAGE}). Start the session with larder.spark_config() "
            "(SparkSession.builder.config(map=conn.spark_config())), or pass them to spark-submit as --conf.",
            details={"missing": missing},
        )


def get_session() -> Any:
    """The active SparkSession, or a local one built with :func:`spark_config` (logged).

    Raises:
        ConfigurationError: when the active session lacks Delta (see :func:`check_session`).
    """
    import warnings

    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    # pyspark warns on every Arrow conversion that pandas 3 is new to it; the engine converts through
    # Arrow and never uses pyspark.pandas, which pandas 3 does break
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    spark = SparkSession.getActiveSession()
    if spark is None and SparkContext._active_spark_context is not None:
        spark = SparkSession.builder.getOrCreate()  # this process's session, not active in this thread
    if spark is not None:
        check_session(spark)
        return spark
    cores = min(os.cpu_count() or 2, 8)
    log.warning(
        "No active SparkSession: building a local one (local[%d], Delta %s); start your own with "
        "larder.spark_config() to choose.",
        cores,
        DELTA_PACKAGE,
    )
    # the local session's Python workers (transformation functions run there) use this interpreter,
    # which has pyarrow and pandas, unless PYSPARK_PYTHON says otherwise (Spark's default: "python3")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(f"local[{cores}]").appName("larder")
    for k, v in {**spark_config(cores), "spark.ui.enabled": "false"}.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


def active_session(caller: str) -> Any:
    """The active SparkSession, for ``caller`` (named in the error) that applies settings to it.

    Raises:
        ConfigurationError: when no SparkSession is active.
    """
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        raise ConfigurationError(
            f"{caller} needs an active SparkSession (a Databricks notebook or job has one); "
            "elsewhere start one with SparkSession.builder.config(map=conn.spark_config())."
        )
    return spark


HADOOP_AWS_PACKAGE = "org.apache.hadoop:hadoop-aws:3.5.0"
"""The S3A filesystem matching pyspark 4.2's Hadoop 3.5.0 (it pulls the AWS SDK bundle, ~655 MB)."""

# settings a running session takes (the others need a restart: packages, extensions, catalog)
_RUNTIME = (
    "spark.sql.session.timeZone",
    "spark.sql.shuffle.partitions",
    "spark.databricks.delta.snapshotPartitions",
)


def s3a_config(bucket: str, storage_options: dict[str, str]) -> dict[str, str]:
    """Spark settings (``spark.hadoop.fs.s3a.bucket.<bucket>.*``) for a dataset's vended S3
    credentials; they hold secrets (never log them) and expire (call again, or let the engine set
    fresh ones on every read and write, as it does)."""
    from larder.engine.spark.delta import s3a_options

    return {f"spark.hadoop.{k}": v for k, v in s3a_options(bucket, storage_options).items()}


def setup_spark(spark: Any, config: dict[str, str] | None = None, out: Any = None) -> dict[str, list[str]]:
    """Apply to a running session what of Larder's Spark configuration it can take, and say what
    needs a (cluster) restart.

    Runtime settings (time zone, shuffle and snapshot partitions) are set on the session;
    ``spark.hadoop.*`` settings go into its Hadoop configuration (the executors get them with each
    job); the package, SQL extension and catalog can only be set before the session starts: when
    they are missing, a block to paste into the cluster's Spark config (or ``spark-submit --conf``)
    is printed.

    Args:
        spark (pyspark.sql.SparkSession): the running session.
        config (dict[str, str] | None): the settings (default :func:`spark_config`; a
            connection's ``conn.spark_config()`` adds its object store's).
        out (file | None): where to print the restart block (default ``sys.stdout``).

    Returns:
        dict[str, list[str]]: ``{"applied": [keys], "restart": [keys]}`` (secrets never listed by value).

    Example:
        >>> larder.setup_spark(spark, conn.spark_config())  # doctest: +SKIP
        {'applied': ['spark.sql.session.timeZone', ...], 'restart': []}
    """
    import sys

    config = dict(config or spark_config())
    applied, restart = [], []
    databricks = bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in config.items():
        if key in _RUNTIME:
            spark.conf.set(key, value)
            applied.append(key)
        elif key.startswith("spark.hadoop."):
            hadoop.set(key[len("spark.hadoop.") :], value)
            applied.append(key)
        elif (
            databricks
            and key
            in (
                "spark.jars.packages",
                "spark.jars.excludes",
                "spark.sql.extensions",
                "spark.sql.catalog.spark_catalog",
            )
            and HADOOP_AWS_PACKAGE not in value
        ):
            continue  # Delta is built into the Databricks runtime
        else:
            current = (
                spark.conf.get(key, None)
                if not key.startswith("spark.jars")
                else (spark.sparkContext.getConf().get(key, None))
            )
            if current != value and not (key == "spark.jars.packages" and current and value in current):
                restart.append(key)
    if restart:
        print(  # noqa: T201 - the point is to show it
            "# This session lacks settings that only take effect at start-up. Add them to the cluster's Spark "
            "config (or spark-submit --conf) and restart:",
            file=out or sys.stdout,
        )
        for key in restart:
            print(f"{key} {config[key]}", file=out or sys.stdout)  # noqa: T201
    return {"applied": applied, "restart": restart}
