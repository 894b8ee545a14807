"""Leaks between projects: reused ids, stale serving plans, and feature views that outlive the
authorization they were created with. Each scenario was seen leaking rows on an earlier server."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from larder import errors

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def rows(keys: list[int], value: str) -> pd.DataFrame:
    return pd.DataFrame({"id": keys, "t": [T0] * len(keys), "secret": [f"{value}{k}" for k in keys]})


def vectors(user, project: str, view: str, keys: list[int]):
    return user.api(
        "POST",
        f"/projects/{project}/featureviews/{view}/1/vectors",
        json={"entries": [{"id": k} for k in keys], "allow_missing": True},
    )


def online_group(conn, name: str, data: pd.DataFrame):
    fs = conn.get_feature_store()
    fg = fs.create_feature_group(name, primary_key=["id"], event_time="t", online_enabled=True)
    fg.insert(data)
    return fs, fg


def test_a_view_whose_group_was_deleted_never_serves_a_new_group_of_another_project(any_cast):
    cast = any_cast
    alice, bob = cast.user("alice"), cast.user("bob")
    a, b = cast.project(alice), cast.project(bob)
    with alice.connection(a) as ca, bob.connection(b) as cb:
        fs, fg = online_group(ca, "weather", rows([1, 2], "weather"))
        fs.create_feature_view("v", fg.select_all())
        assert vectors(alice, a, "v", [1]).json()["vectors"] == [["weather1"]]
        fg.delete()  # the newest feature group row
        online_group(cb, "payroll", rows([1, 2], "salary"))  # the next feature group created
        r = vectors(alice, a, "v", [1])
        assert "salary" not in r.text
        assert r.status_code == 404 and "weather" in r.json()["message"], r.text


def test_a_new_group_never_reads_the_online_rows_of_a_deleted_project(any_cast):
    cast = any_cast
    alice, bob = cast.user("alice"), cast.user("bob")
    a, b = cast.project(alice), cast.project(bob)
    with alice.connection(a) as ca:
        online_group(ca, "payroll", rows([1, 2], "salary"))
    assert alice.api("DELETE", f"/projects/{a}").status_code == 204
    with bob.connection(b) as cb:
        fs = cb.get_feature_store()
        fg = fs.create_feature_group("fresh", primary_key=["id"], event_time="t", online_enabled=True)
        fg.insert(rows([3], "mine"))
        r = bob.api("POST", f"/projects/{b}/featuregroups/fresh/1/online", json={"keys": [[1], [2], [3]]})
        assert r.status_code == 200, r.text
        assert "salary" not in r.text
        assert [row and row["secret"] for row in r.json()["rows"]] == [None, None, "mine3"]


def test_a_new_view_never_gets_a_deleted_projects_cached_plan(any_cast):
    cast = any_cast
    alice, bob = cast.user("alice"), cast.user("bob")
    a, b = cast.project(alice), cast.project(bob)
    with alice.connection(a) as ca:
        fs, fg = online_group(ca, "payroll", rows([1], "salary"))
        fs.create_feature_view("v", fg.select_all())
        assert vectors(alice, a, "v", [1]).json()["vectors"] == [["salary1"]]
    assert alice.api("DELETE", f"/projects/{a}").status_code == 204
    with bob.connection(b) as cb:
        fs, fg = online_group(
            cb, "clicks", pd.DataFrame({"user": [1], "t": [T0], "n": [7]}).rename(columns={"user": "id"})
        )
        fs.create_feature_view("v", fg.select_all())
        r = vectors(bob, b, "v", [1])
        assert r.status_code == 200, r.text
        assert r.json()["features"] == ["n"] and r.json()["vectors"] == [[7]]


def test_ids_are_never_reused_after_deleting_the_newest_rows(any_cast):
    cast = any_cast
    alice = cast.user("alice")
    a = cast.project(alice)
    with alice.connection(a) as ca:
        fs = ca.get_feature_store()
        g1 = fs.create_feature_group("g", primary_key=["id"])
        first = g1._id
        g1.delete()
        g2 = fs.create_feature_group("g", primary_key=["id"])
        assert g2._id > first


# --- feature views are authorized on every request, as the offline path is -------------------------


def test_serving_applies_the_offline_rule_on_every_request(any_cast):
    cast = any_cast
    carol, alice, bob = cast.user("carol"), cast.user("alice"), cast.user("bob")
    a = cast.project(carol, alice)  # carol owns A, alice is a member
    b = cast.project(alice, bob)  # alice owns B, bob is a member
    with carol.connection(a) as ca:
        online_group(ca, "payroll", rows([1], "salary"))
    with alice.connection(b) as cb:
        payroll = cb.get_feature_store(f"{a}_featurestore").get_feature_group("payroll", 1)
        fs_b = cb.get_feature_store()
        fv = fs_b.create_feature_view("over_a", payroll.select_all())
        assert fv.query.to_dict()["left"]["project"] == a
        assert vectors(alice, b, "over_a", [1]).json()["vectors"] == [["salary1"]]
    # bob, in B only, can read A neither offline ...
    with bob.connection(b) as bb:
        with pytest.raises(errors.PermissionDeniedError, match=f"of project '{a}'"):
            bb.get_feature_store().get_feature_view("over_a", 1)
        # ... nor online, on this request and every one after it
        for _ in range(3):
            r = vectors(bob, b, "over_a", [1])
            assert r.status_code == 403 and "salary" not in r.text, r.text
        # once A shares its feature store with B, both paths serve bob, and stop as soon as it is withdrawn
        assert (
            carol.api("PUT", f"/projects/{a}/featurestore/shares/{b}").status_code == 404
        )  # carol is not in B
        assert cast.admin().api("PUT", f"/projects/{a}/featurestore/shares/{b}").status_code == 200
        assert vectors(bob, b, "over_a", [1]).json()["vectors"] == [["salary1"]]
        assert len(bb.get_feature_store().get_feature_view("over_a", 1).get_batch_data()) == 1
        assert cast.admin().api("DELETE", f"/projects/{a}/featurestore/shares/{b}").status_code == 200
        assert vectors(bob, b, "over_a", [1]).status_code == 403
    # and once alice leaves A, she is refused as well (the cached answer is dropped at once)
    assert vectors(alice, b, "over_a", [1]).status_code == 200
    assert carol.api("DELETE", f"/projects/{a}/members/{alice.name}").status_code == 200
    r = vectors(alice, b, "over_a", [1])
    assert r.status_code == 403 and "salary" not in r.text, r.text


def test_a_view_over_a_group_of_another_project_needs_read_access_and_the_right_id(any_cast):
    cast = any_cast
    carol, alice = cast.user("carol"), cast.user("alice")
    a, b = cast.project(carol), cast.project(alice)
    with carol.connection(a) as ca:
        _, payroll = online_group(ca, "payroll", rows([1], "salary"))
        query = payroll.select_all().to_dict()
    with alice.connection(b) as cb:
        fs_b = cb.get_feature_store()
        mine = fs_b.create_feature_group("mine", primary_key=["id"], event_time="t")
        mine.insert(rows([1], "x"))
    # alice cannot see A: naming its group (by project, or by id alone) is refused as not found
    body = {"name": "steal", "query": query}
    r = alice.api("POST", f"/projects/{b}/featureviews", json=body)
    assert r.status_code == 404 and "salary" not in r.text, r.text
    by_id = {**query, "left": {**query["left"], "project": None, "name": "mine", "version": 1}}
    r = alice.api("POST", f"/projects/{b}/featureviews", json={"name": "steal", "query": by_id})
    assert r.status_code == 409 and "re-created" in r.json()["message"], r.text
    unknown = {
        **query,
        "left": {
            **query["left"],
            "project": None,
            "id": mine._id,
            "name": "mine",
            "version": 1,
            "features": ["nope"],
        },
    }
    r = alice.api("POST", f"/projects/{b}/featureviews", json={"name": "bad", "query": unknown})
    assert r.status_code == 400 and "nope" in r.json()["message"], r.text


def test_ids_are_never_reused_on_sqlite_and_postgresql(any_platform, tmp_path):
    """A group (with a view over it), the newest deleted and then created again, on each database."""
    from .conftest import Cast

    cast = Cast(any_platform, tmp_path)
    alice = cast.user("alice")
    a = cast.project(alice)
    with alice.connection(a) as conn:
        fs = conn.get_feature_store()
        seen: set[int] = set()
        for _ in range(3):
            g = fs.create_feature_group("g", primary_key=["id"], event_time="t")
            g.insert(rows([1], "x"))
            v = fs.create_feature_view("v", g.select_all())
            assert g._id not in seen and all(g._id > s for s in seen)
            seen.add(g._id)
            v.delete()
            g.delete()
