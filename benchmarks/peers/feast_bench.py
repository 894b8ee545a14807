"""Feast measurements, run in benchmarks/.venv-feast through _child.py (one fresh process each).

Only Feast's public API is used: ``FeatureStore``, ``Entity``, ``FeatureView``, ``FileSource``,
``get_historical_features``, ``materialize``, ``get_online_features`` and the ``feast serve`` CLI.
The feature repository is written from Python (``feature_store.yaml`` + ``store.apply``) into a
work directory; every server binds 127.0.0.1 and is stopped by its process-group id.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import (
    JsonHttp,
    TreeRssSampler,
    flights_summary,
    free_port,
    http_latency,
    http_throughput,
    latency_summary,
    pit_summary,
    random_keys,
    server,
    timed_loop,
)

FEATURES_A = ["a0", "a1", "a2", "a3", "a4"]
FEATURES_B = ["b0", "b1", "b2", "b3", "b4"]
FEATURE_REFS = [f"fg_a:{c}" for c in FEATURES_A] + [f"fg_b:{c}" for c in FEATURES_B]
PROJECT = "larder_bench"


# Feast's duckdb offline store runs on ibis' default duckdb backend. Left alone, duckdb may use 80%
# of RAM and spill up to 90% of the free disk into ./.tmp (one run here filled the disk). The harness
# bounds it (public ibis API, same limits as the raw duckdb runs); it does not change Feast's SQL.
DUCKDB_MEMORY_LIMIT = os.environ.get("BENCH_DUCKDB_MEMORY_LIMIT", "10GB")
DUCKDB_MAX_TEMP = os.environ.get("BENCH_DUCKDB_MAX_TEMP", "8GB")


def _bound_duckdb(repo_dir: str) -> None:
    import ibis

    temp = Path(repo_dir) / "duckdb-tmp"
    temp.mkdir(parents=True, exist_ok=True)
    ibis.set_backend(
        ibis.duckdb.connect(
            memory_limit=DUCKDB_MEMORY_LIMIT,
            max_temp_directory_size=DUCKDB_MAX_TEMP,
            temp_directory=str(temp),
        )
    )


def _feast_version() -> str:
    import feast

    return feast.__version__


def make_repo(repo_dir: str, fg_a: str, fg_b: str, offline: str = "duckdb") -> str:
    """Write a fresh feature repository (SQLite online store, the given offline store) and apply
    the entity ``key`` and the feature views ``fg_a`` and ``fg_b`` (ttl 0 = no age limit)."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    repo = Path(repo_dir)
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        "\n".join(
            [
                f"project: {PROJECT}",
                f"registry: {repo / 'registry.db'}",
                "provider: local",
                "online_store:",
                "  type: sqlite",
                f"  path: {repo / 'online.db'}",
                "offline_store:",
                f"  type: {offline}",
                "entity_key_serialization_version: 3",
                "",
            ]
        )
    )
    key = Entity(name="key", join_keys=["key"], value_type=ValueType.INT64)
    views = []
    for name, path, cols in (("fg_a", fg_a, FEATURES_A), ("fg_b", fg_b, FEATURES_B)):
        source = FileSource(
            name=f"{name}_source", path=str(Path(path).resolve()), timestamp_field="event_timestamp"
        )
        schema = [Field(name="key", dtype=Int64)]
        schema += [Field(name=c, dtype=Int64 if c in ("b3", "b4") else Float64) for c in cols]
        views.append(
            FeatureView(
                name=name, entities=[key], ttl=timedelta(0), schema=schema, source=source, online=True
            )
        )
    store = FeatureStore(repo_path=str(repo))
    store.apply([key, *views])
    return str(repo)


def pit(
    fg_a: str, fg_b: str, labels: str, repo_dir: str, offline: str = "duckdb", result_path: str | None = None
) -> dict:
    """``get_historical_features(entity_df=labels, features=[10 features]).to_df()``.

    Timed: the call and ``to_df()`` (Feast reads the feature Parquet files itself); the labels are
    read into pandas before the clock starts, as a user's entity DataFrame would be in memory.
    With ``result_path``, the result (label_id + features) is written there afterwards, for the
    runner to compare with the ASOF oracle.
    """
    import pandas as pd
    from feast import FeatureStore

    make_repo(repo_dir, fg_a, fg_b, offline)
    _bound_duckdb(repo_dir)
    store = FeatureStore(repo_path=repo_dir)
    entity_df = pd.read_parquet(labels)
    t0 = time.perf_counter()
    df = store.get_historical_features(entity_df=entity_df, features=FEATURE_REFS).to_df()
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "offline_store": offline, "feast": _feast_version(), **pit_summary(df)}
    out["labels_in"] = len(entity_df)
    out["labels_dropped"] = len(entity_df) - out["rows"]
    if result_path:
        df[["label_id", *FEATURES_A, *FEATURES_B]].to_parquet(result_path, index=False)
    return out


