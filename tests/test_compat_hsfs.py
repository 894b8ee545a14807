"""Code written for hsfs/hsml runs on Larder (issue 18, section 3; issue 24, item 1): each test is
written the way hsfs and hsml users write it (only the import changed: ``import larder as hsfs``),
against a real server, and asserts the values it gets back.

Covered here: ``insert(write_options=...)`` with hsfs's keys, hsfs's time arguments (datetimes,
dates, ``"%Y-%m-%d"`` and ``"%Y-%m-%d %H:%M:%S"`` strings, epoch milliseconds, naive values as
UTC), naive timestamps in inserted frames, version 1 when no version is given, and the names
``fg.id``, ``fg.schema``, ``fg.statistics``, ``fg.update_description()``, ``fv.features``,
``fv.schema``, ``model.created``, ``model.creator``, ``model.get_url()``.
"""

from __future__ import annotations

import pickle
import uuid
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

import larder as hsfs  # the only line a migrated script changes
from conftest import LarderServer
from larder import errors

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _uid() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def conn(platform: LarderServer):
    host, port = platform.url.removeprefix("https://").rsplit(":", 1)
    project = f"compat_{_uid()}"
    r = platform.api("POST", "/projects", platform.admin_key, json={"name": project})
    assert r.status_code == 201, r.text
    c = hsfs.connection(
        host=host,
        port=int(port),
        project=project,
        api_key_value=platform.admin_key,
        trust_store_path=platform.ca,
    )
    yield c
    c.close()


@pytest.fixture
def fs(conn):
    return conn.get_feature_store()


def transactions() -> pd.DataFrame:
    """Four days of one account's amounts, hourly at noon UTC."""
    return pd.DataFrame(
        {
            "cc_num": [1, 1, 1, 1, 2],
            "datetime": [T0 + timedelta(days=d, hours=12) for d in range(4)] + [T0 + timedelta(hours=12)],
            "amount": [10.0, 20.0, 30.0, 40.0, 5.0],
        }
    )


def _caught(category: type[Warning], call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, category)]


# --- insert -----------------------------------------------------------------------------------------


def test_insert_takes_hsfs_write_options(fs) -> None:
    fg = fs.get_or_create_feature_group(
        name=f"trans_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime", description="tx"
    )
    commit = fg.insert(
        transactions(), write_options={"wait_for_job": True, "start_offline_materialization": True}
    )
    assert commit["rows_inserted"] == 5
    # wait_for_job=False still returns after the commit: the rows are there at once
    more = transactions().assign(amount=lambda d: d.amount * 2)
    fg.insert(
        more,
        write_options={
            "wait_for_job": False,
            "internal_kafka": False,
            "kafka_producer_config": {},
            "spark": {},
        },
        validation_options={"run_validation": False},
        save_code=False,
    )
    assert sorted(fg.read().amount) == [10.0, 20.0, 40.0, 60.0, 80.0]
    with pytest.raises(errors.InvalidArgumentError, match=r"Unknown write_options \['mergeSchema'\]") as info:
        fg.insert(more, write_options={"mergeSchema": True})
    assert "wait_for_job" in info.value.message  # the accepted keys are listed
    with pytest.raises(errors.InvalidArgumentError, match="storage='online'"):
        fg.insert(more, storage="online")
    assert len(fg.commit_details()) == 2  # the refused ones wrote nothing


def test_naive_timestamps_are_inserted_as_utc_with_a_warning(fs) -> None:
    """Frames from read_csv(parse_dates=...) or pd.to_datetime(...) are naive; hsfs stores UTC."""
    fg = fs.create_feature_group(f"naive_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime")
    naive = transactions().assign(datetime=lambda d: pd.to_datetime(d.datetime).dt.tz_localize(None))
    _, caught = _caught(errors.NaiveTimeWarning, lambda: fg.insert(naive))
    assert len(caught) == 1 and "'datetime'" in str(caught[0].message) and caught[0].filename == __file__
    stored = fg.read().sort_values(["cc_num", "datetime"]).reset_index(drop=True)
    expected = transactions().sort_values(["cc_num", "datetime"]).reset_index(drop=True)
    assert list(stored.datetime) == list(pd.to_datetime(expected.datetime))  # the same instants, in UTC
    assert str(stored.datetime.dt.tz) == "UTC"
    # an upsert of the aware rows matches the naive ones: they are the same keys
    assert fg.insert(transactions())["rows_updated"] == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # silenceable by category, as documented
        warnings.filterwarnings("ignore", category=errors.NaiveTimeWarning)
        fg.insert(naive)


