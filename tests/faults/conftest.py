"""Fixtures of the fault suite: a server whose write leases expire fast, and child processes that
write and can be SIGKILLed at chosen points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from security.conftest import Cast

from conftest import LarderServer

LEASE_SECONDS = 2
STALE_UPLOAD_SECONDS = 3


@pytest.fixture(scope="session")
def fault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LarderServer]:
    """A server whose leases last 2 s, whose reconciler looks every 0.5 s, and whose janitor
    removes upload part files idle for 3 s, every second."""
    server = LarderServer(tmp_path_factory.mktemp("faults") / "home").init()
    with open(server.home / "server.toml", "a") as f:
        f.write(f"write_lease_seconds = {LEASE_SECONDS}\nreconcile_interval_seconds = 0.5\n")
        f.write(f"janitor_interval_seconds = 1\nstale_upload_seconds = {STALE_UPLOAD_SECONDS}\n")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cast(fault_server: LarderServer, tmp_path: Path) -> Cast:
    return Cast(fault_server, tmp_path)


@pytest.fixture(scope="session")
def fault_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LarderServer]:
    """The same, with its projects on S3 (moto_server: delta-rs cannot detect concurrent commits
    there) and Redis as the online store."""
    import real_services
    from security.conftest import s3_namespace

    folder = tmp_path_factory.mktemp("faults-s3")
    with real_services.moto(folder) as moto_url, real_services.redis() as redis_url:
        server = LarderServer(folder / "home").init()
        with open(server.home / "server.toml", "a") as f:
            f.write(f"write_lease_seconds = {LEASE_SECONDS}\nreconcile_interval_seconds = 0.5\n")
            f.write(f'online_store = "redis"\nredis_url = "{redis_url}"\n')
        server.start()
        try:
            s3_namespace(server, moto_url, "faults-lake")
            yield server
        finally:
            server.stop()


@pytest.fixture(params=["local-sqlite", "s3-redis"])
def any_cast(request: pytest.FixtureRequest, fault_server: LarderServer, tmp_path: Path) -> Cast:
    if request.param == "local-sqlite":
        return Cast(fault_server, tmp_path)
    return Cast(request.getfixturevalue("fault_s3_server"), tmp_path, namespace="lake")


CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import pandas as pd
    import larder
    from larder.engine.python import PythonEngine
    from larder.feature_store.feature_group import FeatureGroup

    args = json.loads(sys.argv[1])
    die = args.get("die")
    if die == "after_delta_commit":  # SIGKILL between the Delta commit and the POST that records it
        FeatureGroup._record = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if die == "before_delta_commit":  # SIGKILL holding the lease, before anything is written
        PythonEngine.write = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    conn = larder.connection(**args["connection"])
    fg = conn.get_feature_store().get_feature_group(args["group"], 1)
    n, start = args["rows"], args.get("start", 0)
    results = []
    for batch in range(args.get("batches", 1)):
        lo = start + batch * n
        df = pd.DataFrame({
            "id": range(lo, lo + n),
            "t": pd.Timestamp("2024-01-01", tz="UTC"),
            "v": [float(i) for i in range(lo, lo + n)],
        })
        try:
            c = fg.insert(df)
            results.append({"ok": c["delta_version"]})
        except larder.errors.LarderError as e:
            results.append({"error": type(e).__name__, "message": e.message, "details": e.details})
    print(json.dumps(results))
    """
)


def writer(
    user: Any, project: str, group: str, rows: int, start: int = 0, batches: int = 1, die: str | None = None
) -> subprocess.Popen[str]:
    """A child process that inserts ``batches`` x ``rows`` rows of distinct keys into ``group``."""
    host, port = user.server.url.removeprefix("https://").rsplit(":", 1)
    args = {
        "connection": {
            "host": host,
            "port": int(port),
            "project": project,
            "api_key_value": user.key,
            "trust_store_path": user.server.ca,
        },
        "group": group,
        "rows": rows,
        "start": start,
        "batches": batches,
        "die": die,
    }
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def results(proc: subprocess.Popen[str], timeout: float = 300) -> list[dict[str, Any]]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"writer exited {proc.returncode}:\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])
