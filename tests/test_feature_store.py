"""The feature store end to end against a real server: feature groups on Delta, upserts, time
travel, statistics, point-in-time joins checked against an independent oracle (pandas
``merge_asof`` per key), feature views, training data, and online serving."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import larder
from conftest import LarderServer
from larder import errors
from larder.engine.python import _sources, delta
from larder.engine.python.query import _left_where, _matched, _register, compile_plan

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def connect(server: LarderServer, project: str | None = None):
    host, port = server.url.removeprefix("https://").split(":")
    if project is None:
        project = f"fs_{_uid()}"
        r = server.api("POST", "/projects", server.admin_key, json={"name": project})
        assert r.status_code == 201, r.text
    return larder.connection(
        host=host, port=int(port), project=project, api_key_value=server.admin_key, trust_store_path=server.ca
    )


@pytest.fixture(scope="module")
def conn(platform):
    c = connect(platform)
    yield c
    c.close()


@pytest.fixture(scope="module")
def spark_conn(platform, conn, spark_session):
    """A connection on the spark engine to the same project as ``conn``."""
    host, port = platform.url.removeprefix("https://").split(":")
    c = larder.connection(
        host=host,
        port=int(port),
        project=conn.project,
        engine="spark",
        api_key_value=platform.admin_key,
        trust_store_path=platform.ca,
    )
    yield c
    c.close()


@pytest.fixture
def fs(request, conn):
    """The project's feature store on the python engine, or on the engine a test is parametrized
    with (``@both_engines``: the same test on ``python`` and ``spark``)."""
    if getattr(request, "param", "python") == "spark":
        request.getfixturevalue("spark")
        return request.getfixturevalue("spark_conn").get_feature_store()
    return conn.get_feature_store()


both_engines = pytest.mark.parametrize("fs", ["python", "spark"], indirect=True)
"""Run a test on both engines: its reads ask for pandas (the spark engine's default is Spark)."""


def spark_engine(fs) -> bool:
    return fs._connection.get_engine().name == "spark"


def weather_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "origin": ["JFK", "JFK", "LGA", "EWR"],
            "time_hour": [T0, T0 + timedelta(hours=1), T0, T0 + timedelta(hours=2)],
            "temp": [1.0, 2.0, 3.0, 4.0],
            "wind": [10, 20, 30, None],
        }
    )


# --- feature groups --------------------------------------------------------------------------------


def test_feature_group_versions_and_lookup(fs):
    name = f"w_{_uid()}"
    v1 = fs.create_feature_group(name, primary_key=["origin"], event_time="time_hour", description="hourly")
    v2 = fs.create_feature_group(name, primary_key=["origin"])
    assert (v1.version, v2.version) == (1, 2)
    with pytest.warns(errors.VersionNotPinnedWarning, match="newest is version 2"):  # hsfs: version 1
        assert fs.get_feature_group(name).version == 1
    assert (
        fs.get_feature_group(name, 2).version == 2 and fs.get_feature_group(name, 1).event_time == "time_hour"
    )
    assert [g.version for g in fs.get_feature_groups(name)] == [1, 2]
    assert fs.get_or_create_feature_group(name, 1).description == "hourly"
    assert fs.get_or_create_feature_group(f"new_{_uid()}", primary_key=["k"]).version == 1
    with pytest.raises(errors.AlreadyExistsError):
        fs.create_feature_group(name, version=1, primary_key=["origin"])
    with pytest.raises(errors.NotFoundError, match="version 7"):
        fs.get_feature_group(name, 7)
    with pytest.raises(errors.InvalidArgumentError, match="primary key"):
        fs.create_feature_group(f"x_{_uid()}", primary_key=[])
    with pytest.raises(errors.InvalidArgumentError):
        fs.create_feature_group("Bad-Name", primary_key=["k"])
    with pytest.raises(errors.InvalidArgumentError, match="event time"):
        fs.create_feature_group(f"x_{_uid()}", primary_key=["t"], event_time="t")
    v2.delete()
    assert fs.get_feature_group(name).version == 1


@both_engines
def test_insert_read_upsert_and_schema(fs):
    fg = fs.create_feature_group(f"w_{_uid()}", primary_key=["origin"], event_time="time_hour")
    c0 = fg.insert(weather_df())
    assert c0["rows_inserted"] == 4 and [f.name for f in fg.features] == [
        "origin",
        "time_hour",
        "temp",
        "wind",
    ]
    assert fg["temp"].type == "double" and fg.temp.name == "temp"
    df = fg.read(dataframe_type="pandas").sort_values(["origin", "time_hour"]).reset_index(drop=True)
    assert len(df) == 4 and str(df["time_hour"].dt.tz) == "UTC"

    # upsert: same (origin, time_hour) replaces, new key appends
    upd = pd.DataFrame(
        {"origin": ["JFK", "ORD"], "time_hour": [T0, T0], "temp": [100.0, 5.0], "wind": [1, 2]}
    )
    c1 = fg.insert(upd)
    assert (c1["rows_updated"], c1["rows_inserted"]) == (1, 1)
    df = fg.read(dataframe_type="pandas")
    assert len(df) == 5 and df.loc[(df.origin == "JFK") & (df.time_hour == T0), "temp"].item() == 100.0
    # operation="insert" appends
    fg.insert(
        pd.DataFrame({"origin": ["SFO"], "time_hour": [T0], "temp": [7.0], "wind": [3]}), operation="insert"
    )
    assert len(fg.read(dataframe_type="pandas")) == 6
    # overwrite
    fg.insert(weather_df(), overwrite=True)
    assert len(fg.read(dataframe_type="pandas")) == 4
    # other frame types in and out
    import polars as pl
    import pyarrow as pa

    fg.insert(
        pl.DataFrame({"origin": ["BOS"], "time_hour": [T0], "temp": [9.0], "wind": [4]}).with_columns(
            pl.col("time_hour").dt.replace_time_zone("UTC")
        )
    )
    assert fg.read(dataframe_type="polars").height == 5
    assert isinstance(fg.read(dataframe_type="pyarrow"), pa.Table)
    assert fg.read(dataframe_type="numpy").shape == (5, 4)
    assert len(fg.read(dataframe_type="python")) == 5
    assert len(fg.show(2)) == 2
    with pytest.raises(errors.InvalidArgumentError, match="dataframe_type"):
        fg.read(dataframe_type="excel")