# --- time arguments ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def view(conn):
    fs = conn.get_feature_store()
    fg = fs.create_feature_group(f"tx_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime")
    fg.insert(transactions())
    labels = fs.create_feature_group(
        f"lbl_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime"
    )
    labels.insert(transactions().assign(fraud=[0, 1, 0, 1, 0]).drop(columns=["amount"]))
    query = labels.select(["cc_num", "datetime", "fraud"]).join(fg.select(["amount"]), on=["cc_num"])
    fv = fs.create_feature_view(name=f"fraud_{_uid()}", version=1, query=query, labels=["fraud"])
    return fg, fv


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-01-02", "2024-01-04"),  # hsfs's "%Y-%m-%d"
        ("2024-01-02 00:00:00", "2024-01-04 00:00:00"),  # "%Y-%m-%d %H:%M:%S"
        (date(2024, 1, 2), date(2024, 1, 4)),
        (datetime(2024, 1, 2), datetime(2024, 1, 4)),  # naive datetimes
        (1704153600000, 1704326400000),  # epoch milliseconds
        ("2024-01-02T00:00:00Z", "2024-01-04T00:00:00+00:00"),
        (datetime(2024, 1, 2, 1, tzinfo=timezone(timedelta(hours=1))), T0 + timedelta(days=3)),
    ],
    ids=["date-string", "datetime-string", "date", "naive-datetime", "epoch-ms", "iso-z", "aware"],
)
def test_time_arguments_take_what_hsfs_takes(view, start, end) -> None:
    _, fv = view
    (x, y), caught = _caught(
        errors.NaiveTimeWarning, lambda: fv.training_data(start_time=start, end_time=end)
    )
    assert sorted(x.amount) == [20.0, 30.0] and sorted(y.fraud) == [0, 1]  # Jan 2 and 3 at noon
    naive = not isinstance(start, int) and (getattr(start, "tzinfo", None) is None) and "Z" not in str(start)
    assert bool(caught) == naive, [str(w.message) for w in caught]
    for w in caught:
        assert "taken as" in str(w.message) and w.filename == __file__
    batch, _ = _caught(errors.NaiveTimeWarning, lambda: fv.get_batch_data(start_time=start, end_time=end))
    assert sorted(batch.amount) == [20.0, 30.0]


def test_time_travel_and_changes_take_hsfs_times(view) -> None:
    fg, _ = view
    before = int((datetime.now(timezone.utc) - timedelta(days=1)).timestamp() * 1000)
    after = datetime.now(timezone.utc) + timedelta(seconds=5)
    with pytest.raises(errors.NotFoundError):  # nothing existed a day ago (epoch ms)
        fg.read(wallclock_time=before)
    travelled, caught = _caught(
        errors.NaiveTimeWarning, lambda: fg.as_of(after.strftime("%Y-%m-%d %H:%M:%S"))
    )
    assert len(travelled.read()) == 5 and len(caught) == 1
    changes, caught = _caught(
        errors.NaiveTimeWarning, lambda: fg.read_changes("2020-01-01", after.strftime("%Y-%m-%d %H:%M:%S"))
    )
    assert len(changes) == 5 and len(caught) == 2
    with pytest.raises(errors.InvalidArgumentError, match="epoch seconds"):
        fg.read(wallclock_time=1_700_000_000)
    with pytest.raises(errors.InvalidArgumentError, match="'yesterday'"):
        fg.as_of("yesterday")


# --- versions ---------------------------------------------------------------------------------------


