"""The JVM connector beside the Python client on one server: connect time and online vectors.

    make java-bench                 # or: .venv/bin/python benchmarks/jvm_bench.py [--smoke]

One ``larder server`` (SQLite online store) over HTTPS on loopback; a feature group of ``--keys``
integer keys with five features (online), a feature view over it. Then, each in a fresh process:

- connect: builder (Java) / ``larder.connection(...)`` (Python) to the first feature store handle,
  the first in the process (JVM start and class loading excluded, imports included for Python
  since ``import larder`` is light) and the median of ``--connects`` more;
- single: p50/p99 of ``--singles`` one-key ``get_feature_vector`` calls, random keys, after 3000 single and 50 batch warm-ups;
- batch: p50/p99 of ``--batches`` ``get_feature_vectors`` calls of ``--batch-size`` random keys.

Java runs benchmarks/jvm/VectorBench.java against the installed ``dev.larder:larder-java`` (run
``make java-install`` first; ``make java-bench`` does). Writes ``benchmarks/sections/jvm.json`` and
prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import LarderServer  # noqa: E402

PY_CHILD = r"""
import json, random, statistics, sys, time
t0 = time.perf_counter()
import larder
host, port, project, ca, key_file, view, n_keys, singles, batches, batch_size, connects = sys.argv[1:12]
opts = dict(host=host, port=int(port), project=project, trust_store_path=ca, api_key_file=key_file, engine="training")
conn = larder.connection(**opts)
fs = conn.get_feature_store()
first = (time.perf_counter() - t0) * 1000
warm = []
for _ in range(int(connects)):
    s = time.perf_counter(); c = larder.connection(**opts); c.get_feature_store(); warm.append((time.perf_counter() - s) * 1000); c.close()
fv = fs.get_feature_view(view, 1)
rnd = random.Random(42)
n = int(n_keys)
for _ in range(3000):
    fv.get_feature_vector({"id": rnd.randrange(n)})
for _ in range(50):
    fv.get_feature_vectors([{"id": rnd.randrange(n)} for _ in range(int(batch_size))])
single = []
for _ in range(int(singles)):
    e = {"id": rnd.randrange(n)}; s = time.perf_counter(); fv.get_feature_vector(e); single.append((time.perf_counter() - s) * 1000)
batch = []
for _ in range(int(batches)):
    es = [{"id": rnd.randrange(n)} for _ in range(int(batch_size))]
    s = time.perf_counter(); fv.get_feature_vectors(es); batch.append((time.perf_counter() - s) * 1000)
def pct(xs, p):
    xs = sorted(xs); return xs[max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))]
print(json.dumps({"first_connect_ms": first, "connect_ms_p50": statistics.median(warm), "single_p50_ms": pct(single, 50),
                  "single_p99_ms": pct(single, 99), "batch_p50_ms": pct(batch, 50), "batch_p99_ms": pct(batch, 99)}))
conn.close()
"""


def java_classpath(work: Path) -> str:
    """larder-java's installed jar and its dependencies (Maven, offline after make java-install)."""
    out = work / "cp.txt"
    subprocess.run(
        [
            "mvn",
            "-B",
            "-ntp",
            "-q",
            "-o",
            "-f",
            str(ROOT / "java/larder-java/pom.xml"),
            "dependency:build-classpath",
            "-Dmdep.includeScope=runtime",
            f"-Dmdep.outputFile={out}",
        ],
        check=True,
    )
    jar = Path.home() / ".m2/repository/dev/larder/larder-java/0.1.0/larder-java-0.1.0.jar"
    if not jar.exists():
        raise SystemExit("larder-java is not installed: run make java-install")
    return f"{jar}{os.pathsep}{out.read_text().strip()}"