def test_partitioned_feature_group(fs):
    """partition_key: a Delta table partitioned by those columns (one directory per value), with
    the same upserts, reads, time travel, online rows and point-in-time joins as an unpartitioned
    one (its rows reach duckdb through Arrow: see _sources)."""
    from deltalake import DeltaTable

    fg = fs.create_feature_group(
        f"p_{_uid()}",
        primary_key=["origin"],
        event_time="time_hour",
        partition_key=["origin"],
        online_enabled=True,
    )
    assert fg.partition_key == ["origin"]
    fg.insert(weather_df(), write_options={"progress": False})
    dt = delta.open_table(fg._ref())
    assert dt.metadata().partition_columns == ["origin"]
    assert {f.split("/")[-2] for f in dt.file_uris()} == {"origin=JFK", "origin=LGA", "origin=EWR"}
    v0 = dt.version()
    upd = pd.DataFrame(
        {"origin": ["JFK", "ORD"], "time_hour": [T0, T0], "temp": [100.0, 5.0], "wind": [1, 2]}
    )
    c1 = fg.insert(upd)
    assert (c1["rows_updated"], c1["rows_inserted"]) == (1, 1)
    df = fg.read().sort_values(["origin", "time_hour"]).reset_index(drop=True)
    assert len(df) == 5 and df.loc[(df.origin == "JFK") & (df.time_hour == T0), "temp"].item() == 100.0
    assert len(DeltaTable(dt.table_uri, version=v0).to_pandas()) == 4
    online = fg.read(online=True).set_index("origin")
    assert online.loc["JFK", "temp"] == 2.0 and online.loc["ORD", "temp"] == 5.0  # the latest per key

    labels = fs.create_feature_group(f"l_{_uid()}", primary_key=["id"], event_time="ts")
    labels.insert(
        pd.DataFrame(
            {
                "id": [1, 2, 3, 4],
                "origin": ["JFK", "JFK", "LGA", "SFO"],
                "ts": [T0, T0 + timedelta(hours=3), T0 - timedelta(hours=1), T0],
            }
        )
    )
    joined = labels.select_all().join(fg.select_except(["wind"]), on=["origin"]).read().sort_values("id")
    assert "wind" not in joined.columns
    assert joined.temp.tolist()[:2] == [100.0, 2.0] and joined.temp.isna().tolist()[2:] == [True, True]
    with pytest.raises(errors.InvalidArgumentError, match=r"Unknown write_options \['fast'\]"):
        fg.insert(upd, write_options={"fast": True})
    assert delta.open_table(fg._ref()).version() == v0 + 1  # the refused insert wrote nothing


def test_inserts_are_stored_in_key_then_event_time_order(fs):
    """Each write's files hold its rows sorted by (primary key, event time): what makes the write
    and later point-in-time joins fast. The rows and their values are the ones inserted."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    n = 3_000
    df = pd.DataFrame(
        {
            "k": rng.integers(0, 40, n),
            "ts": T0 + pd.to_timedelta(rng.permutation(n), unit="s"),
            "v": rng.normal(size=n),
        }
    )
    fg = fs.create_feature_group(f"o_{_uid()}", primary_key=["k"], event_time="ts")
    fg.insert(df)
    files = delta.open_table(fg._ref()).file_uris()
    stored = pq.read_table(files).to_pandas()
    expected = df.sort_values(["k", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)
    assert str(stored["ts"].dt.tz) == "UTC"


@both_engines
def test_bad_inserts_are_refused_before_writing(fs):
    fg = fs.create_feature_group(f"w_{_uid()}", primary_key=["origin"], event_time="time_hour")
    fg.insert(weather_df())
    version_before = max(fg.commit_details())
    bad = {
        "nulls in the primary key": pd.DataFrame(
            {"origin": [None], "time_hour": [T0], "temp": [1.0], "wind": [1]}
        ),
        "wrong type": pd.DataFrame({"origin": ["X"], "time_hour": [T0], "temp": ["hot"], "wind": [1]}),
        "unknown column": weather_df().assign(extra=1),
        "missing key column": weather_df().drop(columns=["origin"]),
        "missing event time": weather_df().drop(columns=["time_hour"]),
        "duplicates": pd.concat([weather_df(), weather_df().head(1)]),
        "empty": weather_df().head(0),
        "mixed types": weather_df().assign(temp=[1.0, "warm", 3.0, 4.0]),
        "string event time": weather_df().assign(time_hour="2024-01-01"),
    }
    messages = {}
    for what, df in bad.items():
        with pytest.raises(errors.InvalidArgumentError) as exc:
            # repeated keys are refused on request (the default keeps the last row of each)
            fg.insert(df, write_options={"duplicates": "error"} if what == "duplicates" else None)
        messages[what] = exc.value.message
    assert "null" in messages["nulls in the primary key"]
    assert "temp" in messages["wrong type"] and "double" in messages["wrong type"]
    assert "extra" in messages["unknown column"]
    assert "origin" in messages["missing key column"]
    assert "more than once" in messages["duplicates"]
    assert "empty" in messages["empty"]
    assert "'temp'" in messages["mixed types"] and "several types" in messages["mixed types"]
    assert "timestamps" in messages["string event time"]
    with pytest.raises(errors.InvalidArgumentError, match="operation"):
        fg.insert(weather_df(), operation="merge")
    assert max(fg.commit_details()) == version_before  # nothing was written
    assert len(fg.read(dataframe_type="pandas")) == 4


@both_engines
def test_repeated_keys_in_one_insert_keep_the_last_row(fs):
    """hsfs's upsert keeps one row per key; Larder keeps the last in the frame's row order, says so
    (a DuplicateKeysWarning, the count in the commit), and refuses on request."""
    fg = fs.create_feature_group(f"w_{_uid()}", primary_key=["origin"], event_time="time_hour")
    df = pd.DataFrame(
        {
            "origin": ["JFK", "LGA", "JFK", "JFK", "LGA", "EWR"],
            "time_hour": [T0, T0, T0 + timedelta(hours=1), T0, T0, T0],
            "temp": [1.0, 2.0, 3.0, 9.0, 8.0, 4.0],
            "wind": [1, 2, 3, 4, 5, 6],
        }
    )
    with pytest.warns(errors.DuplicateKeysWarning, match=r"2 row\(s\).*'error'") as caught:
        commit = fg.insert(df)
    assert caught[0].filename == __file__  # at the caller's line
    assert (commit["rows_inserted"], commit["duplicates_dropped"]) == (4, 2)
    got = fg.read(dataframe_type="pandas").sort_values(["origin", "time_hour"])
    assert got.temp.tolist() == [4.0, 9.0, 3.0, 8.0] and got.wind.tolist() == [6, 4, 3, 5]
    # into existing rows: the last repeat is the update
    again = pd.DataFrame(
        {"origin": ["JFK", "JFK"], "time_hour": [T0, T0], "temp": [50.0, 60.0], "wind": [7, 8]}
    )
    with pytest.warns(errors.DuplicateKeysWarning):
        commit = fg.insert(again)
    assert (commit["rows_updated"], commit["rows_inserted"], commit["duplicates_dropped"]) == (1, 0, 1)
    jfk = fg.filter((fg.origin == "JFK") & (fg.time_hour == T0)).read(dataframe_type="pandas")
    assert jfk.temp.tolist() == [60.0]
    with pytest.raises(errors.InvalidArgumentError, match="more than once") as refused:
        fg.insert(again, write_options={"duplicates": "error"})
    assert refused.value.details["example"]["origin"] == "JFK"
    with pytest.raises(errors.InvalidArgumentError, match="'keep_first' is not a choice"):
        fg.insert(again, write_options={"duplicates": "keep_first"})
    assert len(fg.commit_details()) == 2  # the refused ones wrote nothing
    assert fg.insert(df.drop_duplicates(["origin", "time_hour"]))["duplicates_dropped"] == 0


@both_engines
def test_epoch_millisecond_and_date_event_times_join_point_in_time(fs):
    """hsfs takes bigint (epoch milliseconds) and date event times; Larder converts them to UTC
    timestamps once, at insert, so point-in-time joins work across the groups' types."""
    from datetime import date

    ms = lambda t: int(t.timestamp() * 1000)  # noqa: E731
    labels = fs.create_feature_group(f"lb_{_uid()}", primary_key=["id"], event_time="ts")
    daily = fs.create_feature_group(f"dy_{_uid()}", primary_key=["id"], event_time="day")
    hourly = fs.create_feature_group(f"hr_{_uid()}", primary_key=["id"], event_time="at")
    lt = [T0 + timedelta(hours=12), T0 + timedelta(days=1, hours=12), T0 + timedelta(days=1, hours=1)]
    labels.insert(pd.DataFrame({"id": [1, 1, 2], "ts": [ms(t) for t in lt], "y": [0, 1, 0]}))
    daily.insert(
        pd.DataFrame(
            {
                "id": [1, 1, 2],
                "day": [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)],
                "v": [1.0, 2.0, 3.0],
            }
        )
    )
    hourly.insert(pd.DataFrame({"id": [1, 2], "at": [T0 + timedelta(hours=13), T0], "w": [10, 20]}))
    assert labels.get_feature("ts").type == daily.get_feature("day").type == "timestamp[us, tz=UTC]"
    got = (
        labels.select_all()
        .join(daily.select(["v"]))
        .join(hourly.select(["w"]))
        .read(dataframe_type="pandas")
        .sort_values(["id", "ts"])
    )
    assert got.ts.tolist() == sorted(lt[:2]) + [lt[2]] and str(got.ts.dt.tz) == "UTC"
    assert got.v.tolist()[:2] == [1.0, 2.0] and pd.isna(got.v.tolist()[2])  # 2024-01-03 is later
    assert pd.isna(got.w.tolist()[0]) and got.w.tolist()[1:] == [10, 20]  # 13:00 is after 12:00
    # ints again: the same keys (an update), and epoch seconds are refused, naming the value
    again = labels.insert(pd.DataFrame({"id": [1], "ts": [ms(lt[0])], "y": [5]}))
    assert (again["rows_updated"], again["rows_inserted"]) == (1, 0)
    with pytest.raises(errors.InvalidArgumentError, match=f"{int(lt[0].timestamp())} is below 10\\^11"):
        labels.insert(pd.DataFrame({"id": [3], "ts": [int(lt[0].timestamp())], "y": [1]}))
    # time arguments compare with the converted times
    later = labels.filter(labels.ts >= T0 + timedelta(days=1)).read(dataframe_type="pandas")
    assert sorted(later.y.tolist()) == [0, 1]