def test_no_version_means_version_1_with_a_warning(fs, conn, tmp_path: Path) -> None:
    name = f"ver_{_uid()}"
    v1 = fs.create_feature_group(name, version=1, primary_key=["cc_num"], description="first")
    fs.create_feature_group(name, version=2, primary_key=["cc_num"], description="second")
    got, caught = _caught(errors.VersionNotPinnedWarning, lambda: fs.get_feature_group(name))
    assert got.version == 1 and got.description == "first"
    assert len(caught) == 1 and "version=2" in str(caught[0].message) and caught[0].filename == __file__
    assert fs.get_feature_group(name, version=2).description == "second"

    v1.insert(pd.DataFrame({"cc_num": [1], "amount": [1.0]}))
    fs.create_feature_view(name, v1.select_all(), version=1, description="a")
    fs.create_feature_view(name, v1.select(["amount"]), version=2, description="b")
    fv, caught = _caught(errors.VersionNotPinnedWarning, lambda: fs.get_feature_view(name))
    assert fv.version == 1 and fv.description == "a" and len(caught) == 1
    assert fs.get_or_create_feature_view(name, v1.select_all()).version == 1

    mr = conn.get_model_registry()
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "model.pkl").write_bytes(pickle.dumps({"w": 1}))
    for auc in (0.7, 0.9):
        mr.python.create_model(name, metrics={"auc": auc}).save(str(model_dir))
    model, caught = _caught(errors.VersionNotPinnedWarning, lambda: mr.get_model(name))
    assert model.version == 1 and model.training_metrics == {"auc": 0.7} and len(caught) == 1
    assert mr.get_model(name, version=2).training_metrics == {"auc": 0.9}
    # a single version: nothing to choose between, no warning
    single = f"one_{_uid()}"
    fs.create_feature_group(single, version=1, primary_key=["k"])
    _, caught = _caught(errors.VersionNotPinnedWarning, lambda: fs.get_feature_group(single))
    assert caught == []


# --- names hsfs/hsml users reach for -------------------------------------------------------------


def test_feature_group_id_schema_statistics_and_description(fs) -> None:
    fg = fs.create_feature_group(f"names_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime")
    assert fg.statistics is None  # no commit yet
    fg.insert(transactions())
    assert isinstance(fg.id, int) and fg.id == fs.get_feature_group(fg.name, 1).id
    assert [(f.name, f.type) for f in fg.schema] == [
        ("cc_num", "int64"),
        ("datetime", "timestamp[us, tz=UTC]"),
        ("amount", "double"),
    ]
    assert [f.name for f in fg.schema] == [f.name for f in fg.features]
    stats = fg.statistics
    assert stats is not None and stats["columns"]["amount"]["max"] == 40.0
    assert stats["columns"]["amount"]["mean"] == pytest.approx(21.0)
    assert fg.update_description("card transactions") is fg and fg.description == "card transactions"
    assert fs.get_feature_group(fg.name, 1).description == "card transactions"
    with pytest.raises(errors.InvalidArgumentError):
        fg.update_description("x" * 2001)


def test_feature_view_features_and_schema(view) -> None:
    _, fv = view
    assert [(f.name, f.type) for f in fv.features] == [
        ("cc_num", "int64"),
        ("datetime", "timestamp[us, tz=UTC]"),
        ("fraud", "int64"),
        ("amount", "double"),
    ]
    assert [(f.name, f.type) for f in fv.schema] == [(f.name, f.type) for f in fv.features]
    assert [f.primary for f in fv.features] == [True, False, False, False]
    assert fv.features[3].feature_group is not None and fv.features[3].feature_group.name.startswith("tx_")


def test_model_created_creator_and_url(conn, tmp_path: Path) -> None:
    mr = conn.get_model_registry()
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"w": 1}))
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    model = mr.python.create_model(f"m_{_uid()}", metrics={"accuracy": 0.9})
    with pytest.raises(errors.ConflictError, match="not been saved"):
        model.get_url()
    model.save(str(tmp_path))
    got = mr.get_model(model.name, 1)
    assert got.creator == conn.user and got.created is not None and got.created >= before
    assert got.get_url() == f"{conn.url}/projects/{conn.project}/models/{model.name}/1"