def online_setup(fg_a: str, fg_b: str, repo_dir: str) -> dict:
    """Create the repository (duckdb offline store) and ``materialize`` everything into the SQLite
    online store; returns the materialization time and the online table sizes."""
    import sqlite3

    from feast import FeatureStore

    make_repo(repo_dir, fg_a, fg_b, "duckdb")
    _bound_duckdb(repo_dir)
    store = FeatureStore(repo_path=repo_dir)
    t0 = time.perf_counter()
    store.materialize(
        start_date=datetime(2023, 1, 1, tzinfo=timezone.utc),
        end_date=datetime(2025, 1, 2, tzinfo=timezone.utc),
    )
    seconds = time.perf_counter() - t0
    con = sqlite3.connect(Path(repo_dir) / "online.db")
    tables = {
        name: con.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]  # noqa: S608 - names from sqlite_master
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    con.close()
    return {"materialize_s": seconds, "online_tables": tables, "feast": _feast_version()}


def online_sdk(
    repo_dir: str,
    n_keys: int = 100_000,
    max_calls: int = 5_000,
    max_batch_calls: int = 500,
    max_seconds: float = 30.0,
    seed: int = 7,
) -> dict:
    """``store.get_online_features(features, entity_rows).to_dict()`` in process (SQLite online
    store): single key, and 100-key batches; bounded by count and time."""
    from feast import FeatureStore

    store = FeatureStore(repo_path=repo_dir)
    keys = random_keys(n_keys, max_calls + 100, seed)
    batches = [random_keys(n_keys, 100, seed + 1 + i) for i in range(min(max_batch_calls, 200))]
    nulls = 0

    def single(i: int) -> None:
        nonlocal nulls
        row = store.get_online_features(features=FEATURE_REFS, entity_rows=[{"key": keys[i]}]).to_dict()
        nulls += row["a0"][0] is None

    def batch(i: int) -> None:
        rows = [{"key": k} for k in batches[i % len(batches)]]
        out = store.get_online_features(features=FEATURE_REFS, entity_rows=rows).to_dict()
        assert len(out["a0"]) == 100

    lat, wall = timed_loop(single, max_calls, max_seconds)
    single_stats = latency_summary(lat, wall)
    single_stats["null_a0"] = nulls
    lat, wall = timed_loop(batch, max_batch_calls, max_seconds)
    return {"single": single_stats, "batch100": latency_summary(lat, wall), "feast": _feast_version()}


def online_http(
    repo_dir: str,
    n_keys: int = 100_000,
    max_calls: int = 3_000,
    max_batch_calls: int = 300,
    max_seconds: float = 30.0,
    concurrency: int = 4,
    seed: int = 7,
) -> dict:
    """The same lookups through Feast's HTTP feature server: ``feast serve`` (defaults: gunicorn,
    1 worker, which is recycled every ~1000 requests; access log off) on 127.0.0.1, POST
    /get-online-features from a keep-alive client. Sequential latency (single, 100-key batch) and
    throughput with ``concurrency`` client threads; the server's peak RSS."""
    port = free_port()
    feast_bin = str(Path(sys.executable).with_name("feast"))
    cmd = [feast_bin, "-c", repo_dir, "serve", "-h", "127.0.0.1", "-p", str(port), "--no-access-log"]
    singles = [
        json.dumps({"features": FEATURE_REFS, "entities": {"key": [k]}}).encode()
        for k in random_keys(n_keys, 2_000, seed)
    ]
    batches = [
        json.dumps(
            {"features": FEATURE_REFS, "entities": {"key": random_keys(n_keys, 100, seed + 1 + i)}}
        ).encode()
        for i in range(100)
    ]
    t0 = time.perf_counter()
    with server(cmd, port, Path(repo_dir) / "serve.log", start_timeout=120) as proc:
        start_s = time.perf_counter() - t0
        sample = json.loads(_post_once(port, singles[0]))
        with TreeRssSampler(proc.pid) as rss:
            single = http_latency(port, "/get-online-features", singles, max_calls, max_seconds)
            batch = http_latency(port, "/get-online-features", batches, max_batch_calls, max_seconds)
            thr = http_throughput(port, "/get-online-features", singles, concurrency, max_calls, max_seconds)
    return {
        "start_s": start_s,
        "single": single,
        "batch100": batch,
        "throughput": thr,
        "server_peak_rss_mb": rss.peak_mb,
        "response_keys": sorted(sample)[:5],
        "feast": _feast_version(),
    }