@both_engines
def test_time_travel_changes_and_commits(fs):
    fg = fs.create_feature_group(f"w_{_uid()}", primary_key=["origin"], event_time="time_hour")
    with pytest.raises(errors.NotFoundError, match="no data yet"):
        fg.read(dataframe_type="pandas")
    fg.insert(weather_df())
    import time

    time.sleep(1.1)
    between = datetime.now(timezone.utc)
    time.sleep(1.1)
    fg.insert(
        pd.DataFrame({"origin": ["JFK", "ORD"], "time_hour": [T0, T0], "temp": [50.0, 6.0], "wind": [1, 1]})
    )
    assert len(fg.read(wallclock_time=between, dataframe_type="pandas")) == 4
    old = fg.read(wallclock_time=between, dataframe_type="pandas")
    assert old.loc[(old.origin == "JFK") & (old.time_hour == T0), "temp"].item() == 1.0
    assert len(fg.as_of(between).read(dataframe_type="pandas")) == 4
    changes = fg.read_changes(
        between, datetime.now(timezone.utc) + timedelta(seconds=5), dataframe_type="pandas"
    )
    assert sorted(changes.origin) == ["JFK", "ORD"] and 50.0 in set(changes.temp)
    commits = fg.commit_details()
    assert list(commits) == [1, 0] and commits[1]["operation"] == "upsert" and commits[1]["rows_updated"] == 1
    with pytest.warns(errors.NaiveTimeWarning), pytest.raises(errors.NotFoundError, match=r"00:00\+00:00"):
        fg.read(wallclock_time=datetime(2024, 1, 1))  # naive: taken as UTC (as hsfs does), with a warning
    with pytest.raises(errors.NotFoundError):
        fg.read(wallclock_time=datetime(2000, 1, 1, tzinfo=timezone.utc))


@both_engines
def test_statistics_match_pandas(fs):
    fg = fs.create_feature_group(f"w_{_uid()}", primary_key=["origin"], event_time="time_hour")
    df = weather_df()
    fg.insert(df)
    stats = fg.get_statistics()
    temp, wind = stats["columns"]["temp"], stats["columns"]["wind"]
    assert stats["row_count"] == 4
    assert temp["min"] == 1.0 and temp["max"] == 4.0 and temp["mean"] == pytest.approx(df.temp.mean())
    assert temp["stddev"] == pytest.approx(df.temp.std())
    assert sum(temp["histogram"]["counts"]) == 4 and len(temp["histogram"]["edges"]) == 11
    assert wind["nulls"] == 1 and wind["count"] == 3
    assert stats["columns"]["origin"]["approx_distinct"] == 3
    no_stats = fs.create_feature_group(f"n_{_uid()}", primary_key=["origin"], statistics_config=False)
    no_stats.insert(df.drop(columns=["time_hour"]).drop_duplicates("origin"))
    with pytest.raises(errors.NotFoundError):
        no_stats.get_statistics()


