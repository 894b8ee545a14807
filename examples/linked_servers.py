"""Write on-premise, read in the cloud: two linked servers whose ``default`` namespaces sync 2-way.

The founding document's promise (Hoss, "Switching Between Servers"): a namespace named ``default``
exists on both servers, the two are linked by 2-way (duplex) sync, and a dataset that syncs 2-way
is available at both locations, so the only change needed to run the same analysis code elsewhere
is the URL given to ``connect``. This script shows it on one machine:

1. It starts two servers on loopback with the ``larder`` command line, as an admin would on two
   hosts: ``onprem`` runs the auth service, ``cloud`` is linked to it (``larder server link``).
   Each keeps its data in its own local store (its home's ``default`` namespace). That works
   here because both servers run on one host: a local store serves only clients on its host,
   and a server's sync worker writes into its target's store as a client of the target. On two
   hosts, give each server whose namespace receives synced data an S3 object store.
2. The admins link the two ``default`` namespaces both ways (``ns.enable_sync_target``, duplex).
3. Alice (one API key, made on ``onprem``, valid on both) creates ``my-dataset`` on ``onprem``,
   turns on its 2-way sync and writes a CSV file there.
4. ``analyse(url)``, written once, runs against the onprem URL and then against the cloud URL: the
   same bytes (SHA-256) and the same figures. Its summary, written in the cloud, is read back
   on-premise (the other direction of the sync).

Run it with ``.venv/bin/python examples/linked_servers.py`` (``make test`` runs it); it takes
about 20 s (half of it the servers' graceful stop) and leaves nothing running. ``--keep`` keeps
the servers' homes (under /tmp) to look at.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import larder

LARDER_CLI = shutil.which("larder", path=str(Path(sys.executable).parent)) or "larder"


def larder_cli(*args: str) -> str:
    out = subprocess.run([LARDER_CLI, *args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(
            f"larder {' '.join(args[:2])} failed ({out.returncode}): {out.stderr or out.stdout}"
        )
    return out.stdout


def start(home: Path) -> subprocess.Popen:
    """``larder server start --port 0`` in the background; waits for the URL it writes."""
    log = open(home / "server.log", "ab")  # noqa: SIM115 - the server process holds it
    server = subprocess.Popen(
        [LARDER_CLI, "server", "start", "--home", str(home), "--port", "0"], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while not (home / "server.url").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server in {home} did not start; see {home / 'server.log'}")
        time.sleep(0.05)
    return server


def measurements(rows: int = 5_000) -> bytes:
    """A CSV of sensor readings (seeded: the same bytes on every run)."""
    rng = random.Random(13)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sensor", "hour", "temperature"])
    for i in range(rows):
        w.writerow([f"s{i % 20:02d}", i // 20, f"{rng.gauss(21.0, 3.0):.2f}"])
    return buf.getvalue().encode()


# --- the analysis: written once, run anywhere -------------------------------------------------


def analyse(url: str) -> dict:
    """What a data scientist runs: nothing in it knows which server, store or bucket it reads."""
    conn = larder.connect(url)  # the key from LARDER_API_KEY, the CA from LARDER_TRUST_STORE
    try:
        ns = conn.get_namespace("default")
        ds = ns.get_dataset("my-dataset")
        data = (ds / "raw" / "measurements.csv").read_bytes()
        temps = [float(r["temperature"]) for r in csv.DictReader(io.StringIO(data.decode()))]
        return {
            "server": url,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "rows": len(temps),
            "mean_temperature": round(sum(temps) / len(temps), 4),
        }
    finally:
        conn.close()


# --- the set-up: two servers, linked ---------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the servers' homes (printed)")
    args = parser.parse_args()
    t_all = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="larder-linked-"))
    onprem_home, cloud_home = work / "onprem", work / "cloud"
    servers: list[subprocess.Popen] = []
    try:
        print("-> two servers: onprem (the auth service) and cloud (linked to it)", flush=True)
        larder_cli("server", "init", "--home", str(onprem_home))
        servers.append(start(onprem_home))
        onprem_url = (onprem_home / "server.url").read_text().strip()
        larder_cli("server", "init", "--home", str(cloud_home))
        larder_cli(
            "server",
            "link",
            "--home",
            str(cloud_home),
            "--auth-service",
            onprem_url,
            "--trust-store",
            str(onprem_home / "tls" / "ca.pem"),
        )
        servers.append(start(cloud_home))
        cloud_url = (cloud_home / "server.url").read_text().strip()
        print(f"   onprem {onprem_url}\n   cloud  {cloud_url}")
        # each server has its own CA: clients that work with both trust both
        ca_bundle = work / "ca-bundle.pem"
        ca_bundle.write_text(
            (onprem_home / "tls" / "ca.pem").read_text() + (cloud_home / "tls" / "ca.pem").read_text()
        )

        print("-> the admins link the two 'default' namespaces, 2-way", flush=True)
        for home, other in ((onprem_home, cloud_home), (cloud_home, onprem_home)):
            home_url = (home / "server.url").read_text().strip()
            admin_key = ["--api-key-file", str(home / "admin_api_key")]
            larder_cli(
                "project", "create", "ops", "--url", home_url, "--trust-store", str(ca_bundle), *admin_key
            )
            conn = larder.connect(
                f"{home_url}/ops", api_key_file=str(home / "admin_api_key"), trust_store_path=str(ca_bundle)
            )
            ns = conn.get_namespace("default")
            # the target's admin key, kept encrypted by this server for its sync worker
            ns.enable_sync_target(
                (other / "server.url").read_text().strip() + "/api/v1",
                "duplex",
                "default",
                api_key=(other / "admin_api_key").read_text().strip(),
                trust_store=other / "tls" / "ca.pem",
            )
            print(f"   {home.name}: {ns.get_sync_configuration()}")
            conn.close()

        print("-> alice: one key (made on onprem), a project on each server", flush=True)
        admin = ["--url", onprem_url, "--trust-store", str(ca_bundle)]
        admin += ["--api-key-file", str(onprem_home / "admin_api_key")]
        larder_cli("user", "create", "alice", "--role", "privileged", *admin)
        created = larder_cli(
            "apikey", "create", "--user", "alice", "--json", "--scopes", "project,dataset", *admin
        )
        os.environ["LARDER_API_KEY"] = json.loads(created)["key"]
        os.environ["LARDER_TRUST_STORE"] = str(ca_bundle)
        for url in (onprem_url, cloud_url):  # her first call to cloud makes her a (federated) user there
            larder_cli("project", "create", "lab", "--url", url)

        print("-> alice writes on-premise, into a dataset that syncs 2-way", flush=True)
        onprem = larder.connect(onprem_url)
        ds = onprem.get_namespace("default").create_dataset("my-dataset", description="sensor readings")
        ds.enable_sync("duplex")  # creates my-dataset on cloud too, owned by alice there
        data = measurements()
        t0 = time.perf_counter()
        (ds / "raw" / "measurements.csv").write_bytes(data, metadata={"kind": "csv"})
        status = ds.wait_for_sync(60)
        print(
            f"   wrote raw/measurements.csv ({len(data):,} bytes); on cloud after {time.perf_counter() - t0:.2f} s "
            f"(sync {status['state']}, {status['pending']} pending)"
        )

        print("-> the same analysis code, on-premise, then in the cloud", flush=True)
        on_prem = analyse(onprem_url)
        in_cloud = analyse(cloud_url)  # the only change: the URL
        for r in (on_prem, in_cloud):
            print(
                f"   {r['server']}: {r['rows']:,} rows, mean temperature {r['mean_temperature']}, sha256 {r['sha256']}"
            )
        assert on_prem["sha256"] == hashlib.sha256(data).hexdigest()
        assert in_cloud["sha256"] == on_prem["sha256"]
        assert in_cloud["mean_temperature"] == on_prem["mean_temperature"]
        print(f"same bytes on both servers: sha256 {in_cloud['sha256']}")

        print("-> the other way: a summary written in the cloud is read on-premise", flush=True)
        cloud = larder.connect(cloud_url)
        ds_cloud = cloud.get_namespace("default").get_dataset("my-dataset")
        (ds_cloud / "results" / "summary.json").write_text(json.dumps(in_cloud, sort_keys=True))
        ds_cloud.wait_for_sync(60)
        back = json.loads((ds / "results" / "summary.json").read_text())
        assert back == in_cloud, back
        print(f"   onprem reads results/summary.json: mean temperature {back['mean_temperature']}")
        print(f"   onprem has {sorted(p.key for p in ds.glob('**/*'))}")
        onprem.close()
        cloud.close()
        print(f"done in {time.perf_counter() - t_all:.1f} s")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if args.keep:
            print(f"homes kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
