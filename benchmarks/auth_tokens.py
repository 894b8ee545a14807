"""Per-request authentication cost: an access token (``Authorization: Bearer``) against an API key
(``Authorization: ApiKey``) on the same route (issue 20: "a token costs no more than the key
check, and adds < 0.1 ms p50").

    .venv/bin/python benchmarks/auth_tokens.py [--calls 5000]

Two measurements, each over ``--calls`` calls per side, the sides interleaved in rounds of 500:

1. **The check itself**, in process: ``larder.server.security.authz.authenticate`` on a platform
   home's database (what every route runs before its work), p50/p99 per call. The token side is
   shown twice: a token seen before (the server checks a token's signature once, then remembers it
   until it expires), and a token seen for the first time (Ed25519 signature, issuer, audience and
   lifetime checks).
2. **A real server**, ``GET /api/v1/users/me`` over one kept-alive HTTPS connection: the client's
   latency p50/p99 and the server process's CPU time per call (``/proc/<pid>/stat``).

Starts its own server (home under ``benchmarks/.work/auth/``). Writes
``benchmarks/sections/auth.md`` (included in RESULTS.md) and ``benchmarks/sections/auth.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
LARDER = str(Path(sys.executable).parent / "larder")
ROUND = 500


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(ms, 0.50), 4), "p99_ms": round(pct(ms, 0.99), 4), "calls": len(ms)}


def in_process(home: Path, calls: int) -> dict[str, dict[str, float]]:
    """authenticate() per call, for a key, a known token and fresh tokens."""
    from larder.server.db.session import make_engine, make_session_factory
    from larder.server.security.authz import authenticate
    from larder.server.security.secretbox import SecretBox
    from larder.server.security.tokens import TokenService
    from larder.server.settings import ServerSettings

    settings = ServerSettings.load(home)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    tokens = TokenService(
        factory, SecretBox(settings.paths.secret_key), public_url="https://bench.invalid:8181"
    )
    key = (home / "admin_api_key").read_text().strip()
    with factory() as db:
        who = authenticate(db, f"ApiKey {key}")
        minted = [
            tokens.mint(db, who.username, who.role, who.scopes, who.key_prefix, None)["access_token"]
            for _ in range(calls + 1)
        ]
    known = minted[-1]
    sides: dict[str, list[float]] = {"api_key": [], "token": [], "token_first_use": []}
    with factory() as db:
        authenticate(db, f"Bearer {known}", tokens)  # seen once: remembered from now on
        for start in range(0, calls, ROUND):
            for side in sides:
                for i in range(start, min(start + ROUND, calls)):
                    header = {
                        "api_key": f"ApiKey {key}",
                        "token": f"Bearer {known}",
                        "token_first_use": f"Bearer {minted[i]}",
                    }[side]
                    t0 = time.perf_counter()
                    authenticate(db, header, tokens)
                    sides[side].append((time.perf_counter() - t0) * 1000)
    engine.dispose()
    return {side: summary(ms) for side, ms in sides.items()}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def over_http(url: str, home: Path, calls: int) -> dict[str, dict[str, float]]:
    """GET /users/me on a real server with each kind of credential: latency, and server CPU per call."""
    parts = urlsplit(url)
    ca = str(home / "tls" / "ca.pem")
    key = (home / "admin_api_key").read_text().strip()
    conn = http.client.HTTPSConnection(
        parts.hostname, parts.port, context=ssl.create_default_context(cafile=ca)
    )
    conn.request(
        "POST",
        "/api/v1/auth/token",
        body="{}",
        headers={"Authorization": f"ApiKey {key}", "Content-Type": "application/json"},
    )
    token = json.loads(conn.getresponse().read())["access_token"]
    pid = int((home / "server.pid").read_text())
    headers = {"api_key": f"ApiKey {key}", "token": f"Bearer {token}"}
    lat: dict[str, list[float]] = {s: [] for s in headers}
    cpu: dict[str, float] = {s: 0.0 for s in headers}
    for header in headers.values():  # warm both paths
        for _ in range(50):
            conn.request("GET", "/api/v1/users/me", headers={"Authorization": header})
            conn.getresponse().read()
    for _ in range(0, calls, ROUND):
        for side, header in headers.items():
            c0 = cpu_seconds(pid)
            for _ in range(ROUND):
                t0 = time.perf_counter()
                conn.request("GET", "/api/v1/users/me", headers={"Authorization": header})
                resp = conn.getresponse()
                resp.read()
                lat[side].append((time.perf_counter() - t0) * 1000)
                assert resp.status == 200, resp.status
            cpu[side] += cpu_seconds(pid) - c0
    conn.close()
    return {
        s: {**summary(lat[s]), "server_cpu_ms_per_call": round(cpu[s] * 1000 / len(lat[s]), 3)}
        for s in headers
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()
    work = HERE / ".work" / "auth"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "home"
    subprocess.run([LARDER, "server", "init", "--home", str(home), "--json"], check=True, capture_output=True)
    check = in_process(home, args.calls)
    log = open(home / "server.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [LARDER, "server", "start", "--home", str(home), "--port", "0"], stdout=log, stderr=log
    )
    try:
        for _ in range(600):
            if (home / "server.url").exists():
                break
            time.sleep(0.05)
        http_figures = over_http((home / "server.url").read_text().strip(), home, args.calls)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    result = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "calls": args.calls,
        "authenticate": check,
        "http_users_me": http_figures,
    }
    out = HERE / "sections"
    out.mkdir(exist_ok=True)
    (out / "auth.json").write_text(json.dumps(result, indent=2) + "\n")
    a, h = check, http_figures
    check_added = round(a["token"]["p50_ms"] - a["api_key"]["p50_ms"], 4)
    http_added = round(h["token"]["p50_ms"] - h["api_key"]["p50_ms"], 3)
    verdict = "met" if check_added <= 0 and http_added < 0.1 else "not met"
    (out / "auth.md").write_text(
        f"""## Authentication per request: access token vs API key (`benchmarks/auth_tokens.py`)

{args.calls:,} calls per side, the sides interleaved in rounds of {ROUND}, on SQLite. Run {result["when"]}.

The check every route runs first (`authenticate`, in process, on the platform's database):

| credential | p50 ms | p99 ms |
|---|---|---|
| API key (`ApiKey <key>`: key row by prefix, salted SHA-256) | {a["api_key"]["p50_ms"]} | {a["api_key"]["p99_ms"]} |
| access token, seen before (`Bearer <jwt>`: its SHA-256 remembered, user row) | {a["token"]["p50_ms"]} | {a["token"]["p99_ms"]} |
| access token, first use (Ed25519 signature, issuer, audience, expiry, user row) | {a["token_first_use"]["p50_ms"]} | {a["token_first_use"]["p99_ms"]} |

A real server, `GET /api/v1/users/me` over one kept-alive HTTPS connection (client and server on
the same 2 cores):

| credential | p50 ms | p99 ms | server CPU ms per call |
|---|---|---|---|
| API key | {h["api_key"]["p50_ms"]} | {h["api_key"]["p99_ms"]} | {h["api_key"]["server_cpu_ms_per_call"]} |
| access token | {h["token"]["p50_ms"]} | {h["token"]["p99_ms"]} | {h["token"]["server_cpu_ms_per_call"]} |

p50 of a token minus p50 of the key: **{check_added:+} ms** for the check, **{http_added:+} ms** per
call on the server (goal: a token costs no more than the key check and adds < 0.1 ms p50:
{verdict}). A client sends the same token for half its lifetime (7.5 minutes by default), so a
token's first use, with its signature check, is one call in thousands.
"""
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
