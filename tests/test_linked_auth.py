"""Linked servers, part 1 (issue 20): the auth service, API keys exchanged for short-lived tokens,
and ``larder.connect(url, auth_instance=...)``, across three real `larder server` processes.

- **A** runs its auth service (token lifetime forced to 3 s, so that refreshing is exercised);
- **B** is linked to A (``larder server link``): it trusts A's tokens and tells clients to
  exchange their keys at A;
- **C** has its own auth service and trusts only itself.

Each has its own home, CA and SQLite database; they are started once for the module. Tokens that
no server would mint (expired, forged, ``alg=none``, HS256 keyed with the public key) are signed
here with A's real key, read from A's home as its admin could.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import larder
from conftest import LarderServer, run_cli
from larder.client.auth import AuthService
from larder.errors import AuthenticationError, ConfigurationError

SCOPES = ["project", "featurestore", "modelregistry", "dataset"]
A_LIFETIME_S = 3


@dataclass
class Linked:
    a: LarderServer
    b: LarderServer
    c: LarderServer
    bundle: str  # the three CAs: what a client that works with all three trusts
    keys: Path
    secrets: list[str] = field(default_factory=list, repr=False)  # every key and token the tests handled

    def key(self, server: LarderServer, user: str, role: str = "user") -> str:
        """Create ``user`` on ``server`` with a key (all but the admin scope); returns the key."""
        admin = server.admin_key
        r = server.api(
            "POST", "/users", admin, json={"username": user, "email": f"{user}@example.com", "role": role}
        )
        assert r.status_code == 201, r.text
        r = server.api("POST", "/apikeys", admin, json={"name": "k1", "scopes": SCOPES, "user": user})
        assert r.status_code == 201, r.text
        key = str(r.json()["key"])
        self.secrets.append(key)
        return key

    def exchange(self, server: LarderServer, key: str, audience: str | None = None) -> dict[str, Any]:
        body = {"audience": audience} if audience else {}
        r = server.api("POST", "/auth/token", key, json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        self.secrets.append(out["access_token"])
        return out


def bearer(server: LarderServer, method: str, path: str, token: str, **kw: Any) -> Any:
    return server.api(method, path, None, headers={"Authorization": f"Bearer {token}"}, **kw)


def access_lines(server: LarderServer, needle: str) -> list[str]:
    return [line for line in server.log().splitlines() if "larder.server.access" in line and needle in line]


def wait_logged(server: LarderServer) -> None:
    """Wait until the server's log has every line of the requests answered so far."""
    marker = f"/marker-{uuid.uuid4().hex}"
    assert server.api("GET", marker, None).status_code == 404
    deadline = time.monotonic() + 10
    while marker not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)


def jwks_fetches(server: LarderServer) -> int:
    """How many times ``server`` fetched its linked auth service's JWKS (its own log says)."""
    wait_logged(server)
    return sum("fetched the JWKS of the auth service" in line for line in server.log().splitlines())


def signing_keys(server: LarderServer) -> list[tuple[str, Ed25519PrivateKey, str]]:
    """(kid, private key, PEM) of every signing key in a home's database."""
    from sqlalchemy import select

    from larder.server.db.models import SigningKey
    from larder.server.db.session import make_engine, make_session_factory
    from larder.server.security.secretbox import SecretBox
    from larder.server.settings import ServerSettings

    settings = ServerSettings.load(server.home)
    engine = make_engine(settings.database_url)
    box = SecretBox(settings.paths.secret_key)
    out = []
    try:
        with make_session_factory(engine)() as db:
            for row in db.scalars(select(SigningKey).order_by(SigningKey.id)):
                pem = box.decrypt(row.private_key)
                key = serialization.load_pem_private_key(pem.encode(), None)
                assert isinstance(key, Ed25519PrivateKey)
                out.append((row.kid, key, pem))
    finally:
        engine.dispose()
    return out


