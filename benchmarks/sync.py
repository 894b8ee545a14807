"""Sync between linked servers (issue 21): how soon a write is visible on the target, and the bulk
throughput against a raw copy between the same two stores.

    .venv/bin/python benchmarks/sync.py [--smoke] [--objects 200] [--files 1000] [--file-mib 1]
    .venv/bin/python benchmarks/sync.py --render-only      # rewrite sections/sync.md from sync.json

Two real servers on loopback, as the sync tests run them: **A** (the auth service) on its home's
local store, **B** linked to A's auth service (``larder server link``) with its namespace on S3
(``moto_server``, also on loopback). A namespace ``shared`` on each, linked 2-way (duplex): each
server's admin adds the other as a sync target. Both servers run the default sync settings
(``sync_threads = 8``, the worker woken by each commit that adds outbox rows).

1. **Write -> visible on B**: ``--objects`` objects of 1 KiB written one at a time on A (a synced
   dataset); after each write returns, B's copy is polled every ``--poll-ms`` with B's client
   (``(ds_b / key).is_file()``: a HEAD on B's bucket with credentials B vends) until it is there,
   then the next object is written. p50/p99/max of write-returned -> visible on B (and of
   write-started -> visible). Every copy's bytes are compared afterwards.
2. **Bulk**: ``--files`` files of ``--file-mib`` MiB (random bytes) written on A (local store) into
   a dataset that does not sync yet; then ``enable_sync("duplex")`` (the back-fill), timed until
   B's bucket lists every file (polled every 0.25 s). The raw copy: the same files, read from A's
   store directory, uploaded with boto3 ``upload_file`` into another bucket of the same moto_server
   by a thread pool as wide as the sync worker (8); run once before and once after the sync, and
   the faster of the two is the baseline. Then the same with the sync on while the files are
   written (``--no-live`` skips it): time from the first write until the last file is on B.
   Every copy on B is checked (SHA-256 of its bytes against A's).

Writes ``benchmarks/sections/sync.md`` (included in RESULTS.md by ``run.py``) and
``benchmarks/sections/sync.json``; ``--smoke`` (20 objects, 50 files) writes under
``benchmarks/.work/sync-smoke/`` and leaves the sections alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
NAMESPACE = "shared"
THREADS = 8  # the sync worker's default sync_threads; the raw copy's pool is as wide
KIB, MIB = 1024, 1024 * 1024


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(pct(ms, 0.50), 1),
        "p99_ms": round(pct(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
        "min_ms": round(min(ms), 1),
        "n": len(ms),
    }


# --- the two servers -------------------------------------------------------------------------------


class Pair:
    """Server A (local store, the auth service) and server B (linked to A, namespace on S3)."""

    def __init__(self, work: Path, moto_url: str) -> None:
        sys.path.insert(0, str(TESTS))
        from conftest import LarderServer, run_cli
        from larder.client.rest import RestClient
        from larder.storage.namespace import Storage

        self.moto_url = moto_url
        self.a = LarderServer(work / "a").init()
        self.a.start()
        self.b = LarderServer(work / "b").init()
        run_cli(
            "server",
            "link",
            "--home",
            str(self.b.home),
            "--auth-service",
            self.a.url,
            "--trust-store",
            self.a.ca,
        )
        self.b.start()
        a, b = self.a, self.b
        r = b.api(
            "POST",
            "/objectstores",
            b.admin_key,
            json={
                "name": "moto",
                "type": "s3",
                "endpoint_url": moto_url,
                "region": "us-east-1",
                "access_key_id": "testing",
                "secret_access_key": "testing",
                "role_arn": "arn:aws:iam::123456789012:role/larder",
            },
        )
        assert r.status_code == 201, r.text
        r = b.api(
            "POST",
            "/namespaces",
            b.admin_key,
            json={"name": NAMESPACE, "object_store": "moto", "bucket": "shared-b"},
        )
        assert r.status_code == 201, r.text
        r = a.api(
            "POST",
            "/namespaces",
            a.admin_key,
            json={"name": NAMESPACE, "object_store": "local", "bucket": "shared-a"},
        )
        assert r.status_code == 201, r.text
        self.sa = Storage(RestClient(a.url, a.admin_key, verify=a.ca))
        self.sb = Storage(RestClient(b.url, b.admin_key, verify=b.ca))
        self.nsa, self.nsb = self.sa.get_namespace(NAMESPACE), self.sb.get_namespace(NAMESPACE)
        self.nsa.enable_sync_target(
            b.url + "/api/v1", "duplex", NAMESPACE, api_key=b.admin_key, trust_store=b.ca
        )
        self.nsb.enable_sync_target(
            a.url + "/api/v1", "duplex", NAMESPACE, api_key=a.admin_key, trust_store=a.ca
        )

    def stop(self) -> None:
        for s in (self.a, self.b):
            s.stop()


def s3_client(moto_url: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=THREADS * 4),
    )


def listed(s3, bucket: str, prefix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["Size"]
    return out


def wait_listed(s3, bucket: str, prefix: str, n: int, timeout: float, poll: float = 0.25) -> float:
    """Poll ``bucket`` until ``n`` objects are under ``prefix``; the monotonic time they were."""
    deadline = time.monotonic() + timeout
    while True:
        if len(listed(s3, bucket, prefix)) >= n:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"only {len(listed(s3, bucket, prefix))} of {n} objects under {prefix} after {timeout} s"
            )
        time.sleep(poll)


def sha_s3(s3, bucket: str, key: str) -> str:
    return hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 1. write -> visible ---------------------------------------------------------------------------


def bench_latency(pair: Pair, n: int, size: int, poll_s: float, timeout: float = 60.0) -> dict:
    dsa = pair.nsa.create_dataset("latency")
    dsa.enable_sync("duplex")
    dsb = pair.nsb.get_dataset("latency")
    (dsa / "warm.bin").write_bytes(os.urandom(size))  # the peers open, the credentials are vended
    dsa.wait_for_sync(60)
    while not (dsb / "warm.bin").is_file():
        time.sleep(poll_s)
    after_write, after_start, write_s, polls, poll_cost = [], [], [], [], []
    payloads: dict[str, bytes] = {}
    for i in range(n):
        key = f"small/{i:05d}.bin"
        data = os.urandom(size)
        payloads[key] = data
        ref_b = dsb / key
        t0 = time.perf_counter()
        (dsa / key).write_bytes(data)
        t1 = time.perf_counter()
        looks = 0
        while True:
            looks += 1
            p0 = time.perf_counter()
            there = ref_b.is_file()
            poll_cost.append(time.perf_counter() - p0)
            if there:
                break
            if time.perf_counter() - t1 > timeout:
                raise TimeoutError(
                    f"{key} not on B {timeout} s after it was written on A: {dsa.sync_status()}"
                )
            time.sleep(poll_s)
        t2 = time.perf_counter()
        write_s.append(t1 - t0)
        after_write.append(t2 - t1)
        after_start.append(t2 - t0)
        polls.append(looks)
    wrong = [k for k, v in payloads.items() if (dsb / k).read_bytes() != v]
    st = dsa.sync_status()
    return {
        "objects": n,
        "object_bytes": size,
        "poll_ms": poll_s * 1000,
        "write_returned_to_visible": summary_ms(after_write),
        "write_started_to_visible": summary_ms(after_start),
        "write_on_a": summary_ms(write_s),
        "polls_per_object_p50": pct([float(p) for p in polls], 0.5),
        "poll_call": summary_ms(poll_cost),
        "bytes_differ": len(wrong),
        "conflicts": st["conflicts"],
        "copied": st["targets"][0]["copied"],
    }


# --- 2. bulk ---------------------------------------------------------------------------------------


def local_dir(ds) -> Path:
    """The directory of a dataset on a local store (``ds.uri`` is ``file:///...``)."""
    parts = urlsplit(ds.uri)
    assert parts.scheme == "file", ds.uri
    return Path(unquote(parts.path))


def write_files(ds, n: int, size: int, prefix: str) -> tuple[float, dict[str, str]]:
    """``n`` files of random bytes written one after another on A; (seconds, sha256 by key)."""
    shas: dict[str, str] = {}
    t0 = time.perf_counter()
    for i in range(n):
        data = os.urandom(size)
        key = f"{prefix}/{i:05d}.bin"
        (ds / key).write_bytes(data)
        shas[key] = hashlib.sha256(data).hexdigest()
    return time.perf_counter() - t0, shas


def raw_copy(s3, files: list[tuple[Path, str]], bucket: str) -> float:
    """boto3 ``upload_file`` of local files into ``bucket``, ``THREADS`` at a time; seconds."""
    s3.create_bucket(Bucket=bucket)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda f: s3.upload_file(str(f[0]), bucket, f[1]), files))
    seconds = time.perf_counter() - t0
    got = listed(s3, bucket, "")
    assert len(got) == len(files), (len(got), len(files))
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):  # free moto's memory
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])
    return seconds


