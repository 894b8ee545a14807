"""The server under load: N concurrent clients for a fixed time (issue 17: "8 concurrent clients
for 30 s report throughput, p99 and 0 errors; the server stays flat in memory").

    .venv/bin/python benchmarks/load.py [--clients 8] [--seconds 30] [--rows 100000]

Starts a real `larder server` (its own home under benchmarks/.work/load/) on SQLite with the SQLite
online store, writes an online feature group of ``--rows`` keys and a feature view over it through
the Python connector, then runs ``--clients`` client processes at once for ``--seconds``. Each
client keeps one HTTPS connection open and loops over a mix a serving application and its
notebooks make: a 1-key feature vector (60%), a 100-key batch of vectors (10%), a feature group's
metadata (15%) and the project (15%), with random keys. Every answer is checked (status 200 and
the vector's values). The server's resident memory is sampled every second. Writes
benchmarks/sections/load.md (included in RESULTS.md) and benchmarks/sections/load.json.

The clients run on the same 2 cores as the server, so the throughput is the machine's, not the
server's alone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
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
MIX = [("vector", 0.60), ("batch", 0.10), ("group", 0.15), ("project", 0.15)]


def start(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    subprocess.run([LARDER, "server", "init", "--home", str(home), "--json"], check=True, capture_output=True)
    log = open(home / "server.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [LARDER, "server", "start", "--home", str(home), "--port", "0"], stdout=log, stderr=log
    )
    for _ in range(600):
        if (home / "server.url").exists():
            return proc, (home / "server.url").read_text().strip()
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start")


def prepare(url: str, home: Path, rows: int) -> dict:
    import numpy as np
    import pandas as pd
    import requests

    import larder

    key = (home / "admin_api_key").read_text().strip()
    ca = str(home / "tls" / "ca.pem")
    r = requests.post(
        f"{url}/api/v1/projects", json={"name": "load"}, headers={"Authorization": f"ApiKey {key}"}, verify=ca
    )
    r.raise_for_status()
    parts = urlsplit(url)
    with larder.connection(
        host=parts.hostname,
        port=parts.port,
        project="load",
        api_key_value=key,
        trust_store_path=str(home / "tls" / "ca.pem"),
    ) as conn:
        fs = conn.get_feature_store()
        fg = fs.create_feature_group("users", primary_key=["user_id"], online_enabled=True)
        rng = np.random.default_rng(7)
        fg.insert(
            pd.DataFrame(
                {
                    "user_id": np.arange(rows, dtype="int64"),
                    "spend": rng.random(rows),
                    "visits": rng.integers(0, 100, rows),
                    "segment": rng.choice(["a", "b", "c"], rows),
                }
            )
        )
        fs.create_feature_view("scoring", fg.select(["spend", "visits", "segment"]))
    return {"key": key, "rows": rows}


def client(url: str, ca: str, key: str, rows: int, seconds: float, seed: int, out: mp.Queue) -> None:
    parts = urlsplit(url)
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=ctx, timeout=30)
    headers = {"Authorization": f"ApiKey {key}", "Content-Type": "application/json"}
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        body = None
        method = "GET"
        if kind == "vector":
            path, method = "/api/v1/projects/load/featureviews/scoring/1/vectors", "POST"
            body = json.dumps({"entries": [{"user_id": rng.randrange(rows)}]})
        elif kind == "batch":
            path, method = "/api/v1/projects/load/featureviews/scoring/1/vectors", "POST"
            body = json.dumps({"entries": [{"user_id": rng.randrange(rows)} for _ in range(100)]})
        elif kind == "group":
            path = "/api/v1/projects/load/featuregroups/users?version=1"
        else:
            path = "/api/v1/projects/load"
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"{kind}: {type(e).__name__}")
            conn.close()
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=ctx, timeout=30)
            continue
        ms = (time.perf_counter() - t0) * 1000
        ok = resp.status == 200
        if ok and kind in ("vector", "batch"):
            vectors = json.loads(data)["vectors"]
            ok = len(vectors) == (1 if kind == "vector" else 100) and all(
                len(v) == 3 and v[0] is not None for v in vectors
            )
        if not ok:
            errors.append(f"{kind}: {resp.status} {data[:120]!r}")
        lat[kind].append(ms)
    out.put({"lat": lat, "errors": errors})


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    work = HERE / ".work" / "load"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    proc, url = start(work / "home")
    try:
        setup = prepare(url, work / "home", args.rows)
        ca = str(work / "home" / "tls" / "ca.pem")
        rss = [rss_mib(proc.pid)]
        queue: mp.Queue = mp.Queue()
        workers = [
            mp.Process(target=client, args=(url, ca, setup["key"], args.rows, args.seconds, i, queue))
            for i in range(args.clients)
        ]
        load_before = os.getloadavg()
        started = time.perf_counter()
        for w in workers:
            w.start()
        while any(w.is_alive() for w in workers) and time.perf_counter() - started < args.seconds + 60:
            time.sleep(1)
            rss.append(rss_mib(proc.pid))
            if len(rss) > args.seconds + 5:
                break
        results = [queue.get(timeout=120) for _ in workers]
        for w in workers:
            w.join(30)
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)
    lat: dict[str, list[float]] = {k: [] for k, _ in MIX}
    errors = [e for r in results for e in r["errors"]]
    for r in results:
        for k, v in r["lat"].items():
            lat[k].extend(v)
    every = [x for v in lat.values() for x in v]
    summary = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "clients": args.clients,
        "seconds": args.seconds,
        "rows": args.rows,
        "requests": len(every),
        "errors": len(errors),
        "first_errors": errors[:5],
        "throughput_rps": round(len(every) / min(elapsed, args.seconds + 1), 1),
        "p50_ms": round(pct(every, 0.50), 2),
        "p99_ms": round(pct(every, 0.99), 2),
        "by_kind": {
            k: {"requests": len(v), "p50_ms": round(pct(v, 0.5), 2), "p99_ms": round(pct(v, 0.99), 2)}
            for k, v in lat.items()
        },
        "server_rss_mib": {
            "start": round(rss[0], 1),
            "after_10s": round(rss[min(10, len(rss) - 1)], 1),
            "end": round(rss[-1], 1),
            "peak": round(max(rss), 1),
        },
        "load_average_before": [round(x, 2) for x in load_before],
    }
    out = HERE / "sections"
    out.mkdir(exist_ok=True)
    (out / "load.json").write_text(json.dumps(summary, indent=2) + "\n")
    m = summary["server_rss_mib"]
    rows = "\n".join(
        f"| {k} | {v['requests']:,} | {v['p50_ms']} | {v['p99_ms']} |" for k, v in summary["by_kind"].items()
    )
    (out / "load.md").write_text(
        f"""## The server under load (`benchmarks/load.py`)

{summary["clients"]} client processes for {summary["seconds"]:.0f} s at once, each on one kept-alive
HTTPS connection, over an online feature group of {summary["rows"]:,} keys: 60% 1-key feature
vectors, 10% 100-key batches, 15% feature group metadata, 15% the project; every answer checked.
Clients and server share the 2 cores. Run {summary["when"]} (load average before:
{" ".join(map(str, summary["load_average_before"]))}).

| | requests | p50 ms | p99 ms |
|---|---|---|---|
| all | {summary["requests"]:,} | {summary["p50_ms"]} | {summary["p99_ms"]} |
{rows}

Throughput **{summary["throughput_rps"]:,} requests/s**, **{summary["errors"]} errors**. Server
resident memory: {m["start"]} MiB at the start of the load, {m["after_10s"]} MiB after 10 s,
{m["end"]} MiB at the end (peak {m["peak"]} MiB).
"""
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
