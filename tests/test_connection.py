"""The connector `larder.connection(...)` against real `larder server` processes over HTTPS.

Covers key sources and their precedence, error messages, the connection's life cycle, feature
store and model registry handles, certificate files, TLS verification, the platform environment,
the version check, the number of REST calls, `larder.connect(url)`, engines and `larder login`.
The AWS secrets stores are in test_connection_aws.py, the embedded platform in
test_connection_embedded.py; both import the fixtures defined here.
"""

from __future__ import annotations

import configparser
import datetime
import ipaddress
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import larder
from conftest import LARDER, LarderServer, run_cli
from larder.client.embedded import stop_platform
from larder.errors import (
    ApiKeyNotFoundError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    InvalidArgumentError,
    LarderError,
    NotFoundError,
)

SCOPES = ["project", "featurestore", "modelregistry", "dataset"]
LARDER_ENV = (
    "LARDER_HOST",
    "LARDER_PORT",
    "LARDER_PROJECT",
    "LARDER_API_KEY",
    "LARDER_TRUST_STORE",
    "LARDER_URL",
    "DATABRICKS_RUNTIME_VERSION",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
)


# --- fixtures shared by the connector test modules --------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A private HOME, no LARDER_*/AWS_* variables, and an embedded-platform home in tmp.

    Yields the HOME folder. Stops an embedded server a test may have started.
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in LARDER_ENV:
        monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var, raising=False)
    embedded_home = tmp_path / "embedded-home"
    monkeypatch.setenv("LARDER_HOME", str(embedded_home))
    yield home
    if (embedded_home / "server.pid").exists():
        stop_platform(embedded_home)


@dataclass
class Member:
    name: str
    key: str
    key_file: Path

    @property
    def secret(self) -> str:
        return self.key.split(".", 1)[1]


@dataclass
class Team:
    """Users of a real server: alice owns ``project`` (bob, carol and dave are members) and ``other``."""

    server: LarderServer
    project: str
    other: str
    alice: Member
    bob: Member
    carol: Member
    dave: Member

    @property
    def port(self) -> int:
        return port_of(self.server)

    def opts(self, **kw: Any) -> dict[str, Any]:
        """connection() arguments for this server and project (overridable)."""
        base: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "project": self.project,
            "trust_store_path": self.server.ca,
        }
        base.update(kw)
        return base


