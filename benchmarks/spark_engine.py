"""The spark engine beside raw delta-spark and hand-written Spark as-of joins (issue 19), in one run.

One local SparkSession (``local[2]``, ``larder.spark_config()``) and one embedded platform, the
benchmarks' own deterministic data (``data.py``):

* **insert**: 5,000,000 rows x 10 columns (a Spark DataFrame read from Parquet and cached, so
  neither side pays for the read) into a new feature group with ``fg.insert(df)`` (checks, the
  Delta write, statistics) vs ``df.write.format("delta").save(path)``; the sides interleaved.
* **point-in-time**: 1,000,000 labels joined to two feature groups of 2,500,000 rows each (5M
  feature rows over 100k keys; 3% of labels have a key with no feature rows). Each side's result is
  materialized by Spark's ``noop`` sink (every row computed, nothing collected); then its rows are
  compared with the python engine's (the oracle: it matches the duckdb ASOF join, see RESULTS.md):
  rows missing, rows duplicated, feature values that differ. Sides: Larder's spark engine
  (``query.read()``); a hand-written as-of join of the same shape (a union of label and feature rows
  sorted per key, ``last(struct, ignorenulls)`` over a window); ``ROW_NUMBER()`` over a LEFT JOIN on ``key`` and earlier event times;
  the Hopsworks pattern (``RANK()`` over an INNER JOIN); and the python engine on the same tables.
  (Spark's own ``DataFrame._joinAsOf`` is left out: with ``on="key"`` pyspark 4.2 raises
  AMBIGUOUS_REFERENCE, and with a column condition it ran as a non-equi join, 20 minutes of CPU on
  20,000 labels before it was stopped.)

Usage: ``.venv/bin/python benchmarks/spark_engine.py [--rows 5000000] [--labels 1000000]
[--repeats 2]``; prints a Markdown section and writes it to ``benchmarks/sections/spark.md``
(included in RESULTS.md) with the figures in ``benchmarks/sections/spark.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data import FEATURES_A, FEATURES_B, ensure_insert_data, ensure_pit_data  # noqa: E402


def session(cores: int):
    from pyspark.sql import SparkSession

    import larder

    builder = SparkSession.builder.master(f"local[{cores}]").appName("larder-bench")
    config = {**larder.spark_config(cores), "spark.ui.enabled": "false", "spark.driver.memory": "6g"}
    for key, value in config.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def materialize(df) -> None:
    """Compute every row of ``df`` (Spark's ``noop`` sink: nothing is written or collected)."""
    df.write.format("noop").mode("overwrite").save()


# --- insert -------------------------------------------------------------------------------------------


def bench_insert(spark, fs, rows: int, repeats: int, work: Path) -> dict:
    from pyspark import StorageLevel

    source = spark.read.parquet(ensure_insert_data(rows)).persist(StorageLevel.MEMORY_AND_DISK)
    n = source.count()
    raw, larder_s, details = [], [], []
    for i in range(repeats):
        seconds, _ = timed(lambda i=i: source.write.format("delta").save(str(work / f"raw_{i}")))
        raw.append(seconds)
        fg = fs.create_feature_group(
            f"bench_spark_insert_{i}_{int(time.time())}", primary_key=["key"], event_time="event_timestamp"
        )
        seconds, commit = timed(lambda fg=fg: fg.insert(source))
        larder_s.append(seconds)
        details.append({k: commit.get(k) for k in ("rows_inserted", "delta_version")})
    source.unpersist()
    return {"rows": n, "raw_s": raw, "larder_s": larder_s, "commits": details}


# --- point-in-time ------------------------------------------------------------------------------------


def _hand_written_asof(spark, labels, feats, columns: list[str]):
    """The fastest correct as-of join we know in Spark: label and feature rows in one union, sorted
    per key by event time (a feature row before a label at the same instant), each label taking
    the last feature row seen (a struct, so that null feature values stay null)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    left = labels.select(
        "label_id", "key", "event_timestamp", F.lit(1).alias("side"), F.lit(None).alias("r")
    ).withColumn("r", F.lit(None).cast(f"struct<{','.join(f'{c}:double' for c in columns)}>"))
    right = feats.select(
        F.lit(None).cast("long").alias("label_id"),
        "key",
        "event_timestamp",
        F.lit(0).alias("side"),
        F.struct(*[F.col(c).cast("double").alias(c) for c in columns]).alias("r"),
    )
    w = Window.partitionBy("key").orderBy("event_timestamp", "side").rowsBetween(Window.unboundedPreceding, 0)
    both = left.unionByName(right).withColumn("m", F.last("r", ignorenulls=True).over(w))
    return both.where("side = 1").select("label_id", *[F.col(f"m.{c}").alias(c) for c in columns])


def _joined(labels, parts: list) -> object:
    out = labels.select("label_id", "key", "event_timestamp", "label")
    for part in parts:
        out = out.join(part, on="label_id", how="left")
    return out


def side_hand_written(spark, labels, a, b):
    return _joined(
        labels,
        [_hand_written_asof(spark, labels, a, FEATURES_A), _hand_written_asof(spark, labels, b, FEATURES_B)],
    )


def _windowed_sql(spark, labels, a, b, rank: str, join: str):
    labels.createOrReplaceTempView("bench_labels")
    a.createOrReplaceTempView("bench_a")
    b.createOrReplaceTempView("bench_b")

    def sub(table: str, columns: list[str]) -> str:
        cols = ", ".join(f"f.{c}" for c in columns)
        return (
            f"SELECT * FROM (SELECT l.label_id, {cols}, {rank}() OVER (PARTITION BY l.label_id, l.event_timestamp "
            f"ORDER BY f.event_timestamp DESC) AS rk FROM bench_labels l {join} JOIN {table} f "
            f"ON l.key = f.key AND l.event_timestamp >= f.event_timestamp) WHERE rk = 1"
        )

    parts = [
        spark.sql(sub("bench_a", FEATURES_A)).drop("rk"),
        spark.sql(sub("bench_b", FEATURES_B)).drop("rk"),
    ]
    out = labels.select("label_id", "key", "event_timestamp", "label")
    how = "left" if join == "LEFT" else "inner"
    for part in parts:
        out = out.join(part, on="label_id", how=how)
    return out


def side_row_number(spark, labels, a, b):
    return _windowed_sql(spark, labels, a, b, "ROW_NUMBER", "LEFT")


def side_hopsworks_rank(spark, labels, a, b):
    return _windowed_sql(spark, labels, a, b, "RANK", "INNER")


def compare(got, want) -> dict:
    """Rows missing, duplicated and with other feature values than the oracle's (pandas frames)."""
    import numpy as np

    counts = got["label_id"].value_counts()
    duplicated = int((counts - 1).clip(lower=0).sum())
    missing = int((~want["label_id"].isin(got["label_id"])).sum())
    g = got.drop_duplicates("label_id").set_index("label_id").sort_index()
    w = want.set_index("label_id").loc[g.index]
    differ = 0
    for c in (*FEATURES_A, *FEATURES_B):
        x, y = g[c].astype("float64").to_numpy(), w[c].astype("float64").to_numpy()
        differ += int((~(np.isclose(x, y, equal_nan=True))).sum())
    return {"rows": len(got), "missing": missing, "duplicated": duplicated, "values_differ": differ}


def bench_pit(spark, conn_sp, conn_py, feature_rows: int, labels_n: int, repeats: int) -> dict:
    import pyarrow.parquet as pq

    paths = ensure_pit_data(feature_rows, labels_n)
    fs_py = conn_py.get_feature_store()
    stamp = int(time.time())
    groups = {}
    for name, path, pk in (
        ("a", paths["fg_a"], "key"),
        ("b", paths["fg_b"], "key"),
        ("l", paths["labels"], "label_id"),
    ):
        fg = fs_py.create_feature_group(
            f"bench_spark_pit_{name}_{stamp}", primary_key=[pk], event_time="event_timestamp"
        )
        fg.insert(pq.read_table(path))
        groups[name] = fg
    fs_sp = conn_sp.get_feature_store()
    sp = {k: fs_sp.get_feature_group(g.name, g.version) for k, g in groups.items()}

    def query(g):
        return (
            g["l"]
            .select_all()
            .join(g["a"].select(FEATURES_A), on=["key"])
            .join(g["b"].select(FEATURES_B), on=["key"])
        )

    # the oracle: the python engine's rows (equal to the duckdb ASOF join's in the main benchmark)
    py_s, oracle = timed(lambda: query(groups).read(dataframe_type="pandas"))
    py_more = [timed(lambda: query(groups).read(dataframe_type="pandas"))[0] for _ in range(repeats - 1)]

    labels = spark.read.format("delta").load(groups["l"]._ref().uri)
    a = spark.read.format("delta").load(groups["a"]._ref().uri)
    b = spark.read.format("delta").load(groups["b"]._ref().uri)
    sides = {
        "larder": lambda: query(sp).read(),
        "hand_written": lambda: side_hand_written(spark, labels, a, b),
        "row_number_left_join": lambda: side_row_number(spark, labels, a, b),
        "hopsworks_rank_inner_join": lambda: side_hopsworks_rank(spark, labels, a, b),
    }
    out: dict = {"python_engine_s": [py_s, *py_more], "labels": labels_n, "feature_rows": feature_rows}
    for name, build in sides.items():
        times = []
        rounds = repeats if name in ("larder", "hand_written") else 1
        for _ in range(rounds):
            seconds, _ = timed(lambda build=build: materialize(build()))
            times.append(seconds)
        got = build().select("label_id", *FEATURES_A, *FEATURES_B).toPandas()
        out[name] = {"seconds": times, **compare(got, oracle)}
        print(f"  {name}: {times} {out[name]}", flush=True)
    return out


# --- report -------------------------------------------------------------------------------------------


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def report(r: dict) -> str:
    ins, pit = r["insert"], r["pit"]
    raw, lar = median(ins["raw_s"]), median(ins["larder_s"])
    lines = [
        "## The spark engine (`benchmarks/spark_engine.py`, issue 19)",
        "",
        f"Run {r['started']} on {r['cores']} cores (`local[{r['cores']}]`, driver memory 6 GiB), pyspark "
        f"{r['versions']['pyspark']}, delta-spark {r['versions']['delta']}; load average before: {r['load']}. "
        "One SparkSession and one embedded platform; medians of the repeats shown.",
        "",
        f"**Insert** {ins['rows']:,} rows x 10 columns from a cached Spark DataFrame into a new feature group:",
        "",
        "| | seconds (each run) | median | throughput vs raw |",
        "|---|---|---|---|",
        f"| raw `df.write.format('delta').save()` | {' / '.join(f'{x:.1f}' for x in ins['raw_s'])} | {raw:.1f} | 100% |",
        f"| Larder `fg.insert(df)` (checks, write, statistics) | {' / '.join(f'{x:.1f}' for x in ins['larder_s'])} "
        f"| {lar:.1f} | **{100 * raw / lar:.0f}%** (goal >= 70%: {'met' if raw / lar >= 0.7 else 'not met'}) |",
        "",
        f"**Point-in-time**: {pit['labels']:,} labels x {pit['feature_rows']:,} feature rows in two groups, "
        "materialized with Spark's `noop` sink; rows compared with the python engine's (the oracle).",
        "",
        "| | seconds (each run) | vs hand-written | rows | missing | duplicated | values differ |",
        "|---|---|---|---|---|---|---|",
    ]
    base = median(pit["hand_written"]["seconds"])
    names = {
        "larder": "Larder spark engine `query.read()`",
        "hand_written": "hand-written union + `last(struct, ignorenulls)` window",
        "row_number_left_join": "`ROW_NUMBER()` over a LEFT JOIN",
        "hopsworks_rank_inner_join": "Hopsworks pattern: `RANK()` over an INNER JOIN",
    }
    for key, label in names.items():
        s = pit[key]
        lines.append(
            f"| {label} | {' / '.join(f'{x:.1f}' for x in s['seconds'])} | {median(s['seconds']) / base:.2f}x "
            f"| {s['rows']:,} | {s['missing']:,} | {s['duplicated']:,} | {s['values_differ']:,} |"
        )
    py = pit["python_engine_s"]
    lines += [
        f"| python engine `query.read()` on the same tables (pandas) | {' / '.join(f'{x:.1f}' for x in py)} "
        f"| {median(py) / base:.2f}x | {pit['labels']:,} | 0 | 0 | 0 (the oracle) |",
        "",
        f"Goal (Larder <= 1.3x the hand-written as-of join): "
        f"**{'met' if median(pit['larder']['seconds']) / base <= 1.3 else 'not met'}** "
        f"({median(pit['larder']['seconds']) / base:.2f}x).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="insert rows (default 5,000,000)")
    parser.add_argument(
        "--feature-rows", type=int, default=5_000_000, help="PIT feature rows (default 5,000,000)"
    )
    parser.add_argument("--labels", type=int, default=1_000_000, help="PIT labels (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of the main sides (default 2)")
    parser.add_argument("--cores", type=int, default=2, help="local[N] (default 2)")
    parser.add_argument("--only", default="insert,pit", help="sections: insert,pit")
    args = parser.parse_args()

    import delta
    import pyspark

    import larder

    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="larder-spark-bench-") as tmp:
        work = Path(tmp)
        os.environ["LARDER_HOME"] = str(work / "home")
        spark = session(args.cores)
        conn_sp = larder.connection(engine="spark")
        conn_py = larder.connection(engine="python")
        results: dict = {
            "started": started,
            "load": load,
            "cores": args.cores,
            "versions": {"pyspark": pyspark.__version__, "delta": getattr(delta, "__version__", "4.4.0")},
        }
        try:
            if "insert" in args.only:
                print("insert ...", flush=True)
                results["insert"] = bench_insert(
                    spark, conn_sp.get_feature_store(), args.rows, args.repeats, work
                )
                print(f"  {results['insert']}", flush=True)
            if "pit" in args.only:
                print("point-in-time ...", flush=True)
                results["pit"] = bench_pit(
                    spark, conn_sp, conn_py, args.feature_rows, args.labels, args.repeats
                )
        finally:
            conn_sp.close()
            conn_py.close()
            from larder.client.embedded import stop_platform

            stop_platform()
            spark.stop()
    out = HERE / "sections"
    (out / "spark.json").write_text(json.dumps(results, indent=1, default=str))
    if "insert" in results and "pit" in results:
        text = report(results)
        (out / "spark.md").write_text(text)
        print(text)


if __name__ == "__main__":
    main()
