"""Storage end to end: namespaces, datasets, DatasetRef, permissions, vended credentials, search.

Every DatasetRef test runs on both store types: ``local`` (the home's built-in store) and ``s3`` on a
real ``moto_server``. The S3 server vends credentials that it says expire after 2 s, so renewal is
exercised by every S3 test (and counted by one).
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aws_fixtures import moto_server  # noqa: F401 - fixture

from conftest import LarderServer
from larder import errors
from larder.client.rest import RestClient
from larder.storage import DatasetRef, Storage

ROLE_ARN = "arn:aws:iam::123456789012:role/larder-vending"


def _uid() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class Env:
    server: LarderServer
    kind: str
    namespace: str
    admin: Storage
    keys: dict[str, str]
    moto: str | None = None

    def storage(self, user: str) -> Storage:
        return Storage(RestClient(self.server.url, self.keys[user], verify=self.server.ca))

    def s3_admin(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.moto,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="module")
def storage_server(tmp_path_factory, moto_server) -> LarderServer:  # noqa: F811
    home = tmp_path_factory.mktemp("storage") / "home"
    server = LarderServer(home).init()
    with open(home / "server.toml", "a") as f:
        f.write("vended_credentials_seconds = 2\n")
    server.start()
    admin = server.admin_key
    r = server.api(
        "POST",
        "/objectstores",
        admin,
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
    assert "testing" not in r.text.replace('"access_key_id"', "")  # the secret is never echoed
    r = server.api(
        "POST", "/namespaces", admin, json={"name": "lake", "object_store": "moto", "bucket": "larder-lake"}
    )
    assert r.status_code == 201, r.text
    tmp = tmp_path_factory.mktemp("keys")
    server.keys = {"admin": admin}  # type: ignore[attr-defined]
    for user, role in [("bob", "privileged"), ("alice", "user"), ("carol", "user")]:
        server.create_user(user, role)
        server.keys[user], _ = server.create_key(user, "project,dataset", tmp)  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def env(request, storage_server, moto_server) -> Env:  # noqa: F811
    kind = request.param
    admin = Storage(RestClient(storage_server.url, storage_server.admin_key, verify=storage_server.ca))
    return Env(
        storage_server,
        kind,
        "default" if kind == "local" else "lake",
        admin,
        storage_server.keys,  # type: ignore[attr-defined]
        moto_server if kind == "s3" else None,
    )


# --- namespaces ----------------------------------------------------------------------------------


def test_namespace_life_cycle(env: Env):
    name = f"ns-{_uid()}"
    store = "local" if env.kind == "local" else "moto"
    ns = env.admin.create_namespace(name, "scratch", store, f"bucket-{_uid()}")
    assert ns.name == name and ns.object_store == store
    assert name in [n.name for n in env.storage("alice").list_namespaces()]
    with pytest.raises(errors.PermissionDeniedError, match="admin"):
        env.storage("bob").create_namespace(f"ns-{_uid()}", "", store)
    ds_names = [f"d{_uid()}", f"e{_uid()}"]
    for d in ds_names:
        env.admin.get_namespace(name).create_dataset(d)
    with pytest.raises(errors.ConflictError) as exc:
        env.admin.delete_namespace(name)
    assert all(d in exc.value.message for d in ds_names)
    for d in ds_names:
        env.admin.get_namespace(name).delete_dataset(d)
    env.admin.delete_namespace(name)
    with pytest.raises(errors.NotFoundError):
        env.admin.get_namespace(name)


# --- datasets and permissions ----------------------------------------------------------------------


def test_dataset_permissions(env: Env):
    bob, alice = env.storage("bob"), env.storage("alice")
    name = f"shared-{_uid()}"
    ds = bob.get_namespace(env.namespace).create_dataset(name, "bob's data")
    assert ds.owner == "bob" and ds.access == "rw"
    (ds / "a.txt").write_text("hello")

    # alice sees nothing: not listed, 404 on get, same message as a missing dataset
    assert name not in [d.name for d in alice.get_namespace(env.namespace).list_datasets()]
    with pytest.raises(errors.NotFoundError) as hidden:
        alice.get_namespace(env.namespace).get_dataset(name)
    with pytest.raises(errors.NotFoundError) as missing:
        alice.get_namespace(env.namespace).get_dataset("nothere-" + _uid())
    assert "no access" in hidden.value.message and "no access" in missing.value.message
    with pytest.raises(errors.NotFoundError):
        alice.credentials(env.namespace, [name])

    # read access: alice reads, cannot write (client check and server check)
    ds.set_user_permission("alice", "r")
    ads = alice.get_namespace(env.namespace).get_dataset(name)
    assert ads.access == "r" and (ads / "a.txt").read_text() == "hello"
    with pytest.raises(errors.PermissionDeniedError, match="only read"):
        (ads / "b.txt").write_text("nope")
    with pytest.raises(errors.PermissionDeniedError):
        alice._rest.put(f"/namespaces/{env.namespace}/datasets/{name}/objects", {"key": "b.txt", "size": 1})
    assert not (ds / "b.txt").exists()
    with pytest.raises(errors.PermissionDeniedError, match="owner"):
        ads.set_user_permission("carol", "r")

    # rw, then removal
    ds.set_user_permission("alice", "rw")
    (alice.get_namespace(env.namespace).get_dataset(name) / "b.txt").write_text("yes")
    assert (ds / "b.txt").read_text() == "yes"
    ds.set_user_permission("alice", None)
    with pytest.raises(errors.NotFoundError):
        alice.get_namespace(env.namespace).get_dataset(name)
    with pytest.raises(errors.InvalidArgumentError):
        ds.set_user_permission("alice", "rwx")

    # group permission: members of a project (one the owner is a member of: naming any other gets
    # the same 404 as a missing project, so permissions reveal no project's existence)
    project = f"grp_{_uid()}"
    env.server.api("POST", "/projects", env.keys["carol"], json={"name": project})
    with pytest.raises(errors.NotFoundError, match="not a member"):
        ds.set_group_permission(project, "r")
    with pytest.raises(errors.NotFoundError, match="not a member"):
        ds.set_group_permission(f"none_{_uid()}", "r")
    env.server.api(
        "PUT", f"/projects/{project}/members/bob", env.keys["carol"], json={"role": "data_scientist"}
    )
    ds.set_group_permission(project, "r")
    assert env.storage("carol").get_namespace(env.namespace).get_dataset(name).access == "r"
    assert name not in [d.name for d in alice.get_namespace(env.namespace).list_datasets()]

    # a plain user who owns no project may not create datasets
    with pytest.raises(errors.PermissionDeniedError, match="privileged"):
        alice.get_namespace(env.namespace).create_dataset(f"x{_uid()}")
    with pytest.raises(errors.PermissionDeniedError, match="owner"):
        env.storage("carol").get_namespace(env.namespace).get_dataset(name).delete()
    ds.delete()


def test_project_datasets_are_created_in_the_project_namespace(env: Env):
    project = f"proj_{_uid()}"
    r = env.server.api(
        "POST", "/projects", env.keys["alice"], json={"name": project, "namespace": env.namespace}
    )
    assert r.status_code == 201 and r.json()["namespace"] == env.namespace
    names = {d.name: d for d in env.storage("alice").get_namespace(env.namespace).list_datasets()}
    for kind in ("featurestore", "models"):
        assert names[f"{project}_{kind}"].access == "rw" and names[f"{project}_{kind}"].project == project
    (names[f"{project}_models"] / "m.bin").write_bytes(b"x")
    assert env.server.api("DELETE", f"/projects/{project}", env.keys["alice"]).status_code == 204
    assert f"{project}_models" not in [d.name for d in env.admin.get_namespace(env.namespace).list_datasets()]


# --- DatasetRef ------------------------------------------------------------------------------------


@pytest.fixture
def ds(env: Env):
    dataset = env.storage("bob").get_namespace(env.namespace).create_dataset(f"refs-{_uid()}")
    yield dataset
    dataset.delete()


def test_read_write_and_inspect(ds, env: Env):
    ref = ds / "raw" / "2024.csv"
    assert not ref.exists() and not ref.is_file()
    assert ref.write_text("a,b\n1,2\n", metadata={"source": "crm", "year": "2024"}) == 8
    assert ref.exists() and ref.is_file() and not ref.is_dir()
    assert (ds / "raw").is_dir() and not (ds / "raw").is_file() and ds.root.is_dir()
    assert ref.read_text() == "a,b\n1,2\n" and ref.read_bytes() == b"a,b\n1,2\n"
    assert ref.size == 8 and ref.etag and ref.name == "2024.csv" and ref.suffix == ".csv"
    assert ref.parent == ds / "raw"
    assert abs(ref.last_modified - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert ref.metadata == {"source": "crm", "year": "2024"}
    first_etag = ref.etag
    ref.write_bytes(b"replaced")
    assert ref.read_bytes() == b"replaced" and ref.metadata == {} and ref.etag != first_etag
    if env.kind == "s3":
        assert ref.uri == f"s3://larder-lake/{ds.name}/raw/2024.csv"
    else:
        assert ref.uri.startswith("file:///") and ref.uri.endswith(f"/default/{ds.name}/raw/2024.csv")
    with pytest.raises(errors.NotFoundError):
        (ds / "missing.txt").read_bytes()
    with pytest.raises(errors.NotFoundError):
        _ = (ds / "missing.txt").size


def test_listing_and_globs(ds):
    for key in ["a.csv", "b.txt", "sub/c.csv", "sub/deep/d.csv", "sub/deep/e.json"]:
        (ds / key).write_text(key)
    assert sorted(p.name for p in ds.root.iterdir()) == ["a.csv", "b.txt", "sub"]
    assert sorted(p.name for p in (ds / "sub").iterdir()) == ["c.csv", "deep"]
    assert sorted(p.key for p in ds.root.glob("*.csv")) == ["a.csv"]
    assert sorted(p.key for p in ds.root.glob("sub/*/*.csv")) == ["sub/deep/d.csv"]
    assert sorted(p.key for p in ds.root.rglob("*.csv")) == ["a.csv", "sub/c.csv", "sub/deep/d.csv"]
    assert sorted(p.key for p in (ds / "sub").rglob("*")) == [
        "sub/c.csv",
        "sub/deep/d.csv",
        "sub/deep/e.json",
    ]


def test_upload_download_and_streaming(ds, tmp_path):
    big = tmp_path / "big.bin"
    payload = os.urandom(20 * 1024 * 1024 + 123)  # > 2 multipart parts
    big.write_bytes(payload)
    ref = (ds / "blobs" / "big.bin").upload(big, metadata={"kind": "blob"}, progress=True)
    assert ref.size == len(payload) and ref.metadata == {"kind": "blob"}
    (tmp_path / "dl").mkdir()
    out = ref.download(tmp_path / "dl", progress=True)
    assert out == tmp_path / "dl" / "big.bin" and out.read_bytes() == payload
    assert not [p for p in (tmp_path / "dl").iterdir() if p.name != "big.bin"]  # no temp leftovers

    streamed = ds / "blobs" / "streamed.bin"
    with streamed.open("wb", metadata={"kind": "stream"}) as f:
        for i in range(0, len(payload), 3 * 1024 * 1024):
            f.write(payload[i : i + 3 * 1024 * 1024])
    assert streamed.size == len(payload) and streamed.metadata == {"kind": "stream"}
    with streamed.open("rb") as f:
        first = f.read(1024)
        rest = f.read()
    assert first + rest == payload
    with pytest.raises(FileNotFoundError):
        (ds / "x").upload(tmp_path / "nope.bin")


def test_failed_writes_leave_nothing_visible(ds, env: Env):
    ref = ds / "half.bin"
    with pytest.raises(RuntimeError), ref.open("wb") as f:
        f.write(os.urandom(10 * 1024 * 1024))  # a first multipart part is already uploaded on S3
        raise RuntimeError("interrupted")
    assert not ref.exists()
    assert [p.name for p in ds.root.iterdir()] == []  # no temp file visible
    w = ref.open("wb")
    w.write(b"abandoned")
    del w  # dropped without close(): discarded, not committed
    assert not ref.exists()
    if env.kind == "s3":
        uploads = env.s3_admin().list_multipart_uploads(Bucket="larder-lake", Prefix=ds.name + "/")
        assert uploads.get("Uploads", []) == []


def test_unlink_copy_move(ds, env: Env):
    src = ds / "src.txt"
    src.write_text("payload", metadata={"tag": "v1"})
    copy = src.copy_to(ds / "copies" / "c.txt")
    assert copy.read_text() == "payload" and copy.metadata == {"tag": "v1"} and src.exists()
    other = env.storage("bob").get_namespace(env.namespace).create_dataset(f"other-{_uid()}")
    try:
        cross = src.copy_to(other / "x.txt")
        assert cross.read_text() == "payload"
        moved = src.move(ds / "moved.txt")
        assert moved.read_text() == "payload" and not src.exists() and moved.metadata == {"tag": "v1"}
        moved.unlink()
        assert not moved.exists()
        with pytest.raises(errors.NotFoundError):
            moved.unlink()
        moved.unlink(missing_ok=True)
    finally:
        other.delete()


# --- bad input, safety -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../b", "/etc/passwd", "a\x00b", "a\nb", "a\x7fb", "x" * 1025, "a//b", "a\\b", "./a"],
)
def test_bad_keys_are_refused_before_touching_storage(env: Env, key):
    # a dataset with no storage behind it: a bad key must fail before anything is touched
    fake_ns = type("N", (), {"name": env.namespace, "_storage": None})()
    fake_ds = type("D", (), {"name": "any", "namespace": fake_ns, "_storage": None})()
    with pytest.raises(errors.InvalidArgumentError) as exc:
        DatasetRef(fake_ds, "") / key  # type: ignore[arg-type]
    assert "Invalid object key" in exc.value.message
    # the server refuses them too
    r = env.server.api(
        "PUT",
        f"/namespaces/{env.namespace}/datasets/x/objects",
        env.keys["admin"],
        json={"key": key, "size": 1},
    )
    assert r.status_code in (400, 404)


def test_bad_names(env: Env):
    with pytest.raises(errors.InvalidArgumentError, match="lowercase"):
        env.admin.get_namespace(env.namespace).create_dataset("Bad Name")
    with pytest.raises(errors.InvalidArgumentError):
        env.admin.create_namespace("UPPER", "", "local")


def test_dataset_delete_never_touches_a_sibling_with_a_common_prefix(env: Env):
    ns = env.storage("bob").get_namespace(env.namespace)
    base = f"foo{_uid()}"
    foo, foobar = ns.create_dataset(base), ns.create_dataset(base + "bar")
    (foo / "a.txt").write_text("a")
    (foobar / "b.txt").write_text("b")
    foo.delete()
    assert (foobar / "b.txt").read_text() == "b"
    foobar.delete()


# --- credentials -----------------------------------------------------------------------------------


def test_vended_credentials_are_scoped_and_short_lived(env: Env):
    bob = env.storage("bob")
    ns = bob.get_namespace(env.namespace)
    mine, shared = ns.create_dataset(f"mine{_uid()}"), ns.create_dataset(f"mine{_uid()}x")
    shared.set_user_permission("alice", "r")
    try:
        creds = bob.credentials(env.namespace, [mine.name])
        assert creds.datasets == {mine.name: "rw"}
        left = creds.expiration - datetime.now(timezone.utc)
        assert timedelta(0) < left <= timedelta(seconds=5)
        assert creds.secret_access_key is None or creds.secret_access_key not in repr(creds)
        if env.kind == "local":
            # the folders of the datasets asked for, never the namespace's root
            assert creds.type == "local" and list(creds.paths) == [mine.name]
            assert Path(creds.paths[mine.name]).name == mine.name
            with pytest.raises(errors.PermissionDeniedError, match=shared.name):
                bob.backend(env.namespace, [mine.name])[0].path(f"{shared.name}/a.txt")
            return
        assert (
            creds.access_key_id and creds.access_key_id != "testing" and creds.session_token
        )  # never the root keys
        statements = {s["Sid"]: s for s in creds.policy["Statement"]}
        assert statements["ReadDatasets"]["Resource"] == [f"arn:aws:s3:::larder-lake/{mine.name}/*"]
        assert statements["WriteDatasets"]["Resource"] == [f"arn:aws:s3:::larder-lake/{mine.name}/*"]
        assert statements["ListDatasetPrefixes"]["Condition"]["StringLike"]["s3:prefix"] == [
            f"{mine.name}/",
            f"{mine.name}/*",
        ]
        ro = env.storage("alice").credentials(env.namespace, [shared.name])
        assert ro.datasets == {shared.name: "r"}
        assert "WriteDatasets" not in {s["Sid"] for s in ro.policy["Statement"]}
        with pytest.raises(errors.NotFoundError):
            env.storage("alice").credentials(env.namespace, [shared.name, mine.name])
    finally:
        mine.delete()
        shared.delete()


def test_local_credentials_are_reused_for_half_their_lifetime(env: Env):
    """Local-store credentials (dataset folders, no secret) are fetched once per half lifetime, not once
    per operation; S3 ones are fetched when asked for (this server vends them for 2 s)."""
    storage = env.storage("bob")
    ds = storage.get_namespace(env.namespace).create_dataset(f"cache-{_uid()}")
    fetched = []
    real = storage.credentials

    def counting(namespace: str, datasets: list[str]):
        fetched.append(datasets)
        return real(namespace, datasets)

    storage.credentials = counting  # type: ignore[method-assign]
    try:
        (ds / "a.txt").write_text("x")
        assert (ds / "a.txt").exists() and (ds / "a.txt").size == 1
        n = len(fetched)
        if env.kind == "local":
            assert ds.storage_options() == {} and n == 1
            time.sleep(1.2)  # past half of the 2 s lifetime: fetched again
            assert (ds / "a.txt").read_text() == "x" and len(fetched) == 2
        else:
            ds.storage_options()
            assert len(fetched) == n + 1  # S3: fresh each time
    finally:
        ds.delete()


def test_credentials_renew_during_a_long_upload(env: Env, tmp_path):
    if env.kind != "s3":
        pytest.skip("local stores vend paths, there is nothing to renew")
    bob = env.storage("bob")
    ds = bob.get_namespace(env.namespace).create_dataset(f"renew{_uid()}")
    try:
        before = env.server.log().count("/credentials 200")
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(40 * 1024 * 1024))
        ref = (ds / "big.bin").upload(big)  # 3 parts of 16 MiB; credentials expire every 2 s
        assert ref.size == big.stat().st_size
        factory = bob.factory(env.namespace, [ds.name])
        assert factory is not None and factory.refresh_count >= 2
        assert env.server.log().count("/credentials 200") - before >= 3
    finally:
        ds.delete()


# --- metadata search -------------------------------------------------------------------------------


def test_metadata_search(env: Env):
    bob = env.storage("bob")
    tag = _uid()
    ds = bob.get_namespace(env.namespace).create_dataset(f"search{_uid()}")
    try:
        (ds / "a.csv").write_text("a", metadata={"run": tag, "kind": "train"})
        (ds / "b.csv").write_text("b", metadata={"run": tag, "kind": "test"})
        (ds / "c.csv").write_text("c", metadata={"run": "other", "kind": "train"})
        found = bob.search(metadata={"run": tag})
        assert sorted(r.key for r in found) == ["a.csv", "b.csv"]
        found = bob.search(metadata={"run": tag, "kind": "train"})  # AND
        assert [r.key for r in found] == ["a.csv"] and found[0].read_text() == "a"
        assert bob.search(metadata={"run": tag}, namespace=env.namespace, dataset=ds.name, limit=1)[
            0
        ].key in ("a.csv", "b.csv")
        assert (
            bob.search(
                metadata={"run": tag}, modified_after=datetime.now(timezone.utc) + timedelta(minutes=1)
            )
            == []
        )
        assert (
            len(
                bob.search(
                    metadata={"run": tag}, modified_before=datetime.now(timezone.utc) + timedelta(minutes=1)
                )
            )
            == 2
        )
        assert env.storage("alice").search(metadata={"run": tag}) == []  # no access: nothing
        (ds / "a.csv").unlink()
        assert [r.key for r in bob.search(metadata={"run": tag})] == ["b.csv"]
        with pytest.warns(errors.NaiveTimeWarning, match="taken as UTC"):  # naive: UTC, as hsfs
            bob.search(metadata={"run": tag}, modified_after=datetime.now(timezone.utc).replace(tzinfo=None))
        with pytest.raises(errors.InvalidArgumentError):
            bob.search(metadata={"run": tag}, limit=0)
    finally:
        ds.delete()


# --- other tools read and write datasets directly --------------------------------------------------


def test_storage_options_and_filesystem_for_other_tools(ds):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    deltalake = pytest.importorskip("deltalake")
    table = pa.table({"x": [1, 2, 3]})
    deltalake.write_deltalake(f"{ds.uri}/delta_t", table, storage_options=ds.storage_options())
    back = deltalake.DeltaTable(f"{ds.uri}/delta_t", storage_options=ds.storage_options()).to_pyarrow_table()
    assert back.column("x").to_pylist() == [1, 2, 3]
    fs = ds.filesystem()
    fs.create_dir("p", recursive=True)  # pyarrow's local filesystem does not create parents itself
    pq.write_table(table, "p/t.parquet", filesystem=fs)
    assert pq.read_table("p/t.parquet", filesystem=fs).num_rows == 3
    assert (ds / "p" / "t.parquet").is_file()


def test_cli_object_stores_and_the_connection_api(storage_server, tmp_path, moto_server):  # noqa: F811
    import json

    out = storage_server.cli("objectstore", "list", "--json", key_file=storage_server.admin_key_file)
    stores = {s["name"]: s for s in json.loads(out.stdout)}
    assert stores["local"]["type"] == "local" and stores["moto"]["type"] == "s3"
    assert "testing" not in out.stdout.replace('"access_key_id"', "")
    secret = tmp_path / "secret"
    secret.write_text("testing")
    storage_server.cli(
        "objectstore",
        "add",
        "moto2",
        "--type",
        "s3",
        "--endpoint-url",
        moto_server,
        "--role-arn",
        ROLE_ARN,
        "--access-key-id",
        "testing",
        "--secret-access-key-file",
        str(secret),
        key_file=storage_server.admin_key_file,
    )
    bad = storage_server.cli(
        "objectstore",
        "add",
        "rel",
        "--type",
        "local",
        "--root",
        "relative/dir",
        key_file=storage_server.admin_key_file,
        check=False,
    )
    assert bad.returncode == 1 and "absolute" in bad.stderr

    with _admin_conn(storage_server) as conn:
        ns = conn.create_namespace(f"ns-{_uid()}", "via connection", "moto2")
        assert ns.name in [n.name for n in conn.list_namespaces()]
        ds = conn.get_namespace(ns.name).create_dataset("via-conn")
        (ds / "k.txt").write_text("v", metadata={"via": "conn"})
        assert [r.key for r in conn.search(metadata={"via": "conn"})] == ["k.txt"]
        ds.delete()
        conn.delete_namespace(ns.name)


def _admin_conn(server, namespace: str = "default"):
    import larder

    host, port = server.url.removeprefix("https://").split(":")
    project = f"conn_{_uid()}"
    r = server.api("POST", "/projects", server.admin_key, json={"name": project, "namespace": namespace})
    assert r.status_code == 201, r.text
    return larder.connection(
        host=host, port=int(port), project=project, api_key_value=server.admin_key, trust_store_path=server.ca
    )


def test_feature_store_in_an_s3_namespace(storage_server):
    """A project in the S3 namespace keeps its feature groups on S3 (moto), reached with vended
    credentials: insert, read, a point-in-time join (Arrow tables, not local Parquet files) and SQL."""
    from datetime import datetime, timedelta, timezone

    import pandas as pd

    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with _admin_conn(storage_server, namespace="lake") as conn:
        fs = conn.get_feature_store()
        feats = fs.create_feature_group("temps", primary_key=["k"], event_time="ts")
        feats.insert(
            pd.DataFrame({"k": [1, 1, 2], "ts": [t0, t0 + timedelta(hours=2), t0], "temp": [1.0, 3.0, 2.0]})
        )
        assert feats._table()[0].startswith("s3://larder-lake/")
        labels = fs.create_feature_group("labels", primary_key=["id"], event_time="ts")
        labels.insert(
            pd.DataFrame(
                {
                    "id": [10, 11, 12, 13],
                    "k": [1, 1, 2, 3],
                    "ts": [t0 + timedelta(hours=1), t0 + timedelta(hours=3), t0, t0],
                    "y": [0, 1, 0, 1],
                }
            )
        )
        assert sorted(feats.read()["temp"]) == [1.0, 2.0, 3.0]
        got = labels.select_all().join(feats.select(["temp"]), on=["k"]).read().sort_values("id")
        assert got["temp"].tolist()[:3] == [1.0, 3.0, 2.0] and pd.isna(got["temp"].tolist()[3])
        assert fs.sql("SELECT count(*) AS n FROM temps")["n"].item() == 3
