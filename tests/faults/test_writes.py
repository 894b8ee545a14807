"""Writes that lose nothing: concurrent writers all succeed, and a writer or server SIGKILLed at
any point of an online insert leaves offline == online == catalog once the platform converges."""

from __future__ import annotations

import signal
import time
from datetime import datetime, timezone

import pandas as pd
import pytest

from larder import errors

from .conftest import LEASE_SECONDS, results, writer

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def make_group(user, project: str, name: str = "events", online: bool = True):
    conn = user.connection(project)
    fg = conn.get_feature_store().create_feature_group(
        name, primary_key=["id"], event_time="t", online_enabled=online
    )
    fg.insert(pd.DataFrame({"id": [-1], "t": [T0], "v": [-1.0]}))  # version 0: the schema and the table
    return conn, fg


def consistent(conn, fg, expect_rows: int, timeout: float = 30.0) -> dict:
    """Wait until the catalog lists every Delta version and the online store holds every key;
    returns what was seen. Fails with the figures when they do not converge in ``timeout``."""
    from deltalake import DeltaTable

    uri, opts = fg._table()
    deadline = time.monotonic() + timeout
    while True:
        dt = DeltaTable(uri, storage_options=opts)
        offline = dt.to_pyarrow_table().num_rows
        catalog = sorted(fg.commit_details())
        keys = [[int(k)] for k in dt.to_pyarrow_table(columns=["id"])["id"].to_pylist()]
        online = 0
        for i in range(0, len(keys), 5000):
            got = fg._fs._rest.post(f"{fg._path}/online", {"keys": keys[i : i + 5000]})
            online += sum(r is not None for r in got["rows"])
        seen = {"offline": offline, "online": online, "catalog": catalog, "delta_version": dt.version()}
        if offline == expect_rows and online == offline and catalog == list(range(dt.version() + 1)):
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"did not converge in {timeout} s: {seen}, expected {expect_rows} rows")
        time.sleep(0.3)


def test_concurrent_writers_all_succeed_and_every_row_counts(any_cast):
    cast = any_cast
    alice = cast.user("alice")
    project = cast.project(alice)
    conn, fg = make_group(alice, project)
    procs = [writer(alice, project, "events", rows=200, start=10_000 * w, batches=5) for w in range(4)]
    outcomes = [r for p in procs for r in results(p)]
    assert all("ok" in r for r in outcomes), outcomes
    assert len({r["ok"] for r in outcomes}) == 20  # 20 distinct Delta versions, one per write
    seen = consistent(conn, fg, expect_rows=1 + 4 * 5 * 200)
    assert len(seen["catalog"]) == 21
    conn.close()


def test_a_writer_killed_after_its_delta_commit_is_registered_from_the_log(any_cast):
    cast = any_cast
    alice = cast.user("alice")
    project = cast.project(alice)
    conn, fg = make_group(alice, project)
    p = writer(alice, project, "events", rows=5000, die="after_delta_commit")
    p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL
    # the lease it held expires; the reconciler registers version 1 and materializes it online
    seen = consistent(conn, fg, expect_rows=5001, timeout=LEASE_SECONDS + 20)
    commits = fg._fs._rest.get(f"{fg._path}/commits")
    assert [c["recovered"] for c in commits] == [False, True]
    assert commits[1]["rows_inserted"] == 5000 and seen["delta_version"] == 1
    # the next writer proceeds as usual
    fg.insert(pd.DataFrame({"id": [99_999], "t": [T0], "v": [1.0]}))
    consistent(conn, fg, expect_rows=5002)
    conn.close()


def test_a_writer_killed_holding_the_lease_before_writing_blocks_others_only_until_it_expires(cast):
    alice = cast.user("alice")
    project = cast.project(alice)
    conn, fg = make_group(alice, project)
    p = writer(alice, project, "events", rows=10, die="before_delta_commit")
    p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL
    started = time.monotonic()
    fg.insert(pd.DataFrame({"id": [7], "t": [T0], "v": [7.0]}))
    assert time.monotonic() - started < LEASE_SECONDS + 5
    consistent(conn, fg, expect_rows=2)
    conn.close()


def test_the_server_killed_while_recording_an_online_commit_converges_after_restart(cast):
    server = cast.server
    alice = cast.user("alice")
    project = cast.project(alice)
    conn, fg = make_group(alice, project)
    uri, _ = fg._table()
    log_dir = uri.removeprefix("file://") + "/_delta_log"
    from pathlib import Path

    p = writer(alice, project, "events", rows=300_000)
    deadline = time.monotonic() + 120
    while not Path(log_dir, f"{1:020d}.json").exists():  # the Delta commit is made: the POST follows
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.005)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    server._log.close()
    server.proc = None
    outcome = results(p)[0]
    try:
        if "error" in outcome:  # the usual case: the server died before answering
            assert outcome["error"] == "CommitNotRecordedError", outcome
            assert outcome["details"] == {"delta_version": 1, "committed": True}
            assert "Nothing is lost" in outcome["message"]
    finally:
        server.start()
    conn.close()
    conn = alice.connection(project)
    fg = conn.get_feature_store().get_feature_group("events", 1)
    consistent(conn, fg, expect_rows=300_001, timeout=60)
    conn.close()


def test_recording_a_commit_is_idempotent_and_checked_against_the_log(cast):
    alice = cast.user("alice")
    project = cast.project(alice)
    conn, fg = make_group(alice, project, online=False)
    base = f"/projects/{project}/featuregroups/events/1/commits"
    again = alice.api("POST", base, json={"delta_version": 0})
    assert again.status_code == 201 and again.json()["delta_version"] == 0
    for bad, status in [(7, 400), (2**31 - 1, 400), (2**31, 400), (2**70, 400), (-1, 400)]:
        r = alice.api("POST", base, json={"delta_version": bad})
        assert r.status_code == status, (bad, r.text)
    r = alice.api("POST", base, json={"delta_version": 0, "write_id": "00000000deadbeef"})
    assert r.status_code == 409 and "another writer" in r.json()["message"]
    with pytest.raises(errors.ConflictError):
        fg._fs._rest.post(f"{fg._path}/lease", {})  # noqa: B018 - the first lease works ...
        fg._fs._rest.post(f"{fg._path}/lease", {})  # ... the second waits
    conn.close()
