"""The platform server end to end: a real `larder server` over HTTPS, driven by the CLI and by HTTP.

Server tests run on SQLite and on PostgreSQL (``any_platform``).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from conftest import LARDER, LarderServer, run_cli


def _uniq(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# --- public and authenticated routes --------------------------------------------------------------


def test_version_is_public_and_everything_else_needs_a_key(any_platform: LarderServer):
    r = any_platform.api("GET", "/version", None)
    assert r.status_code == 200 and r.json()["api_version"] == "v1"
    for method, path in [
        ("GET", "/projects"),
        ("GET", "/users/me"),
        ("GET", "/openapi.json"),
        ("POST", "/apikeys"),
    ]:
        r = any_platform.api(method, path, None)
        assert r.status_code == 401, (method, path, r.text)
        body = r.json()
        assert set(body) == {"error_code", "message", "details"} and body["error_code"] == "unauthenticated"
    spec = any_platform.api("GET", "/openapi.json", any_platform.admin_key).json()
    assert "/api/v1/projects/{project}/credentials" in spec["paths"]


def test_https_only_with_the_platform_ca(platform: LarderServer):
    assert platform.url.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):
        s = requests.Session()
        s.trust_env = False
        s.get(platform.url + "/api/v1/version", timeout=10, verify=True)  # system CAs do not know ours


def test_cli_server_stop_ends_a_running_server_gracefully(tmp_path):
    server = LarderServer(tmp_path / "home").init().start()
    try:
        pid = int((server.home / "server.pid").read_text())
        assert server.api("GET", "/version", None).status_code == 200
        stop = run_cli("server", "stop", "--home", str(server.home), "--timeout", "20")
        assert stop.returncode == 0, stop.stderr
        assert f"Stopped the server of {server.home.resolve()} (pid {pid})" in stop.stdout
        assert server.proc is not None and server.proc.wait(timeout=5) == 0  # SIGTERM: a clean exit
        assert not (server.home / "server.pid").exists() and not (server.home / "server.url").exists()
        again = run_cli("server", "stop", "--home", str(server.home))
        assert again.returncode == 0 and "No server is running" in again.stdout
    finally:
        server.stop()


# --- the CLI flow: user, project, key --------------------------------------------------------------


def test_cli_creates_user_project_and_key(any_platform: LarderServer, tmp_path):
    user = _uniq("u")
    any_platform.create_user(user)
    listed = json.loads(
        any_platform.cli("user", "list", "--json", key_file=any_platform.admin_key_file).stdout
    )
    assert user in {u["username"] for u in listed}

    key, key_file = any_platform.create_key(user, "project,featurestore", tmp_path, name="laptop")
    assert "." in key
    project = _uniq("p_")
    created = json.loads(
        any_platform.cli(
            "project", "create", project, "--description", "d", "--json", key_file=key_file
        ).stdout
    )
    assert created["owner"] == user and created["members"] == [{"username": user, "role": "data_owner"}]
    mine = json.loads(any_platform.cli("project", "list", "--json", key_file=key_file).stdout)
    assert [p["name"] for p in mine] == [project]
    # the admin is not a member: "list" shows only mine
    theirs = json.loads(
        any_platform.cli("project", "list", "--json", key_file=any_platform.admin_key_file).stdout
    )
    assert project not in {p["name"] for p in theirs}

    keys = json.loads(any_platform.cli("apikey", "list", "--json", key_file=key_file).stdout)
    assert [k["name"] for k in keys] == ["laptop"] and keys[0]["scopes"] == ["project", "featurestore"]
    assert key.split(".")[1] not in json.dumps(keys)  # listings never show the secret

    human = any_platform.cli("project", "list", key_file=key_file).stdout
    assert project in human and "OWNER" in human


def test_cli_reads_url_key_and_trust_store_from_the_environment(platform: LarderServer, tmp_path):
    env = {
        "LARDER_URL": platform.url,
        "LARDER_API_KEY": platform.admin_key,
        "LARDER_TRUST_STORE": platform.ca,
    }
    out = run_cli("user", "list", "--json", env=env)
    assert "admin" in {u["username"] for u in json.loads(out.stdout)}


def test_cli_errors_are_clear_and_exit_nonzero(platform: LarderServer, tmp_path):
    bad = platform.cli("project", "create", "Bad Name", key_file=platform.admin_key_file, check=False)
    assert bad.returncode == 1 and "Bad Name" not in bad.stdout and "not a valid project name" in bad.stderr
    nourl = run_cli("project", "list", env={"LARDER_URL": ""}, check=False)
    assert nourl.returncode == 1 and "LARDER_URL" in nourl.stderr
    untrusted = run_cli(
        "user",
        "list",
        "--url",
        platform.url,
        "--api-key-file",
        str(platform.admin_key_file),
        check=False,
        env={"LARDER_TRUST_STORE": ""},
    )
    assert untrusted.returncode == 1 and "trust" in untrusted.stderr.lower()


# --- authorization rules ---------------------------------------------------------------------------


def test_wrong_malformed_and_revoked_keys_get_401(any_platform: LarderServer, tmp_path):
    user = _uniq("u")
    any_platform.create_user(user)
    key, key_file = any_platform.create_key(user, "project", tmp_path, name="temp")
    assert any_platform.api("GET", "/projects", key).status_code == 200

    prefix = key.split(".")[0]
    for presented in [f"{prefix}.wrongsecret", "not-a-key", "0123456789abcdef.xyz"]:
        r = any_platform.api("GET", "/projects", presented)
        assert r.status_code == 401 and "wrongsecret" not in r.text
    r = any_platform.api("GET", "/projects", None, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and "ApiKey" in r.json()["message"]

    any_platform.cli("apikey", "revoke", "temp", key_file=key_file)
    r = any_platform.api("GET", "/projects", key)
    assert r.status_code == 401 and "revoked" in r.json()["message"]


def test_expired_key_gets_401(platform: LarderServer, tmp_path):
    user = _uniq("u")
    platform.create_user(user)
    key, _ = platform.create_key(user, "project", tmp_path, name="shortlived", expires_in="1")
    assert platform.api("GET", "/projects", key).status_code == 200
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(platform.home / "larder.db") as db:  # fast-forward the clock for this key
        db.execute("UPDATE api_keys SET expires_at = ? WHERE prefix = ?", (past, key.split(".")[0]))
    r = platform.api("GET", "/projects", key)
    assert r.status_code == 401 and "expired" in r.json()["message"]


def test_missing_scope_is_403_naming_the_scope(any_platform: LarderServer, tmp_path):
    user = _uniq("u")
    any_platform.create_user(user)
    key, _ = any_platform.create_key(user, "featurestore", tmp_path)
    r = any_platform.api("GET", "/projects", key)
    assert r.status_code == 403
    body = r.json()
    assert body["error_code"] == "permission_denied" and "'project' scope" in body["message"]
    assert body["details"]["required_scope"] == "project"
    # a key cannot mint a key with scopes it lacks, and a non-admin cannot hold 'admin'
    r = any_platform.api("POST", "/apikeys", key, json={"name": "x", "scopes": ["project"]})
    assert r.status_code == 403 and "project" in r.json()["message"]
    # user management is for admins
    r = any_platform.api("POST", "/users", key, json={"username": _uniq("v")})
    assert r.status_code == 403


def test_other_projects_are_404_indistinguishable_from_missing(any_platform: LarderServer, tmp_path):
    alice, bob = _uniq("a"), _uniq("b")
    for u in (alice, bob):
        any_platform.create_user(u)
    akey, _ = any_platform.create_key(alice, "project", tmp_path)
    bkey, _ = any_platform.create_key(bob, "project", tmp_path)
    project = _uniq("secret_")
    assert any_platform.api("POST", "/projects", akey, json={"name": project}).status_code == 201

    missing = _uniq("nothere_")
    for suffix in ["", "/credentials"]:
        hidden = any_platform.api("GET", f"/projects/{project}{suffix}", bkey)
        absent = any_platform.api("GET", f"/projects/{missing}{suffix}", bkey)
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json()["message"].replace(project, "X") == absent.json()["message"].replace(
            missing, "X"
        )
    assert any_platform.api("DELETE", f"/projects/{project}", bkey).status_code == 404
    assert project not in {p["name"] for p in any_platform.api("GET", "/projects", bkey).json()}

    # alice (data_owner) adds bob as data_scientist: now he sees it, but cannot manage members
    r = any_platform.api("PUT", f"/projects/{project}/members/{bob}", akey, json={"role": "data_scientist"})
    assert r.status_code == 200 and {"username": bob, "role": "data_scientist"} in r.json()["members"]
    assert any_platform.api("GET", f"/projects/{project}", bkey).status_code == 200
    r = any_platform.api("PUT", f"/projects/{project}/members/{bob}", bkey, json={"role": "data_owner"})
    assert r.status_code == 403 and "data_owner" in r.json()["message"]
    assert any_platform.api("DELETE", f"/projects/{project}", bkey).status_code == 403
    # the owner cannot be removed; bob can
    assert any_platform.api("DELETE", f"/projects/{project}/members/{alice}", akey).status_code == 409
    assert any_platform.api("DELETE", f"/projects/{project}/members/{bob}", akey).status_code == 200
    assert any_platform.api("GET", f"/projects/{project}", bkey).status_code == 404
    assert any_platform.api("DELETE", f"/projects/{project}", akey).status_code == 204
    assert any_platform.api("GET", f"/projects/{project}", akey).status_code == 404


# --- credentials -----------------------------------------------------------------------------------


def test_credentials_verify_against_the_ca_and_open_in_java(any_platform: LarderServer, tmp_path, keytool):
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    user = _uniq("c")
    any_platform.create_user(user)
    key, _ = any_platform.create_key(user, "project", tmp_path)
    project = _uniq("cred_")
    any_platform.api("POST", "/projects", key, json={"name": project})
    r = any_platform.api("GET", f"/projects/{project}/credentials", key)
    assert r.status_code == 200, r.text
    c = r.json()

    ca = x509.load_pem_x509_certificate((any_platform.home / "tls" / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate(c["client_cert"].encode())
    cert.verify_directly_issued_by(ca)  # raises if not signed by the platform CA
    assert cert.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == user
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == project
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{project}__{user}"
    key_obj = serialization.load_pem_private_key(c["client_key"].encode(), None)
    assert key_obj.public_key().public_numbers() == cert.public_key().public_numbers()
    assert x509.load_pem_x509_certificate(c["ca_chain"].encode()) == ca
    lifetime = cert.not_valid_after_utc - datetime.now(timezone.utc)
    assert timedelta(days=29) < lifetime <= timedelta(days=30)

    password = c["password"].encode()
    k, cc, extra = pkcs12.load_key_and_certificates(base64.b64decode(c["key_store"]), password)
    assert cc == cert and extra == [ca]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(base64.b64decode(c["key_store"]), b"wrong")

    ks, ts = tmp_path / "keyStore.p12", tmp_path / "trustStore.p12"
    ks.write_bytes(base64.b64decode(c["key_store"]))
    ts.write_bytes(base64.b64decode(c["trust_store"]))
    out = subprocess.run(
        [keytool, "-list", "-keystore", str(ks), "-storetype", "PKCS12", "-storepass", c["password"]],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "PrivateKeyEntry" in out.stdout, out.stdout + out.stderr
    out = subprocess.run(
        [keytool, "-list", "-keystore", str(ts), "-storetype", "PKCS12", "-storepass", c["password"]],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "trustedCertEntry" in out.stdout, out.stdout + out.stderr
    bad = subprocess.run(
        [keytool, "-list", "-keystore", str(ks), "-storetype", "PKCS12", "-storepass", "nope"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0

    # re-issued on request: a new serial each time
    again = any_platform.api("GET", f"/projects/{project}/credentials", key).json()
    assert again["serial"] != c["serial"]


# --- bad input -------------------------------------------------------------------------------------


def test_bad_input_gets_4xx_with_the_error_body(any_platform: LarderServer, tmp_path):
    admin = any_platform.admin_key
    cases = [
        ("POST", "/projects", {"json": {"name": "Has Spaces"}}, 400),
        ("POST", "/projects", {"json": {"name": "x" * 200}}, 400),
        ("POST", "/projects", {"json": {"name": "okname", "surprise": 1}}, 400),
        ("POST", "/projects", {"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/projects", {"json": ["a", "list"]}, 400),
        ("POST", "/users", {"json": {"username": "UPPER"}}, 400),
        ("POST", "/users", {"json": {"username": "okuser", "role": "emperor"}}, 400),
        ("POST", "/apikeys", {"json": {"name": "k", "scopes": ["root"]}}, 400),
        ("POST", "/apikeys", {"json": {"name": "k", "scopes": []}}, 400),
        ("POST", "/apikeys", {"json": {"name": "k", "scopes": ["project"], "expires_in_days": 0}}, 400),
        (
            "POST",
            "/projects",
            {"data": b"{" + b" " * (2 * 1024 * 1024) + b"}", "headers": {"Content-Type": "application/json"}},
            413,
        ),
        (  # streamed without Content-Length: the limit applies to what arrives
            "POST",
            "/projects",
            {
                "data": (b" " * (1024 * 1024) for _ in range(3)),
                "headers": {"Content-Type": "application/json"},
            },
            413,
        ),
        ("GET", "/nowhere", {}, 404),
        ("PATCH", "/projects", {}, 405),
    ]
    for method, path, kwargs, status in cases:
        r = any_platform.api(method, path, admin, **kwargs)
        assert r.status_code == status, (method, path, r.status_code, r.text[:300])
        body = r.json()
        assert set(body) == {"error_code", "message", "details"} and body["message"], body

    name = _uniq("dup_")
    assert any_platform.api("POST", "/projects", admin, json={"name": name}).status_code == 201
    r = any_platform.api("POST", "/projects", admin, json={"name": name})
    assert r.status_code == 409 and name in r.json()["message"]
    user = _uniq("d")
    assert any_platform.api("POST", "/users", admin, json={"username": user}).status_code == 201
    assert any_platform.api("POST", "/users", admin, json={"username": user}).status_code == 409


# --- logs, lifecycle --------------------------------------------------------------------------------


def test_request_log_has_one_line_per_request_and_no_secrets(platform: LarderServer, tmp_path):
    user = _uniq("l")
    platform.create_user(user)
    key, _ = platform.create_key(user, "project", tmp_path)
    marker = _uniq("logged_")
    platform.api("POST", "/projects", key, json={"name": marker})
    platform.api("GET", f"/projects/{marker}/credentials", key)
    time.sleep(0.2)
    log = platform.log()
    assert "POST /api/v1/projects 201" in log and f"user={user}" in log
    assert "GET /api/v1/projects/{project}/credentials 200" in log
    secret = key.split(".")[1]
    assert secret not in log and platform.admin_key.split(".")[1] not in log
    assert "PRIVATE KEY" not in log


def test_graceful_shutdown_and_server_url(tmp_path):
    server = LarderServer(tmp_path / "home").init("larder.example.com").start()
    url_file = server.home / "server.url"
    assert url_file.read_text().strip() == server.url
    assert server.api("GET", "/version", None).status_code == 200
    assert server.stop() == 0  # SIGTERM -> clean exit
    assert not url_file.exists()


def test_init_refuses_an_existing_home_and_fixed_paths(tmp_path):
    home = tmp_path / "h"
    out = run_cli("server", "init", "--home", str(home))
    key = (home / "admin_api_key").read_text().strip()
    assert key in out.stdout  # shown once on the terminal
    assert oct((home / "admin_api_key").stat().st_mode & 0o777) == "0o600"
    assert (home / "tls" / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    again = run_cli("server", "init", "--home", str(home), check=False)
    assert again.returncode == 1 and "already" in again.stderr
    assert (home / "admin_api_key").read_text().strip() == key


def test_plain_http_only_on_loopback(tmp_path):
    home = tmp_path / "h"
    run_cli("server", "init", "--home", str(home))
    refused = run_cli(
        "server",
        "start",
        "--home",
        str(home),
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--insecure-http",
        check=False,
    )
    assert refused.returncode == 1 and "loopback" in refused.stderr
    server = LarderServer(home, extra_args=["--insecure-http"]).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        r = requests.get(server.url + "/api/v1/version", timeout=10)
        assert r.status_code == 200
    finally:
        server.stop()


def test_start_on_an_uninitialised_home_says_how_to_init(tmp_path):
    out = run_cli("server", "start", "--home", str(tmp_path / "nothing"), check=False)
    assert out.returncode == 1 and "larder server init" in out.stderr


def test_sigint_also_stops_gracefully(tmp_path):
    server = LarderServer(tmp_path / "home").init().start()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(20) == 0
    server.stop()
    assert LARDER  # the CLI entry point exists
