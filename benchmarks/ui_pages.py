"""Server time of the web UI's pages on big objects (issue 23: "a 5M-row feature group's page
renders in < 300 ms server time, a dataset with 100k objects is paged").

    .venv/bin/python benchmarks/ui_pages.py [--rows 5000000] [--objects 100000] [--repeats 20]

Starts a real `larder server` (its own home under benchmarks/.work/ui/), writes a feature group of
``--rows`` rows x 10 columns through the Python connector (one insert, then an upsert of 1% of the
rows: two commits with statistics), and indexes ``--objects`` objects in a dataset (in 100 folders
plus 1,000 files at the top). The object index rows are written straight into the server's SQLite
catalog in one transaction (100k REST calls would take minutes and measure nothing about the UI);
everything measured goes through the server. Each page is fetched ``--repeats`` times after one
warm-up, signed in through the sign-in form; the figure is the server's own ``Server-Timing``
(handler start to response, HTML rendered), with the client's wall time beside it. Writes
benchmarks/sections/ui.md (included in RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LARDER = str(Path(sys.executable).parent / "larder")


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


def feature_group(url: str, ca: str, key: str, rows: int) -> None:
    from urllib.parse import urlsplit

    import numpy as np
    import pandas as pd

    import larder

    parts = urlsplit(url)
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "ts": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86400 * 365, rows), "s"),
            **{f"x{i}": rng.normal(i, 1 + i, rows) for i in range(6)},
            "n": rng.integers(0, 1000, rows),
            "cat": rng.choice(np.array(["a", "b", "c", "d"], dtype=object), rows),
        }
    )
    conn = larder.connection(
        host=parts.hostname, port=parts.port, project="big", trust_store_path=ca, api_key_value=key
    )
    try:
        fs = conn.get_feature_store()
        fg = fs.create_feature_group(
            "events", primary_key=["id"], event_time="ts", description=f"{rows:,} rows"
        )
        t = time.perf_counter()
        fg.insert(df)
        print(f"inserted {rows:,} rows in {time.perf_counter() - t:.1f} s", flush=True)
        changed = df.sample(frac=0.01, random_state=1)
        changed["x0"] = changed["x0"] + 1
        fg.insert(changed)
    finally:
        conn.close()


def objects(home: Path, dataset_name: str, count: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{home / 'larder.db'}")
    now = datetime.now(timezone.utc).isoformat(sep=" ")
    with engine.begin() as db:
        ds_id = db.execute(
            sa.text("SELECT id FROM datasets WHERE name = :n"), {"n": dataset_name}
        ).scalar_one()
        top = 1000
        rows = [
            {
                "d": ds_id,
                "k": f"top-{i:05d}.parquet" if i < top else f"day={i % 100:03d}/part-{i:06d}.parquet",
                "t": now,
            }
            for i in range(count)
        ]
        db.execute(
            sa.text(
                "INSERT INTO objects (dataset_id, key, size, etag, last_modified, metadata_json) "
                "VALUES (:d, :k, 1024, 'e', :t, '{}')"
            ),
            rows,
        )
    engine.dispose()


def sign_in(url: str, ca: str, key: str) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = ca
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(url + "/login").text).group(1)
    r = s.post(
        url + "/login",
        data={"csrf_token": token, "api_key": key},
        headers={"Origin": url},
        allow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return s


def measure(s: requests.Session, url: str, path: str, repeats: int) -> dict[str, float]:
    server, wall = [], []
    for i in range(repeats + 1):
        t = time.perf_counter()
        r = s.get(url + path)
        elapsed = (time.perf_counter() - t) * 1000
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        if i:  # the first is the warm-up (template compilation, caches)
            server.append(float(r.headers["server-timing"].split("dur=")[1]))
            wall.append(elapsed)
    server.sort()
    return {
        "server_p50": statistics.median(server),
        "server_p95": server[max(0, int(len(server) * 0.95) - 1)],
        "wall_p50": statistics.median(wall),
        "bytes": len(r.content),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    work = HERE / ".work" / "ui"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "home"
    proc, url = start(home)
    try:
        ca = str(home / "tls" / "ca.pem")
        admin = (home / "admin_api_key").read_text().strip()
        s = requests.Session()
        s.trust_env, s.verify = False, ca
        s.headers["Authorization"] = f"ApiKey {admin}"
        assert s.post(url + "/api/v1/projects", json={"name": "big"}).status_code == 201
        assert s.post(url + "/api/v1/namespaces/default/datasets", json={"name": "many"}).status_code == 201
        feature_group(url, ca, admin, args.rows)
        objects(home, "many", args.objects)
        ui = sign_in(url, ca, admin)
        middle = f"top-{500:05d}.parquet"
        pages = {
            f"feature group page ({args.rows:,} rows, 2 commits)": "/projects/big/featuregroups/events/1",
            "preview, latest (25 rows)": "/projects/big/featuregroups/events/1/preview",
            "preview, as of the first commit (100 rows)": "/projects/big/featuregroups/events/1/preview?as_of=0&rows=100",
            f"dataset, first page ({args.objects:,} objects)": "/namespaces/default/datasets/many",
            "dataset, a later page (keyset cursor)": f"/namespaces/default/datasets/many?after={middle}",
            "dataset, a folder (990 objects)": "/namespaces/default/datasets/many?prefix=day%3D042/",
            "project page": "/projects/big",
        }
        results = {name: measure(ui, url, path, args.repeats) for name, path in pages.items()}
    finally:
        proc.terminate()
        proc.wait(30)
    lines = [
        "# Web UI pages on big objects",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/ui_pages.py` on {platform.node()} "
        f"({platform.processor() or platform.machine()}, Python {platform.python_version()}); {args.repeats} requests "
        "per page after one warm-up, one client, SQLite catalog, local object store.",
        "",
        "| page | server p50 (ms) | server p95 (ms) | client wall p50 (ms) | HTML bytes |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['server_p50']:.1f} | {r['server_p95']:.1f} | {r['wall_p50']:.1f} | {int(r['bytes']):,} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "sections").mkdir(exist_ok=True)
    (HERE / "sections" / "ui.md").write_text(text)
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
