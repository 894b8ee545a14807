"""The cross-project matrix: every route of the REST API that names a project or a dataset, called
by a user who may see neither, with the other project's real names, versions and ids and a valid
body. Each answers 403 or 404 (never 2xx, never a validation error that would have let the request
through), reveals none of the project's data, and changes nothing. The route table must cover every
such route of the OpenAPI document, so that a new route cannot escape the matrix."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pandas as pd
import pytest

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
SECRET = "salary-9f3a"  # a value only project A's rows hold


@pytest.fixture(scope="module")
def victim(sec_server, tmp_path_factory):
    from .conftest import Cast

    cast = Cast(sec_server, tmp_path_factory.mktemp("matrix"))
    alice = cast.user("alice", role="privileged")
    a = cast.project(alice, prefix="victim")
    weights = cast.tmp / "w.bin"
    weights.write_bytes(b"weights")
    with alice.connection(a) as conn:
        fs = conn.get_feature_store()
        fg = fs.create_feature_group("payroll", primary_key=["id"], event_time="t", online_enabled=True)
        fg.insert(pd.DataFrame({"id": [1, 2], "t": [T0, T0], "pay": [SECRET, SECRET]}))
        fv = fs.create_feature_view("pay_view", fg.select_all())
        fv.create_training_data()
        model = conn.get_model_registry().python.create_model("paymodel").save(str(weights))
        model.set_tag("owner", SECRET)
        ds = conn.get_namespace("default").create_dataset(f"{a}-raw")
        (ds / "secret.txt").write_text(SECRET)
        ids = {"fg": fg._id}
    mallory = cast.user("mallory")
    other = cast.project(mallory, prefix="other")  # a project of her own, which A shares nothing with
    return {"cast": cast, "alice": alice, "mallory": mallory, "a": a, "other": other, "ds": f"{a}-raw", **ids}


def routes(v: dict) -> dict[tuple[str, str], dict]:
    """Every route naming a project or a dataset, with A's values and a valid body."""
    fg_query = {
        "left": {"id": v["fg"], "project": v["a"], "name": "payroll", "version": 1, "features": ["pay"]}
    }
    upload = {"upload_token": "x" * 32}
    return {
        ("GET", "/projects/{project}"): {},
        ("DELETE", "/projects/{project}"): {},
        ("GET", "/projects/{project}/credentials"): {},
        ("POST", "/projects/{project}/featuregroups"): {"json": {"name": "evil", "primary_key": ["id"]}},
        ("GET", "/projects/{project}/featuregroups"): {},
        ("GET", "/projects/{project}/featuregroups/{name}"): {},
        ("DELETE", "/projects/{project}/featuregroups/{name}/{version}"): {},
        ("PATCH", "/projects/{project}/featuregroups/{name}/{version}"): {"json": {"description": "pwned"}},
        ("POST", "/projects/{project}/featuregroups/{name}/{version}/commits"): {
            "json": {"delta_version": 0}
        },
        ("GET", "/projects/{project}/featuregroups/{name}/{version}/commits"): {},
        ("POST", "/projects/{project}/featuregroups/{name}/{version}/lease"): {"json": {}},
        ("PUT", "/projects/{project}/featuregroups/{name}/{version}/lease/{token}"): {"json": {}},
        ("DELETE", "/projects/{project}/featuregroups/{name}/{version}/lease/{token}"): {},
        ("POST", "/projects/{project}/featuregroups/{name}/{version}/online"): {"json": {"keys": [[1]]}},
        ("PUT", "/projects/{project}/featuregroups/{name}/{version}/schema"): {
            "json": {
                "features": [{"name": "id", "type": "int64"}, {"name": "t", "type": "timestamp[us, tz=UTC]"}]
            }
        },
        ("GET", "/projects/{project}/featurestore"): {},
        ("PUT", "/projects/{project}/featurestore/shares/{other}"): {},
        ("DELETE", "/projects/{project}/featurestore/shares/{other}"): {},
        ("POST", "/projects/{project}/featureviews"): {"json": {"name": "evil", "query": fg_query}},
        ("GET", "/projects/{project}/featureviews"): {},
        ("GET", "/projects/{project}/featureviews/{name}"): {},
        ("DELETE", "/projects/{project}/featureviews/{name}/{version}"): {},
        ("POST", "/projects/{project}/featureviews/{name}/{version}/trainingdatasets"): {"json": {}},
        ("GET", "/projects/{project}/featureviews/{name}/{version}/trainingdatasets"): {},
        ("PUT", "/projects/{project}/featureviews/{name}/{version}/trainingdatasets/{td_version}"): {
            "json": {}
        },
        ("GET", "/projects/{project}/featureviews/{name}/{version}/trainingdatasets/{td_version}"): {},
        ("POST", "/projects/{project}/featureviews/{name}/{version}/vectors"): {
            "json": {"entries": [{"id": 1}]}
        },
        ("POST", "/projects/{project}/transformationfunctions"): {
            "json": {
                "name": "evil",
                "definition": {"name": "evil", "features": ["x"], "source": "def evil(x): ..."},
            }
        },
        ("GET", "/projects/{project}/transformationfunctions"): {},
        ("GET", "/projects/{project}/transformationfunctions/{name}"): {},
        ("DELETE", "/projects/{project}/transformationfunctions/{name}/{version}"): {},
        ("PUT", "/projects/{project}/members/{username}"): {"json": {"role": "data_owner"}},
        ("DELETE", "/projects/{project}/members/{username}"): {},
        ("GET", "/projects/{project}/models"): {},
        ("POST", "/projects/{project}/models/_cleanup"): {},
        ("GET", "/projects/{project}/models/_registry"): {},
        ("PUT", "/projects/{project}/models/_shares/{other}"): {},
        ("DELETE", "/projects/{project}/models/_shares/{other}"): {},
        ("GET", "/projects/{project}/models/{name}/best"): {"params": {"metric": "auc"}},
        ("GET", "/projects/{project}/models/{name}/versions"): {},
        ("POST", "/projects/{project}/models/{name}/versions"): {"json": {}},
        ("GET", "/projects/{project}/models/{name}/versions/latest"): {},
        ("GET", "/projects/{project}/models/{name}/versions/{version}"): {},
        ("DELETE", "/projects/{project}/models/{name}/versions/{version}"): {},
        ("POST", "/projects/{project}/models/{name}/versions/{version}/files"): {
            "json": {**upload, "files": [{"path": "w.bin", "size": 1, "checksum": "0" * 64}]}
        },
        ("GET", "/projects/{project}/models/{name}/versions/{version}/files"): {},
        ("POST", "/projects/{project}/models/{name}/versions/{version}/finalize"): {
            "json": {**upload, "file_count": 1, "total_size": 1}
        },
        ("PUT", "/projects/{project}/models/{name}/versions/{version}/heartbeat"): {"json": upload},
        ("GET", "/projects/{project}/models/{name}/versions/{version}/tags"): {},
        ("GET", "/projects/{project}/models/{name}/versions/{version}/tags/{tag}"): {},
        ("PUT", "/projects/{project}/models/{name}/versions/{version}/tags/{tag}"): {"json": {"value": 1}},
        ("DELETE", "/projects/{project}/models/{name}/versions/{version}/tags/{tag}"): {},
        ("GET", "/namespaces/{namespace}/datasets/{dataset}"): {},
        ("DELETE", "/namespaces/{namespace}/datasets/{dataset}"): {},
        ("PUT", "/namespaces/{namespace}/datasets/{dataset}/objects"): {"json": {"key": "x", "size": 1}},
        ("GET", "/namespaces/{namespace}/datasets/{dataset}/objects"): {"params": {"key": "secret.txt"}},
        ("DELETE", "/namespaces/{namespace}/datasets/{dataset}/objects"): {
            "params": {"key": "", "prefix": "true"}
        },
        ("PUT", "/namespaces/{namespace}/datasets/{dataset}/permissions"): {
            "json": {"user": v["mallory"].name, "access": "rw"}
        },
        ("PUT", "/namespaces/{namespace}/datasets/{dataset}/sync"): {"json": {"sync_type": "simplex"}},
        ("DELETE", "/namespaces/{namespace}/datasets/{dataset}/sync"): {},
        ("GET", "/namespaces/{namespace}/datasets/{dataset}/sync"): {},
        ("POST", "/namespaces/{namespace}/datasets/{dataset}/sync/reconcile"): {"json": {"checksum": True}},
        ("POST", "/namespaces/{namespace}/datasets/{dataset}/sync/accept"): {
            "json": {
                "origin": "https://evil.example:8181",
                "origin_namespace": "default",
                "sync_type": "simplex",
            }
        },
        ("POST", "/namespaces/{namespace}/datasets/{dataset}/sync/release"): {
            "json": {"origin": "https://evil.example:8181"}
        },
        ("POST", "/namespaces/{namespace}/datasets/{dataset}/sync/apply"): {
            "json": {
                "op": "delete",
                "key": "secret.txt",
                "changed_at": "2099-01-01T00:00:00+00:00",
                "origin": "https://evil.example:8181",
                "sender": "https://evil.example:8181",
                "sender_namespace": "default",
            }
        },
        ("GET", "/namespaces/{namespace}/credentials"): {
            "params": {"dataset": [v["ds"], f"{v['a']}_featurestore"]}
        },
    }


