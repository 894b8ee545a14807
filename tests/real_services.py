"""Real services for the tests, started as processes on free loopback ports: ``moto_server`` (the
AWS APIs: S3, STS, Secrets Manager, SSM) and Debian's ``redis-server``. Fixtures of any scope wrap
these context managers."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

MOTO_SERVER = str(Path(sys.executable).parent / "moto_server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def moto(log_dir: Path) -> Iterator[str]:
    """``moto_server -H 127.0.0.1 -p <free port>``; yields its URL."""
    port = free_port()
    log_path = log_dir / "moto.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited {proc.returncode}:\n{log_path.read_text()}")
            try:
                if requests.get(url + "/moto-api/", timeout=1).status_code < 500:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start in 30 s:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        _stop(proc)


@contextlib.contextmanager
def redis() -> Iterator[str]:
    """``redis-server`` with no persistence; yields ``redis://127.0.0.1:<port>/0``."""
    import redis as redis_client

    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed: `make test` installs Debian's redis-server package"
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis_client.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis_client.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)
