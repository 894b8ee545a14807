"""A job for a Spark standalone cluster (run by test_spark_cluster.py in a process of its own: one
SparkContext per process): a session on ``spark://...`` configured with ``larder.spark_config()``
only, a feature group inserted and upserted from Spark (MERGE on the executors), a point-in-time
join on the cluster, and the same rows read back by the python engine. Prints ``OK <figures>``.

Usage: ``python spark_cluster_job.py spark://127.0.0.1:PORT`` with ``LARDER_HOME`` set.
"""

from __future__ import annotations

import sys
import time

import pandas as pd
from pyspark.sql import SparkSession

import larder


def main(master: str) -> None:
    builder = SparkSession.builder.master(master).appName("larder-cluster-test")
    config = {**larder.spark_config(2), "spark.driver.host": "127.0.0.1", "spark.executor.memory": "1g"}
    for key, value in config.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    stamp = int(time.time())
    with larder.connection(engine="spark") as conn, larder.connection(engine="python") as py:
        fs = conn.get_feature_store()
        feats = fs.create_feature_group(f"cl_f_{stamp}", primary_key=["k"], event_time="ts")
        rows = spark.range(0, 50_000).selectExpr(
            "id % 1000 AS k",
            "timestamp_micros(1704067200000000 + id * 1000000) AS ts",
            "CAST(id * 2 AS DOUBLE) AS x",
        )
        first = feats.insert(rows)
        again = feats.insert(
            rows.where("id < 10").selectExpr("k", "ts", "CAST(-1 AS DOUBLE) AS x")
        )  # a MERGE
        labels = fs.create_feature_group(f"cl_l_{stamp}", primary_key=["label_id"], event_time="ts")
        labels.insert(
            spark.range(0, 5_000).selectExpr(
                "id AS label_id",
                "(id * 7) % 1100 AS k",
                "timestamp_micros(1704067200000000 + id * 9000000) AS ts",
            )
        )
        query = labels.select_all().join(feats.select(["x"]), on=["k"])
        on_cluster = query.read(dataframe_type="pandas").sort_values("label_id").reset_index(drop=True)
        fs_py = py.get_feature_store()
        lab_py, f_py = fs_py.get_feature_group(labels.name, 1), fs_py.get_feature_group(feats.name, 1)
        on_python = (
            lab_py.select_all()
            .join(f_py.select(["x"]), on=["k"])
            .read()
            .sort_values("label_id")
            .reset_index(drop=True)
        )
        pd.testing.assert_frame_equal(on_cluster, on_python, check_dtype=False)
        stored = f_py.read()
        assert len(stored) == 50_000 and (stored["x"] == -1.0).sum() == 10, stored.describe()
        # block managers: the driver's and one per executor
        executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
        assert executors >= 1, "no executor registered"
        print(
            f"OK inserted={first['rows_inserted']} updated={again['rows_updated']} pit_rows={len(on_cluster)} "
            f"null_features={int(on_cluster['x'].isna().sum())} executors={executors}",
            flush=True,
        )
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
