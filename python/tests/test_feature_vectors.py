"""The serving service's vector assembly (``feature_vectors``) against a plain oracle: vectors
built by name with ``setdefault`` (passed features first, then each group in plan order), then laid
out as the plan's features. Real SQLite online store; keys of one and two columns, strings that
JSON must escape, a name two groups give, a group that is not online, missing rows."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from larder.errors import InvalidArgumentError, NotFoundError
from larder.server.online.sqlite import SqliteOnlineStore
from larder.server.services.featurestore import feature_vectors, key_of


def _plan() -> dict[str, Any]:
    groups = [
        {  # two-column key, read from entry columns of other names
            "name": "trips",
            "table": "fg1",
            "online": True,
            "entry_keys": ["city", "n"],
            "primary_key": ["place", "num"],
            "features": [("fare", "fare"), ("x", "x"), ("dist", "dist")],
        },
        {  # gives "x" too: the first group with a row wins
            "name": "weather",
            "table": "fg2",
            "online": True,
            "entry_keys": ["city"],
            "primary_key": ["city"],
            "features": [("temp", "w_temp"), ("x", "x")],
        },
        {  # its "x" comes from the groups before it, when they have a row
            "name": "offline_only",
            "table": "fg3",
            "online": False,
            "entry_keys": ["city"],
            "primary_key": ["city"],
            "features": [("pop", "pop"), ("x", "x")],
        },
    ]
    order = [out for g in groups for _, out in g["features"]]
    return {"groups": groups, "features": order}


def _oracle(plan, store, entries, passed, allow_missing):
    """The assembly as it was written first: a dict per vector, ``setdefault`` per feature."""
    vectors = [dict(passed[i]) if passed else {} for i in range(len(entries))]
    missing = []
    for g in plan["groups"]:
        if not g["online"]:
            for i in range(len(entries)):
                absent = [out for _, out in g["features"] if out not in vectors[i]]
                if absent and not allow_missing:
                    raise InvalidArgumentError(f"Feature group '{g['name']}' is not online {absent}")
            continue
        keys = [[e[k] for k in g["entry_keys"]] for e in entries]
        payloads = store.get(g["table"], [key_of(g["primary_key"], k) for k in keys])
        for i, p in enumerate(payloads):
            if p is None:
                missing.append(
                    {"entry": i, "feature_group": g["name"], "key": dict(zip(g["entry_keys"], keys[i]))}
                )
                continue
            row = orjson.loads(p)
            for src, out in g["features"]:
                vectors[i].setdefault(out, row.get(src))
    if missing and not allow_missing:
        raise NotFoundError(f"No online row in feature group '{missing[0]['feature_group']}'")
    order = plan["features"]
    return {"features": order, "vectors": [[v.get(f) for f in order] for v in vectors], "missing": missing}


def _outcome(f, *args):
    """The result, or the error's type and the part of its message both sides word alike."""
    try:
        return f(*args)
    except (InvalidArgumentError, NotFoundError) as e:
        return type(e).__name__, e.message.split(";")[0].split(" for ")[0].split(" [")[0]


CITIES = ["JFK", 'a "quoted" one', "Zürich", "back\\slash", "tab\there"]


@pytest.fixture
def store(tmp_path):
    s = SqliteOnlineStore(str(tmp_path / "online.db"))
    rng = random.Random(5)
    trips = []
    for city in CITIES[:4]:
        for n in range(0, 40, 2):
            row = {"place": city, "num": n, "fare": rng.random(), "x": rng.randrange(9), "dist": None}
            trips.append((key_of(["place", "num"], [city, n]), 1, orjson.dumps(row)))
    s.upsert("fg1", trips)
    weather = [
        (key_of(["city"], [c]), 1, orjson.dumps({"city": c, "temp": i + 0.5, "x": 100 + i}))
        for i, c in enumerate(CITIES[1:])
    ]
    s.upsert("fg2", weather)
    yield s
    s.close()


def test_vectors_equal_the_oracle(store):
    plan = _plan()
    for city in CITIES:  # the key is the compact JSON object of the key values, in key order
        assert key_of(["place", "num"], [city, 7]) == orjson.dumps({"place": city, "num": 7}).decode()
    rng = random.Random(11)
    outcomes = set()
    for _ in range(200):
        entries = [{"city": rng.choice(CITIES), "n": rng.randrange(42)} for _ in range(rng.randrange(1, 8))]
        passed = None
        if rng.random() < 0.5:
            passed = [{"pop": i, **({"x": "passed"} if i % 3 == 0 else {})} for i in range(len(entries))]
        allow_missing = rng.random() < 0.5
        got = _outcome(feature_vectors, plan, store, entries, passed, allow_missing)
        assert got == _outcome(_oracle, plan, store, entries, passed, allow_missing)
        outcomes.add(got[0] if isinstance(got, tuple) else "vectors")
    assert outcomes == {"vectors", "InvalidArgumentError", "NotFoundError"}  # each way was taken
    # the mix above has rows in both groups, in one only (the other fills "x"), and in neither
    x = plan["features"].index("x")
    both = feature_vectors(plan, store, [{"city": CITIES[1], "n": 2}], None, True)["vectors"][0]
    second = feature_vectors(plan, store, [{"city": CITIES[1], "n": 3}], None, True)["vectors"][0]
    neither = feature_vectors(plan, store, [{"city": CITIES[0], "n": 3}], None, True)["vectors"][0]
    assert both[x] < 100 and second[x] == 100 and neither[x] is None


def test_repeated_output_names_are_laid_out_as_the_plan(store):
    plan = _plan()
    plan["features"] = plan["features"] + ["fare"]  # a name twice in the order
    entries = [{"city": CITIES[1], "n": 4}, {"city": "nowhere", "n": 1}]
    got = feature_vectors(plan, store, entries, None, allow_missing=True)
    assert got == _oracle(plan, store, entries, None, True)
    assert got["vectors"][0][0] == got["vectors"][0][-1] is not None


def test_errors_name_the_entry_and_the_key(store):
    plan = _plan()
    with pytest.raises(InvalidArgumentError, match=r"Entry 1 lacks the key column\(s\) \['n'\]"):
        feature_vectors(plan, store, [{"city": "JFK", "n": 0}, {"city": "JFK"}], [{"pop": 1}] * 2, True)
    with pytest.raises(InvalidArgumentError, match="'offline_only' is not online"):
        feature_vectors(plan, store, [{"city": "JFK", "n": 0}], None, False)
    with pytest.raises(NotFoundError, match=r"'weather' for \{'city': 'JFK'\} \(entry 0\)"):
        feature_vectors(plan, store, [{"city": "JFK", "n": 0}], [{"pop": 1}], False)
    with pytest.raises(InvalidArgumentError, match="passed_features has 1 dicts for 2 entries"):
        feature_vectors(plan, store, [{"city": "JFK", "n": 0}] * 2, [{"pop": 1}], True)