def fill(template: str, method: str, v: dict, dataset: str) -> str:
    names = {"featuregroups": "payroll", "featureviews": "pay_view", "models": "paymodel"}
    kind = next((k for k in names if f"/{k}/" in template), None)
    values = {
        "project": v["a"],
        "other": v["other"],
        "username": v["alice"].name,
        "name": names.get(kind or "", "x"),
        "version": "1",
        "td_version": "1",
        "tag": "owner",
        "token": "0123456789abcdef",
        "namespace": "default",
        "dataset": dataset,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def test_the_table_covers_every_route_that_names_a_project_or_a_dataset(victim):
    spec = victim["alice"].api("GET", "/openapi.json").json()
    named = {
        (m.upper(), p.removeprefix("/api/v1"))
        for p, ops in spec["paths"].items()
        for m in ops
        if "{project}" in p or "{dataset}" in p or p.endswith("/credentials") and "{namespace}" in p
    }
    table = set(routes(victim))
    assert named - table == set(), f"routes missing from the matrix: {sorted(named - table)}"


@pytest.mark.parametrize("dataset", ["raw", "featurestore", "models"])
def test_no_route_lets_another_user_in(victim, dataset):
    v = victim
    ds = {"raw": v["ds"], "featurestore": f"{v['a']}_featurestore", "models": f"{v['a']}_models"}[dataset]
    mallory = v["mallory"]
    leaks, wrong = [], []
    for key, kwargs in routes(v).items():
        if dataset != "raw" and "{dataset}" not in key[1]:
            continue
        method, template = key
        path = fill(template, method, v, ds)
        r = mallory.api(method, path, **kwargs)
        if r.status_code not in (403, 404):
            wrong.append((method, path, r.status_code, r.text[:200]))
        if SECRET in r.text or v["fg"] and f'"id":{v["fg"]}' in r.text:
            leaks.append((method, path))
    assert not wrong, wrong
    assert not leaks, leaks


def test_lists_and_search_show_another_user_nothing(victim):
    v, mallory = victim, victim["mallory"]
    assert v["a"] not in mallory.api("GET", "/projects").text
    listed = mallory.api("GET", "/namespaces/default/datasets").json()
    assert not [d for d in listed if d["name"].startswith(v["a"])]
    assert (
        mallory.api("POST", "/search", json={"metadata": {}}).json() == []
        or SECRET not in mallory.api("POST", "/search", json={"metadata": {}}).text
    )
    assert mallory.api("GET", "/apikeys", params={"user": v["alice"].name}).status_code == 403


def test_nothing_changed_for_the_owner(victim):
    v, alice = victim, victim["alice"]
    a = v["a"]
    assert alice.api("GET", f"/projects/{a}").json()["members"] == [
        {"username": alice.name, "role": "data_owner"}
    ]
    rows = alice.api("POST", f"/projects/{a}/featuregroups/payroll/1/online", json={"keys": [[1]]}).json()[
        "rows"
    ]
    assert rows[0]["pay"] == SECRET
    assert alice.api("GET", f"/projects/{a}/featureviews/pay_view/1/trainingdatasets").status_code == 200
    tags = alice.api("GET", f"/projects/{a}/models/paymodel/versions/1/tags").json()
    assert tags == {"owner": SECRET}
    assert alice.api("GET", f"/projects/{a}/featuregroups").json()[0]["name"] == "payroll"
    assert len(alice.api("GET", f"/projects/{a}/featuregroups").json()) == 1
    perms = alice.api("GET", f"/namespaces/default/datasets/{v['ds']}").json()["permissions"]
    assert v["mallory"].name not in str(perms)


def test_the_client_refuses_another_users_project(victim):
    from larder import errors

    v = victim
    with v["mallory"].connection(v["other"]) as conn:
        with pytest.raises(errors.NotFoundError):
            conn.get_feature_store(f"{v['a']}_featurestore")
        with pytest.raises(errors.NotFoundError):
            conn.get_model_registry(v["a"])
        with pytest.raises(errors.NotFoundError):
            conn.get_namespace("default").get_dataset(v["ds"])
        with pytest.raises(errors.LarderError):
            conn.get_feature_store().get_feature_group("payroll", 1)
