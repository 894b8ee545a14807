"""Fixtures for end-to-end tests: real `larder server` processes over HTTPS, real PostgreSQL.

- ``pg_url``: a PostgreSQL 16 (PyPI ``pgserver``) started once per session.
- ``platform``: a server on SQLite, started once per session.
- ``any_platform``: the same server tests run on SQLite and on PostgreSQL.
- ``LarderServer``: start more servers (own homes) when a test needs one of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

BIN = Path(sys.executable).parent
LARDER = str(BIN / "larder")


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the `larder` command line; returns the completed process (stdout/stderr as text)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([LARDER, *args], capture_output=True, text=True, env=full_env, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"larder {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@dataclass
class LarderServer:
    """A real `larder server start` process on an ephemeral port, with its own home and CA."""

    home: Path
    database_url: str | None = None
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""

    def init(self, *hostnames: str) -> LarderServer:
        args = ["server", "init", "--home", str(self.home), "--json"]
        for h in hostnames:
            args += ["--hostname", h]
        if self.database_url:
            args += ["--database-url", self.database_url]
        run_cli(*args)
        return self

    def start(self, timeout: float = 60) -> LarderServer:
        url_file = self.home / "server.url"
        url_file.unlink(missing_ok=True)
        self.log_path = self.home / "server.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [LARDER, "server", "start", "--home", str(self.home), "--port", "0", *self.extra_args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not url_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")
            time.sleep(0.05)
        self.url = url_file.read_text().strip()
        return self

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def ca(self) -> str:
        return str(self.home / "tls" / "ca.pem")

    @property
    def admin_key_file(self) -> Path:
        return self.home / "admin_api_key"

    @property
    def admin_key(self) -> str:
        return self.admin_key_file.read_text().strip()

    def session(self, key: str | None) -> requests.Session:
        """A requests session that trusts this server's CA and sends ``key``."""
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        if key:
            s.headers["Authorization"] = f"ApiKey {key}"
        return s

    def api(self, method: str, path: str, key: str | None, **kwargs: Any) -> requests.Response:
        with self.session(key) as s:
            return s.request(method, self.url + "/api/v1" + path, timeout=30, **kwargs)

    def cli(
        self, *args: str, key_file: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        extra = ["--url", self.url, "--trust-store", self.ca]
        if key_file is not None:
            extra += ["--api-key-file", str(key_file)]
        return run_cli(*args, *extra, check=check)

    # conveniences built on the CLI (what an admin would type)
    def create_user(self, username: str, role: str = "user") -> None:
        self.cli(
            "user",
            "create",
            username,
            "--role",
            role,
            "--email",
            f"{username}@example.com",
            key_file=self.admin_key_file,
        )

    def create_key(
        self, username: str, scopes: str, tmp: Path, name: str | None = None, **kw: str
    ) -> tuple[str, Path]:
        args = ["apikey", "create", "--user", username, "--scopes", scopes, "--json"]
        if name:
            args += ["--name", name]
        for k, v in kw.items():
            args += [f"--{k.replace('_', '-')}", v]
        out = json.loads(self.cli(*args, key_file=self.admin_key_file).stdout)
        path = tmp / f"{username}-{uuid.uuid4().hex[:6]}.key"
        path.write_text(out["key"] + "\n")
        path.chmod(0o600)
        return out["key"], path


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the session (PyPI `pgserver`, PostgreSQL 16, Unix socket)."""
    import pgserver

    pgdata = tmp_path_factory.mktemp("pgdata")
    srv = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    uri = srv.get_uri()  # postgresql://postgres:@/postgres?host=/path
    try:
        yield uri.replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        srv.cleanup()


def _new_pg_database(pg_url: str) -> str:
    import psycopg

    name = f"larder_{uuid.uuid4().hex[:8]}"
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_url.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LarderServer]:
    """One real server on SQLite for the whole session."""
    server = LarderServer(tmp_path_factory.mktemp("home") / "platform").init().start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def any_platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LarderServer]:
    """A real server on each metadata database (SQLite, PostgreSQL)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("platform")
        return
    db_url = _new_pg_database(request.getfixturevalue("pg_url"))
    server = LarderServer(tmp_path_factory.mktemp("home") / "platform-pg", database_url=db_url).init().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local SparkSession (Delta, local[*]) for the whole test session, built as the spark
    engine builds one (``larder.engine.spark.session``); stopped at the end."""
    from larder.engine.spark.session import get_session

    session = get_session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def spark(spark_session: Any) -> Iterator[Any]:
    """The test session's SparkSession, active during the test and not after it: other tests'
    connections with ``engine=None`` must keep choosing the python engine."""
    from pyspark.sql import SparkSession

    spark_session._jvm.SparkSession.setActiveSession(spark_session._jsparkSession)  # active again
    SparkSession._activeSession = spark_session
    yield spark_session
    spark_session._jvm.SparkSession.clearActiveSession()
    SparkSession._activeSession = None


@pytest.fixture
def keytool() -> str:
    path = shutil.which("keytool")
    if path is None:
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / "keytool").exists():
            path = str(Path(java_home) / "bin" / "keytool")
    assert path, "Java's keytool is needed (Java 17 is on the machine image)"
    return path