def claims_for(issuer: str, audience: str, user: str, **kw: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": user,
        "aud": audience,
        "scopes": SCOPES,
        "role": "user",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
        **kw,
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linked]:
    root = tmp_path_factory.mktemp("linked")
    a = LarderServer(root / "a").init()
    with (a.home / "server.toml").open("a") as f:
        f.write(f"token_lifetime_seconds = {A_LIFETIME_S}\n")
    a.start()
    b = LarderServer(root / "b").init()
    out = run_cli("server", "link", "--home", str(b.home), "--auth-service", a.url, "--trust-store", a.ca)
    assert "restart the server" in out.stdout
    b.start()
    c = LarderServer(root / "c").init().start()
    bundle = root / "bundle.pem"
    bundle.write_text("".join(Path(s.ca).read_text() for s in (a, b, c)))
    keys = root / "keys"
    keys.mkdir()
    world = Linked(a, b, c, str(bundle), keys, [a.admin_key, b.admin_key, c.admin_key])
    try:
        yield world
    finally:
        # a client object no longer reachable may still hold a kept-alive connection until it is
        # collected; uvicorn would wait 10 s for it to close before stopping
        gc.collect()
        for s in (a, b, c):
            s.stop()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in list(os.environ):
        if var.startswith(("LARDER_", "AWS_")) or var in (
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "SSL_CERT_FILE",
        ):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LARDER_HOME", str(tmp_path / "embedded-home"))


@pytest.fixture(scope="module")
def alice(linked: Linked) -> str:
    """alice: a user of A with a key, owner of project ``lk_a`` on A and member of ``lk_b`` on B
    (created there on first sight of her token, then added by B's admin)."""
    key = linked.key(linked.a, "alice")
    assert linked.a.api("POST", "/projects", key, json={"name": "lk_a"}).status_code == 201
    admin_b = linked.b.admin_key
    assert linked.b.api("POST", "/projects", admin_b, json={"name": "lk_b"}).status_code == 201
    token = linked.exchange(linked.a, key, linked.b.url)["access_token"]
    assert bearer(linked.b, "GET", "/users/me", token).status_code == 200  # first sight: created
    r = linked.b.api("PUT", "/projects/lk_b/members/alice", admin_b, json={"role": "data_scientist"})
    assert r.status_code == 200, r.text
    return key


def connect(linked: Linked, server: LarderServer, project: str, **kw: Any) -> larder.Connection:
    return larder.connect(f"{server.url}/{project}", trust_store_path=linked.bundle, **kw)


# --- discovery ------------------------------------------------------------------------------------


def test_discover_names_the_auth_service_and_jwks_is_public(linked: Linked) -> None:
    servers = {"a": linked.a, "b": linked.b, "c": linked.c}
    found = {n: s.api("GET", "/discover", None).json() for n, s in servers.items()}
    for n, d in found.items():
        assert d["issuer"] == d["audience"] == servers[n].url
        assert d["api_version"] == "v1" and d["schemes"] == ["ApiKey", "Bearer"]
    assert found["a"]["auth_service"] == {"url": None, "issuer": linked.a.url}
    assert found["b"]["auth_service"] == {"url": linked.a.url, "issuer": linked.a.url}
    assert found["c"]["auth_service"] == {"url": None, "issuer": linked.c.url}
    assert found["a"]["token_lifetime_seconds"] == A_LIFETIME_S
    assert found["c"]["token_lifetime_seconds"] == 900
    keys = linked.c.api("GET", "/auth/jwks", None).json()["keys"]
    assert [(k["kty"], k["crv"], k["alg"]) for k in keys] == [("OKP", "Ed25519", "EdDSA")]
    assert all("d" not in k for k in keys)  # public keys only


def test_link_refuses_a_url_the_auth_service_does_not_issue_as(linked: Linked, tmp_path: Path) -> None:
    home = LarderServer(tmp_path / "d").init().home
    other = linked.a.url.replace("127.0.0.1", "localhost")
    out = run_cli(
        "server",
        "link",
        "--home",
        str(home),
        "--auth-service",
        other,
        "--trust-store",
        linked.a.ca,
        check=False,
    )
    assert out.returncode == 1
    assert f"issues its tokens as '{linked.a.url}'" in out.stderr


