"""Model registry transfer benchmark: save and download of a 1 GiB model folder vs a raw copy.

A plain script (pytest does not collect it). It builds a model folder of 3 large files and 1,024
files of 64 KiB (1 GiB in all), starts a private embedded platform (``LARDER_HOME`` in a temporary
folder), and measures on the same store:

- ``model.save(dir)`` and ``model.download(dest)`` through the public API;
- a raw copy of the same folder into and out of the store (``shutil.copytree`` for the local store,
  boto3 ``upload_file``/``download_file`` per file for S3);
- the process' peak RSS during each Larder phase (sampled from ``/proc/self/statm``) and over the
  whole run (``resource.getrusage``), and the CPU seconds (all threads, user + system) of each
  Larder phase and local raw copy: less sensitive than wall time to a busy machine.

Usage::

    .venv/bin/python tests/bench_model_registry.py [--store local|s3] [--work DIR] [--size-mib 1024]

``--store s3`` starts a ``moto_server`` and puts the project in a namespace on it. Every process
started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
SMALL_FILES = 1024
SMALL_SIZE = 64 * 1024
LARGE_FILES = 3


def make_model_dir(root: Path, total: int) -> Path:
    """3 large files + 1,024 files of 64 KiB, ``total`` bytes in all, written in 8 MiB chunks."""
    root.mkdir(parents=True)
    large = (total - SMALL_FILES * SMALL_SIZE) // LARGE_FILES
    chunk = os.urandom(8 * MiB)
    for i in range(LARGE_FILES):
        with open(root / f"weights-{i}.bin", "wb") as f:
            left = large
            while left > 0:
                n = min(left, len(chunk))
                f.write(chunk[:n])
                left -= n
            f.write(os.urandom(64))  # no two files alike
    for i in range(SMALL_FILES):
        sub = root / "assets" / f"{i // 128:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:04d}.bin").write_bytes(os.urandom(SMALL_SIZE))
    return root


def dir_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


class RssSampler:
    """Peak resident set size of this process (MiB) while a block runs, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page / MiB

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._rss())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.peak_mb = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss())


def bench_model_save_download(conn: Any, model_dir: Path, dest: Path) -> dict[str, float]:
    """Time ``save`` and ``download`` of ``model_dir`` through the public API (progress bars off)."""
    mr = conn.get_model_registry()
    model = mr.python.create_model("bench", metrics={"auc": 0.5})
    if dest.exists():
        shutil.rmtree(dest)
    with open("/proc/self/statm") as f:
        rss_before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MiB
    os.sync()
    with RssSampler() as rss_save:
        t0, c0 = time.perf_counter(), time.process_time()
        model.save(model_dir, progress=False)
        save_s, save_cpu = time.perf_counter() - t0, time.process_time() - c0
    os.sync()
    with RssSampler() as rss_dl:
        t0, c0 = time.perf_counter(), time.process_time()
        model.download(dest, progress=False)
        download_s, download_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert dir_size(dest) == dir_size(model_dir)
    model.delete()
    return {
        "save_s": save_s,
        "download_s": download_s,
        "save_cpu_s": save_cpu,
        "download_cpu_s": download_cpu,
        "peak_rss_save_mb": rss_save.peak_mb,
        "peak_rss_download_mb": rss_dl.peak_mb,
        "rss_before_mb": rss_before,
    }


def raw_copy_local(model_dir: Path, store_dir: Path, dest: Path) -> dict[str, float]:
    os.sync()
    t0, c0 = time.perf_counter(), time.process_time()
    shutil.copytree(model_dir, store_dir)
    up, up_cpu = time.perf_counter() - t0, time.process_time() - c0
    os.sync()
    t0, c0 = time.perf_counter(), time.process_time()
    shutil.copytree(store_dir, dest)
    down, down_cpu = time.perf_counter() - t0, time.process_time() - c0
    shutil.rmtree(store_dir)
    shutil.rmtree(dest)
    return {"upload_s": up, "download_s": down, "upload_cpu_s": up_cpu, "download_cpu_s": down_cpu}