def _post_once(port: int, body: bytes) -> bytes:
    c = JsonHttp(port)
    try:
        return c.post("/get-online-features", body)
    finally:
        c.close()


def connect(repo_dir: str) -> dict:
    """In-process: ``FeatureStore(repo_path)`` and its first registry read (``list_feature_views``)."""
    t0 = time.perf_counter()
    from feast import FeatureStore

    t1 = time.perf_counter()
    store = FeatureStore(repo_path=repo_dir)
    views = store.list_feature_views()
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "connect_s": t2 - t1, "views": len(views), "pid": os.getpid()}


WEATHER = ["temp", "dewp", "humid", "wind_speed", "precip", "visib"]
PLANES = ["plane_year", "seats", "engines"]


def make_flights_repo(
    repo_dir: str, weather: str, planes: str, offline: str = "duckdb", weather_ttl_hours: float = 0
) -> str:
    """A repository for nycflights13: entities ``origin`` and ``tailnum``, feature views ``weather``
    (event time ``event_timestamp``; ttl ``weather_ttl_hours``, 0 = none) and ``planes`` (a constant
    1970 event time, ttl 0)."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    repo = Path(repo_dir)
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        f"project: flights_bench\nregistry: {repo / 'registry.db'}\nprovider: local\n"
        f"online_store:\n  type: sqlite\n  path: {repo / 'online.db'}\n"
        f"offline_store:\n  type: {offline}\nentity_key_serialization_version: 3\n"
    )
    origin = Entity(name="origin", join_keys=["origin"], value_type=ValueType.STRING)
    tailnum = Entity(name="tailnum", join_keys=["tailnum"], value_type=ValueType.STRING)
    weather_fv = FeatureView(
        name="weather",
        entities=[origin],
        ttl=timedelta(hours=weather_ttl_hours),
        schema=[Field(name="origin", dtype=String)] + [Field(name=c, dtype=Float64) for c in WEATHER],
        source=FileSource(
            name="weather_source", path=str(Path(weather).resolve()), timestamp_field="event_timestamp"
        ),
    )
    planes_fv = FeatureView(
        name="planes",
        entities=[tailnum],
        ttl=timedelta(0),
        schema=[Field(name="tailnum", dtype=String), Field(name="plane_year", dtype=Float64)]
        + [Field(name=c, dtype=Int64) for c in ("seats", "engines")],
        source=FileSource(
            name="planes_source", path=str(Path(planes).resolve()), timestamp_field="event_timestamp"
        ),
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply([origin, tailnum, weather_fv, planes_fv])
    return str(repo)


def pit_flights(
    flights: str,
    weather: str,
    planes: str,
    repo_dir: str,
    offline: str = "duckdb",
    weather_ttl_hours: float = 0,
    result_path: str | None = None,
) -> dict:
    """``get_historical_features`` of the nycflights13 flights (entity df: id, origin, tailnum,
    event_timestamp, label) against ``weather`` and ``planes``; timed like ``pit``.

    With ``weather_ttl_hours=0`` (no age limit, the ASOF semantics) Feast joins every flight to every
    earlier weather row of its origin (3 origins) before ranking them; a ttl bounds that join."""
    import pandas as pd
    from feast import FeatureStore

    make_flights_repo(repo_dir, weather, planes, offline, weather_ttl_hours)
    _bound_duckdb(repo_dir)
    store = FeatureStore(repo_path=repo_dir)
    entity_df = pd.read_parquet(flights, columns=["id", "origin", "tailnum", "event_timestamp", "label"])
    refs = [f"weather:{c}" for c in WEATHER] + [f"planes:{c}" for c in PLANES]
    t0 = time.perf_counter()
    df = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "offline_store": offline, "weather_ttl_hours": weather_ttl_hours}
    out.update(feast=_feast_version(), **flights_summary(df))
    out["labels_in"] = len(entity_df)
    out["labels_dropped"] = len(entity_df) - out["rows"]
    if result_path:
        df.to_parquet(result_path, index=False)
    return out