def port_of(server: LarderServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _ok(resp: Any, status: int) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


def make_member(server: LarderServer, base: str, folder: Path) -> Member:
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    admin = server.admin_key
    _ok(server.api("POST", "/users", admin, json={"username": name, "email": f"{name}@example.com"}), 201)
    created = _ok(
        server.api("POST", "/apikeys", admin, json={"name": "k1", "scopes": SCOPES, "user": name}), 201
    )
    path = folder / f"{name}.key"
    path.write_text(created["key"] + "\n")
    path.chmod(0o600)
    return Member(name, created["key"], path)


def make_team(server: LarderServer, folder: Path) -> Team:
    alice, bob, carol, dave = (make_member(server, n, folder) for n in ("alice", "bob", "carol", "dave"))
    suffix = uuid.uuid4().hex[:6]
    project, other = f"conn_{suffix}", f"conn_other_{suffix}"
    for name in (project, other):
        _ok(server.api("POST", "/projects", alice.key, json={"name": name}), 201)
    for m in (bob, carol, dave):
        _ok(
            server.api(
                "PUT", f"/projects/{project}/members/{m.name}", alice.key, json={"role": "data_scientist"}
            ),
            200,
        )
    return Team(server, project, other, alice, bob, carol, dave)


@pytest.fixture(scope="module")
def team(platform: LarderServer, tmp_path_factory: pytest.TempPathFactory) -> Team:
    return make_team(platform, tmp_path_factory.mktemp("keys"))


def assert_no_secret(text: str, *members: Member) -> None:
    for m in members:
        assert m.key not in text
        assert m.secret not in text


def error_text(e: BaseException) -> str:
    details = getattr(e, "details", {})
    return f"{e}\n{e!r}\n{json.dumps(details, default=str)}"


# --- API key sources and their precedence ------------------------------------------------------------


def write_local_profile(host: str, port: int, key: str) -> Path:
    """What `larder login` writes (its CLI is tested below)."""
    from larder.client.apikey import write_profile

    return write_profile(host, port, key)


def test_api_key_value_wins_over_every_other_source(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    write_local_profile("127.0.0.1", team.port, team.dave.key)
    monkeypatch.setenv("LARDER_API_KEY", team.carol.key)
    with larder.connection(
        **team.opts(api_key_value=team.alice.key, api_key_file=str(team.bob.key_file))
    ) as conn:
        assert conn.user == team.alice.name
        assert conn.api_key_source == "api_key_value"


def test_api_key_file_wins_over_env_and_secrets_store(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    write_local_profile("127.0.0.1", team.port, team.dave.key)
    monkeypatch.setenv("LARDER_API_KEY", team.carol.key)
    with larder.connection(**team.opts(api_key_file=str(team.bob.key_file))) as conn:
        assert conn.user == team.bob.name
        assert conn.api_key_source == f"api_key_file {team.bob.key_file}"


def test_env_wins_over_local_credentials(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    write_local_profile("127.0.0.1", team.port, team.dave.key)
    monkeypatch.setenv("LARDER_API_KEY", team.carol.key)
    with larder.connection(**team.opts()) as conn:
        assert conn.user == team.carol.name
        assert conn.api_key_source == "env LARDER_API_KEY"


def test_local_credentials_profile_by_host_and_port(team: Team, isolated: Path) -> None:
    write_local_profile("127.0.0.1", team.port + 1, team.bob.key)  # another platform on this host
    path = write_local_profile("127.0.0.1", team.port, team.dave.key)
    assert path == isolated / ".larder" / "credentials"
    with larder.connection(**team.opts()) as conn:
        assert conn.user == team.dave.name
        assert conn.api_key_source == f"local credentials {path} [127.0.0.1:{team.port}]"


def test_local_credentials_profile_by_host_alone(team: Team, isolated: Path) -> None:
    path = isolated / ".larder" / "credentials"
    path.parent.mkdir(mode=0o700)
    path.write_text(f"[127.0.0.1]\napi_key = {team.dave.key}\n")
    path.chmod(0o600)
    with larder.connection(**team.opts()) as conn:
        assert conn.user == team.dave.name
        assert conn.api_key_source.endswith("[127.0.0.1]")


@pytest.mark.parametrize("store", ["secretsmanager", "parameterstore"])
def test_api_key_file_and_env_are_honoured_with_aws_stores(
    team: Team, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    """hsfs ignored api_key_file unless secrets_store="local". No AWS is configured here: a lookup
    in AWS would fail, so connecting proves the file was used without asking AWS. An explicit AWS
    store is asked before LARDER_API_KEY (explicit arguments win over the environment): with the
    store unreachable, a stray env key is not used in its place."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("LARDER_API_KEY", team.carol.key)
    with larder.connection(**team.opts(secrets_store=store, api_key_file=str(team.bob.key_file))) as conn:
        assert conn.user == team.bob.name
    with pytest.raises(LarderError) as info:
        larder.connection(**team.opts(secrets_store=store))
    assert f"secrets_store={store!r}" in str(info.value) and team.carol.key not in str(info.value)


# --- errors ---------------------------------------------------------------------------------------


def test_no_key_anywhere_lists_what_was_tried(team: Team, isolated: Path) -> None:
    with pytest.raises(ApiKeyNotFoundError) as info:
        larder.connection(**team.opts())
    msg = str(info.value)
    assert f"127.0.0.1:{team.port}" in msg
    assert "1) api_key_value (not given)" in msg
    assert "2) api_key_file (not given)" in msg
    assert "3) env LARDER_API_KEY (not set)" in msg
    assert f"4) local credentials {isolated / '.larder' / 'credentials'} (no such file" in msg
    assert "larder login" in msg


def test_no_profile_for_this_host_names_the_sections_tried(team: Team) -> None:
    write_local_profile("larder.example.com", 443, team.dave.key)
    with pytest.raises(ApiKeyNotFoundError) as info:
        larder.connection(**team.opts())
    assert f"no profile [127.0.0.1:{team.port}] or [127.0.0.1]" in str(info.value)
    assert_no_secret(error_text(info.value), team.dave)


def test_missing_and_empty_api_key_files(team: Team, tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(ConfigurationError, match="does not exist") as info:
        larder.connection(**team.opts(api_key_file=str(missing)))
    assert str(missing) in str(info.value)
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    with pytest.raises(ConfigurationError, match="is empty"):
        larder.connection(**team.opts(api_key_file=str(empty)))


def test_unknown_key_is_refused_without_leaking_it(team: Team) -> None:
    fake = "0123456789abcdef.thisIsNotARealSecretButLooksLikeOne_1234567"
    with pytest.raises(AuthenticationError) as info:
        larder.connection(**team.opts(api_key_value=fake))
    assert "Unknown API key" in str(info.value)
    assert fake not in error_text(info.value)
    assert "thisIsNotARealSecret" not in error_text(info.value)


def test_malformed_key_is_refused_without_leaking_it(team: Team) -> None:
    bad = "abc.def ghi-secret-part"
    with pytest.raises(ConfigurationError, match="spaces or control characters") as info:
        larder.connection(**team.opts(api_key_value=bad))
    assert "ghi-secret-part" not in error_text(info.value)


def test_unknown_secrets_store_lists_the_allowed_ones(team: Team) -> None:
    with pytest.raises(ConfigurationError) as info:
        larder.connection(**team.opts(secrets_store="vault"))
    msg = str(info.value)
    assert "'vault'" in msg
    for allowed in ("'local'", "'secretsmanager'", "'parameterstore'"):
        assert allowed in msg


def test_unknown_project_and_bad_arguments(team: Team, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nosuchproject"):
        larder.connection(**team.opts(project="nosuchproject", api_key_value=team.alice.key))
    with pytest.raises(InvalidArgumentError, match="Invalid project name"):
        larder.connection(**team.opts(project="Bad-Name", api_key_value=team.alice.key))
    with pytest.raises(ConfigurationError, match="Invalid port 0"):
        larder.connection(**team.opts(port=0, api_key_value=team.alice.key))
    with pytest.raises(ConfigurationError, match="looks like a URL"):
        larder.connection(**team.opts(host=f"https://127.0.0.1:{team.port}", api_key_value=team.alice.key))
    with pytest.raises(ConfigurationError, match="trust_store_path .* does not exist"):
        larder.connection(
            **team.opts(trust_store_path=str(tmp_path / "none.pem"), api_key_value=team.alice.key)
        )
    assert not list((tmp_path / "home").rglob("*.pem"))  # no certificates were written


def test_group_readable_credentials_file_warns(team: Team) -> None:
    path = write_local_profile("127.0.0.1", team.port, team.dave.key)
    path.chmod(0o644)
    with pytest.warns(UserWarning, match="readable by other users") as record:
        conn = larder.connection(**team.opts())
    assert conn.user == team.dave.name
    assert_no_secret(" ".join(str(w.message) for w in record), team.dave)
    conn.close()


def test_keys_never_reach_the_logs(team: Team, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with larder.connection(**team.opts(api_key_value=team.alice.key)) as conn:
        conn.get_feature_store()
    with pytest.raises(AuthenticationError):
        larder.connection(**team.opts(api_key_value=team.bob.key + "x"))
    assert "Connected to" in caplog.text  # something was logged
    assert_no_secret(caplog.text, team.alice, team.bob)


# --- life cycle -------------------------------------------------------------------------------------


def test_repr_shows_host_project_engine_never_the_key(team: Team) -> None:
    conn = larder.connection(**team.opts(api_key_value=team.alice.key))
    text = repr(conn)
    assert f"host='127.0.0.1', port={team.port}, project='{team.project}', engine='python'" in text
    assert "connected=True" in text
    assert conn.api_key_value == "***"
    assert_no_secret(text + str(conn.certificates) + repr(conn.get_feature_store()), team.alice)
    conn.close()
    assert "connected=False" in repr(conn)
    assert_no_secret(repr(conn), team.alice)


def test_context_manager_and_connect_close_can_be_called_again(team: Team) -> None:
    with larder.connection(**team.opts(api_key_value=team.alice.key)) as conn:
        assert conn.connected
        first = conn.certificates.folder
        assert first.is_dir()
    assert not conn.connected
    assert not first.exists()
    conn.close()  # again: harmless
    conn.connect()
    second = conn.certificates.folder
    assert second.is_dir() and second != first
    conn.connect()  # on an open connection: reconnects with fresh certificates
    third = conn.certificates.folder
    assert third.is_dir() and not second.exists()
    assert conn.get_feature_store().project == team.project
    conn.close()
    assert not third.exists()


def test_setting_a_property_while_connected_raises(team: Team) -> None:
    conn = larder.connection(**team.opts(api_key_value=team.alice.key))
    values = {
        "host": "localhost",
        "port": 1,
        "project": team.other,
        "engine": "training",
        "region_name": "eu-west-1",
        "secrets_store": "parameterstore",
        "hostname_verification": False,
        "trust_store_path": "/x.pem",
        "cert_folder": "/tmp",
        "api_key_file": "/x.key",
        "api_key_value": "x.y",
    }
    for name, value in values.items():
        with pytest.raises(ConfigurationError) as info:
            setattr(conn, name, value)
        assert f"Cannot change {name} while connected" in str(info.value)
        assert "close()" in str(info.value)
    assert conn.project == team.project
    conn.close()
    conn.project = team.other
    conn.engine = "training"
    conn.connect()
    assert (conn.project, conn.engine) == (team.other, "training")
    assert conn.get_feature_store().name == f"{team.other}_featurestore"
    conn.close()


def test_closed_connection_refuses_work(team: Team) -> None:
    conn = larder.connection(**team.opts(api_key_value=team.alice.key))
    conn.close()
    for call in (conn.get_feature_store, conn.get_model_registry, conn.get_engine, lambda: conn.certificates):
        with pytest.raises(ConfigurationError, match="call connect\\(\\) first"):
            call()


def test_failed_connect_leaves_no_certificates(team: Team, tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    with pytest.raises(NotFoundError):
        larder.connection(
            **team.opts(project="nosuchproject", api_key_value=team.alice.key, cert_folder=str(folder))
        )
    assert not folder.exists() or not any(folder.rglob("*"))


# --- feature store and model registry handles --------------------------------------------------------


def test_get_feature_store_own_and_shared(team: Team) -> None:
    with larder.connection(**team.opts(api_key_value=team.alice.key)) as conn:
        fs = conn.get_feature_store()
        assert (fs.name, fs.project, fs.connection) == (f"{team.project}_featurestore", team.project, conn)
        assert conn.get_feature_store(f"{team.project}_featurestore") == fs
        shared = conn.get_feature_store(f"{team.other}_featurestore")
        assert (shared.name, shared.project) == (f"{team.other}_featurestore", team.other)
        assert conn.get_feature_store(team.other).name == shared.name
        with pytest.raises(InvalidArgumentError):
            conn.get_feature_store("Not A Name")
    with larder.connection(**team.opts(api_key_value=team.bob.key)) as conn:
        with pytest.raises(NotFoundError) as info:
            conn.get_feature_store(team.other)
        assert f"feature store of project '{team.other}'" in str(info.value)
        assert team.bob.name in str(info.value)


def test_get_model_registry_own_and_shared(team: Team) -> None:
    with larder.connection(**team.opts(api_key_value=team.alice.key)) as conn:
        mr = conn.get_model_registry()
        assert (mr.project, mr.shared, mr.connection) == (team.project, False, conn)
        other = conn.get_model_registry(team.other)
        assert (other.project, other.shared) == (team.other, True)
        assert repr(other) == f"ModelRegistry(project='{team.other}')"
    with larder.connection(**team.opts(api_key_value=team.bob.key)) as conn:
        with pytest.raises(NotFoundError, match=f"model registry of project '{team.other}'"):
            conn.get_model_registry(team.other)
        with pytest.raises(NotFoundError):
            conn.get_model_registry("nosuchproject")


# --- certificates -----------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_certificate_files_layout_permissions_and_content(team: Team, isolated: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    conn = larder.connection(**team.opts(api_key_value=team.alice.key))
    certs = conn.certificates
    root = isolated / ".larder" / "certs"
    assert certs.folder.parent == root / "127.0.0.1" / team.project / team.alice.name
    assert certs.folder.name.startswith(f"{os.getpid()}-")
    assert sorted(p.name for p in certs.folder.iterdir()) == sorted(
        [
            "ca_chain.pem",
            "client_cert.pem",
            "client_key.pem",
            "keyStore.p12",
            "trustStore.p12",
            "material_passwd",
        ]
    )
    for folder in (
        root,
        root / "127.0.0.1",
        root / "127.0.0.1" / team.project,
        certs.folder.parent,
        certs.folder,
    ):
        assert _mode(folder) == 0o700, folder
    for path in certs.folder.iterdir():
        assert _mode(path) == 0o600, path
    assert (certs.user, certs.project) == (team.alice.name, team.project)
    assert certs.expires_at > datetime.datetime.now(datetime.timezone.utc)

    cert = x509.load_pem_x509_certificate(certs.client_cert.read_bytes())
    assert format(cert.serial_number, "x") == certs.serial
    assert cert.subject.get_attributes_for_oid(x509.NameOID.USER_ID)[0].value == team.alice.name
    assert Path(certs.ca_chain).read_text() == Path(team.server.ca).read_text()
    key, store_cert, cas = pkcs12.load_key_and_certificates(
        certs.key_store.read_bytes(), certs.password.encode()
    )
    assert key is not None and store_cert == cert and len(cas) == 1
    assert certs.password not in repr(certs)
    conn.close()
    assert not certs.folder.exists()
    assert not (root / "127.0.0.1").exists()  # empty parents are removed too
    assert root.is_dir()


def test_two_connections_never_share_files(team: Team) -> None:
    a = larder.connection(**team.opts(api_key_value=team.alice.key))
    b = larder.connection(**team.opts(api_key_value=team.alice.key))
    assert a.certificates.folder != b.certificates.folder
    assert a.certificates.folder.parent == b.certificates.folder.parent
    assert a.certificates.serial != b.certificates.serial
    a.close()
    assert b.certificates.client_key.is_file()  # closing one keeps the other's files
    b.close()


CHILD = """
import json, os, sys, time
import larder
conn = larder.connection(host="127.0.0.1", port=int(sys.argv[1]), project=sys.argv[2],
                         trust_store_path=sys.argv[3], cert_folder=sys.argv[4] or None)
folder = conn.certificates.folder
print(json.dumps({"folder": str(folder), "files": sorted(os.listdir(folder)), "pid": os.getpid()}), flush=True)
time.sleep(float(sys.argv[5]))
if sys.argv[6] == "close":
    conn.close()
"""


def _child(team: Team, member: Member, cert_folder: str, sleep: float, end: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LARDER_API_KEY": member.key}
    args = [
        sys.executable,
        "-c",
        CHILD,
        str(team.port),
        team.project,
        team.server.ca,
        cert_folder,
        str(sleep),
        end,
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_two_processes_never_collide(team: Team, tmp_path: Path) -> None:
    folder = tmp_path / "shared-certs"
    procs = [_child(team, team.alice, str(folder), 1.5, "close") for _ in range(2)]
    results = [_finish(p) for p in procs]
    assert results[0]["folder"] != results[1]["folder"]
    for r in results:
        assert len(r["files"]) == 6
        assert Path(r["folder"]).name.startswith(f"{r['pid']}-")
        assert not Path(r["folder"]).exists()


def test_interpreter_exit_removes_forgotten_certificates(team: Team, isolated: Path) -> None:
    result = _finish(_child(team, team.alice, "", 0, "exit"))  # never calls close()
    folder = Path(result["folder"])
    assert folder.is_relative_to(isolated / ".larder" / "certs")
    assert len(result["files"]) == 6
    assert not folder.exists()
    assert not (isolated / ".larder" / "certs" / "127.0.0.1").exists()


def test_shared_cert_folder_gets_a_private_folder_per_os_user(team: Team, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    with larder.connection(**team.opts(api_key_value=team.alice.key, cert_folder=str(shared))) as conn:
        own = shared / f"larder-{os.getuid()}"
        assert conn.certificates.folder.is_relative_to(own)
        assert _mode(own) == 0o700 and own.stat().st_uid == os.getuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown a folder to another user")
def test_foreign_folder_in_shared_cert_folder_is_refused(team: Team, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    planted = shared / f"larder-{os.getuid()}"
    planted.mkdir()
    os.chown(planted, 65534, 65534)  # another OS user got there first
    with pytest.raises(ConfigurationError, match="not a folder owned by you"):
        larder.connection(**team.opts(api_key_value=team.alice.key, cert_folder=str(shared)))


@pytest.mark.skipif(
    os.geteuid() != 0 or not hasattr(os, "fork"), reason="needs root to become another OS user"
)
def test_two_os_users_share_a_cert_folder(team: Team) -> None:
    """hsfs users hit this in /tmp: the second OS user could not write where the first had."""
    shared = Path(tempfile.mkdtemp(prefix="larder-shared-"))
    shared.chmod(0o1777)
    ca = shared / "ca.pem"
    shutil.copy(team.server.ca, ca)
    ca.chmod(0o644)
    nobody = 65534
    opts = team.opts(cert_folder=str(shared), trust_store_path=str(ca))
    first = larder.connection(**opts, api_key_value=team.alice.key)
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child becomes the OS user 'nobody' and connects with the same cert_folder
            result: dict[str, Any] = {}
            try:
                os.close(read_end)
                os.setgroups([])
                os.setgid(nobody)
                os.setuid(nobody)
                conn = larder.connection(**opts, api_key_value=team.bob.key)
                folder = conn.certificates.folder
                result = {
                    "folder": str(folder),
                    "uid": folder.stat().st_uid,
                    "files": sorted(os.listdir(folder)),
                }
                conn.close()
                result["removed"] = not folder.exists()
            except BaseException as e:
                result = {"error": repr(e)}
            finally:
                os.write(write_end, json.dumps(result).encode())
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as f:
            result = json.loads(f.read())
        os.waitpid(pid, 0)
        assert "error" not in result, result
        assert result["uid"] == nobody
        assert Path(result["folder"]).is_relative_to(shared / f"larder-{nobody}")
        assert len(result["files"]) == 6 and result["removed"]
        assert first.certificates.folder.is_relative_to(shared / f"larder-{os.getuid()}")
        assert first.certificates.client_key.is_file()
    finally:
        first.close()
        shutil.rmtree(shared, ignore_errors=True)


# --- TLS --------------------------------------------------------------------------------------------


def test_untrusted_ca_is_refused_and_the_message_gives_both_fixes(team: Team) -> None:
    with pytest.raises(ConnectionFailedError) as info:
        larder.connection(**team.opts(trust_store_path=None, api_key_value=team.alice.key))
    msg = str(info.value)
    assert "TLS verification failed" in msg
    assert "trust_store_path=" in msg and "hostname_verification=False" in msg
    assert_no_secret(error_text(info.value), team.alice)


def test_another_platforms_ca_is_refused_even_without_hostname_verification(
    team: Team, tmp_path: Path
) -> None:
    from larder.server.security.ca import create_ca

    create_ca(tmp_path / "ca.pem", tmp_path / "ca.key", "Some Other CA")
    for hostname_verification in (True, False):
        with pytest.raises(ConnectionFailedError, match="TLS verification failed"):
            larder.connection(
                **team.opts(
                    trust_store_path=str(tmp_path / "ca.pem"),
                    hostname_verification=hostname_verification,
                    api_key_value=team.alice.key,
                )
            )


def test_trust_store_from_the_environment(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LARDER_TRUST_STORE", team.server.ca)
    with larder.connection(**team.opts(trust_store_path=None, api_key_value=team.alice.key)) as conn:
        assert conn.connected


@pytest.fixture(scope="module")
def misnamed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LarderServer, str]]:
    """A real server whose certificate (from its own CA) names only other.example, not 127.0.0.1.

    Yields the server and a project the admin owns."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from larder.client.rest import RestClient
    from larder.server.security.ca import CertificateAuthority

    server = LarderServer(tmp_path_factory.mktemp("misnamed") / "home").init()
    tls = server.home / "tls"
    ca = CertificateAuthority.load(tls / "ca.pem", tls / "ca.key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other.example")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("other.example")]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    (tls / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.pem)
    (tls / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server.start()
    project = f"misnamed_{uuid.uuid4().hex[:6]}"
    admin = RestClient(server.url, server.admin_key, verify=server.ca, hostname_verification=False)
    admin.post("/projects", {"name": project})
    admin.close()
    yield server, project
    server.stop()


def test_certificate_for_another_hostname_is_refused(misnamed: tuple[LarderServer, str]) -> None:
    server, project = misnamed
    opts = {"host": "127.0.0.1", "port": port_of(server), "project": project, "trust_store_path": server.ca}
    with pytest.raises(ConnectionFailedError) as info:
        larder.connection(**opts, api_key_value=server.admin_key)
    msg = str(info.value)
    assert "127.0.0.1" in msg and "hostname_verification=False" in msg
    with larder.connection(**opts, api_key_value=server.admin_key, hostname_verification=False) as conn:
        assert conn.project == project and conn.user == "admin"


def _loopback_hostname() -> str | None:
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)}
    except OSError:
        return None
    return name if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses) else None


@pytest.mark.skipif(
    _loopback_hostname() is None, reason="the machine's host name does not resolve to loopback"
)
def test_machine_hostname_not_in_the_certificate_is_refused(team: Team) -> None:
    name = _loopback_hostname()
    assert name is not None
    opts = team.opts(host=name, api_key_value=team.alice.key)
    with pytest.raises(ConnectionFailedError, match="hostname_verification=False"):
        larder.connection(**opts)
    with larder.connection(**opts, hostname_verification=False) as conn:
        assert conn.host == name


# --- inside the platform, project choice, version, REST calls --------------------------------------


def test_platform_environment_needs_no_arguments(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LARDER_HOST", "127.0.0.1")
    monkeypatch.setenv("LARDER_PORT", str(team.port))
    monkeypatch.setenv("LARDER_PROJECT", team.project)
    monkeypatch.setenv("LARDER_API_KEY", team.carol.key)
    monkeypatch.setenv("LARDER_TRUST_STORE", team.server.ca)
    with larder.connection() as conn:
        assert (conn.host, conn.port, conn.project, conn.user) == (
            "127.0.0.1",
            team.port,
            team.project,
            team.carol.name,
        )
        assert not conn.embedded
    with larder.connection(project=team.other, api_key_value=team.alice.key) as conn:  # arguments win
        assert conn.project == team.other


def test_project_defaults_to_your_only_project(team: Team) -> None:
    with larder.connection(**team.opts(project=None, api_key_value=team.dave.key)) as conn:
        assert conn.project == team.project
    with pytest.raises(ConfigurationError) as info:
        larder.connection(**team.opts(project=None, api_key_value=team.alice.key))
    assert team.project in str(info.value) and team.other in str(info.value)
    assert "pass project=" in str(info.value)


def test_version_mismatch_warns(
    team: Team, monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    server_version = larder.__version__
    monkeypatch.setattr(larder, "__version__", "9.7.0")
    with pytest.warns(UserWarning, match="major.minor versions differ") as record:
        conn = larder.connection(**team.opts(api_key_value=team.alice.key))
    assert conn.server_version == server_version
    assert any("9.7.0" in str(w.message) and server_version in str(w.message) for w in record)
    conn.close()
    major, minor = server_version.split(".")[:2]
    monkeypatch.setattr(larder, "__version__", f"{major}.{minor}.999")  # a patch difference is fine
    recwarn.clear()
    larder.connection(**team.opts(api_key_value=team.alice.key)).close()
    assert not [w for w in recwarn if "versions differ" in str(w.message)]


def test_connect_and_get_feature_store_take_four_rest_calls(team: Team) -> None:
    log = team.server.log_path
    offset = log.stat().st_size
    conn = larder.connection(**team.opts(api_key_value=team.alice.key))
    conn.get_feature_store()
    conn.get_model_registry()
    marker = f"/marker-{uuid.uuid4().hex}"
    assert team.server.api("GET", marker, None).status_code == 404
    deadline = time.monotonic() + 10
    while marker not in log.read_text(errors="replace")[offset:] and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [
        line
        for line in log.read_text(errors="replace")[offset:].splitlines()
        if "larder.server.access" in line and marker not in line
    ]
    conn.close()
    assert len(lines) == 4, lines
    assert "GET /api/v1/discover 200" in lines[0]
    assert "POST /api/v1/auth/token 200" in lines[1] and team.alice.name in lines[1]
    assert "GET /api/v1/projects/{project} 200" in lines[2] and team.alice.name in lines[2]
    assert "GET /api/v1/projects/{project}/credentials 200" in lines[3]


# --- larder.connect(url) ----------------------------------------------------------------------------


def test_connect_from_a_url(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"https://127.0.0.1:{team.port}/{team.project}"
    with larder.connect(url, api_key_value=team.alice.key, trust_store_path=team.server.ca) as conn:
        assert (conn.host, conn.port, conn.project, conn.user) == (
            "127.0.0.1",
            team.port,
            team.project,
            team.alice.name,
        )
        assert conn.url == f"https://127.0.0.1:{team.port}"
    monkeypatch.setenv("LARDER_API_KEY", team.dave.key)  # no key given: the usual chain
    with larder.connect(f"https://127.0.0.1:{team.port}", trust_store_path=team.server.ca) as conn:
        assert (conn.project, conn.user) == (team.project, team.dave.name)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://127.0.0.1:8181/p", "HTTPS only"),
        ("https://user:pw@127.0.0.1:8181/p", "credentials in the URL"),
        ("https://127.0.0.1:8181/p/extra", "only a project name may follow"),
        ("https://127.0.0.1:8181/p?x=1", "only a project name may follow"),
        ("127.0.0.1:8181", "https://"),
    ],
)
def test_connect_refuses_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        larder.connect(url, api_key_value="k.secret")
    assert "user:pw" not in error_text(info.value)


def test_connect_refuses_keywords_the_url_gives() -> None:
    with pytest.raises(ConfigurationError, match="project"):
        larder.connect("https://127.0.0.1:8181/p", api_key_value="k.s", project="q")


def test_an_api_key_as_auth_instance_is_refused_and_not_echoed() -> None:
    """auth_instance is another connection's auth service (Hoss); a key string there points to
    api_key_value= and never shows the key."""
    key = "0123456789abcdef.aSecretThatMustNotBeEchoed_0123456789abcdefg"
    for call in (
        lambda: larder.connect("https://127.0.0.1:8181/p", key),
        lambda: larder.connection(host="127.0.0.1", port=8181, auth_instance=key),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigurationError, match="api_key_value=") as info:
            call()
        assert "aSecretThatMustNotBeEchoed" not in error_text(info.value)


# --- engines ----------------------------------------------------------------------------------------


def test_default_engine_is_python_and_needs_no_extra_for_metadata(team: Team) -> None:
    assert "pyspark" not in sys.modules
    with larder.connection(**team.opts(api_key_value=team.alice.key)) as conn:
        assert conn.engine == "python"
        assert conn.get_engine().name == "python"
    assert "pyspark" not in sys.modules


def test_active_spark_session_selects_spark(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    pyspark = types.ModuleType("pyspark")
    sql = types.ModuleType("pyspark.sql")

    class SparkSession:
        active: object | None = object()

        @classmethod
        def getActiveSession(cls) -> object | None:  # noqa: N802 - PySpark's name
            return cls.active

    sql.SparkSession = SparkSession  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyspark", pyspark)
    monkeypatch.setitem(sys.modules, "pyspark.sql", sql)
    with larder.connection(**team.opts(api_key_value=team.alice.key)) as conn:
        assert conn.engine == "spark"
    SparkSession.active = None  # pyspark imported, but no session: python
    with larder.connection(**team.opts(api_key_value=team.alice.key)) as conn:
        assert conn.engine == "python"


def test_databricks_selects_spark(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    with larder.connection(**team.opts(api_key_value=team.alice.key)) as conn:
        assert conn.engine == "spark"


def test_training_engine_is_metadata_only(team: Team) -> None:
    with larder.connection(**team.opts(engine="training", api_key_value=team.alice.key)) as conn:
        assert conn.engine == "training"
        assert conn.get_feature_store().project == team.project  # metadata works
        engine = conn.get_engine()
        for op in (
            lambda: engine.read("file:///x"),
            lambda: engine.write(None, "file:///x"),
            lambda: engine.sql("select 1"),
        ):
            with pytest.raises(ConfigurationError, match="'training' engine is metadata-only"):
                op()


@pytest.mark.parametrize(
    ("engine", "module"), [("spark", "pyspark"), ("hive", "pyhive"), ("python", "pyarrow")]
)
def test_engine_without_its_extra_names_the_extra(
    engine: str, module: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # not installed (whatever this machine has)
    with pytest.raises(ConfigurationError) as info:  # raised before any network call: nothing listens on :9
        larder.connection(host="127.0.0.1", port=9, project="p", engine=engine, api_key_value="k.s")
    assert f"pip install 'larder-platform[{engine}]'" in str(info.value)
    assert module in str(info.value)


def test_unknown_engine_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        larder.connection(host="127.0.0.1", port=9, project="p", engine="pandas", api_key_value="k.s")
    for name in ("'python'", "'spark'", "'hive'", "'training'"):
        assert name in str(info.value)


# --- the package itself -----------------------------------------------------------------------------


def test_import_larder_is_light_and_connection_stays_the_function() -> None:
    code = (
        "import sys, larder, larder.connection\n"
        "heavy = ['requests', 'boto3', 'botocore', 'pandas', 'pyarrow', 'sqlalchemy', 'fastapi', 'cryptography',"
        " 'pyspark', 'furl']\n"
        "print([m for m in heavy if m in sys.modules], callable(larder.connection), larder.Connection.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] True Connection"


# --- larder login -----------------------------------------------------------------------------------


def _profiles(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def test_login_writes_a_private_profile_that_connection_uses(team: Team, isolated: Path) -> None:
    proc = run_cli(
        "login",
        "--url",
        team.server.url,
        "--api-key-file",
        str(team.dave.key_file),
        "--trust-store",
        team.server.ca,
    )
    path = isolated / ".larder" / "credentials"
    assert f"(user {team.dave.name})" in proc.stdout and str(path) in proc.stdout
    assert_no_secret(proc.stdout + proc.stderr, team.dave)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert _profiles(path)[f"127.0.0.1:{team.port}"]["api_key"] == team.dave.key
    with larder.connection(**team.opts()) as conn:
        assert conn.user == team.dave.name

    # another platform's profile is kept; logging in again replaces this one
    run_cli("login", "--url", "https://127.0.0.1:1", "--api-key-file", str(team.bob.key_file), "--no-check")
    run_cli(
        "login",
        "--url",
        team.server.url,
        "--api-key-file",
        str(team.carol.key_file),
        "--trust-store",
        team.server.ca,
    )
    profiles = _profiles(path)
    assert profiles["127.0.0.1:1"]["api_key"] == team.bob.key
    assert profiles[f"127.0.0.1:{team.port}"]["api_key"] == team.carol.key
    with larder.connection(**team.opts()) as conn:
        assert conn.user == team.carol.name


def test_login_reads_the_key_from_a_hidden_prompt(team: Team, isolated: Path) -> None:
    proc = subprocess.run(
        [LARDER, "login", "--url", team.server.url, "--trust-store", team.server.ca],
        input=team.dave.key + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no controlling terminal: the prompt reads stdin
    )
    assert proc.returncode == 0, proc.stderr
    assert "API key" in proc.stdout + proc.stderr
    assert_no_secret(proc.stdout + proc.stderr, team.dave)
    assert (
        _profiles(isolated / ".larder" / "credentials")[f"127.0.0.1:{team.port}"]["api_key"] == team.dave.key
    )


def test_login_refuses_a_bad_key_and_writes_nothing(team: Team, isolated: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text(team.dave.key + "x\n")
    proc = run_cli(
        "login",
        "--url",
        team.server.url,
        "--api-key-file",
        str(bad),
        "--trust-store",
        team.server.ca,
        check=False,
    )
    assert proc.returncode == 1
    assert "Unknown API key" in proc.stderr
    assert_no_secret(proc.stdout + proc.stderr, team.dave)
    assert not (isolated / ".larder" / "credentials").exists()