def test_a_server_without_an_auth_service_takes_its_keys_as_they_are(linked: Linked, tmp_path: Path) -> None:
    """``auth_service = false``: no tokens minted, discover offers none, the connector sends the key."""
    d = LarderServer(tmp_path / "d").init()
    with (d.home / "server.toml").open("a") as f:
        f.write("auth_service = false\n")
    d.start()
    try:
        found = d.api("GET", "/discover", None).json()
        assert "audience" not in found and found["token_endpoint"] is None
        r = d.api("POST", "/auth/token", d.admin_key, json={})
        assert r.status_code == 404 and "runs no auth service" in r.json()["message"]
        assert d.api("POST", "/projects", d.admin_key, json={"name": "lk_d"}).status_code == 201
        with larder.connect(f"{d.url}/lk_d", api_key_value=d.admin_key, trust_store_path=d.ca) as conn:
            assert conn.user == "admin" and conn.auth is None
            assert conn.list_namespaces()
    finally:
        d.stop()


# --- a single auth service --------------------------------------------------------------------------


def test_single_auth_service_one_key_works_on_a_and_b(
    linked: Linked, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait_logged(linked.b)
    exchanges_at_b = len(access_lines(linked.b, "POST /api/v1/auth/token"))
    monkeypatch.setenv("LARDER_API_KEY", alice)  # one key, as in the founding document
    with connect(linked, linked.a, "lk_a") as onprem, connect(linked, linked.b, "lk_b") as cloud:
        assert (onprem.user, cloud.user) == ("alice", "alice")
        assert onprem.auth is not None and cloud.auth is not None
        assert onprem.auth.url == cloud.auth.url == linked.a.url
        assert cloud.auth.user == "alice" and cloud.auth.expires_at is not None
        assert [ns.name for ns in cloud.list_namespaces()] == ["default"]
        assert cloud.get_feature_store().name == "lk_b_featurestore"
    wait_logged(linked.b)
    # B never saw the key: it was exchanged at A, and B got tokens only
    assert len(access_lines(linked.b, "POST /api/v1/auth/token")) == exchanges_at_b
    assert access_lines(linked.b, "GET /api/v1/projects/{project}/credentials 200 ")[-1].endswith(
        "user=alice"
    )


def test_a_users_first_token_creates_a_federated_user_without_rights(linked: Linked) -> None:
    key = linked.key(linked.a, "dora")
    token = linked.exchange(linked.a, key, linked.b.url)["access_token"]
    me = bearer(linked.b, "GET", "/users/me", token)
    assert me.status_code == 200 and me.json()["username"] == "dora"
    user = linked.b.api("GET", "/users/dora", linked.b.admin_key).json()
    assert (user["role"], user["federated_issuer"]) == ("user", linked.a.url)
    assert bearer(linked.b, "GET", "/projects", token).json() == []  # no project, until B's admins say so
    assert bearer(linked.b, "GET", "/projects/lk_b", token).status_code == 404
    # the same token on C: C does not trust A, and says whom it does not trust
    r = bearer(linked.c, "GET", "/users/me", linked.exchange(linked.a, key, linked.c.url)["access_token"])
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert f"does not trust the token's issuer '{linked.a.url}'" in r.json()["message"]
    assert r.json()["details"]["reason"] == "untrusted_issuer"
    assert "dora" not in [u["username"] for u in linked.c.api("GET", "/users", linked.c.admin_key).json()]


def test_a_linked_admin_token_has_no_admin_rights_on_b(linked: Linked) -> None:
    """Every home has an ``admin``: A's is not B's. And an admin of A mapped to a user of B does
    not get the admin scope there."""
    token = linked.exchange(linked.a, linked.a.admin_key, linked.b.url)["access_token"]
    assert "admin" in jwt.decode(token, options={"verify_signature": False})["scopes"]
    own = linked.exchange(linked.a, linked.a.admin_key)["access_token"]
    assert bearer(linked.a, "GET", "/users", own).status_code == 200  # on A, its own admin's token works
    r = bearer(linked.b, "GET", "/users/me", token)
    assert r.status_code == 401 and r.json()["details"]["reason"] == "local_admin", r.text
    key = linked.key(linked.a, "frank", role="admin")
    r = linked.a.api(
        "POST",
        "/apikeys",
        linked.a.admin_key,
        json={"name": "adm", "scopes": ["admin", "project"], "user": "frank"},
    )
    assert r.status_code == 201, r.text
    linked.secrets.append(r.json()["key"])
    token = linked.exchange(linked.a, r.json()["key"], linked.b.url)["access_token"]
    assert bearer(linked.b, "GET", "/users/me", token).status_code == 200  # frank: a federated user on B
    assert bearer(linked.b, "GET", "/users", token).status_code == 403  # ... with no admin rights
    assert key


def test_c_refuses_a_s_auth_service_naming_the_issuer(linked: Linked, alice: str) -> None:
    with (
        connect(linked, linked.a, "lk_a", api_key_value=alice) as onprem,
        pytest.raises(AuthenticationError) as info,
    ):
        connect(linked, linked.c, "lk_a", auth_instance=onprem.auth)
    assert f"does not trust the token's issuer '{linked.a.url}'" in str(info.value)
    assert info.value.details["trusted"] == [linked.c.url]


# --- several auth services ----------------------------------------------------------------------------


def test_multiple_auth_services_a_key_per_server_or_auth_instance(
    linked: Linked, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    carol = linked.key(linked.c, "carol")
    assert linked.c.api("POST", "/projects", carol, json={"name": "lk_c"}).status_code == 201
    monkeypatch.setenv("LARDER_API_KEY", carol)
    with connect(linked, linked.c, "lk_c") as on_c:
        assert on_c.user == "carol" and on_c.auth is not None and on_c.auth.url == linked.c.url
    monkeypatch.setenv("LARDER_API_KEY", alice)
    a = connect(linked, linked.a, "lk_a")
    monkeypatch.delenv("LARDER_API_KEY")  # nothing to look up: B gets A's auth service
    with connect(linked, linked.b, "lk_b", auth_instance=a.auth) as b:
        assert b.user == "alice" and b.auth is a.auth
        assert b.api_key_source == f"auth_instance {linked.a.url}"
        assert b.list_namespaces()
    # the hsfs-style constructor takes it too
    with larder.connection(
        host="127.0.0.1",
        port=int(linked.b.url.rsplit(":", 1)[1]),
        project="lk_b",
        trust_store_path=linked.bundle,
        auth_instance=a.auth,
    ) as b2:
        assert b2.user == "alice"
    with pytest.raises(ConfigurationError, match="not both"):
        connect(linked, linked.b, "lk_b", auth_instance=a.auth, api_key_value=alice)
    a.close()


def test_a_linked_server_s_own_key_is_exchanged_there_and_never_sent_to_the_auth_service(
    linked: Linked,
) -> None:
    """B's own admin key is unknown to A: the connector (and the CLI) learn so from B by the key's
    public prefix, exchange it at B itself, and A never sees it."""
    admin_b = linked.b.admin_key
    wait_logged(linked.a)
    at_a = len(access_lines(linked.a, "POST /api/v1/auth/token"))
    assert linked.b.api("POST", "/projects", admin_b, json={"name": "lk_b_own"}).status_code == 201
    with connect(linked, linked.b, "lk_b_own", api_key_value=admin_b) as conn:
        assert conn.user == "admin" and conn.auth is not None and conn.auth.url == linked.b.url
        assert conn.list_namespaces()
    out = linked.b.cli("user", "list", "--json", key_file=linked.b.admin_key_file)
    assert "admin" in [u["username"] for u in json.loads(out.stdout)]
    assert linked.b.api("GET", "/auth/keys/0123456789abcdef", None).json()["known"] is False
    assert linked.b.api("GET", f"/auth/keys/{admin_b.split('.')[0]}", None).json()["known"] is True
    wait_logged(linked.a)
    assert len(access_lines(linked.a, "POST /api/v1/auth/token")) == at_a


# --- refresh, expiry -------------------------------------------------------------------------------------


def test_tokens_are_refreshed_during_a_long_loop_of_calls(linked: Linked, alice: str) -> None:
    """A's tokens live 3 s: a loop of calls from four threads for 8 s never fails, and the key is
    exchanged again about every 1.5 s (half the lifetime)."""
    with connect(linked, linked.b, "lk_b", api_key_value=alice) as conn:
        assert conn.auth is not None
        first = conn.auth.exchanges
        failures: list[BaseException] = []
        calls = [0]
        deadline = time.monotonic() + 8

        def loop() -> None:
            while time.monotonic() < deadline:
                try:
                    conn.list_namespaces()
                    calls[0] += 1
                except BaseException as e:  # noqa: BLE001 - collected and asserted below
                    failures.append(e)
                    return

        threads = [threading.Thread(target=loop) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures[:3]
        assert calls[0] > 100
        assert 3 <= conn.auth.exchanges - first <= 8, conn.auth.exchanges - first


def test_a_token_refused_as_expired_is_replaced_once_and_the_call_retried(linked: Linked, alice: str) -> None:
    """A laptop that slept past a token's expiry: the server's 401 (token_expired) gets a new
    token and the call goes through."""
    kid, key, _ = signing_keys(linked.a)[-1]
    with connect(linked, linked.b, "lk_b", api_key_value=alice) as conn:
        auth = conn.auth
        assert auth is not None
        stale = jwt.encode(
            claims_for(
                linked.a.url, linked.b.url, "alice", iat=int(time.time()) - 900, exp=int(time.time()) - 120
            ),
            key,
            algorithm="EdDSA",
            headers={"kid": kid},
        )
        linked.secrets.append(stale)
        held = auth._tokens[linked.b.url]
        held.value, held.issued = stale, time.monotonic()  # the client believes it is fresh
        before = auth.exchanges
        assert conn.list_namespaces()
        assert auth.exchanges == before + 1
    wait_logged(linked.b)
    lines = access_lines(linked.b, "GET /api/v1/namespaces ")
    assert " 401 " in lines[-2] and " 200 " in lines[-1]


def test_online_serving_takes_tokens_on_its_fast_path(linked: Linked, alice: str) -> None:
    """Feature vectors (the route answered before FastAPI's routing, with its own cache of who a
    caller is) accept tokens, remember a token only while it is valid, and refuse others."""
    import pandas as pd

    with connect(linked, linked.b, "lk_b", api_key_value=alice) as conn:
        fs = conn.get_feature_store()
        fg = fs.create_feature_group("riders", primary_key=["rider_id"], online_enabled=True)
        fg.insert(pd.DataFrame({"rider_id": [1, 2, 3], "trips": [10, 20, 30]}))
        fv = fs.create_feature_view("rider_view", fg.select(["trips"]))
        path = "/projects/lk_b/featureviews/rider_view/1/vectors"
        deadline = time.monotonic() + 2 * A_LIFETIME_S  # two token lifetimes: refreshed meanwhile
        seen = 0
        while time.monotonic() < deadline:
            assert fv.get_feature_vector({"rider_id": 2}) == [20]
            seen += 1
        assert seen > 50
        auth = conn.auth
        assert auth is not None
        kid, key, _ = signing_keys(linked.a)[-1]
        now = int(time.time())
        stale = jwt.encode(
            claims_for(linked.a.url, linked.b.url, "alice", iat=now - 900, exp=now - 120),
            key,
            algorithm="EdDSA",
            headers={"kid": kid},
        )
        linked.secrets.append(stale)
        held = auth._tokens[linked.b.url]
        held.value, held.issued = stale, time.monotonic()  # an expired token the client believes fresh
        assert fv.get_feature_vector({"rider_id": 3}) == [30]  # refused, replaced, sent again
    token = linked.exchange(linked.a, alice, linked.b.url)["access_token"]
    body = {"entries": [{"rider_id": 1}]}
    r = bearer(linked.b, "POST", path, token, json=body)
    assert r.status_code == 200 and r.json()["vectors"] == [[10]], r.text
    for bad in (stale, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")):
        r = bearer(linked.b, "POST", path, bad, json=body)
        assert r.status_code == 401, r.text
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    c_token = linked.exchange(linked.c, linked.c.admin_key, linked.b.url)["access_token"]
    r = bearer(linked.b, "POST", path, c_token, json=body)
    assert r.status_code == 401 and r.json()["details"]["issuer"] == linked.c.url


# --- tokens that must be refused -----------------------------------------------------------------------


def test_expired_forged_wrong_audience_and_wrong_algorithm_tokens_are_refused(
    linked: Linked, alice: str
) -> None:
    kid, key, _ = signing_keys(linked.a)[-1]
    now = int(time.time())

    def signed(**kw: Any) -> str:
        token = jwt.encode(
            claims_for(linked.a.url, linked.b.url, "alice", **kw),
            key,
            algorithm="EdDSA",
            headers={"kid": kid},
        )
        linked.secrets.append(token)
        return token

    forged = jwt.encode(
        claims_for(linked.a.url, linked.b.url, "alice", scopes=[*SCOPES, "admin"]),
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": kid},
    )
    none_alg = jwt.encode(claims_for(linked.a.url, linked.b.url, "alice"), None, algorithm="none")
    # HS256 keyed with A's public key (the classic confusion attack), built by hand
    jwk = linked.a.api("GET", "/auth/jwks", None).json()["keys"][-1]
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(claims_for(linked.a.url, linked.b.url, "alice")).encode())
    secret = base64.urlsafe_b64decode(jwk["x"] + "==")
    sig = _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    hs256 = f"{header}.{payload}.{sig}"
    wrong_aud = linked.exchange(linked.a, alice, linked.c.url)["access_token"]
    cases = {
        "token_expired": signed(iat=now - 900, exp=now - 120),
        "bad_signature": forged,
        "token_algorithm": none_alg,
        "wrong_audience": wrong_aud,
    }
    for reason, token in cases.items():
        r = bearer(linked.b, "GET", "/users/me", token)
        assert r.status_code == 401, (reason, r.text)
        assert r.json()["details"]["reason"] == reason, (reason, r.json())
        signature = token.rsplit(".", 1)[1]
        assert token not in r.text and (not signature or signature not in r.text)
    # A refuses the same kinds of tokens made for itself
    own = claims_for(linked.a.url, linked.a.url, "alice")
    for reason, token in {
        "token_expired": jwt.encode(
            {**own, "iat": now - 900, "exp": now - 120}, key, algorithm="EdDSA", headers={"kid": kid}
        ),
        "bad_signature": jwt.encode(
            own, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
        ),
        "token_algorithm": jwt.encode(own, None, algorithm="none"),
        "wrong_audience": wrong_aud,
    }.items():
        linked.secrets.append(token)
        r = bearer(linked.a, "GET", "/users/me", token)
        assert r.status_code == 401 and r.json()["details"]["reason"] == reason, (reason, r.text)
    r = bearer(linked.b, "GET", "/users/me", hs256)
    assert r.status_code == 401 and r.json()["details"]["reason"] == "token_algorithm"
    assert "'HS256' is not accepted" in r.json()["message"]
    # a clock 30 s behind the issuer's is tolerated (leeway 60 s), an unsigned change is not
    assert bearer(linked.b, "GET", "/users/me", signed(iat=now - 900, exp=now - 30)).status_code == 200
    assert bearer(linked.b, "GET", "/users/me", signed(iat=now + 30)).status_code == 200
    r = bearer(linked.b, "GET", "/users/me", signed(iat=now + 300))
    assert r.status_code == 401 and r.json()["details"]["reason"] == "token_invalid"
    # a token cannot be exchanged for another
    good = linked.exchange(linked.a, alice)["access_token"]
    r = bearer(linked.a, "POST", "/auth/token", good, json={})
    assert r.status_code == 401 and r.json()["details"]["reason"] == "key_required"


def test_the_jwks_is_fetched_once_per_server_not_per_call(linked: Linked, alice: str) -> None:
    """By now B has verified many of A's tokens (a new one every 1.5 s in the loop, forged ones,
    expired ones): it fetched A's JWKS once. C, which does not trust A, never did."""
    assert jwks_fetches(linked.b) == 1
    assert jwks_fetches(linked.c) == 0
    for _ in range(20):
        token = linked.exchange(linked.a, alice, linked.b.url)["access_token"]
        assert bearer(linked.b, "GET", "/users/me", token).status_code == 200
    assert jwks_fetches(linked.b) == 1
    assert len(access_lines(linked.a, "GET /api/v1/auth/jwks 200")) >= 1  # B's fetch, as A saw it


# --- rotation, revocation -------------------------------------------------------------------------------


def test_key_rotation_keeps_old_tokens_verifying(linked: Linked, alice: str) -> None:
    old = linked.exchange(linked.a, alice, linked.b.url)["access_token"]
    old_own = linked.exchange(linked.a, alice)["access_token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    fetches = jwks_fetches(linked.b)
    time.sleep(2.1)  # B refetches a JWKS at most every 2 s
    out = json.loads(run_cli("server", "rotate-keys", "--home", str(linked.a.home), "--json").stdout)
    assert out["retired"] == [old_kid] and out["kid"] != old_kid
    assert out["verify_seconds"] == A_LIFETIME_S + 60
    new = linked.exchange(linked.a, alice, linked.b.url)["access_token"]
    assert jwt.get_unverified_header(new)["kid"] == out["kid"]
    for server, token in ((linked.b, old), (linked.b, new), (linked.a, old_own)):
        assert bearer(server, "GET", "/users/me", token).status_code == 200
    assert (
        bearer(linked.a, "GET", "/users/me", linked.exchange(linked.a, alice)["access_token"]).status_code
        == 200
    )
    kids = [k["kid"] for k in linked.a.api("GET", "/auth/jwks", None).json()["keys"]]
    assert kids == [old_kid, out["kid"]]  # the old key verifies until its tokens expired
    assert jwks_fetches(linked.b) == fetches + 1  # B's one refetch, for the new kid


def test_revoking_a_key_stops_new_tokens_at_once(linked: Linked, alice: str) -> None:
    key = linked.key(linked.a, "erin")
    r = linked.b.api(
        "PUT", "/projects/lk_b/members/erin", linked.b.admin_key, json={"role": "data_scientist"}
    )
    assert r.status_code == 404  # erin was never seen on B: nobody can add her yet
    token = linked.exchange(linked.a, key, linked.b.url)["access_token"]
    assert bearer(linked.b, "GET", "/users/me", token).status_code == 200
    r = linked.b.api(
        "PUT", "/projects/lk_b/members/erin", linked.b.admin_key, json={"role": "data_scientist"}
    )
    assert r.status_code == 200, r.text
    conn = connect(linked, linked.b, "lk_b", api_key_value=key)
    assert conn.list_namespaces()
    prefix = key.split(".")[0]
    r = linked.a.api("DELETE", f"/apikeys/{prefix}", linked.a.admin_key, params={"user": "erin"})
    assert r.status_code == 200, r.text
    r = linked.a.api("POST", "/auth/token", key, json={"audience": linked.b.url})
    assert r.status_code == 401 and "was revoked" in r.json()["message"]  # at once
    assert bearer(linked.b, "GET", "/users/me", token).status_code == 200  # minted ones live on
    time.sleep(A_LIFETIME_S + 0.5)  # ... until they expire: the connector cannot get another
    with pytest.raises(AuthenticationError, match="was revoked") as info:
        conn.list_namespaces()
    assert key not in str(info.value) and prefix in str(info.value)
    conn.close()


# --- secrets stay secret ------------------------------------------------------------------------------


def test_no_token_key_or_private_key_in_logs_messages_or_reprs(
    linked: Linked, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with connect(linked, linked.b, "lk_b", api_key_value=alice) as conn:
        assert conn.auth is not None
        token = conn.auth.token(linked.b.url)
        linked.secrets.append(token)
        shown = [
            repr(conn.auth),
            str(conn.auth),
            repr(conn),
            repr(conn._client),
            repr(conn._client.session.auth),
        ]
        assert re.fullmatch(
            rf"AuthService\(url='{re.escape(linked.a.url)}', user='alice', expires_at='[^']+'\)", shown[0]
        )
    errors = []
    for bad in ("0123456789abcdef." + "x" * 43, alice + "x"):
        service = AuthService(linked.a.url, bad, verify=linked.bundle)
        with pytest.raises(AuthenticationError) as info:
            service.token()
        service.close()
        errors.append(f"{info.value}\n{info.value!r}\n{info.value.details}")
        linked.secrets.append(bad)
    private = [pem for s in (linked.a, linked.b, linked.c) for _, _, pem in signing_keys(s)]
    assert len(private) >= 4
    for s in (linked.a, linked.b, linked.c):
        wait_logged(s)
    haystacks = {
        "server logs": "\n".join(s.log() for s in (linked.a, linked.b, linked.c)),
        "client log": caplog.text,
        "reprs": "\n".join(shown),
        "errors": "\n".join(errors),
        "server.toml": (linked.b.home / "server.toml").read_text(),
    }
    needles = {t for t in linked.secrets} | {t.split(".", 1)[1] for t in linked.secrets if t.count(".") == 1}
    needles |= {t.rsplit(".", 1)[1] for t in linked.secrets if t.count(".") == 2 and t.rsplit(".", 1)[1]}
    needles |= {line for pem in private for line in pem.splitlines() if "-----" not in line}
    assert len(needles) > 30
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"a secret ({needle[:6]}...) in the {where}"