def test_serving_the_hsfs_way(fs) -> None:
    fg = fs.create_feature_group(
        f"online_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime", online_enabled=True
    )
    fg.insert(transactions())
    fv = fs.create_feature_view(f"serve_{_uid()}", fg.select(["cc_num", "amount"]), version=1)
    td_version = fv.create_training_data(description="for the model")
    fv.init_serving(training_dataset_version=td_version)
    assert fv.training_dataset_version == td_version
    assert fv.get_feature_vectors(entry=[{"cc_num": 1}, {"cc_num": 2}]) == [[40.0], [5.0]]  # the latest
    assert fv.get_feature_vector({"cc_num": 1}, return_type="dict") == {"amount": 40.0}
    with pytest.raises(errors.NotFoundError, match=f"no training dataset version {td_version + 7}"):
        fv.init_serving(training_dataset_version=td_version + 7)
    with pytest.raises(errors.InvalidArgumentError, match="not both"):
        fv.get_feature_vectors(entry=[{"cc_num": 1}], entries=[{"cc_num": 1}])


def test_selections_and_arguments_hsfs_notebooks_use(fs, view) -> None:
    fg = fs.create_feature_group(
        f"sel_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime", expectation_suite=None
    )
    fg.insert(transactions())
    assert list(fg.select_all(include_primary_key=False, include_event_time=False).read().columns) == [
        "amount"
    ]
    assert list(fg.select_all(include_event_time=False).read().columns) == ["cc_num", "amount"]
    assert list(fg.select_features().read().columns) == ["amount"]
    assert sorted(fg.select_features().read().amount) == [5.0, 10.0, 20.0, 30.0, 40.0]
    with pytest.raises(errors.InvalidArgumentError, match="expectation_suite"):
        fs.create_feature_group(f"ge_{_uid()}", primary_key=["k"], expectation_suite={"expectations": []})
    _, fv = view
    x, y = fv.training_data(description="a quick look")
    assert len(x) == len(y) == 5


def test_create_training_data_returns_version_and_job_as_hsfs(view) -> None:
    _, fv = view
    version, job = fv.create_training_data(description="all rows", data_format="parquet")
    assert job.get_state() == job.get_final_state() == "FINISHED" and job.duration >= 0
    assert job.name == f"{fv.name}_{fv.version}_td_{version}"
    x, y = fv.get_training_data(version)
    assert sorted(x.amount) == [5.0, 10.0, 20.0, 30.0, 40.0] and sorted(y.fraud) == [0, 0, 0, 1, 1]
    split = fv.create_train_test_split(test_size=0.4, seed=1)
    assert int(split) == version + 1  # also a plain version number, as Larder returned before
    v2, job2 = split
    x_train, x_test, y_train, y_test = fv.get_train_test_split(v2)
    assert len(x_train) + len(x_test) == 5 and job2.get_final_state() == "FINISHED"
    with pytest.raises(errors.InvalidArgumentError, match="data_format='tfrecord'"):
        fv.create_training_data(data_format="tfrecord")


def test_a_naive_datetime_in_a_filter_is_utc(view) -> None:
    fg, _ = view
    rows, caught = _caught(
        errors.NaiveTimeWarning, lambda: fg.filter(fg.datetime >= datetime(2024, 1, 3)).read()
    )
    assert sorted(rows.amount) == [30.0, 40.0] and len(caught) == 1 and caught[0].filename == __file__
    aware = fg.filter(fg.datetime >= datetime(2024, 1, 3, tzinfo=timezone.utc)).read()
    assert sorted(aware.amount) == [30.0, 40.0]


# --- issue 24, items 5 and 8: selected event times, batch data flags, joins without on= -------------


def windows() -> pd.DataFrame:
    """Per-account transaction frequencies, computed at 06:00 UTC on some days."""
    return pd.DataFrame(
        {
            "cc_num": [1, 1, 2],
            "datetime": [T0 + timedelta(hours=6), T0 + timedelta(days=2, hours=6), T0 + timedelta(hours=6)],
            "trans_freq": [1.0, 3.0, 7.0],
        }
    )


@pytest.fixture(scope="module")
def trans_and_windows(conn):
    fs = conn.get_feature_store()
    t = fs.create_feature_group(f"tr_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime")
    t.insert(transactions())
    w = fs.create_feature_group(f"win_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime")
    w.insert(windows())
    return t, w