def protocol_copy(s3, files: list[tuple[Path, str]], bucket: str) -> float:
    """What the sync does on S3 per object, alone (no REST call, no database): a PUT to a staging
    key, a copy to the key, a DELETE of the staged object; ``THREADS`` at a time."""
    s3.create_bucket(Bucket=bucket)

    def one(f: tuple[Path, str]) -> None:
        staged = f".larder-sync-{f[1].replace('/', '-')}"
        s3.upload_file(str(f[0]), bucket, staged)
        s3.copy_object(Bucket=bucket, Key=f[1], CopySource={"Bucket": bucket, "Key": staged})
        s3.delete_object(Bucket=bucket, Key=staged)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, files))
    seconds = time.perf_counter() - t0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])
    return seconds


def check_copies(s3, name: str, shas: dict[str, str]) -> int:
    """Copies on B whose bytes differ from A's (or are missing)."""

    def bad(item: tuple[str, str]) -> bool:
        try:
            return sha_s3(s3, "shared-b", f"{name}/{item[0]}") != item[1]
        except Exception:  # noqa: BLE001 - a missing copy counts as differing
            return True

    with ThreadPoolExecutor(THREADS) as pool:
        return sum(pool.map(bad, shas.items()))


def bench_bulk(pair: Pair, n: int, size: int, live: bool, timeout: float) -> dict:
    s3 = s3_client(pair.moto_url)
    out: dict = {"files": n, "file_bytes": size, "total_bytes": n * size, "threads": THREADS}

    # the back-fill
    dsa = pair.nsa.create_dataset("bulk")
    write_s, shas = write_files(dsa, n, size, "files")
    out["write_on_a_s"] = round(write_s, 2)
    root = local_dir(dsa)
    files = [(root / key, key) for key in shas]
    raw = [raw_copy(s3, files, "raw-copy-1")]
    print(f"  raw copy (before): {raw[0]:.2f} s", flush=True)
    t0 = time.monotonic()
    dsa.enable_sync("duplex")
    t_enabled = time.monotonic()
    t_done = wait_listed(s3, "shared-b", f"{dsa.name}/files/", n, timeout)
    backfill_s = t_done - t0
    print(f"  back-fill: {backfill_s:.2f} s", flush=True)
    dsa.wait_for_sync(timeout)
    st = dsa.sync_status()
    out["backfill"] = {
        "seconds": round(backfill_s, 2),
        "enable_sync_call_s": round(t_enabled - t0, 3),
        "mib_per_s": round(n * size / MIB / backfill_s, 1),
        "objects_per_s": round(n / backfill_s, 1),
        "copied": st["targets"][0]["copied"],
        "copied_bytes": st["targets"][0]["copied_bytes"],
        "reconciliation": st["targets"][0]["last_reconciliation"],
        "bytes_differ": check_copies(s3, dsa.name, shas),
    }
    raw.append(raw_copy(s3, files, "raw-copy-2"))
    print(f"  raw copy (after): {raw[1]:.2f} s", flush=True)
    proto = protocol_copy(s3, files, "protocol-copy")
    print(f"  the sync's S3 operations alone: {proto:.2f} s", flush=True)
    best = min(raw)
    out["raw"] = {
        "seconds": [round(x, 2) for x in raw],
        "best_s": round(best, 2),
        "mib_per_s": round(n * size / MIB / best, 1),
    }
    out["backfill"]["vs_raw"] = round(best / backfill_s, 3)
    out["protocol_s3_only"] = {"seconds": round(proto, 2), "vs_raw": round(best / proto, 3)}

    if live:  # the sync on while the files are written
        dsl = pair.nsa.create_dataset("bulk-live")
        dsl.enable_sync("duplex")
        dsl.wait_for_sync(60)
        time.sleep(1.0)  # let the back-fill reconciliation of the empty dataset pass
        t0 = time.monotonic()
        write_s, shas_l = write_files(dsl, n, size, "files")
        t_written = time.monotonic()
        t_done = wait_listed(s3, "shared-b", f"{dsl.name}/files/", n, timeout)
        dsl.wait_for_sync(timeout)
        total = t_done - t0
        out["live"] = {
            "seconds": round(total, 2),
            "write_on_a_s": round(write_s, 2),
            "after_last_write_s": round(t_done - t_written, 2),
            "mib_per_s": round(n * size / MIB / total, 1),
            "bytes_differ": check_copies(s3, dsl.name, shas_l),
        }
        print(f"  live: {total:.2f} s ({write_s:.2f} s writing on A)", flush=True)
    return out


