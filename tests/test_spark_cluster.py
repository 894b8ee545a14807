"""The spark engine on a Spark standalone cluster: a master and a worker started from the pip
distribution's ``spark-class`` on loopback, the job's executors in the worker's own processes with
only the configuration ``larder.spark_config()`` gives them (Delta's package fetched by the driver
and served to them). Inserts, a MERGE and a point-in-time join run there; the python engine reads
the same rows. (S3 through s3a on this cluster is not tested yet: see docs/connecting.md.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[1]} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"port {port} did not open in {timeout} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """``(master URL, worker dir)`` of a standalone cluster: one master, one worker (2 cores, 2 GiB)."""
    import pyspark

    home = Path(pyspark.__file__).parent
    root = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(root)}
    master_port, worker_port = _free_port(), _free_port()
    procs: list[subprocess.Popen] = []

    def start(args: list[str], log: str) -> subprocess.Popen:
        with open(root / log, "w") as out:
            p = subprocess.Popen(
                [str(home / "bin" / "spark-class"), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append(p)
        return p

    try:
        master = start(
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(master_port),
                "--webui-port",
                str(_free_port()),
            ],
            "master.log",
        )
        _wait_port(master_port, master)
        url = f"spark://127.0.0.1:{master_port}"
        worker = start(
            [
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--port",
                str(worker_port),
                "--webui-port",
                str(_free_port()),
                "--cores",
                "2",
                "--memory",
                "2g",
                "--work-dir",
                str(root / "work"),
            ],
            "worker.log",
        )
        _wait_port(worker_port, worker)
        yield url, root
    finally:
        for p in reversed(procs):
            with_group = os.getpgid(p.pid) if p.poll() is None else None
            if with_group:
                os.killpg(with_group, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def test_the_spark_engine_on_a_standalone_cluster(cluster, tmp_path):
    url, root = cluster
    env = {**os.environ, "LARDER_HOME": str(tmp_path / "embedded"), "PYTHONWARNINGS": "ignore"}
    env.pop("LARDER_API_KEY", None)
    try:
        out = subprocess.run(
            [sys.executable, str(HERE / "spark_cluster_job.py"), url],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        line = [x for x in out.stdout.splitlines() if x.startswith("OK ")]
        assert line, out.stdout[-2000:]
        figures = dict(item.split("=") for item in line[0].split()[1:])
        assert figures["inserted"] == "50000" and figures["updated"] == "10" and figures["pit_rows"] == "5000"
        assert int(figures["null_features"]) > 0  # keys 1000-1099 have no feature rows: null, not dropped
        # the tasks ran in the worker's executor processes, not in the driver
        stderr_logs = list((root / "work").rglob("stderr"))
        assert stderr_logs, "the worker launched no executor"
        assert any("Running task" in p.read_text(errors="replace") for p in stderr_logs)
    finally:
        from conftest import LARDER

        subprocess.run([LARDER, "server", "stop", "--home", str(tmp_path / "embedded")], env=env, timeout=60)
