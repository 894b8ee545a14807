"""Transformation functions (issue 24, item 2), written the way hsfs 4 users write them (only the
imports changed: ``import larder as hsfs``, ``from larder.builtin_transformations import ...``,
``from larder.hopsworks_udf import udf``), against a real server, asserting the values.

The statistics the functions need are fitted on the training split alone: every expected value is
computed by a scikit-learn fit on the training rows only (rows that reach the test split carry
values far outside the training range, so a fit that saw them would give other numbers), and the
same fitted statistics are applied by training data, materialized training datasets, batch data
and online feature vectors.
"""

from __future__ import annotations

import math
import uuid
import warnings
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import LabelEncoder, MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

import larder as hsfs  # the only line a migrated script changes
from conftest import LarderServer
from larder import errors
from larder.builtin_transformations import (
    label_encoder,
    min_max_scaler,
    one_hot_encoder,
    robust_scaler,
    standard_scaler,
)
from larder.hopsworks_udf import udf
from larder.transformation_statistics import TransformationStatistics

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
CUTOFF = T0 + timedelta(days=30)  # train: the 30 days before; test: the 10 after
CATEGORIES = ["grocery", "travel", "fuel", "online"]


def _uid() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def conn(any_platform: LarderServer):
    """A project on the server, on SQLite and on PostgreSQL (the metadata: the views' functions, the
    registry, the statistics in the training datasets' metadata)."""
    host, port = any_platform.url.removeprefix("https://").rsplit(":", 1)
    project = f"tf_{_uid()}"
    r = any_platform.api("POST", "/projects", any_platform.admin_key, json={"name": project})
    assert r.status_code == 201, r.text
    c = hsfs.connection(
        host=host,
        port=int(port),
        project=project,
        api_key_value=any_platform.admin_key,
        trust_store_path=any_platform.ca,
    )
    yield c
    c.close()


@pytest.fixture(scope="module")
def fs(conn):
    return conn.get_feature_store()


def transactions() -> pd.DataFrame:
    """One row per card, one card a day for 40 days. The last 10 days (the test split of a time
    split) hold amounts, ages and distances far outside the first 30's, and a category
    (``"crypto"``) the first 30 never have."""
    rng = np.random.default_rng(7)
    n = 40
    test = np.arange(n) >= 30
    return pd.DataFrame(
        {
            "cc_num": np.arange(100, 100 + n),
            "datetime": [T0 + timedelta(days=d, hours=12) for d in range(n)],
            "category": [CATEGORIES[i % 4] if i < 30 else ["crypto", "travel"][i % 2] for i in range(n)],
            "amount": np.where(test, rng.uniform(5_000, 9_000, n), rng.uniform(1, 300, n)).round(2),
            "age": np.where(test, rng.integers(90, 99, n), rng.integers(18, 70, n)).astype("int64"),
            "loc_delta": np.where(test, rng.uniform(50, 80, n), rng.exponential(2.0, n)).round(3),
            "fraud": (rng.uniform(size=n) < 0.3).astype("int64"),
        }
    )


@pytest.fixture(scope="module")
def group(fs):
    fg = fs.create_feature_group(
        f"trans_{_uid()}", version=1, primary_key=["cc_num"], event_time="datetime", online_enabled=True
    )
    fg.insert(transactions())
    return fg


def _view(fs, group, functions, **kw):
    return fs.create_feature_view(
        name=f"fraud_{_uid()}",
        version=1,
        query=group.select_all(),
        labels=["fraud"],
        transformation_functions=functions,
        **kw,
    )


BUILTINS = [
    label_encoder("category"),
    robust_scaler("amount"),
    min_max_scaler("loc_delta"),
    standard_scaler("age"),
]