def test_a_selected_event_time_of_the_right_group_comes_back(trans_and_windows) -> None:
    t, w = trans_and_windows
    df = t.select(["amount"]).join(w.select(["trans_freq", "datetime"])).read().sort_values("amount")
    assert list(df.columns) == ["amount", "trans_freq", "datetime"]
    d0, d2 = T0 + timedelta(hours=6), T0 + timedelta(days=2, hours=6)
    assert list(df.trans_freq) == [7.0, 1.0, 1.0, 3.0, 3.0]
    assert list(df.datetime) == [d0, d0, d0, d2, d2]  # the matched window's time, not the transaction's
    prefixed = t.select(["amount"]).join(w.select(["trans_freq", "datetime"]), prefix="w_").read()
    assert list(prefixed.columns) == ["amount", "w_trans_freq", "w_datetime"]
    assert sorted(prefixed.w_datetime) == [d0, d0, d0, d2, d2]
    # both groups' event times named, no prefix: a clash, which names the way out
    with pytest.raises(errors.InvalidArgumentError, match="prefix"):
        t.select(["amount", "datetime"]).join(w.select(["trans_freq", "datetime"])).read()
    both = t.select(["amount", "datetime"]).join(w.select(["trans_freq", "datetime"]), prefix="w_").read()
    assert list(both.columns) == ["amount", "datetime", "w_trans_freq", "w_datetime"]
    # select_all() implies the event time: the right one is left out where the left's has its name
    assert list(t.select_all().join(w.select_all()).read().columns) == [
        "cc_num",
        "datetime",
        "amount",
        "trans_freq",
    ]


def test_batch_and_training_data_keep_keys_and_event_times_on_request(fs, trans_and_windows) -> None:
    t, w = trans_and_windows
    query = t.select(["cc_num", "datetime", "amount"]).join(w.select(["trans_freq", "datetime"]), prefix="w_")
    fv = fs.create_feature_view(name=f"batch_{_uid()}", version=1, query=query)
    assert list(fv.get_batch_data().columns) == ["amount", "w_trans_freq"]
    batch = fv.get_batch_data(primary_key=True, event_time=True)
    assert list(batch.columns) == ["cc_num", "datetime", "amount", "w_trans_freq", "w_datetime"]
    assert list(batch.cc_num) == [1, 1, 1, 1, 2] and list(batch.amount) == [10.0, 20.0, 30.0, 40.0, 5.0]
    assert list(fv.get_batch_data(event_time=True).columns) == [
        "datetime",
        "amount",
        "w_trans_freq",
        "w_datetime",
    ]
    x, y = fv.training_data(primary_key=True)
    assert list(x.columns) == ["cc_num", "amount", "w_trans_freq"] and y is None
    x_train, x_test, _, _ = fv.train_test_split(test_size=0.4, seed=3, event_time=True)
    assert (
        list(x_train.columns) == list(x_test.columns) == ["datetime", "amount", "w_trans_freq", "w_datetime"]
    )
    # the view stores the query: read back, it returns the same columns
    again = fs.get_feature_view(fv.name, version=1)
    assert list(again.get_batch_data(event_time=True).columns) == list(
        fv.get_batch_data(event_time=True).columns
    )


def test_a_join_without_on_takes_the_common_part_of_the_primary_keys(fs) -> None:
    """hsfs joins on the largest common subset of the two primary keys (Home Credit's
    previous applications, keyed by (sk_id_prev, sk_id_curr), onto applications by sk_id_curr)."""
    apps = fs.create_feature_group(f"app_{_uid()}", version=1, primary_key=["sk_id_curr"])
    apps.insert(pd.DataFrame({"sk_id_curr": [1, 2, 3], "income": [10.0, 20.0, 30.0]}))
    prev = fs.create_feature_group(f"prev_{_uid()}", version=1, primary_key=["sk_id_prev", "sk_id_curr"])
    prev.insert(pd.DataFrame({"sk_id_prev": [7, 8, 9], "sk_id_curr": [1, 1, 2], "credit": [1.0, 2.0, 4.0]}))
    df = apps.select_all().join(prev.select(["sk_id_prev", "credit"])).read()
    rows = sorted(df.itertuples(index=False, name=None), key=lambda r: (r[0], r[2] if r[2] == r[2] else 0))
    assert list(df.columns) == ["sk_id_curr", "income", "sk_id_prev", "credit"]
    assert [(r[0], r[3]) for r in rows[:3]] == [(1, 1.0), (1, 2.0), (2, 4.0)]
    assert rows[3][0] == 3 and pd.isna(rows[3][3])  # a left join: the application without one stays
    other = fs.create_feature_group(f"oth_{_uid()}", version=1, primary_key=["zip"])
    other.insert(pd.DataFrame({"zip": [1], "pop": [5]}))
    with pytest.raises(errors.InvalidArgumentError, match="share no column"):
        apps.select_all().join(other.select_all())