# --- report ----------------------------------------------------------------------------------------


def report(r: dict) -> str:
    lat, bulk = r["latency"], r["bulk"]
    w = lat["write_returned_to_visible"]
    ws = lat["write_started_to_visible"]
    wa = lat["write_on_a"]
    bf, raw = bulk["backfill"], bulk["raw"]
    mib = bulk["total_bytes"] / MIB
    note = r.get("size_note") or ("--smoke" if r.get("smoke") else "")
    size_note = ""
    if bulk["total_bytes"] < 1000 * MIB:
        size_note = f" (less than the goal's 1,000 x 1 MiB{': ' + note if note else ''})"
    lines = [
        "## Sync between linked servers (`benchmarks/sync.py`, issue 21)",
        "",
        f"Run {r['started']}; load average before: {r['load']}, after: {r.get('load_after', 'not recorded')}. "
        "Two servers on loopback on the same 2 cores: "
        "**A** (the auth service, local store) and **B** (linked to A, its namespace on S3: `moto_server` on "
        "loopback); their `shared` namespaces linked 2-way, default sync settings (`sync_threads = 8`). "
        "The client, both servers and moto_server share the machine.",
        "",
        f"**Write on A -> visible on B**: {lat['objects']} objects of {lat['object_bytes'] // KIB} KiB written one "
        f"at a time on A; after each write returns, B's copy is polled every {lat['poll_ms']:.0f} ms with B's "
        f"client (a HEAD on B's bucket: p50 {lat['poll_call']['p50_ms']} ms per look) before the next write.",
        "",
        "| | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|",
        f"| write returned on A -> readable on B | **{w['p50_ms']}** | {w['p99_ms']} | {w['max_ms']} |",
        f"| write started on A -> readable on B | {ws['p50_ms']} | {ws['p99_ms']} | {ws['max_ms']} |",
        f"| the write on A itself (local store, recorded) | {wa['p50_ms']} | {wa['p99_ms']} | {wa['max_ms']} |",
        "",
        f"Goal p50 < 2 s: **{'met' if w['p50_ms'] < 2000 else 'not met'}** ({w['p50_ms'] / 1000:.3f} s). "
        f"Copies whose bytes differ: {lat['bytes_differ']}. The worker is woken by the commit that records "
        "the write (no polling interval): the time is the outbox row's pick-up, the upload to a staging key "
        "in B's bucket, B's apply (last-writer-wins check, the copy to the key, its index) and one poll.",
        "",
        f"**Bulk**: {bulk['files']:,} files x {bulk['file_bytes'] / MIB:g} MiB = {mib:,.0f} MiB of random bytes{size_note}, "
        f'written on A (local store) first; then `enable_sync("duplex")` (the back-fill), timed until B\'s '
        "bucket lists every file. Raw copy: the same files read from A's store directory, boto3 `upload_file` "
        f"into another bucket of the same moto_server, {bulk['threads']} threads (as wide as the sync worker); "
        "run before and after the sync, the faster is the baseline.",
        "",
        "| | seconds | MiB/s | objects/s | vs raw |",
        "|---|---|---|---|---|",
        f"| raw copy, boto3 `upload_file` x {bulk['threads']} threads | {' / '.join(f'{x:.1f}' for x in raw['seconds'])} "
        f"| {raw['mib_per_s']} | {bulk['files'] / raw['best_s']:.1f} | 100% |",
        f"| sync back-fill (`enable_sync` -> all on B) | {bf['seconds']:.1f} | {bf['mib_per_s']} | {bf['objects_per_s']} "
        f"| **{100 * bf['vs_raw']:.0f}%** |",
    ]
    proto = bulk.get("protocol_s3_only")
    if proto:
        lines.append(
            f"| the sync's S3 operations alone (PUT staged, COPY, DELETE; no REST, no database) "
            f"| {proto['seconds']:.1f} | {mib / proto['seconds']:.1f} | {bulk['files'] / proto['seconds']:.1f} "
            f"| {100 * proto['vs_raw']:.0f}% |"
        )
    live = bulk.get("live")
    if live:
        lines.append(
            f"| sync on while writing (first write on A -> last file on B) | {live['seconds']:.1f} | {live['mib_per_s']} "
            f"| {bulk['files'] / live['seconds']:.1f} | ({live['write_on_a_s']:.1f} s of it writing on A; "
            f"{live['after_last_write_s']:.1f} s after the last write) |"
        )
    lines += [
        "",
        f"Goal >= 50% of raw: **{'met' if bf['vs_raw'] >= 0.5 else 'not met'}** ({100 * bf['vs_raw']:.0f}%). "
        f"Copies whose bytes differ (SHA-256 of every copy on B against A's): back-fill {bf['bytes_differ']}"
        + (f", live {live['bytes_differ']}" if live else "")
        + (
            f". With the sync on, writing the files on A took {live['write_on_a_s']:.1f} s against "
            f"{bulk['write_on_a_s']:.1f} s with it off (the worker shares the cores and A's database)"
            if live
            else ""
        )
        + f". The back-fill's reconciliation (listing A and B, queueing what B lacks) took "
        f"{bf['reconciliation'].get('seconds', 0):.2f} s of it. Per object the sync does more than the raw copy: "
        "a PUT to a staging key, then B's apply (a REST call: a copy to the key and a delete of the staged "
        "object on S3, the index row in B's database) and the outbox bookkeeping in A's database"
        + (
            f"; its S3 operations alone, without the REST calls and databases, reach {100 * proto['vs_raw']:.0f}% "
            "of the raw copy here (moto_server reads and hashes the bytes again for a COPY, which on AWS S3 "
            "runs inside the service)"
            if proto
            else ""
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=200, help="small objects for the latency (default 200)")
    ap.add_argument("--object-kib", type=int, default=1, help="their size (default 1 KiB)")
    ap.add_argument("--poll-ms", type=float, default=5.0, help="how often B is looked at (default 5 ms)")
    ap.add_argument("--files", type=int, default=1000, help="bulk files (default 1,000)")
    ap.add_argument("--file-mib", type=float, default=1.0, help="their size in MiB (default 1)")
    ap.add_argument("--no-live", action="store_true", help="skip the bulk run with the sync on while writing")
    ap.add_argument("--size-note", default="", help="why the bulk is smaller than 1 GiB (shown in sync.md)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per bulk run, seconds (default 1800)")
    ap.add_argument("--smoke", action="store_true", help="20 objects, 50 files; sections/ left alone")
    ap.add_argument("--render-only", action="store_true", help="rewrite sections/sync.md from sync.json")
    args = ap.parse_args()
    out = HERE / "sections"
    if args.render_only:
        text = report(json.loads((out / "sync.json").read_text()))
        (out / "sync.md").write_text(text)
        print(text)
        return
    if args.smoke:
        args.objects, args.files = min(args.objects, 20), min(args.files, 50)
        out = HERE / ".work" / "sync-smoke"
        out.mkdir(parents=True, exist_ok=True)

    sys.path.insert(0, str(TESTS))
    import real_services

    result: dict = {
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "smoke": args.smoke,
        "size_note": args.size_note,
    }
    work = Path(tempfile.mkdtemp(prefix="larder-sync-bench-"))
    (work / "moto").mkdir()
    try:
        with real_services.moto(work / "moto") as moto_url:
            pair = Pair(work, moto_url)
            try:
                print(f"write -> visible: {args.objects} x {args.object_kib} KiB ...", flush=True)
                result["latency"] = bench_latency(
                    pair, args.objects, args.object_kib * KIB, args.poll_ms / 1000
                )
                print(f"  {result['latency']['write_returned_to_visible']}", flush=True)
                print(f"bulk: {args.files} x {args.file_mib:g} MiB ...", flush=True)
                result["bulk"] = bench_bulk(
                    pair, args.files, int(args.file_mib * MIB), not args.no_live, args.timeout
                )
            except BaseException:
                print(pair.a.log()[-3000:], pair.b.log()[-3000:], sep="\n----\n")
                raise
            finally:
                pair.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["finished"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    result["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    (out / "sync.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    text = report(result)
    (out / "sync.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
