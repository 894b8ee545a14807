"""MLflow measurements, run in benchmarks/.venv-mlflow through _child.py (one fresh process each).

Public API only: ``mlflow.set_tracking_uri``, ``mlflow.start_run``, ``mlflow.log_artifacts``,
``mlflow.artifacts.download_artifacts``, ``MlflowClient`` and the ``mlflow server`` CLI.
Telemetry is off (``MLFLOW_DISABLE_TELEMETRY``); servers bind 127.0.0.1 and are stopped by their
process-group id.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from common import TreeRssSampler, current_rss_mb, free_port, server, settle_io

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def _fresh(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.exists():
        shutil.rmtree(p)
    p.mkdir(parents=True)
    return p


def _tree_bytes(path: Path) -> tuple[int, int]:
    files = [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files), len(files)


def _save_and_download(
    model_dir: str, tracking_uri: str, dl_dir: Path, artifact_root: Path | None, stored: Path
) -> dict:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if artifact_root is None:  # the server decides (proxied mlflow-artifacts:/ location)
        mlflow.set_experiment("larder-bench")
    else:
        mlflow.set_experiment(
            experiment_id=mlflow.create_experiment("larder-bench", artifact_location=artifact_root.as_uri())
        )
    baseline = current_rss_mb()
    settle_io(model_dir)
    with TreeRssSampler(os.getpid(), children=False) as rss_save:
        t0 = time.perf_counter()
        with mlflow.start_run() as run:
            mlflow.log_artifacts(model_dir, artifact_path="model")
        save_s = time.perf_counter() - t0
    settle_io(stored)  # where the artifacts landed
    with TreeRssSampler(os.getpid(), children=False) as rss_dl:
        t0 = time.perf_counter()
        local = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="model", dst_path=str(dl_dir)
        )
        download_s = time.perf_counter() - t0
    size, files = _tree_bytes(Path(local))
    return {
        "save_s": save_s,
        "download_s": download_s,
        "bytes": size,
        "files": files,
        "client_rss_before_mb": baseline,
        "client_peak_rss_save_mb": rss_save.peak_mb,
        "client_peak_rss_download_mb": rss_dl.peak_mb,
        "mlflow": mlflow.__version__,
    }


def model_local(model_dir: str, work_dir: str) -> dict:
    """``log_artifacts`` of ``model_dir`` into a run whose artifacts live in a local directory (the
    local file artifact store; run metadata in ``sqlite:///``, MLflow's local default since its
    ``./mlruns`` file tracking store went into maintenance mode), then ``download_artifacts``.
    Seconds for each, and the client's RSS before and its peak during each (sampled every 50 ms)."""
    root = _fresh(work_dir)
    out = _save_and_download(
        model_dir,
        f"sqlite:///{root / 'mlflow.db'}",
        root / "download",
        artifact_root=root / "artifacts",
        stored=root / "artifacts",
    )
    shutil.rmtree(root)
    return out


def _settled_rss(pid: int, timeout: float = 30.0) -> float:
    """The server tree's RSS once it stops growing (its job runners start after the port opens)."""
    sampler = TreeRssSampler(pid)
    last, t0 = sampler.sample(), time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        time.sleep(1.0)
        now = sampler.sample()
        if abs(now - last) < 0.01 * max(last, 1.0):
            return now
        last = now
    return last


def model_http(model_dir: str, work_dir: str, workers: int = 1) -> dict:
    """The same through an ``mlflow server`` on 127.0.0.1 with proxied artifacts (SQLite backend,
    ``--artifacts-destination`` a local directory): the remote-registry path. Adds the server's
    RSS (its whole process tree: uvicorn worker, job runner, huey consumers) when idle after
    start, and its peak during the transfers."""
    root = _fresh(work_dir)
    port = free_port()
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    cmd = [
        mlflow_bin,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    t0 = time.perf_counter()
    with server(cmd, port, root.parent / f"{root.name}-server.log", start_timeout=180) as proc:
        start_s = time.perf_counter() - t0
        idle_mb = _settled_rss(proc.pid)
        with TreeRssSampler(proc.pid) as server_rss:
            out = _save_and_download(
                model_dir, f"http://127.0.0.1:{port}", root / "download", None, stored=root / "artifacts"
            )
    out["server_start_s"] = start_s
    out["server_idle_rss_mb"] = idle_mb
    out["server_peak_rss_mb"] = server_rss.peak_mb
    out["server_workers"] = workers
    shutil.rmtree(root)
    return out


def connect(work_dir: str) -> dict:
    """In-process: ``MlflowClient(tracking_uri="sqlite:///...")`` and its first call
    (``search_experiments``; the first call creates the database)."""
    t0 = time.perf_counter()
    from mlflow import MlflowClient

    t1 = time.perf_counter()
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{Path(work_dir) / 'mlflow.db'}")
    experiments = client.search_experiments()
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "connect_s": t2 - t1, "experiments": len(experiments)}