def raw_copy_s3(model_dir: Path, endpoint: str, dest: Path) -> dict[str, float]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )
    s3.create_bucket(Bucket="raw-bench")
    files = [p for p in sorted(model_dir.rglob("*")) if p.is_file()]
    os.sync()
    t0 = time.perf_counter()
    for p in files:
        s3.upload_file(str(p), "raw-bench", p.relative_to(model_dir).as_posix())
    up = time.perf_counter() - t0
    t0 = time.perf_counter()
    for p in files:
        rel = p.relative_to(model_dir).as_posix()
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        s3.download_file("raw-bench", rel, str(dest / rel))
    down = time.perf_counter() - t0
    for p in files:
        s3.delete_object(Bucket="raw-bench", Key=p.relative_to(model_dir).as_posix())
    shutil.rmtree(dest)
    return {"upload_s": up, "download_s": down}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import requests

    port = _free_port()
    log = open(log_dir / "moto.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/moto-api/", timeout=1).status_code < 500:
                return proc, url
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("moto_server did not start")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--store", choices=["local", "s3"], default="local")
    parser.add_argument("--work", default=None, help="work folder (default: a new temporary folder)")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3, help="alternating Larder/raw rounds (medians)")
    args = parser.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="larder-mr-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["LARDER_HOME"] = str(work / "larder-home")
    import larder
    from larder.client.embedded import ensure_platform, stop_platform

    moto: subprocess.Popen[bytes] | None = None
    conn = None
    try:
        model_dir = make_model_dir(work / "model", args.size_mib * MiB)
        size = dir_size(model_dir)
        platform = ensure_platform()
        project = None
        if args.store == "s3":
            moto, endpoint = start_moto(work)
            from larder.client.rest import RestClient

            admin = RestClient(
                platform.url,
                (platform.home / "admin_api_key").read_text().strip(),
                verify=str(platform.ca_cert),
            )
            admin.post(
                "/objectstores",
                {
                    "name": "moto",
                    "type": "s3",
                    "endpoint_url": endpoint,
                    "region": "us-east-1",
                    "access_key_id": "testing",
                    "secret_access_key": "testing",
                    "role_arn": "arn:aws:iam::123456789012:role/bench",
                },
            )
            admin.post("/namespaces", {"name": "lake", "object_store": "moto", "bucket": "bench-lake"})
            RestClient(platform.url, platform.api_key, verify=str(platform.ca_cert)).post(
                "/projects", {"name": "s3bench", "namespace": "lake"}
            )
            project = "s3bench"
        conn = larder.connection(project=project)
        runs = []
        for _ in range(args.rounds):  # alternate Larder and raw copies: shared machines are noisy
            figs = bench_model_save_download(conn, model_dir, work / "download")
            shutil.rmtree(work / "download")
            if args.store == "local":
                store_root = platform.home / "data" / "default" / "raw-bench"
                raw = raw_copy_local(model_dir, store_root, work / "raw-download")
            else:
                raw = raw_copy_s3(model_dir, endpoint, work / "raw-download")
            runs.append({**figs, **{f"raw_{k}": v for k, v in raw.items()}})
            print(json.dumps({k: round(v, 3) for k, v in runs[-1].items()}), flush=True)
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        gib = size / 1024**3
        out = {
            "store": args.store,
            "bytes": size,
            "files": sum(1 for p in model_dir.rglob("*") if p.is_file()),
            "rounds": args.rounds,
            **{f"median_{k}": round(v, 3) for k, v in med.items()},
            "save_gib_s": round(gib / med["save_s"], 3),
            "download_gib_s": round(gib / med["download_s"], 3),
            "raw_upload_gib_s": round(gib / med["raw_upload_s"], 3),
            "raw_download_gib_s": round(gib / med["raw_download_s"], 3),
            "save_vs_raw": round(med["raw_upload_s"] / med["save_s"], 3),
            "download_vs_raw": round(med["raw_download_s"] / med["download_s"], 3),
            "peak_rss_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        print(json.dumps(out, indent=2))
    finally:
        if conn is not None:
            conn.close()
        stop_platform()
        if moto is not None:
            moto.terminate()
            moto.wait(10)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