def _expected(train: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """What the four built-ins give for ``rows``, fitted by scikit-learn on ``train`` alone."""
    enc = LabelEncoder().fit(train["category"])
    known = set(enc.classes_)
    codes = [int(enc.transform([c])[0]) if c in known else -1 for c in rows["category"]]
    return pd.DataFrame(
        {
            "label_encoder_category": codes,
            "min_max_scaler_loc_delta": MinMaxScaler()
            .fit(train[["loc_delta"]])
            .transform(rows[["loc_delta"]])[:, 0],
            "robust_scaler_amount": RobustScaler().fit(train[["amount"]]).transform(rows[["amount"]])[:, 0],
            "standard_scaler_age": StandardScaler()
            .fit(train[["age"]])
            .transform(rows[["age"]].astype(float))[:, 0],
        }
    )


def _assert_transformed(x: pd.DataFrame, train: pd.DataFrame, rows: pd.DataFrame) -> None:
    expected = _expected(train, rows)
    # hsfs 4's layout: untransformed features first, the outputs after them, sorted by name
    assert list(x.columns) == list(expected.columns)
    assert list(x["label_encoder_category"]) == list(expected["label_encoder_category"])
    for c in ("min_max_scaler_loc_delta", "robust_scaler_amount", "standard_scaler_age"):
        np.testing.assert_allclose(x[c].to_numpy(dtype=float), expected[c].to_numpy(), rtol=1e-12, atol=1e-12)


def test_a_time_split_fits_on_the_train_rows_alone(fs, group) -> None:
    fv = _view(fs, group, BUILTINS)
    data = transactions()
    train, test = data[data.datetime < CUTOFF], data[data.datetime >= CUTOFF]
    x_train, x_test, y_train, y_test = fv.train_test_split(train_end=CUTOFF, test_start=CUTOFF)
    _assert_transformed(x_train, train, train)
    _assert_transformed(x_test, train, test)
    # no leakage: the test rows are outside the training range, and "crypto" is unseen
    assert x_test["min_max_scaler_loc_delta"].min() > 1 and x_test["standard_scaler_age"].min() > 1
    assert sorted(set(x_test["label_encoder_category"])) == [-1, 3]  # crypto unseen; travel the 4th
    assert list(y_train.fraud) == list(train.fraud) and list(y_test.fraud) == list(test.fraud)
    # a fit over every row would have given other statistics
    everything = _expected(data, test)
    assert not np.allclose(x_test["robust_scaler_amount"], everything["robust_scaler_amount"])


def test_a_random_split_fits_on_its_train_rows(fs, group) -> None:
    fv = _view(fs, group, [min_max_scaler("amount"), standard_scaler("loc_delta")])
    data = transactions().set_index("cc_num")
    x_train, x_test, _, _ = fv.train_test_split(test_size=0.3, seed=11, primary_key=True)
    train = data.loc[x_train.cc_num]
    assert len(x_test) == 12 and not set(x_train.cc_num) & set(x_test.cc_num)
    for x in (x_train, x_test):
        rows = data.loc[x.cc_num]
        np.testing.assert_allclose(
            x["min_max_scaler_amount"],
            MinMaxScaler().fit(train[["amount"]]).transform(rows[["amount"]])[:, 0],
        )
        np.testing.assert_allclose(
            x["standard_scaler_loc_delta"],
            StandardScaler().fit(train[["loc_delta"]]).transform(rows[["loc_delta"]])[:, 0],
        )
    # the untransformed features stay, before the outputs
    assert list(x_train.columns) == [
        "cc_num",
        "category",
        "age",
        "min_max_scaler_amount",
        "standard_scaler_loc_delta",
    ]


def test_statistics_stored_with_the_training_dataset_serve_batch_and_online(fs, group) -> None:
    fv = _view(fs, group, [*BUILTINS, one_hot_encoder("category")])
    data = transactions()
    train = data[data.datetime < CUTOFF]
    version, job = fv.create_train_test_split(train_end=CUTOFF, test_start=CUTOFF, description="Jan / Feb")
    assert job.get_final_state() == "FINISHED"

    # what the training dataset version holds: the statistics of the train split
    [td] = [t for t in fv.get_training_datasets() if t["version"] == version]
    stats = td["metadata"]["transformation_statistics"]
    assert stats["category"]["unique_values"] == sorted(set(train.category))
    assert (
        stats["loc_delta"]["min"] == train.loc_delta.min()
        and stats["loc_delta"]["max"] == train.loc_delta.max()
    )
    assert stats["age"]["mean"] == pytest.approx(train.age.mean(), rel=1e-12)
    assert stats["age"]["stddev"] == pytest.approx(train.age.std(ddof=0), rel=1e-12)
    assert stats["amount"]["percentiles"][49] == pytest.approx(np.percentile(train.amount, 50), rel=1e-12)

    # the materialized files read back transformed with those statistics, or raw
    x_train, x_test, _, _ = fv.get_train_test_split(version)
    _assert_transformed(x_test.drop(columns=[c for c in x_test if c.startswith("one_hot")]), train, data[30:])
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train[["category"]])
    expected_onehot = onehot.transform(data[30:][["category"]]).astype(bool)
    got_onehot = x_test[[f"one_hot_encoder_category_{i}" for i in range(4)]].to_numpy()
    assert (got_onehot == expected_onehot).all() and not got_onehot[data[30:].category == "crypto"].any()
    raw_train, _, _, _ = fv.get_train_test_split(version, transformed=False)
    assert list(raw_train.columns) == ["category", "amount", "age", "loc_delta"]
    assert list(raw_train.amount) == list(train.amount)

    # batch scoring: the training dataset's statistics, on every row
    fv.init_batch_scoring(training_dataset_version=version)
    batch = fv.get_batch_data()
    _assert_transformed(batch.drop(columns=[c for c in batch if c.startswith("one_hot")]), train, data)
    assert list(fv.get_batch_data(transformed=False).amount) == list(data.amount)

    # online: the same values as the batch path for the same keys
    fv.init_serving(training_dataset_version=version)
    keys = [105, 132, 139]  # a train row, a "crypto" test row, a "travel" test row
    vectors = fv.get_feature_vectors(entry=[{"cc_num": k} for k in keys], return_type="pandas")
    expected = batch.iloc[[k - 100 for k in keys]].reset_index(drop=True)
    assert list(vectors.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(vectors, expected, check_dtype=False)
    one = fv.get_feature_vector({"cc_num": 132}, return_type="dict")
    assert one == expected.iloc[1].to_dict() and one["label_encoder_category"] == -1  # crypto: unseen
    assert not any(one[f"one_hot_encoder_category_{i}"] for i in range(4))
    # hsfs 4's fv.transform: raw vectors (list, dict, several, a DataFrame) transformed by hand
    raw_vectors = fv.get_feature_vectors(entry=[{"cc_num": k} for k in keys], transformed=False)
    assert fv.transform(raw_vectors) == vectors.values.tolist()
    assert fv.transform(raw_vectors[1]) == vectors.iloc[1].tolist()
    assert (
        fv.transform(dict(zip(["category", "amount", "age", "loc_delta"], raw_vectors[1], strict=True)))
        == one
    )
    frame = fv.transform(
        fv.get_feature_vectors(entry=[{"cc_num": k} for k in keys], transformed=False, return_type="pandas")
    )
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    raw = fv.get_feature_vector({"cc_num": 132}, transformed=False, return_type="dict")
    assert raw == data.iloc[32][["category", "amount", "age", "loc_delta"]].to_dict()


def test_init_serving_picks_the_statistics_of_the_version(fs, group) -> None:
    fv = _view(fs, group, [min_max_scaler("amount")])
    data = transactions()
    v_all = fv.create_training_data()  # fitted on all 40 rows
    v_jan = fv.create_train_test_split(train_end=CUTOFF, test_start=CUTOFF)  # on the first 30
    row = data[data.cc_num == 110]

    def scaled(train: pd.DataFrame) -> float:
        return float(MinMaxScaler().fit(train[["amount"]]).transform(row[["amount"]])[0, 0])

    fv.init_serving(training_dataset_version=v_all)
    assert fv.get_feature_vector({"cc_num": 110}) == [
        row.category.item(),
        row.age.item(),
        row.loc_delta.item(),
        pytest.approx(scaled(data)),
    ]
    fv.init_serving(training_dataset_version=v_jan)
    assert fv.get_feature_vector({"cc_num": 110})[-1] == pytest.approx(scaled(data[:30]))
    fv.init_batch_scoring(v_jan)
    assert fv.get_batch_data()["min_max_scaler_amount"].iloc[10] == pytest.approx(scaled(data[:30]))

    # unpinned: version 1, as hsfs, said once
    again = fs.get_feature_view(fv.name, version=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = again.get_batch_data()
    assert x["min_max_scaler_amount"].iloc[10] == pytest.approx(scaled(data))
    assert [w.category for w in caught] == [errors.VersionNotPinnedWarning]
    assert "training dataset version 1" in str(caught[0].message)


def test_in_memory_training_data_records_its_statistics(fs, group) -> None:
    fv = _view(fs, group, [standard_scaler("amount")])
    with pytest.raises(errors.NotFoundError, match="no training dataset yet"):
        fv.get_batch_data()
    with pytest.raises(errors.NotFoundError, match="no training dataset yet"):
        fv.get_feature_vector({"cc_num": 100})
    assert fv.get_batch_data(transformed=False).shape == (40, 4)
    raw = fv.get_feature_vector({"cc_num": 100}, transformed=False)
    assert raw == transactions().iloc[0][["category", "amount", "age", "loc_delta"]].tolist()
    x, y = fv.training_data()
    data = transactions()
    np.testing.assert_allclose(
        x["standard_scaler_amount"], StandardScaler().fit_transform(data[["amount"]])[:, 0]
    )
    [td] = fv.get_training_datasets()
    assert (
        td["metadata"]["in_memory"] and td["metadata"]["transformation_statistics"]["amount"]["count"] == 40
    )
    fv.init_serving(training_dataset_version=td["version"])
    assert fv.get_feature_vector({"cc_num": 100})[-1] == pytest.approx(x["standard_scaler_amount"].iloc[0])
    with pytest.raises(errors.NotFoundError, match="no files"):
        fv.get_training_data(td["version"])


def test_a_label_can_be_encoded_and_vectors_leave_it_out(fs, group) -> None:
    fv = fs.create_feature_view(
        name=f"cat_{_uid()}",
        version=1,
        query=group.select(["cc_num", "datetime", "category", "amount"]),
        labels=["category"],
        transformation_functions=[label_encoder("category"), min_max_scaler("amount")],
    )
    data = transactions()
    x_train, x_test, y_train, y_test = fv.train_test_split(train_end=CUTOFF, test_start=CUTOFF)
    enc = LabelEncoder().fit(data.category[:30])
    assert list(y_train.columns) == ["label_encoder_category"] and list(x_train.columns) == [
        "min_max_scaler_amount"
    ]
    assert list(y_train.label_encoder_category) == list(enc.transform(data.category[:30]))
    assert set(y_test.label_encoder_category) == {-1, 3}
    fv.init_serving(training_dataset_version=1)
    assert fv.get_feature_vector({"cc_num": 101}, return_type="dict") == {
        "min_max_scaler_amount": pytest.approx(x_train.min_max_scaler_amount.iloc[1])
    }


# --- custom udfs ------------------------------------------------------------------------------------

amount_statistics = TransformationStatistics("amount")


@udf(float, drop=["amount"])
def amount_vs_mean(amount, statistics=amount_statistics):
    return amount / statistics.amount.mean


@udf([float, int])
def age_parts(age):
    return pd.DataFrame({"decade": (age // 10).astype(float), "rest": age % 10})


@udf(str)
def shout(category):
    return category.str.upper()


@udf(float, mode="python")
def log_age(age):
    return math.log(age) if age > 0 else None


def plus_one(value):  # hsfs 3: a plain function of one value
    return value + 1


def test_row_by_row_udfs_and_hsfs3_plain_functions(fs, group) -> None:
    registered = fs.create_transformation_function(plus_one, int, 1)  # hsfs 3's positional output_type
    registered.save()
    fv = _view(
        fs, group, [log_age, fs.get_transformation_function("plus_one", version=1)("age").alias("age_plus")]
    )
    data = transactions()
    x, _ = fv.training_data()
    np.testing.assert_allclose(x["log_age_age"], np.log(data.age))
    assert list(x["age_plus"]) == list(data.age + 1)
    fv.init_serving()
    vector = fv.get_feature_vector({"cc_num": 104}, return_type="dict")
    assert vector["age_plus"] == data.age[4] + 1 and vector["log_age_age"] == pytest.approx(
        math.log(data.age[4])
    )


def test_custom_udfs_with_and_without_statistics(fs, group) -> None:
    fv = _view(fs, group, [amount_vs_mean, age_parts("age"), shout])
    data = transactions()
    train = data[data.datetime < CUTOFF]
    x_train, x_test, _, _ = fv.train_test_split(train_end=CUTOFF, test_start=CUTOFF)
    assert list(x_test.columns) == [
        "category",
        "age",
        "loc_delta",
        "age_parts_age_0",
        "age_parts_age_1",
        "amount_vs_mean_amount",
        "shout_category",
    ]
    np.testing.assert_allclose(x_test["amount_vs_mean_amount"], data.amount[30:] / train.amount.mean())
    assert list(x_test["age_parts_age_0"]) == list(data.age[30:] // 10)
    assert list(x_test["age_parts_age_1"]) == list(data.age[30:] % 10)
    assert list(x_test["shout_category"]) == [c.upper() for c in data.category[30:]]

    # the view read back elsewhere rebuilds the udfs from their stored source
    again = fs.get_feature_view(fv.name, version=1)
    assert [f.function_name for f in again.transformation_functions] == [
        "amount_vs_mean",
        "age_parts",
        "shout",
    ]
    version = again.create_train_test_split(train_end=CUTOFF, test_start=CUTOFF)
    again.init_serving(training_dataset_version=version)
    vector = again.get_feature_vector({"cc_num": 133}, return_type="dict")
    assert vector == {
        "category": data.category[33],
        "age": data.age[33],
        "loc_delta": data.loc_delta[33],
        "age_parts_age_0": data.age[33] // 10,
        "age_parts_age_1": data.age[33] % 10,
        "amount_vs_mean_amount": pytest.approx(data.amount[33] / train.amount.mean()),
        "shout_category": data.category[33].upper(),
    }


def test_transformation_functions_registered_in_the_feature_store(fs, group) -> None:
    names = [f.name for f in fs.get_transformation_functions()]
    assert names[:5] == [
        "label_encoder",
        "min_max_scaler",
        "one_hot_encoder",
        "robust_scaler",
        "standard_scaler",
    ]
    saved = fs.create_transformation_function(amount_vs_mean, version=1)
    saved.save()
    assert saved.version == 1
    with pytest.raises(errors.AlreadyExistsError):
        fs.create_transformation_function(amount_vs_mean, version=1).save()
    listed = {(f.name, f.version) for f in fs.get_transformation_functions()}
    assert ("amount_vs_mean", 1) in listed and ("min_max_scaler", 1) in listed
    got = fs.get_transformation_function("amount_vs_mean", version=1)
    scaler = fs.get_transformation_function(name="min_max_scaler")
    fv = _view(fs, group, [got("loc_delta"), scaler("age")])
    x, _ = fv.training_data()
    data = transactions()
    np.testing.assert_allclose(x["amount_vs_mean_loc_delta"], data.loc_delta / data.loc_delta.mean())
    np.testing.assert_allclose(
        x["min_max_scaler_age"], MinMaxScaler().fit_transform(data[["age"]].astype(float))[:, 0]
    )
    got.delete()
    with pytest.raises(errors.NotFoundError):
        fs.get_transformation_function("amount_vs_mean", version=1)


def test_hsfs3_dict_form_keeps_the_feature_name(fs, group) -> None:
    fv = _view(fs, group, {"amount": min_max_scaler, "category": label_encoder})
    x, _ = fv.training_data()
    data = transactions()
    assert list(x.columns) == ["age", "loc_delta", "amount", "category"]  # outputs after, sorted
    np.testing.assert_allclose(x["amount"], MinMaxScaler().fit_transform(data[["amount"]])[:, 0])
    assert list(x["category"]) == list(LabelEncoder().fit_transform(data.category))


def test_the_module_paths_hsfs_users_import() -> None:
    import larder
    import larder.transformation_function as tf_module

    assert larder.udf is udf
    assert tf_module.TransformationFunction.__name__ == "TransformationFunction"
    assert [f.function_name for f in (label_encoder, one_hot_encoder, robust_scaler)] == [
        "label_encoder",
        "one_hot_encoder",
        "robust_scaler",
    ]
    assert min_max_scaler("amount").alias("scaled").output_column_names == ["scaled"]


def test_bad_transformation_functions_are_refused_clearly(fs, group) -> None:
    with pytest.raises(
        errors.InvalidArgumentError, match=r"transforms \['amt'\], which the query does not select"
    ):
        _view(fs, group, [min_max_scaler("amt")])
    with pytest.raises(errors.InvalidArgumentError, match="takes 1 feature name"):
        min_max_scaler("amount", "age")
    with pytest.raises(errors.InvalidArgumentError, match="not a transformation function"):
        _view(fs, group, [lambda x: x])
    with pytest.raises(
        errors.InvalidArgumentError, match=r"output \['min_max_scaler_amount'\], which another"
    ):
        _view(fs, group, [min_max_scaler("amount"), standard_scaler("age").alias("min_max_scaler_amount")])
    with pytest.raises(
        errors.InvalidArgumentError, match=r"output \['age'\], which another function or a column"
    ):
        _view(fs, group, [min_max_scaler("amount").alias("age")])
    with pytest.raises(errors.InvalidArgumentError, match="not a number"):
        _view(fs, group, [min_max_scaler("category")]).training_data()
    with pytest.raises(errors.InvalidArgumentError, match="return_type"):
        udf(complex)
    with pytest.raises(errors.InvalidArgumentError, match="decorated with @udf"):
        fs.create_transformation_function(lambda x: x)