@both_engines
def test_filters(fs):
    fg = fs.create_feature_group(f"w_{_uid()}", primary_key=["origin"], event_time="time_hour")
    fg.insert(weather_df())
    assert sorted(fg.filter(fg.temp > 2).read(dataframe_type="pandas").temp) == [3.0, 4.0]
    assert sorted(
        fg.filter((fg.origin == "JFK") & fg.wind.isin([20, 30])).read(dataframe_type="pandas").temp
    ) == [2.0]
    assert sorted(
        fg.filter((fg.origin == "EWR") | fg.origin.like("L%")).read(dataframe_type="pandas").origin
    ) == ["EWR", "LGA"]
    assert list(fg.filter(fg.wind.is_null()).read(dataframe_type="pandas").origin) == ["EWR"]
    assert len(fg.filter(~(fg.origin == "JFK")).read(dataframe_type="pandas")) == 2
    assert len(fg.filter(fg.time_hour >= T0 + timedelta(hours=1)).read(dataframe_type="pandas")) == 2
    q = fg.filter(fg.origin == "it's")  # quotes are escaped, not injected
    assert "'it''s'" in q.to_string() and len(q.read(dataframe_type="pandas")) == 0
    with pytest.raises(errors.InvalidArgumentError, match="no feature"):
        fg.select(["nope"])
    with pytest.raises(errors.InvalidArgumentError, match="&"):
        fg.filter((fg.temp > 1) and (fg.temp < 3))
    with pytest.warns(errors.NaiveTimeWarning, match="taken as UTC"):  # naive: UTC, as hsfs
        naive = fg.filter(fg.time_hour > datetime(2024, 1, 1))
    assert naive.to_string() == fg.filter(fg.time_hour > T0).to_string()


# --- point-in-time joins against an oracle ----------------------------------------------------------


def oracle(
    labels: pd.DataFrame, feats: pd.DataFrame, key: str, cols: list[str], max_age: timedelta | None = None
) -> pd.DataFrame:
    """Independent reference: per key, pandas merge_asof (backward, ties included)."""
    parts = []
    for k, left in labels.groupby(key, sort=False):
        right = feats[feats[key] == k].sort_values("ts")
        left = left.sort_values("ts")
        if right.empty:
            merged = left.assign(**{c: np.nan for c in cols})
        else:
            merged = pd.merge_asof(
                left, right[["ts", *cols]], on="ts", direction="backward", tolerance=max_age
            )
        parts.append(merged)
    return pd.concat(parts).sort_values("label_id").reset_index(drop=True)


def random_pit_data(seed: int, n_keys: int = 50, n_feats: int = 2000, n_labels: int = 3000):
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2024-01-01", tz="UTC")
    feats = pd.DataFrame(
        {
            "k": rng.integers(0, n_keys, n_feats),
            "ts": base + pd.to_timedelta(rng.integers(0, 10_000, n_feats), unit="min"),
            "f1": rng.normal(size=n_feats),
            "f2": rng.integers(0, 100, n_feats),
        }
    ).drop_duplicates(["k", "ts"])
    labels = pd.DataFrame(
        {
            "label_id": np.arange(n_labels),
            "k": rng.integers(0, n_keys + 10, n_labels),  # some keys have no feature rows at all
            "ts": base + pd.to_timedelta(rng.integers(-500, 10_500, n_labels), unit="min"),
            "y": rng.integers(0, 2, n_labels),
        }
    )
    # exact ties: labels at the very time of a feature row must see that row
    ties = feats.sample(200, random_state=seed)[["k", "ts"]].reset_index(drop=True)
    labels.loc[: len(ties) - 1, ["k", "ts"]] = ties.values
    labels["ts"] = pd.to_datetime(labels["ts"], utc=True)
    return labels, feats


