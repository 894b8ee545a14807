"""What a client is handed and what its SQL can reach: vended local paths are the datasets asked
for, never the namespace's root, and ``fs.sql`` sees the project's feature groups and nothing else.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from larder import errors

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_local_credentials_name_only_the_datasets_asked_for(cast):
    alice, bob = cast.user("alice"), cast.user("bob")
    a, b = cast.project(alice), cast.project(bob)
    r = alice.api("GET", "/namespaces/default/credentials", params={"dataset": f"{a}_featurestore"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "root" not in body or body["root"] is None
    assert list(body["paths"]) == [f"{a}_featurestore"]
    home = str(cast.server.home)
    assert all(p.startswith(home + "/data/") for p in body["paths"].values())
    # another project's dataset is not vended at all (the usual 404)
    r = alice.api("GET", "/namespaces/default/credentials", params={"dataset": f"{b}_featurestore"})
    assert r.status_code == 404 and b not in str(r.json().get("details", {}).get("paths", "")), r.text


ESCAPES = [
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_parquet('{other_table}/*.parquet')",
    "SELECT * FROM glob('{home}/*')",
    "COPY (SELECT 1) TO '{home}/data/out.csv'",
    "ATTACH '{home}/larder.db' AS catalog",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
]


@pytest.mark.parametrize("sql", ESCAPES)
def test_fs_sql_sees_the_projects_tables_and_nothing_else(cast, sql):
    alice, bob = cast.user("alice"), cast.user("bob")
    a, b = cast.project(alice), cast.project(bob)
    frame = pd.DataFrame({"id": [1, 2], "t": [T0, T0], "v": [1.0, 2.0]})
    with bob.connection(b) as cb:
        bob_fg = cb.get_feature_store().create_feature_group("payroll", primary_key=["id"], event_time="t")
        bob_fg.insert(frame)
        other_table = str(
            Path(cast.server.home, "data", "default", f"{b}_featurestore", "feature_groups", "payroll_1")
        )
    with alice.connection(a) as ca:
        fs = ca.get_feature_store()
        fs.create_feature_group("mine", primary_key=["id"], event_time="t").insert(frame)
        assert fs.sql("SELECT sum(v) AS s FROM mine")["s"].item() == 3.0
        home = str(cast.server.home)
        text = sql.format(secret=f"{home}/admin_api_key", other_table=other_table, home=home)
        with pytest.raises(errors.InvalidArgumentError) as e:
            fs.sql(text)
        assert cast.server.admin_key not in str(e.value)
        assert not Path(home, "data", "out.csv").exists()
