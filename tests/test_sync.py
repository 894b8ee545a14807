"""Linked servers, part 2 (issue 21): namespace sync targets and dataset sync between real servers.

Three `larder server` processes on loopback, started once for the module, with a moto_server:

- **A** ("on-prem"): its own auth service, a local directory store, the sync worker in-process;
- **B** ("cloud"): linked to A's auth service (``larder server link``), its namespaces on S3 (moto);
- **W**: linked to A too, a local store, and ``sync_worker = false``: its worker runs as a
  separate ``larder sync worker --home`` process that the fault tests start, SIGKILL and restart.

A's and W's namespaces sync with B's of the same name: local store <-> S3, both directions. Each
server keeps the other's admin key as its sync credential. Users are created on A; on B they
appear as federated users the first time their token is used there.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_fixtures import moto_server  # noqa: F401

from conftest import LARDER, LarderServer, run_cli
from larder.client.rest import RestClient
from larder.errors import ConflictError, InvalidArgumentError, NotFoundError, PermissionDeniedError
from larder.storage.namespace import Dataset, Storage

ROLE_ARN = "arn:aws:iam::123456789012:role/larder-sync"
FAST = (
    "sync_retry_max_seconds = 1\n"  # a target back after an outage is retried within about a second
    "sync_reconcile_interval_seconds = 3600\n"  # reconciliations here are the ones the tests ask for
    "sync_poll_seconds = 0.2\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Sync:
    a: LarderServer
    b: LarderServer
    w: LarderServer
    moto: str
    tmp: Path
    keys: dict[str, str] = field(default_factory=dict)
    worker: subprocess.Popen[bytes] | None = None

    def storage(self, server: LarderServer, key: str | None = None) -> Storage:
        from larder.client.auth import authenticate, discover

        bundle = self.tmp / "bundle.pem"
        client = RestClient(server.url, None, verify=str(bundle))
        authenticate(client, discover(client), key or server.admin_key, verify=str(bundle))
        return Storage(client)

    def admin(self, server: LarderServer) -> Storage:
        return self.storage(server, server.admin_key)

    def s3(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.moto,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = open(self.w.home / "worker.log", "ab")  # noqa: SIM115
        self.worker = subprocess.Popen(
            [LARDER, "sync", "worker", "--home", str(self.w.home)], stdout=log, stderr=subprocess.STDOUT
        )
        return self.worker

    def kill_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait(10)
        self.worker = None


def _server(tmp: Path, name: str, extra: str = "", link_to: LarderServer | None = None) -> LarderServer:
    server = LarderServer(tmp / name).init()
    with open(server.home / "server.toml", "a") as f:
        f.write(FAST + extra)
    if link_to is not None:
        run_cli(
            "server",
            "link",
            "--home",
            str(server.home),
            "--auth-service",
            link_to.url,
            "--trust-store",
            link_to.ca,
        )
    server.extra_args = ["--port", str(_free_port())]  # the same URL after a restart
    return server.start()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> Iterator[Sync]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("sync")
    a = _server(tmp, "a")
    b = _server(tmp, "b", link_to=a)
    w = _server(tmp, "w", "sync_worker = false\n", link_to=a)
    env = Sync(a, b, w, moto_server, tmp)
    (tmp / "bundle.pem").write_text("".join(Path(s.ca).read_text() for s in (a, b, w)))
    try:
        r = b.api(
            "POST",
            "/objectstores",
            b.admin_key,
            json={
                "name": "moto",
                "type": "s3",
                "endpoint_url": moto_server,
                "region": "us-east-1",
                "access_key_id": "testing",
                "secret_access_key": "testing",
                "role_arn": ROLE_ARN,
            },
        )
        assert r.status_code == 201, r.text
        for server, store in ((a, "local"), (w, "local"), (b, "moto")):
            admin = env.admin(server)
            for ns in ("shared", "simple", "wdup", "wbulk"):
                admin.create_namespace(ns, f"{ns} on {store}", store, f"{ns}-{uuid.uuid4().hex[:8]}")
        # users live on A (the auth service): alice may create datasets; bob may not administer
        for user, role in (("alice", "privileged"), ("bob", "user")):
            a.create_user(user, role)
            env.keys[user], _ = a.create_key(user, "project,dataset", tmp)
        # duplex between A and B ("shared"), simplex A -> B ("simple"); W <-> B ("wdup"), W -> B ("wbulk")
        an, bn, wn = env.admin(a), env.admin(b), env.admin(w)
        an.get_namespace("shared").enable_sync_target(
            b.url + "/api/v1", "duplex", "shared", b.admin_key, b.ca
        )
        an.get_namespace("simple").enable_sync_target(b.url + "/api/v1", "simplex", "simple")
        bn.get_namespace("shared").enable_sync_target(
            a.url + "/api/v1", "duplex", "shared", a.admin_key, a.ca
        )
        bn.get_namespace("wdup").enable_sync_target(w.url, "duplex", "wdup", w.admin_key, w.ca)
        wn.get_namespace("wdup").enable_sync_target(b.url, "duplex", "wdup", b.admin_key, b.ca)
        wn.get_namespace("wbulk").enable_sync_target(b.url, "simplex", "wbulk")
        yield env
    finally:
        env.kill_worker()
        for s in (w, b, a):
            s.stop()


def new_dataset(env: Sync, ns: str, server: LarderServer | None = None, user: str = "alice") -> Dataset:
    server = server or env.a
    return env.storage(server, env.keys[user]).get_namespace(ns).create_dataset(f"ds-{uuid.uuid4().hex[:8]}")


def on(env: Sync, server: LarderServer, ds: Dataset) -> Dataset:
    return env.admin(server).get_namespace(ds.namespace.name).get_dataset(ds.name)


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def listing(ds: Dataset) -> dict[str, str]:
    """{key: sha256} of every object in the dataset, read through Larder."""
    return {str(p.key): sha(p.read_bytes()) for p in ds.glob("**/*") if p.is_file()}


# --- configuration and its errors -------------------------------------------------------------------


def test_sync_configuration_is_listed_and_only_admins_change_it(env: Sync) -> None:
    a = env.admin(env.a)
    config = a.get_namespace("shared").get_sync_configuration()
    assert config == [
        {"target_core_service": env.b.url + "/api/v1", "target_namespace": "shared", "sync_type": "duplex"}
    ]
    alice = env.storage(env.a, env.keys["alice"]).get_namespace("shared")
    assert alice.get_sync_configuration() == config  # everyone sees it
    with pytest.raises(PermissionDeniedError) as e:
        alice.enable_sync_target(env.b.url, "simplex", "simple")
    assert "admin" in e.value.message and e.value.details["required_role"] == "admin"
    with pytest.raises(PermissionDeniedError):
        alice.disable_sync_target(env.b.url, "shared")
    ns = a.get_namespace("shared")
    with pytest.raises(InvalidArgumentError, match="'simplex' or 'duplex'"):
        ns.enable_sync_target(env.b.url, "both", "shared")
    with pytest.raises(InvalidArgumentError, match="cannot be its own sync target"):
        ns.enable_sync_target(env.a.url + "/api/v1/", "simplex", "shared")
    with pytest.raises(InvalidArgumentError, match="no credential for https://127.0.0.1:1"):
        ns.enable_sync_target("https://127.0.0.1:1/api/v1", "simplex", "shared")
    with pytest.raises(NotFoundError, match="has no namespace .no-such-namespace."):  # checked there
        ns.enable_sync_target(env.b.url, "simplex", "no-such-namespace")
    # a second target (this same server, another namespace) is accepted with a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        targets = ns.enable_sync_target(
            env.a.url, "simplex", "simple", api_key=env.a.admin_key, trust_store=env.a.ca
        )
    assert len(targets) == 2 and any("only one target per namespace" in str(w.message) for w in caught)
    assert ns.disable_sync_target(env.a.url + "/api/v1", "simple") == config
    with pytest.raises(NotFoundError):
        ns.disable_sync_target(env.a.url, "simple")
    # the key never comes back, in any answer or log
    assert env.b.admin_key not in json.dumps(config)
    for server in (env.a, env.b):
        assert env.b.admin_key not in server.log() and env.a.admin_key not in server.log()


def test_enabling_sync_refuses_what_cannot_work(env: Sync) -> None:
    alice = env.storage(env.a, env.keys["alice"])
    lonely = alice.get_namespace("default").create_dataset(f"ds-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ConflictError, match="has no sync target"):
        lonely.enable_sync("simplex")
    ds = new_dataset(env, "simple")
    with pytest.raises(ConflictError, match="simplex.*can only sync simplex"):
        ds.enable_sync("duplex")
    with pytest.raises(
        InvalidArgumentError, match="statement 0 \\(raw\\), condition 0: unknown Operator '=~'"
    ):
        ds.enable_sync(
            "simplex",
            {
                "Version": "1",
                "Statements": [
                    {"Id": "raw", "Conditions": [{"Left": "object:key", "Operator": "=~", "Right": "x"}]}
                ],
            },
        )
    with pytest.raises(InvalidArgumentError, match="sync_type"):
        ds.enable_sync("sideways")
    bob = env.storage(env.a, env.keys["bob"]).get_namespace("simple")
    ds.set_user_permission("bob", "rw")
    with pytest.raises(PermissionDeniedError, match="Only the owner"):
        bob.get_dataset(ds.name).enable_sync("simplex")
    assert not ds.is_sync_enabled() and ds.sync_status()["state"] == "disabled"


def test_namespace_with_sync_targets_is_not_deleted(env: Sync) -> None:
    a = env.admin(env.a)
    ns = a.create_namespace(f"gone-{uuid.uuid4().hex[:6]}", "", "local")
    ns.enable_sync_target(env.b.url, "simplex", "simple")
    with pytest.raises(ConflictError, match="sync target.*disable them first"):
        a.delete_namespace(ns.name)
    ns.disable_sync_target(env.b.url, "simple")
    a.delete_namespace(ns.name)


# --- what travels ---------------------------------------------------------------------------------


def test_simplex_backfill_writes_overwrites_deletes_and_metadata(env: Sync) -> None:
    ds = new_dataset(env, "simple")
    ds.set_user_permission("bob", "r")
    (ds / "old" / "a.csv").write_text("id,v\n1,2\n", metadata={"kind": "csv", "run": "r1"})
    (ds / "old" / "b.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))  # several parts on S3
    ds.enable_sync("simplex")
    assert ds.is_sync_enabled() and ds.sync_type == "simplex"
    ds.wait_for_sync(60)
    there = on(env, env.b, ds)
    wait_for("the back-fill", lambda: len(listing(there)) == 2)
    assert listing(there) == listing(ds)
    assert there.owner == "alice" and there.sync_type is None  # simplex: it does not send back
    assert {(p.user, p.access) for p in there.permissions} == {("bob", "r")}
    assert (there / "old" / "a.csv").metadata == {"kind": "csv", "run": "r1"}
    # the target's search index finds what arrived
    found = env.admin(env.b).search({"run": "r1"}, namespace="simple", dataset=ds.name)
    assert [str(r.key) for r in found] == ["old/a.csv"]

    (ds / "new.txt").write_text("one")
    (ds / "old" / "a.csv").write_text("id,v\n1,3\n", metadata={"kind": "csv", "run": "r2"})
    (ds / "old" / "b.bin").unlink()
    ds.wait_for_sync(30)
    assert listing(there) == listing(ds) and set(listing(there)) == {"new.txt", "old/a.csv"}
    assert (there / "old" / "a.csv").read_text() == "id,v\n1,3\n"
    assert (there / "old" / "a.csv").metadata["run"] == "r2"
    # a write on the simplex target stays there and is not sent back
    (there / "only-there.txt").write_text("cloud")
    time.sleep(1.0)
    assert not (ds / "only-there.txt").exists()
    st = ds.sync_status()
    assert st["state"] == "idle" and st["pending"] == 0 and st["targets"][0]["copied"] >= 4
    assert st["targets"][0]["deleted"] == 1


def test_a_sync_policy_selects_what_syncs(env: Sync) -> None:
    ds = new_dataset(env, "simple")
    ds.enable_sync(
        "simplex",
        json.dumps(
            {
                "Version": "1",
                "Effect": "OR",
                "Statements": [
                    {
                        "Id": "NoRaw",
                        "Conditions": [{"Left": "object:key", "Operator": "!=", "Right": "*.raw"}],
                    },
                    {
                        "Id": "Keep",
                        "Conditions": [{"Left": "object:metadata:keep", "Operator": "==", "Right": "yes"}],
                    },
                ],
            }
        ),
    )
    assert ds.sync_policy is not None and ds.sync_policy["Statements"][0]["Id"] == "NoRaw"
    (ds / "a.csv").write_text("x")
    (ds / "b.raw").write_text("raw")
    (ds / "c.raw").write_text("raw but kept", metadata={"keep": "yes"})
    ds.wait_for_sync(30)
    there = on(env, env.b, ds)
    wait_for("the policy's objects", lambda: set(listing(there)) == {"a.csv", "c.raw"})


def test_duplex_both_ways_without_loops(env: Sync) -> None:
    ds = new_dataset(env, "shared")
    ds.enable_sync("duplex")
    there = on(env, env.b, ds)
    assert there.sync_type == "duplex" and there.owner == "alice"
    for i in range(5):
        (ds / f"a{i}.txt").write_text(f"from A {i}")
    for i in range(3):
        (there / f"b{i}.txt").write_text(f"from B {i}")
    ds.wait_for_sync(30)
    there.wait_for_sync(30)
    wait_for("both sides equal", lambda: listing(ds) == listing(there) and len(listing(ds)) == 8)
    (there / "a0.txt").unlink()  # a delete on B reaches A
    (there / "a1.txt").write_text("changed on B")  # and an overwrite
    there.wait_for_sync(30)
    wait_for(
        "B's changes on A",
        lambda: not (ds / "a0.txt").exists() and (ds / "a1.txt").read_text() == "changed on B",
    )
    time.sleep(1.5)  # a loop would keep copying: the counters stay where they are
    copied = (ds.sync_status()["targets"][0]["copied"], there.sync_status()["targets"][0]["copied"])
    assert copied == (5, 4), copied  # A sent its 5 writes; B its 3 writes and 1 overwrite: nothing echoed
    time.sleep(1.0)
    assert (ds.sync_status()["targets"][0]["copied"], there.sync_status()["targets"][0]["copied"]) == copied
    assert listing(ds) == listing(there)


def test_disabling_sync_stops_propagation(env: Sync) -> None:
    ds = new_dataset(env, "shared")
    ds.enable_sync("duplex")
    (ds / "before.txt").write_text("synced")
    ds.wait_for_sync(30)
    there = on(env, env.b, ds)
    wait_for("the first write", lambda: (there / "before.txt").exists())
    ds.disable_sync()
    assert not ds.is_sync_enabled()
    assert on(env, env.b, ds).sync_type is None  # the way back stops too
    (ds / "after.txt").write_text("not synced")
    (there / "after-b.txt").write_text("not synced either")
    time.sleep(1.5)
    assert not (there / "after.txt").exists() and not (ds / "after-b.txt").exists()
    assert ds.sync_status()["state"] == "disabled"


def test_a_key_written_on_both_sides_resolves_the_same_and_is_reported(env: Sync) -> None:
    """W's worker is not running: W's write waits in its outbox while B writes the same key later."""
    env.kill_worker()
    w = env.admin(env.w).get_namespace("wdup").create_dataset(f"ds-{uuid.uuid4().hex[:8]}")
    env.start_worker()
    w.enable_sync("duplex")
    w.wait_for_sync(30)
    env.kill_worker()
    b = on(env, env.b, w)
    (w / "k.txt").write_text("W wrote first")
    time.sleep(0.05)
    (b / "k.txt").write_text("B wrote last")  # B's worker sends it to W at once: newer, it wins there
    wait_for("B's version on W", lambda: (w / "k.txt").read_text() == "B wrote last")
    env.start_worker()  # W's older version now reaches B, which keeps its own
    w.wait_for_sync(30)
    b.wait_for_sync(30)
    assert (w / "k.txt").read_text() == (b / "k.txt").read_text() == "B wrote last"
    for side in (w, b):
        st = side.sync_status()
        assert st["conflicts"] >= 1, st
        c = st["recent_conflicts"][0]
        assert (
            c["key"] == "k.txt" and c["winner"]["origin"] == env.b.url and c["loser"]["origin"] == env.w.url
        )
    # a delete is a tombstone: W's stale copy does not bring the key back
    (b / "k.txt").unlink()
    b.wait_for_sync(30)
    wait_for("the delete on W", lambda: not (w / "k.txt").exists())
    assert not (b / "k.txt").exists()


def test_status_metrics_and_cli(env: Sync) -> None:
    ds = new_dataset(env, "simple")
    ds.enable_sync("simplex")
    (ds / "m.txt").write_text("metrics")
    ds.wait_for_sync(30)
    r = env.a.api("GET", "/metrics", env.a.admin_key)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    line = next(x for x in r.text.splitlines() if x.startswith("larder_sync_copied_total{") and ds.name in x)
    assert line.endswith(" 1") and f'target="{env.b.url}/api/v1"' in line
    assert "# TYPE larder_sync_lag_seconds gauge" in r.text
    assert env.a.api("GET", "/metrics", env.keys["alice"]).status_code == 403
    out = env.a.cli("dataset", "sync-status", "simple", ds.name, "--json", key_file=env.a.admin_key_file)
    st = json.loads(out.stdout)
    assert st["dataset"] == ds.name and st["state"] == "idle" and st["targets"][0]["copied"] == 1
    human = env.a.cli("dataset", "sync-status", "simple", ds.name, key_file=env.a.admin_key_file).stdout
    assert f"simple/{ds.name}: idle (simplex), 0 pending" in human
    targets = env.a.cli("namespace", "sync-targets", "shared", "--json", key_file=env.a.admin_key_file).stdout
    assert json.loads(targets)[0]["sync_type"] == "duplex"
    ds2 = new_dataset(env, "simple")
    env.a.cli("dataset", "enable-sync", "simple", ds2.name, key_file=env.a.admin_key_file)
    assert on(env, env.a, ds2).sync_type == "simplex"
    env.a.cli("dataset", "disable-sync", "simple", ds2.name, key_file=env.a.admin_key_file)
    assert on(env, env.a, ds2).sync_type is None


# --- faults ---------------------------------------------------------------------------------------


def test_sigkill_of_the_worker_mid_stream_loses_nothing(env: Sync) -> None:
    """200 objects, 500 MiB, W (local) -> B (S3): the worker is killed in the middle and restarted."""
    env.kill_worker()
    ds = env.admin(env.w).get_namespace("wbulk").create_dataset(f"ds-{uuid.uuid4().hex[:8]}")
    sums = {}
    blob = os.urandom(int(2.5 * 1024 * 1024))
    for i in range(200):
        data = i.to_bytes(4, "big") + blob[4:]
        (ds / f"part-{i:03d}.bin").write_bytes(data)
        sums[f"part-{i:03d}.bin"] = sha(data)
    ds.enable_sync("simplex")
    env.start_worker()
    wait_for("a third of the stream", lambda: ds.sync_status()["targets"][0]["copied"] >= 60, 120)
    env.kill_worker()  # SIGKILL, mid-upload of several objects
    done_at_kill = ds.sync_status()["targets"][0]["copied"]
    assert done_at_kill < 200
    env.start_worker()
    ds.wait_for_sync(300)
    s3 = env.s3()
    bucket = env.admin(env.b).get_namespace("wbulk").bucket
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{ds.name}/")
        for o in page.get("Contents", [])
    ]
    assert sorted(keys) == sorted(f"{ds.name}/{k}" for k in sums)  # each once, no staged leftovers visible
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert sha(body) == sums[key.split("/", 1)[1]], key
    there = on(env, env.b, ds)
    st = ds.sync_status()["targets"][0]
    # applied once each: a copy the target applied just before the kill is a duplicate when sent again
    assert st["pending"] == 0 and st["failed"] == 0 and st["copied"] <= 200 <= st["copied"] + st["skipped"]
    assert len(env.admin(env.b).search({}, namespace="wbulk", dataset=there.name, limit=1000)) == 200


def test_target_down_for_30_s_while_writes_continue(env: Sync) -> None:
    ds = new_dataset(env, "simple")
    ds.enable_sync("simplex")
    ds.wait_for_sync(30)
    env.b.stop()
    written = {}
    try:
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < 30:
            data = f"written while B is down {i}".encode()
            (ds / f"down/{i}.txt").write_bytes(data)
            written[f"down/{i}.txt"] = sha(data)
            i += 1
            time.sleep(1.0)
        st = ds.sync_status()
        assert st["pending"] == len(written) and st["state"] == "error" and st["targets"][0]["last_error"]
        assert st["lag_seconds"] >= 25
    finally:
        env.b.start()
    ds.wait_for_sync(60)
    assert listing(on(env, env.b, ds)) == written


def test_an_object_written_past_larder_is_repaired_by_reconciliation(env: Sync) -> None:
    ds = new_dataset(env, "shared")
    ds.enable_sync("duplex")
    ds.wait_for_sync(30)
    there = on(env, env.b, ds)
    # on A's local store, straight into the folder
    folder = env.a.home / "data" / env.admin(env.a).get_namespace("shared").bucket / ds.name
    (folder / "bypass").mkdir(parents=True)
    (folder / "bypass" / "local.txt").write_bytes(b"written with cp, not through Larder")
    reports = ds.reconcile()
    assert reports[0]["missing"] == 1 and reports[0]["repaired"] == 1
    assert (there / "bypass" / "local.txt").read_bytes() == b"written with cp, not through Larder"
    # on B's bucket, with boto3 (the other direction, the other store)
    bucket = env.admin(env.b).get_namespace("shared").bucket
    env.s3().put_object(Bucket=bucket, Key=f"{ds.name}/bypass/s3.txt", Body=b"written with boto3")
    there.reconcile()
    assert (ds / "bypass" / "s3.txt").read_bytes() == b"written with boto3"
    # a delete past Larder reaches the other side too
    (folder / "bypass" / "local.txt").unlink()
    assert ds.reconcile()[0]["deleted"] == 1
    wait_for("the delete on B", lambda: not (there / "bypass" / "local.txt").exists())


def test_a_corrupted_copy_is_detected_and_repaired(env: Sync) -> None:
    ds = new_dataset(env, "simple")
    ds.enable_sync("simplex")
    payload = os.urandom(100_000)
    (ds / "model.bin").write_bytes(payload)
    (ds / "other.bin").write_bytes(payload[::-1])
    ds.wait_for_sync(30)
    bucket = env.admin(env.b).get_namespace("simple").bucket
    s3 = env.s3()
    flipped = bytearray(payload)
    flipped[5000] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=f"{ds.name}/model.bin", Body=bytes(flipped))  # same size, other bytes
    s3.delete_object(Bucket=bucket, Key=f"{ds.name}/other.bin")  # and a lost copy
    report = ds.reconcile()[0]
    assert report["changed_on_target"] == 1 and report["lost_on_target"] == 1
    body = s3.get_object(Bucket=bucket, Key=f"{ds.name}/model.bin")["Body"].read()
    assert sha(body) == sha(payload)
    assert sha(s3.get_object(Bucket=bucket, Key=f"{ds.name}/other.bin")["Body"].read()) == sha(payload[::-1])
    assert ds.reconcile()[0]["repaired"] == 0  # nothing left to repair


def test_a_flipped_byte_that_keeps_size_and_mtime_needs_the_checksum(env: Sync) -> None:
    """B (S3) -> A (local): a byte flipped in A's file with its mtime restored looks unchanged
    by size and etag; only the checksum comparison finds it."""
    b = env.admin(env.b).get_namespace("shared").create_dataset(f"ds-{uuid.uuid4().hex[:8]}")
    b.enable_sync("duplex")
    payload = os.urandom(50_000)
    (b / "weights.bin").write_bytes(payload)
    b.wait_for_sync(30)
    a_file = next((env.a.home / "data").rglob(f"{b.name}/weights.bin"))
    st = a_file.stat()
    data = bytearray(a_file.read_bytes())
    data[100] ^= 0x01
    a_file.write_bytes(bytes(data))
    os.utime(a_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    first = b.reconcile()[0]
    assert first["repaired"] == 0 and first["checked"] == 1, first  # size and etag agree: not seen
    report = b.reconcile(checksum=True)[0]
    assert report["corrupt"] == 1, report
    assert sha(a_file.read_bytes()) == sha(payload)


def test_a_delta_table_written_past_larder_arrives_whole_and_readable(env: Sync) -> None:
    """A Delta table written with deltalake straight into A's store (two commits), synced by
    reconciliation to B's bucket: B's copy reads the same rows at every version, and no log entry
    was published before the data files it adds (the worker sends those first)."""
    import deltalake
    import pyarrow as pa

    ds = new_dataset(env, "simple")
    ds.enable_sync("simplex")
    ds.wait_for_sync(30)
    uri = f"{ds.uri}/events"
    deltalake.write_deltalake(uri, pa.table({"id": [1, 2], "v": ["a", "b"]}))
    deltalake.write_deltalake(uri, pa.table({"id": [3], "v": ["c"]}), mode="append")
    report = ds.reconcile()[0]
    assert report["missing"] >= 4, report  # two log entries and their data files
    there = on(env, env.b, ds)
    table = deltalake.DeltaTable(f"{there.uri}/events", storage_options=there.storage_options())
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table().to_pydict()["id"]) == [1, 2, 3]
    table.load_as_version(0)
    assert sorted(table.to_pyarrow_table().to_pydict()["id"]) == [1, 2]
    # each log entry was published on B after the files it adds (S3's LastModified: when it landed)
    bucket = env.admin(env.b).get_namespace("simple").bucket
    landed = {
        o["Key"].split("/events/", 1)[1]: o["LastModified"]
        for o in env.s3().list_objects_v2(Bucket=bucket, Prefix=f"{ds.name}/events/")["Contents"]
    }
    assert {f"_delta_log/{n:020d}.json" for n in (0, 1)} <= set(landed), sorted(landed)
    for n in (0, 1):
        log = json.loads(
            "[" + ",".join((ds / "events" / f"_delta_log/{n:020d}.json").read_text().splitlines()) + "]"
        )
        for action in log:
            if "add" in action:
                assert landed[action["add"]["path"]] <= landed[f"_delta_log/{n:020d}.json"], (
                    n,
                    action["add"]["path"],
                )


def test_the_back_fill_follows_a_size_and_metadata_policy_and_deletes_always_follow(env: Sync) -> None:
    ds = new_dataset(env, "simple")
    (ds / "big.bin").write_bytes(b"x" * 5000)
    (ds / "small.bin").write_bytes(b"x" * 10)
    (ds / "tagged.bin").write_bytes(b"x" * 10, metadata={"keep": "yes"})
    ds.enable_sync(
        "simplex",
        {
            "Version": "1",
            "Statements": [
                {"Id": "Big", "Conditions": [{"Left": "object:size", "Operator": ">", "Right": 1000}]},
                {
                    "Id": "Tagged",
                    "Conditions": [{"Left": "object:metadata:keep", "Operator": "==", "Right": "yes"}],
                },
            ],
        },
    )
    ds.wait_for_sync(30)
    there = on(env, env.b, ds)
    assert set(listing(there)) == {"big.bin", "tagged.bin"}  # the back-fill read sizes and metadata
    (ds / "tagged.bin").unlink()  # a delete is not filtered by what the policy selects
    ds.wait_for_sync(30)
    assert set(listing(there)) == {"big.bin"}