@both_engines
@pytest.mark.parametrize("seed", [1, 2])
def test_point_in_time_join_matches_the_oracle(fs, seed):
    labels, feats = random_pit_data(seed)
    lab = fs.create_feature_group(f"l_{_uid()}", primary_key=["label_id"], event_time="ts")
    fg = fs.create_feature_group(f"f_{_uid()}", primary_key=["k"], event_time="ts")
    # out-of-order inserts: the newer half first
    order = feats.sort_values("ts", ascending=False)
    fg.insert(order.iloc[: len(order) // 2])
    fg.insert(order.iloc[len(order) // 2 :])
    lab.insert(labels)

    got = (
        lab.select_all()
        .join(fg.select(["f1", "f2"]), on=["k"])
        .read(dataframe_type="pandas")
        .sort_values("label_id")
        .reset_index(drop=True)
    )
    want = oracle(labels, feats, "k", ["f1", "f2"])
    assert len(got) == len(labels)  # labels without an earlier feature row come back, with nulls
    assert got["label_id"].tolist() == want["label_id"].tolist()
    np.testing.assert_allclose(
        got["f1"].to_numpy(dtype=float), want["f1"].to_numpy(dtype=float), equal_nan=True
    )
    np.testing.assert_allclose(
        got["f2"].to_numpy(dtype=float), want["f2"].to_numpy(dtype=float), equal_nan=True
    )
    assert got["f1"].isna().sum() > 0  # the missing-key and too-early cases were exercised

    age = timedelta(minutes=300)
    got = (
        lab.select_all()
        .join(fg.select(["f1"]), on=["k"], max_age=age)
        .read(dataframe_type="pandas")
        .sort_values("label_id")
    )
    want = oracle(labels, feats, "k", ["f1"], max_age=pd.Timedelta(age))
    np.testing.assert_allclose(
        got["f1"].to_numpy(dtype=float), want["f1"].to_numpy(dtype=float), equal_nan=True
    )

    inner = (
        lab.select_all().join(fg.select(["f1"]), on=["k"], join_type="inner").read(dataframe_type="pandas")
    )
    assert len(inner) == int(oracle(labels, feats, "k", ["f1"])["f1"].notna().sum())
    assert "ASOF LEFT JOIN" in lab.select_all().join(fg.select(["f1"]), on=["k"]).to_string()


def sql_joins(q, extra_where=None, order_by=()) -> pa.Table:
    """The query as duckdb runs its SQL (``to_string()``: ASOF joins), not as ``read()`` runs it
    (joins matched by ``_pit``)."""
    plan = compile_plan(q._plan())
    con = _sources.connect(*plan.tables.values())
    _register(con, plan, list(plan.tables), extra_where)
    sql = plan.sql
    if order_by:
        sql = f"SELECT * FROM ({sql}) AS q ORDER BY " + ", ".join(f'q."{c}"' for c in order_by)
    return con.sql(sql).to_arrow_table()


def matched_joins(q, extra_where=None, order_by=()) -> pa.Table | None:
    """The query with its joins matched by ``_pit`` (None: it would run the SQL)."""
    plan = compile_plan(q._plan())
    con = _sources.connect(*plan.tables.values())
    _register(con, plan, ["fg0"], _left_where(plan, extra_where))  # as read() does
    return _matched(con, plan, list(order_by))


def test_matched_joins_equal_the_asof_sql(fs, monkeypatch):
    """Nested joins (point in time, by primary key without event time, latest row per key), an
    inner join, max_age, prefixes, string and integer keys, an order and a time range: the same
    rows and types whichever way the joins run; a join that can give several rows runs the SQL."""
    rng = np.random.default_rng(3)
    labels, feats = random_pit_data(4, n_labels=2000)
    cities = np.array(["NYC", "SFO", "LAX", "BOS"])
    labels["city"] = cities[rng.integers(0, 4, len(labels))]
    labels = labels.sample(frac=1.0, random_state=1)  # stored by label_id all the same
    feats["code"] = np.array(["a", "b", "c", "zz"])[rng.integers(0, 4, len(feats))]
    city_feats = pd.DataFrame(
        {
            "city": cities[rng.integers(0, 3, 300)],  # BOS has no rows: the inner join drops its labels
            "ts": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10_000, 300), unit="min"),
            "g1": rng.normal(size=300),
        }
    ).drop_duplicates(["city", "ts"])
    codes = pd.DataFrame({"code": ["a", "b", "c"], "h1": [1.5, 2.5, None]})
    places = fs.create_feature_group(f"pl_{_uid()}", primary_key=["city"])
    places.insert(pd.DataFrame({"city": cities, "size": [3, 2, 1, 0]}))
    lab = fs.create_feature_group(f"l_{_uid()}", primary_key=["label_id"], event_time="ts")
    fa = fs.create_feature_group(f"fa_{_uid()}", primary_key=["k"], event_time="ts")
    fb = fs.create_feature_group(f"fb_{_uid()}", primary_key=["city"], event_time="ts")
    fc = fs.create_feature_group(f"fc_{_uid()}", primary_key=["code"])
    for g, df in ((lab, labels), (fa, feats), (fb, city_feats), (fc, codes)):
        g.insert(df)

    queries = {
        "nested, inner, max_age, prefix": lab.select_all()
        .join(fa.select(["f1", "code", "ts"]).join(fc.select(["h1"]), on=["code"]), on=["k"], prefix="a_")
        .join(fb.select(["g1"]), on=["city"], join_type="inner", max_age=timedelta(minutes=40))
        .join(places.select(["size"]), on=["city"]),
        "max_age on a left join": lab.select(["label_id", "k", "ts"]).join(
            fa.select(["f1", "f2"]), on=["k"], max_age=timedelta(minutes=90)
        ),
        "latest per key": places.select_all().join(fb.select(["g1", "ts"]), on=["city"]),
        "several rows per key": fc.select_all().join(
            fa.select(["f1", "f2"]), left_on=["code"], right_on=["code"], prefix="a_"
        ),
        # terms on the left alone (kept before the joins), on joined rows (f2 is not selected; f1
        # is tested as joined, before max_age leaves it null), and both in one OR
        "filters": lab.select_all()
        .join(fa.select(["f1"]), on=["k"], max_age=timedelta(minutes=90))
        .join(fb.select(["g1"]), on=["city"])
        .filter(
            (lab.city != "LAX")
            & ((fa.f1 > 0) | fb.g1.is_null())
            & fa.f2.isin(list(range(60)))
            & ((lab.k < 20) | (lab.y == 1))
            & ~((lab.label_id > 1500) & (fb.g1 < 0))
        ),
        "a filter on the left alone": lab.select(["label_id", "k", "ts"])
        .join(fa.select(["f1", "f2"]), on=["k"])
        .filter((lab.k < 5) | lab.city.like("S%")),
    }
    where = (
        "q.\"ts\" >= TIMESTAMPTZ '2024-01-02 00:00:00+00' AND q.\"ts\" < TIMESTAMPTZ '2024-01-05 00:00:00+00'"
    )
    for what, q in queries.items():
        for extra_where, order_by in ((None, ()), (None, ("label_id", "ts")), (where, ("label_id", "ts"))):
            if extra_where and q.feature_group.event_time != "ts":
                continue
            order = [c for c in order_by if c in q._plan(with_tables=False).columns]
            got = matched_joins(q, extra_where, order)
            if what.startswith("several") or (what == "latest per key" and order):
                assert got is None  # several rows per key; an order by another group's column
                continue
            want = sql_joins(q, extra_where, order)
            assert got is not None and got.num_rows > 0, what
            assert got.schema == want.schema, what
            if order:  # in the same order
                assert got.select(order).equals(want.select(order)), what
            keys = [(c, "ascending") for c in got.column_names]
            assert got.sort_by(keys).equals(want.sort_by(keys)), what
        assert q.read(dataframe_type="pyarrow").num_rows == sql_joins(q).num_rows
    plan = compile_plan(queries["filters"]._plan())
    assert (
        plan.left_filter and plan.joined_filter and set(plan.joined_filter_columns) == {"fg0", "fg1", "fg2"}
    )
    assert 0 < queries["filters"].read().shape[0] < len(labels) / 2
    assert (
        compile_plan(
            queries["a filter on the left alone"]._plan(with_tables=False), with_tables=False
        ).joined_filter
        is None
    )
    # tables read through Arrow (S3, partitioned, deletion vectors): the same rows, each read once
    q = queries["nested, inner, max_age, prefix"]
    reads = []
    original = _sources.DeltaSource.arrow
    monkeypatch.setattr(_sources, "_direct_files", lambda dt: None)

    def arrow(self):
        if self._table is None:  # a read, not the cached table
            reads.append(id(self))
        return original(self)

    monkeypatch.setattr(_sources.DeltaSource, "arrow", arrow)
    got = matched_joins(q)
    assert got is not None
    assert len(reads) == 5 and len(set(reads)) == 5  # five tables, each read once
    keys = [(c, "ascending") for c in got.column_names]
    assert got.sort_by(keys).equals(sql_joins(q).sort_by(keys))
    monkeypatch.undo()
    # tables that would not fit in a third of the free memory run as the SQL (duckdb can spill)
    q = queries["max_age on a left join"]
    assert matched_joins(q) is not None
    monkeypatch.setattr("larder._memory.available_bytes", lambda: 1)
    assert matched_joins(q) is None
    assert q.read(dataframe_type="pyarrow").sort_by("label_id").equals(sql_joins(q).sort_by("label_id"))
    monkeypatch.undo()
    # the inner join dropped the labels without an earlier city row; the nested join found codes
    df = queries["nested, inner, max_age, prefix"].read()
    assert (
        "BOS" not in set(df.city) and df.a_h1.notna().any() and df.g1.isna().any() and df.a_f1.notna().any()
    )


def test_random_filters_equal_the_asof_sql(fs):
    """Random filters (up to three levels of &, | and ~ over the three groups' columns, selected or
    not: keys, event times, numbers, strings, nulls) on point-in-time joins with max_age and an
    inner join: the matched joins give the SQL's rows."""
    rng = np.random.default_rng(21)
    labels, feats = random_pit_data(8, n_labels=600, n_feats=800)
    cities = np.array(["NYC", "SFO", "LAX", None], dtype=object)
    labels["city"] = cities[rng.integers(0, 4, len(labels))]
    feats.loc[feats.sample(frac=0.1, random_state=2).index, "f1"] = None
    city_feats = pd.DataFrame(
        {
            "city": np.array(["NYC", "SFO"])[rng.integers(0, 2, 200)],
            "ts": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10_000, 200), unit="min"),
            "g1": rng.normal(size=200),
        }
    ).drop_duplicates(["city", "ts"])
    lab = fs.create_feature_group(f"l_{_uid()}", primary_key=["label_id"], event_time="ts")
    fa = fs.create_feature_group(f"fa_{_uid()}", primary_key=["k"], event_time="ts")
    fb = fs.create_feature_group(f"fb_{_uid()}", primary_key=["city"], event_time="ts")
    for g, df in ((lab, labels), (fa, feats), (fb, city_feats)):
        g.insert(df)
    t_mid = pd.Timestamp("2024-01-04", tz="UTC").to_pydatetime()

    def atom():
        g = rng.integers(0, 3)
        if g == 0:
            return [
                lab.k < int(rng.integers(0, 60)),
                lab.city.isin(["NYC", "LAX"]),
                lab.city.is_null(),
                lab.ts >= t_mid,
                lab.y == 1,
            ][rng.integers(0, 5)]
        if g == 1:
            return [
                fa.f1 > float(rng.normal()),
                fa.f1.is_null(),
                fa.f2 <= int(rng.integers(0, 100)),
                fa.ts < t_mid,
            ][rng.integers(0, 4)]
        return [fb.g1 > 0, fb.g1.not_null(), fb.city.like("S%"), fb.ts >= t_mid][rng.integers(0, 4)]

    def condition(depth):
        if depth == 0 or rng.random() < 0.3:
            return atom()
        op = rng.integers(0, 3)
        if op == 2:
            return ~condition(depth - 1)
        a, b = condition(depth - 1), condition(depth - 1)
        return (a & b) if op == 0 else (a | b)

    seen = set()
    for i in range(40):
        q = (
            lab.select_all()
            .join(fa.select(["f1"]), on=["k"], max_age=timedelta(minutes=int(rng.integers(30, 600))))
            .join(fb.select(["g1"]), on=["city"], join_type=["left", "inner"][i % 2])
            .filter(condition(3))
        )
        plan = compile_plan(q._plan(with_tables=False), with_tables=False)
        seen.add((plan.left_filter is not None, plan.joined_filter is not None))
        got, want = matched_joins(q), sql_joins(q)
        assert got is not None, q.to_string()
        keys = [(c, "ascending") for c in got.column_names]
        assert got.sort_by(keys).equals(want.sort_by(keys)), q.to_string()
    assert seen >= {(True, True), (False, True), (True, False)}  # both parts, joined only, left only