# --- issue 24, item 7: feature descriptions -----------------------------------------------------------


def test_feature_descriptions_the_hsfs_way(fs, conn) -> None:
    fg = fs.create_feature_group(f"desc_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime")
    with pytest.raises(errors.InvalidArgumentError, match="no schema yet"):
        fg.update_feature_description("amount", "before the first insert")
    fg.insert(transactions())
    assert fg.get_feature("amount").description == ""
    assert fg.update_feature_description("amount", "transaction amount in USD") is fg
    assert fg.get_feature("amount").description == "transaction amount in USD"
    fg.update_feature_description("cc_num", "card number")
    again = fs.get_feature_group(fg.name, version=1)  # stored by the platform
    assert {f.name: f.description for f in again.features} == {
        "cc_num": "card number",
        "datetime": "",
        "amount": "transaction amount in USD",
    }
    # the group's own description and later inserts leave them be
    again.update_description("card transactions")
    again.insert(transactions().assign(amount=1.0))
    assert (
        fs.get_feature_group(fg.name, version=1).get_feature("amount").description
        == "transaction amount in USD"
    )
    # a feature view's features carry them
    fv = fs.create_feature_view(f"dv_{_uid()}", again.select(["cc_num", "amount"]), version=1)
    assert [f.description for f in fv.features] == ["card number", "transaction amount in USD"]
    again.update_feature_description("amount", "")  # cleared
    assert fs.get_feature_group(fg.name, version=1).amount.description == ""
    with pytest.raises(errors.InvalidArgumentError, match="no feature 'amnt'"):
        again.update_feature_description("amnt", "typo")
    with pytest.raises(errors.InvalidArgumentError, match="must be a string"):
        again.update_feature_description("amount", 5)
    with pytest.raises(errors.InvalidArgumentError):
        again.update_feature_description("amount", "x" * 2001)


# --- issue 24, item 6: event time types ---------------------------------------------------------------


def test_bigint_and_date_event_times_as_hsfs_takes_them(fs) -> None:
    """Epoch milliseconds and dates as event times (hsfs accepts timestamp, date and bigint),
    point-in-time joined in a feature view."""
    trans = fs.get_or_create_feature_group(
        name=f"msx_{_uid()}", version=1, primary_key=["cc_num"], event_time="event_ms"
    )
    rows = transactions()
    rows["event_ms"] = [int(t.timestamp() * 1000) for t in rows.pop("datetime")]  # epoch milliseconds
    trans.insert(rows)
    limits = fs.get_or_create_feature_group(
        name=f"lim_{_uid()}", version=1, primary_key=["cc_num"], event_time="day"
    )
    limits.insert(
        pd.DataFrame(
            {
                "cc_num": [1, 1, 2],
                "day": [date(2024, 1, 1), date(2024, 1, 3), date(2024, 1, 2)],
                "limit": [100.0, 300.0, 50.0],
            }
        )
    )
    fv = fs.create_feature_view(
        name=f"lim_{_uid()}", version=1, query=trans.select(["amount"]).join(limits.select(["limit"]))
    )
    x, _ = fv.training_data(
        start_time="2024-01-01T00:00:00Z", end_time=1704326400000
    )  # Jan 1 to Jan 4, 00:00
    limit = dict(zip(x.amount, x.limit, strict=True))
    assert sorted(limit) == [5.0, 10.0, 20.0, 30.0]  # Jan 1-3 at noon
    assert (limit[10.0], limit[20.0], limit[30.0]) == (100.0, 100.0, 300.0)  # the limit of that day
    assert pd.isna(limit[5.0])  # card 2's limit starts on Jan 2, its transaction is on Jan 1
    assert trans.read().event_ms.min() == T0 + timedelta(hours=12)  # stored as UTC timestamps