def prepare(server: LarderServer, work: Path, n_keys: int) -> tuple[str, Path]:
    import pyarrow as pa

    import larder

    admin = server.admin_key
    project = "bench_jvm"
    server.api("POST", "/projects", admin, json={"name": project}).raise_for_status()
    key_file = work / "admin.key"
    key_file.write_text(admin)
    key_file.chmod(0o600)
    port = int(server.url.rsplit(":", 1)[1])
    with larder.connection(
        host="127.0.0.1",
        port=port,
        project=project,
        trust_store_path=server.ca,
        api_key_file=str(key_file),
        engine="python",
    ) as conn:
        fs = conn.get_feature_store()
        fg = fs.create_feature_group(
            "profiles", version=1, primary_key=["id"], online_enabled=True, statistics_config=False
        )
        fg.insert(
            pa.table(
                {
                    "id": pa.array(range(n_keys), pa.int64()),
                    "f1": pa.array([i * 0.5 for i in range(n_keys)]),
                    "f2": pa.array([i % 97 for i in range(n_keys)], pa.int64()),
                    "f3": pa.array([f"segment-{i % 13}" for i in range(n_keys)]),
                    "f4": pa.array([i % 2 == 0 for i in range(n_keys)]),
                    "f5": pa.array([float(i % 1000) for i in range(n_keys)]),
                }
            )
        )
        fs.create_feature_view("profiles_serving", fg.select_all(), version=1)
    return project, key_file


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--singles", type=int, default=5000)
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--connects", type=int, default=20)
    ap.add_argument("--smoke", action="store_true", help="small and quick")
    args = ap.parse_args()
    if args.smoke:
        args.keys, args.singles, args.batches, args.connects = 2000, 500, 50, 3
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cp = java_classpath(work)
        subprocess.run(
            ["javac", "-d", str(work / "classes"), "-cp", cp, str(ROOT / "benchmarks/jvm/VectorBench.java")],
            check=True,
        )
        server = LarderServer(work / "home").init().start()
        try:
            project, key_file = prepare(server, work, args.keys)
            port = str(int(server.url.rsplit(":", 1)[1]))
            common = ["127.0.0.1", port, project, server.ca, str(key_file), "profiles_serving"]
            sizes = [
                str(args.keys),
                str(args.singles),
                str(args.batches),
                str(args.batch_size),
                str(args.connects),
            ]
            env = {k: v for k, v in os.environ.items() if not k.startswith(("LARDER_", "AWS_"))}
            env["HOME"] = str(work)
            results: dict[str, Any] = {}
            for lang in ("java", "python"):  # one after the other, never side by side
                if lang == "java":
                    cmd = [
                        "java",
                        f"-Duser.home={work}",
                        "-cp",
                        f"{work / 'classes'}{os.pathsep}{cp}",
                        "VectorBench",
                        *common,
                        "id",
                        *sizes,
                    ]
                else:
                    cmd = [sys.executable, "-c", PY_CHILD, *common, *sizes]
                start = time.perf_counter()
                out = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    raise SystemExit(f"{lang} benchmark failed:\n{out.stdout}\n{out.stderr}")
                res = json.loads(out.stdout.strip().splitlines()[-1])
                res["process_s"] = time.perf_counter() - start
                results[lang] = res
        finally:
            server.stop()
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "java": subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0],
        "params": vars(args),
        "results": results,
    }
    if not args.smoke:
        (ROOT / "benchmarks/sections/jvm.json").write_text(json.dumps(report, indent=1) + "\n")
    j, p = results["java"], results["python"]
    print(f"\n## JVM connector vs Python client ({report['when']}, {report['machine']}, {report['java']})\n")
    print(
        f"One server over HTTPS on loopback, SQLite online store, {args.keys:,} keys x 5 features; "
        f"{args.singles} single-key and {args.batches} {args.batch_size}-key requests after 3000 single and 50 batch warm-ups.\n"
    )
    print("| | Java (larder-java) | Python (larder) |")
    print("|---|---|---|")
    for label, k in (
        ("connect, first in the process (ms)", "first_connect_ms"),
        ("connect, warm, p50 (ms)", "connect_ms_p50"),
        ("1-key vector p50 (ms)", "single_p50_ms"),
        ("1-key vector p99 (ms)", "single_p99_ms"),
        (f"{args.batch_size}-key batch p50 (ms)", "batch_p50_ms"),
        (f"{args.batch_size}-key batch p99 (ms)", "batch_p99_ms"),
    ):
        print(f"| {label} | {j[k]:.3f} | {p[k]:.3f} |")
    goal = "met" if j["single_p50_ms"] < 1.0 else "NOT met"
    print(f"\nGoal (Java 1-key p50 < 1 ms): {goal}.")


if __name__ == "__main__":
    main()