@both_engines
def test_joins_need_keys_and_distinct_names(fs):
    a = fs.create_feature_group(f"a_{_uid()}", primary_key=["id"], event_time="ts")
    b = fs.create_feature_group(f"b_{_uid()}", primary_key=["other"], event_time="ts")
    a.insert(pd.DataFrame({"id": [1], "ts": [T0], "v": [1.0]}))
    b.insert(pd.DataFrame({"other": [1], "ts": [T0], "v": [2.0]}))
    with pytest.raises(errors.InvalidArgumentError, match="No common key"):
        a.select_all().join(b.select_all())
    with pytest.raises(errors.InvalidArgumentError, match="prefix"):
        a.select_all().join(b.select_all(), left_on=["id"], right_on=["other"]).read(dataframe_type="pandas")
    df = (
        a.select_all()
        .join(b.select_all(), left_on=["id"], right_on=["other"], prefix="b_")
        .read(dataframe_type="pandas")
    )
    assert df.columns.tolist() == ["id", "ts", "v", "b_v"] and df.b_v.item() == 2.0
    with pytest.raises(errors.InvalidArgumentError, match="not a feature"):
        a.select_all().join(b.select_all(), left_on=["nope"], right_on=["other"])


@both_engines
def test_a_right_event_time_named_in_select_is_returned(fs):
    t = fs.create_feature_group(f"t_{_uid()}", primary_key=["k"], event_time="ts")
    w = fs.create_feature_group(f"w_{_uid()}", primary_key=["k"], event_time="ts")
    t.insert(
        pd.DataFrame({"k": [1, 1], "ts": [T0 + timedelta(hours=2), T0 + timedelta(hours=5)], "a": [1.0, 2.0]})
    )
    w.insert(
        pd.DataFrame({"k": [1, 1], "ts": [T0 + timedelta(hours=1), T0 + timedelta(hours=4)], "f": [10, 40]})
    )
    df = (
        t.select(["a"])
        .join(w.select(["f", "ts"]), prefix="w_")
        .read(dataframe_type="pandas")
        .sort_values("a")
    )
    assert df.columns.tolist() == ["a", "w_f", "w_ts"]
    assert df.w_f.tolist() == [10, 40] and df.w_ts.tolist() == [
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=4),
    ]


@both_engines
def test_join_without_event_time_takes_the_latest_row_per_key(fs):
    flights = fs.create_feature_group(f"fl_{_uid()}", primary_key=["id"])
    planes = fs.create_feature_group(f"pl_{_uid()}", primary_key=["tailnum"], event_time="ts")
    flights.insert(pd.DataFrame({"id": [1, 2, 3], "tailnum": ["A", "B", "Z"]}))
    planes.insert(
        pd.DataFrame(
            {"tailnum": ["A", "A", "B"], "ts": [T0, T0 + timedelta(days=1), T0], "seats": [100, 150, 200]}
        )
    )
    df = flights.select_all().join(planes.select(["seats"])).read(dataframe_type="pandas").sort_values("id")
    assert df.seats.tolist()[:2] == [150, 200] and pd.isna(df.seats.tolist()[2])


@both_engines
def test_sql_over_feature_groups(fs):
    name = f"s_{_uid()}"
    fg = fs.create_feature_group(name, primary_key=["origin"], event_time="time_hour")
    fg.insert(weather_df())
    df = fs.sql(
        f"SELECT origin, max(temp) AS t FROM {name} GROUP BY origin ORDER BY origin", dataframe_type="pandas"
    )
    assert df.to_dict("list") == {"origin": ["EWR", "JFK", "LGA"], "t": [4.0, 2.0, 3.0]}
    assert len(fs.sql(f"SELECT * FROM {name}_1", dataframe_type="pandas")) == 4
    with pytest.raises(errors.InvalidArgumentError, match="SQL failed"):
        fs.sql("SELECT * FROM no_such_table")


# --- feature views, training data --------------------------------------------------------------------


