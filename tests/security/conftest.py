"""Fixtures of the security suite: one real server of its own (SQLite) and a cast of users.

The suite plays an attacker and an unlucky operator against real `larder server` processes: other
projects' names and ids on every route, deleted and re-created objects, stale memberships.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

import larder
from conftest import LarderServer

DATA_SCOPES = ["project", "featurestore", "modelregistry", "dataset"]


def uid() -> str:
    return uuid.uuid4().hex[:6]


@dataclass
class User:
    """A user of the security server and one API key with the data scopes."""

    server: LarderServer
    name: str
    key: str
    _session: requests.Session | None = field(default=None, repr=False)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self._session is None:
            self._session = self.server.session(self.key)
        return self._session.request(method, self.server.url + "/api/v1" + path, timeout=30, **kwargs)

    def connection(self, project: str, **kwargs: Any) -> larder.Connection:
        host, port = self.server.url.removeprefix("https://").rsplit(":", 1)
        return larder.connection(
            host=host,
            port=int(port),
            project=project,
            api_key_value=self.key,
            trust_store_path=self.server.ca,
            **kwargs,
        )


@dataclass
class Cast:
    server: LarderServer
    tmp: Path
    namespace: str = "default"

    def admin(self) -> User:
        return User(self.server, "admin", self.server.admin_key)

    def user(self, prefix: str, role: str = "user", scopes: list[str] | None = None) -> User:
        name = f"{prefix}{uid()}"
        admin = self.admin()
        r = admin.api("POST", "/users", json={"username": name, "role": role})
        assert r.status_code == 201, r.text
        r = admin.api("POST", "/apikeys", json={"name": "k", "scopes": scopes or DATA_SCOPES, "user": name})
        assert r.status_code == 201, r.text
        return User(self.server, name, r.json()["key"])

    def project(self, owner: User, *members: User, prefix: str = "p") -> str:
        name = f"{prefix}_{uid()}"
        r = owner.api("POST", "/projects", json={"name": name, "namespace": self.namespace})
        assert r.status_code == 201, r.text
        for m in members:
            r = owner.api("PUT", f"/projects/{name}/members/{m.name}", json={"role": "data_scientist"})
            assert r.status_code == 200, r.text
        return name


@pytest.fixture(scope="session")
def sec_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LarderServer]:
    """A server of the security suite's own: id reuse needs to know which rows are the newest."""
    server = LarderServer(tmp_path_factory.mktemp("sec") / "home").init().start()
    yield server
    server.stop()


@pytest.fixture
def cast(sec_server: LarderServer, tmp_path: Path) -> Cast:
    return Cast(sec_server, tmp_path)


ROLE_ARN = "arn:aws:iam::123456789012:role/larder-vending"


def s3_namespace(server: LarderServer, moto_url: str, bucket: str) -> str:
    """Register moto's S3 as an object store of ``server`` and a namespace ``lake`` on it."""
    admin = server.admin_key
    store = {
        "name": "moto",
        "type": "s3",
        "endpoint_url": moto_url,
        "region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "role_arn": ROLE_ARN,
    }
    assert server.api("POST", "/objectstores", admin, json=store).status_code == 201
    r = server.api(
        "POST", "/namespaces", admin, json={"name": "lake", "object_store": "moto", "bucket": bucket}
    )
    assert r.status_code == 201, r.text
    return "lake"


@pytest.fixture(scope="session")
def s3_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LarderServer]:
    """A server whose projects live on S3 (moto_server) and whose online store is Redis."""
    import real_services

    folder = tmp_path_factory.mktemp("sec-s3")
    with real_services.moto(folder) as moto_url, real_services.redis() as redis_url:
        server = LarderServer(folder / "home").init()
        with open(server.home / "server.toml", "a") as f:
            f.write(f'online_store = "redis"\nredis_url = "{redis_url}"\n')
        server.start()
        try:
            s3_namespace(server, moto_url, "sec-lake")
            yield server
        finally:
            server.stop()


@pytest.fixture(params=["local-sqlite", "s3-redis"])
def any_cast(request: pytest.FixtureRequest, sec_server: LarderServer, tmp_path: Path) -> Cast:
    """The cast on a local store with the SQLite online store, and on S3 with Redis."""
    if request.param == "local-sqlite":
        return Cast(sec_server, tmp_path)
    return Cast(request.getfixturevalue("s3_redis_server"), tmp_path, namespace="lake")