@pytest.fixture
def delays_view(fs):
    weather = fs.create_feature_group(
        f"wx_{_uid()}", primary_key=["origin"], event_time="time_hour", online_enabled=True
    )
    flights = fs.create_feature_group(f"fl_{_uid()}", primary_key=["id"], event_time="time_hour")
    weather.insert(weather_df())
    n = 40
    flights.insert(
        pd.DataFrame(
            {
                "id": range(n),
                "origin": ["JFK", "LGA", "EWR", "ORD"] * (n // 4),
                "time_hour": [T0 + timedelta(minutes=15 * i) for i in range(n)],
                "distance": [float(i) for i in range(n)],
                "delayed": [i % 2 for i in range(n)],
            }
        )
    )
    q = flights.select_all().join(weather.select(["temp", "wind"]), on=["origin"])
    return fs.create_feature_view(f"delays_{_uid()}", q, labels=["delayed"]), weather, flights


@both_engines
def test_feature_view_training_data_and_splits(fs, delays_view):
    fv, weather, flights = delays_view
    X, y = fv.training_data(dataframe_type="pandas")
    assert X.columns.tolist() == ["origin", "distance", "temp", "wind"] and y.columns.tolist() == ["delayed"]
    assert len(X) == 40
    X1, _ = fv.training_data(start_time=T0 + timedelta(hours=5), dataframe_type="pandas")
    assert len(X1) == 20
    Xk, _ = fv.training_data(primary_key=True, event_time=True, dataframe_type="pandas")
    assert {"id", "time_hour"} <= set(Xk.columns)

    a = fv.train_test_split(test_size=0.25, seed=7, dataframe_type="pandas")
    b = fv.train_test_split(test_size=0.25, seed=7, dataframe_type="pandas")
    if spark_engine(fs):  # Spark's randomSplit: each row lands in a split with its probability
        assert len(a[0]) + len(a[1]) == 40 and 0 < len(a[1]) < 20
    else:
        assert len(a[0]) == 30 and len(a[1]) == 10
    pd.testing.assert_frame_equal(a[1], b[1])  # reproducible
    c = fv.train_test_split(test_size=0.25, seed=8, dataframe_type="pandas")
    assert not a[1].equals(c[1])
    cut = T0 + timedelta(hours=7)
    Xtr, Xte, ytr, yte = fv.train_test_split(train_end=cut, test_start=cut, dataframe_type="pandas")
    assert len(Xtr) == 28 and len(Xte) == 12
    parts = fv.train_validation_test_split(
        validation_size=0.25, test_size=0.25, seed=1, dataframe_type="pandas"
    )
    if spark_engine(fs):
        assert sum(len(p) for p in parts[:3]) == 40 and all(len(p) for p in parts[:3])
    else:
        assert [len(p) for p in parts[:3]] == [20, 10, 10]
    with pytest.raises(errors.InvalidArgumentError):
        fv.train_test_split(test_size=1.5, dataframe_type="pandas")

    again = fs.get_feature_view(fv.name)
    assert again.version == fv.version and again.labels == ["delayed"]
    assert again.query.to_string() == fv.query.to_string()
    with pytest.raises(errors.InvalidArgumentError, match="not columns"):
        fs.create_feature_view(f"bad_{_uid()}", flights.select_all(), labels=["nope"])
    assert (
        len(fv.get_batch_data(start_time=T0, end_time=T0 + timedelta(hours=1), dataframe_type="pandas")) == 4
    )


@both_engines
def test_materialized_training_data(fs, delays_view):
    fv, _, _ = delays_view
    v1 = fv.create_training_data(description="all")
    X, y = fv.get_training_data(v1, dataframe_type="pandas")
    assert len(X) == 40 and y.columns.tolist() == ["delayed"]
    cut = T0 + timedelta(hours=7)
    v2 = fv.create_train_test_split(train_end=cut, test_start=cut, description="time split")
    Xtr, Xte, ytr, yte = fv.get_train_test_split(v2, dataframe_type="pandas")
    assert (len(Xtr), len(Xte)) == (28, 12) and v2 == v1 + 1
    meta = {t["version"]: t for t in fv.get_training_datasets()}
    assert meta[v2]["metadata"]["rows"] == {"train": 28, "test": 12}
    assert "ASOF LEFT JOIN" in meta[v2]["metadata"]["query_sql"]
    with pytest.raises(errors.NotFoundError):
        fv.get_training_data(99, dataframe_type="pandas")


# --- online serving ---------------------------------------------------------------------------------


@both_engines
def test_online_serving_and_consistency(fs, delays_view):
    fv, weather, _ = delays_view
    fv.init_serving()
    vec = fv.get_feature_vector({"origin": "JFK"}, passed_features={"origin": "JFK", "distance": 12.0})
    assert vec == ["JFK", 12.0, 2.0, 20]  # the newest JFK row online
    as_dict = fv.get_feature_vector(
        {"origin": "LGA"}, return_type="dict", passed_features={"origin": "LGA", "distance": 1.0}
    )
    assert as_dict["temp"] == 3.0
    many = fv.get_feature_vectors(
        [{"origin": "JFK"}, {"origin": "EWR"}], return_type="pandas", allow_missing=True
    )
    assert many.temp.tolist() == [2.0, 4.0]
    entries = [{"origin": "JFK"}, {"origin": "ORD"}]
    polars_rows = fv.get_feature_vectors(entries, return_type="polars", allow_missing=True)
    assert polars_rows.columns == many.columns.tolist() and polars_rows["temp"].to_list() == [2.0, None]
    passed = [{"origin": "JFK", "distance": 5}, {"origin": "ORD", "distance": 6}]
    mixed = fv.get_feature_vectors(entries, "numpy", passed, allow_missing=True)
    assert mixed.shape == (2, 4) and mixed.dtype == object and mixed[1].tolist() == ["ORD", 6, None, None]
    numbers = fv.get_feature_vectors(entries, return_type="numpy", allow_missing=True)  # origin null
    assert numbers.dtype == np.float64 and numbers[0, 2] == 2.0 and np.isnan(numbers[1]).all()
    one = fv.get_feature_vector({"origin": "JFK"}, "numpy", {"origin": 0, "distance": 1}, allow_missing=True)
    assert one.tolist() == [0.0, 1.0, 2.0, 20.0]
    with pytest.raises(errors.InvalidArgumentError, match="return_type 'arrow'.*numpy"):
        fv.get_feature_vectors(entries, return_type="arrow")
    with pytest.raises(errors.NotFoundError, match="ORD"):
        fv.get_feature_vector({"origin": "ORD"}, passed_features={"origin": "ORD", "distance": 1.0})
    assert fv.get_feature_vector({"origin": "ORD"}, allow_missing=True)[2] is None
    with pytest.raises(errors.InvalidArgumentError, match="lacks the key"):
        fv.get_feature_vector({"nope": 1}, allow_missing=True)
    with pytest.raises(errors.InvalidArgumentError, match="not online"):
        fv.get_feature_vector({"origin": "JFK"})

    # new values are online when insert returns; an older event time never overwrites a newer one
    weather.insert(
        pd.DataFrame({"origin": ["JFK"], "time_hour": [T0 + timedelta(hours=5)], "temp": [9.5], "wind": [5]})
    )
    assert fv.get_feature_vector({"origin": "JFK"}, allow_missing=True)[2] == 9.5
    weather.insert(
        pd.DataFrame({"origin": ["JFK"], "time_hour": [T0 - timedelta(days=1)], "temp": [-1.0], "wind": [5]})
    )
    assert fv.get_feature_vector({"origin": "JFK"}, allow_missing=True)[2] == 9.5

    online = weather.read(online=True, dataframe_type="pandas").sort_values("origin").reset_index(drop=True)
    offline = weather.read(dataframe_type="pandas")
    latest = (
        offline.sort_values("time_hour")
        .groupby("origin")
        .tail(1)
        .sort_values("origin")
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(online, latest[online.columns], check_dtype=False)


def test_vectors_endpoint_over_rest(platform, conn, delays_view):
    """The serving endpoint answers before FastAPI's routing (VectorsFastPath): the same contract
    as every route: error body shape, 401/404/400/413, the access-log line."""
    fv, weather, _ = delays_view
    path = f"/projects/{conn.project}/featureviews/{fv.name}/{fv.version}/vectors"
    key = platform.admin_key

    r = platform.api(
        "POST", path, key, json={"entries": [{"origin": "JFK"}, {"origin": "ORD"}], "allow_missing": True}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["vectors"][0][out["features"].index("temp")] == 2.0
    assert out["missing"] == [{"entry": 1, "feature_group": weather.name, "key": {"origin": "ORD"}}]

    def error(r, status: int, code: str, fragment: str) -> dict:
        assert r.status_code == status, (r.status_code, r.text)
        body = r.json()
        assert set(body) == {"error_code", "message", "details"}, body
        assert body["error_code"] == code and fragment in body["message"], body
        return body

    body = {"entries": [{"origin": "JFK"}]}
    r = platform.api("POST", path, None, json=body)
    error(r, 401, "unauthenticated", "API key")
    assert r.headers["WWW-Authenticate"] == "ApiKey"
    error(platform.api("POST", path, "lk_nope.bad", json=body), 401, "unauthenticated", "")
    error(platform.api("POST", path.replace(fv.name, "no_such_view"), key, json=body), 404, "not_found", "")
    error(platform.api("POST", path, key, json={"entries": []}), 400, "invalid_argument", "entries")
    error(platform.api("POST", path, key, json={**body, "surprise": 1}), 400, "invalid_argument", "surprise")
    bad_json = {"data": b"{nope", "headers": {"Content-Type": "application/json"}}
    error(platform.api("POST", path, key, **bad_json), 400, "invalid_argument", "")
    error(
        platform.api("POST", path, key, json={"entries": [{"x": 1}], "allow_missing": True}),
        400,
        "invalid_argument",
        "lacks the key",
    )
    ord_ = {"entries": [{"origin": "ORD"}], "passed_features": [{"origin": "ORD", "distance": 1.0}]}
    error(platform.api("POST", path, key, json=ord_), 404, "not_found", "allow_missing")
    error(platform.api("POST", path, key, json=body), 400, "invalid_argument", "not online")
    big = b'{"entries": [' + b" " * (2 * 1024 * 1024) + b"]}"
    error(
        platform.api("POST", path, key, data=big, headers={"Content-Type": "application/json"}),
        413,
        "payload_too_large",
        "limit",
    )

    def chunks():  # no Content-Length: the limit applies to what streams in
        for _ in range(3):
            yield b" " * (1024 * 1024)

    error(
        platform.api("POST", path, key, data=chunks(), headers={"Content-Type": "application/json"}),
        413,
        "payload_too_large",
        "limit",
    )
    log = platform.log_path.read_text()
    assert "POST /api/v1/projects/{project}/featureviews/{name}/{version}/vectors 200" in log
    assert "vectors 401" in log and "user=admin" in log
    assert key.split(".")[1] not in log  # never the secret


def test_training_engine_refuses_data_work(platform):
    host, port = platform.url.removeprefix("https://").split(":")
    project = f"fs_{_uid()}"
    platform.api("POST", "/projects", platform.admin_key, json={"name": project})
    with larder.connection(
        host=host,
        port=int(port),
        project=project,
        engine="training",
        api_key_value=platform.admin_key,
        trust_store_path=platform.ca,
    ) as c:
        fs = c.get_feature_store()
        fg = fs.create_feature_group(f"t_{_uid()}", primary_key=["k"])  # metadata works
        with pytest.raises(errors.ConfigurationError, match="training"):
            fg.insert(pd.DataFrame({"k": [1]}))


def test_sharing_a_feature_store_read_only(platform, tmp_path):
    owner = connect(platform)
    fs = owner.get_feature_store()
    fg = fs.create_feature_group(f"w_{_uid()}", primary_key=["origin"], event_time="time_hour")
    fg.insert(weather_df())
    user = f"reader{_uid()}"
    platform.create_user(user)
    key, _ = platform.create_key(user, "project,featurestore,dataset", tmp_path)
    theirs = f"their_{_uid()}"
    assert platform.api("POST", "/projects", key, json={"name": theirs}).status_code == 201
    host, port = platform.url.removeprefix("https://").split(":")
    reader = larder.connection(
        host=host, port=int(port), project=theirs, api_key_value=key, trust_store_path=platform.ca
    )
    try:
        with pytest.raises(errors.NotFoundError, match="not shared"):
            reader.get_feature_store(fs.name)
        with pytest.raises(errors.NotFoundError):  # a non-member cannot share it to himself
            reader.get_feature_store()._rest.put(f"/projects/{fs.project}/featurestore/shares/{theirs}")
        fs.share_with(theirs)
        assert fs.shared_with == [theirs]
        shared = reader.get_feature_store(fs.name)
        assert len(shared.get_feature_group(fg.name).read()) == 4  # catalog and data, read only
        with pytest.raises(errors.PermissionDeniedError):
            shared.create_feature_group(f"x_{_uid()}", primary_key=["k"])
        with pytest.raises(errors.PermissionDeniedError):
            shared.get_feature_group(fg.name).insert(weather_df())
        fs.stop_sharing(theirs)
        with pytest.raises(errors.NotFoundError):
            reader.get_feature_store(fs.name)
    finally:
        reader.close()
        owner.close()


@both_engines
def test_online_read_keeps_microseconds(fs):
    fg = fs.create_feature_group(f"us_{_uid()}", primary_key=["k"], event_time="ts", online_enabled=True)
    ts = datetime(2024, 7, 16, 20, 4, 42, 502029, tzinfo=timezone.utc)
    fg.insert(pd.DataFrame({"k": [1, 2], "ts": [ts, ts.replace(microsecond=0)], "v": [1.5, 2.5]}))
    online = fg.read(online=True, dataframe_type="pandas").sort_values("k")
    assert online.ts.tolist() == [ts, ts.replace(microsecond=0)] and online.v.tolist() == [1.5, 2.5]
