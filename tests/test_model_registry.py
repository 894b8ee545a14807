"""The model registry end to end: real `larder server` processes over HTTPS, both store types.

Every registry test runs twice: on the ``local`` store (the server home's built-in namespace) and on
``s3`` (a namespace on a real ``moto_server``; the project is created in it, so its ``_models``
dataset lives there). Clients connect with ``larder.connection(...)`` and move artifacts straight to
the store with vended credentials; the tests look at the store directly (the local folder, or
moto with its own credentials) to check what really landed there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from aws_fixtures import moto_server  # noqa: F401 - fixture

import larder
from conftest import LarderServer, _new_pg_database
from larder import errors
from larder.model_registry import ArtifactCorruptedError, ModelRegistry, ModelSchema, Schema, _transfer

ROLE_ARN = "arn:aws:iam::123456789012:role/larder-vending"
SCOPES = "project,featurestore,modelregistry,dataset"
MiB = 1024 * 1024


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _port(server: LarderServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _ok(resp: Any, status: int) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def _tree(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    return {p.relative_to(root).as_posix(): _sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


def make_model_dir(root: Path, big: int = 20 * MiB, small: int = 12, seed: int = 0) -> Path:
    """A model folder: one file large enough to go in parts, small files in subfolders, an empty file."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    (root / "weights.bin").write_bytes(rng.bytes(big))
    for i in range(small):
        sub = root / "assets" / f"group{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"part-{i}.json").write_bytes(rng.bytes(1000 + 37 * i))
    (root / "empty.txt").write_bytes(b"")
    (root / "config.yaml").write_text("model: test\n")
    return root


# --- servers, users, projects -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mr_server(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> Iterator[LarderServer]:  # noqa: F811
    """A real server with the built-in local store and an s3 store (namespace ``lake``) on moto."""
    home = tmp_path_factory.mktemp("mr") / "home"
    server = LarderServer(home).init().start()
    admin = server.admin_key
    _ok(
        server.api(
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
        ),
        201,
    )
    _ok(
        server.api(
            "POST", "/namespaces", admin, json={"name": "lake", "object_store": "moto", "bucket": "mr-lake"}
        ),
        201,
    )
    keys_dir = tmp_path_factory.mktemp("mr-keys")
    server.keys = {"admin": admin}  # type: ignore[attr-defined]
    for user in ("olive", "sam", "petra", "nobody"):
        server.create_user(user)
        server.keys[user], _ = server.create_key(user, SCOPES, keys_dir)  # type: ignore[attr-defined]
    server.keys["olive-noreg"], _ = server.create_key("olive", "project,dataset", keys_dir)  # type: ignore[attr-defined]
    yield server
    server.stop()


@dataclass
class Env:
    """One store type: a project ``project`` (olive data_owner, sam data_scientist) and ``other``
    (petra's), both in the store's namespace."""

    server: LarderServer
    kind: str
    namespace: str
    project: str
    other: str
    tmp: Path
    moto: str | None
    conns: list[larder.Connection] = field(default_factory=list)

    @property
    def keys(self) -> dict[str, str]:
        return self.server.keys  # type: ignore[attr-defined,no-any-return]

    def conn(self, user: str = "olive", project: str | None = None) -> larder.Connection:
        c = larder.connection(
            host="127.0.0.1",
            port=_port(self.server),
            project=project or self.project,
            api_key_value=self.keys[user],
            trust_store_path=self.server.ca,
            cert_folder=str(self.tmp / "certs" / _uid()),
        )
        self.conns.append(c)
        return c

    def mr(self, user: str = "olive") -> ModelRegistry:
        return self.conn(user).get_model_registry()

    @property
    def dataset(self) -> str:
        return f"{self.project}_models"

    # the store, seen directly (not through Larder)
    def s3(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.moto,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    @property
    def local_root(self) -> Path:
        return self.server.home / "data" / "default" / self.dataset

    def objects(self, prefix: str) -> dict[str, int]:
        """Everything under ``<dataset>/<prefix>/`` in the store (temp files included): ``{key: size}``."""
        if self.kind == "local":
            base = self.local_root / prefix
            return {p.relative_to(base).as_posix(): p.stat().st_size for p in base.rglob("*") if p.is_file()}
        out = {}
        full = f"{self.dataset}/{prefix}/"
        for page in self.s3().get_paginator("list_objects_v2").paginate(Bucket="mr-lake", Prefix=full):
            for o in page.get("Contents", []):
                out[o["Key"][len(full) :]] = o["Size"]
        return out

    def multipart_uploads(self, prefix: str) -> list[str]:
        if self.kind == "local":
            return []
        r = self.s3().list_multipart_uploads(Bucket="mr-lake", Prefix=f"{self.dataset}/{prefix}/")
        return [u["Key"] for u in r.get("Uploads", [])]

    def read(self, key: str) -> bytes:
        if self.kind == "local":
            return (self.local_root / key).read_bytes()
        return bytes(self.s3().get_object(Bucket="mr-lake", Key=f"{self.dataset}/{key}")["Body"].read())

    def write(self, key: str, data: bytes) -> None:
        """Overwrite an object behind Larder's back (to corrupt it)."""
        if self.kind == "local":
            (self.local_root / key).write_bytes(data)
        else:
            self.s3().put_object(Bucket="mr-lake", Key=f"{self.dataset}/{key}", Body=data)

    def remove(self, key: str) -> None:
        if self.kind == "local":
            (self.local_root / key).unlink()
        else:
            self.s3().delete_object(Bucket="mr-lake", Key=f"{self.dataset}/{key}")

    def pending(self, name: str, user: str = "olive") -> list[dict[str, Any]]:
        r = self.server.api(
            "GET",
            f"/projects/{self.project}/models/{name}/versions",
            self.keys[user],
            params={"include_pending": "true"},
        )
        return [v for v in _ok(r, 200) if v["status"] != "ready"]


@pytest.fixture(params=["local", "s3"])
def env(
    request: pytest.FixtureRequest,
    mr_server: LarderServer,
    moto_server: str,  # noqa: F811
    tmp_path: Path,
) -> Iterator[Env]:
    kind = request.param
    namespace = "default" if kind == "local" else "lake"
    keys = mr_server.keys  # type: ignore[attr-defined]
    project, other = f"mr_{kind}_{_uid()}", f"mrb_{kind}_{_uid()}"
    _ok(
        mr_server.api("POST", "/projects", keys["olive"], json={"name": project, "namespace": namespace}), 201
    )
    _ok(
        mr_server.api(
            "PUT", f"/projects/{project}/members/sam", keys["olive"], json={"role": "data_scientist"}
        ),
        200,
    )
    _ok(mr_server.api("POST", "/projects", keys["petra"], json={"name": other, "namespace": namespace}), 201)
    e = Env(mr_server, kind, namespace, project, other, tmp_path, moto_server if kind == "s3" else None)
    yield e
    for c in e.conns:
        c.close()


class FakeFeatureView:
    """What lineage needs from an hsfs-style FeatureView: a name, a version and its feature store."""

    def __init__(self, name: str, version: int, feature_store_name: str) -> None:
        self.name = name
        self.version = version
        self.feature_store_name = feature_store_name


# --- the whole API ---------------------------------------------------------------------------------


def test_save_get_download_round_trip(env: Env) -> None:
    mr = env.mr()
    src = make_model_dir(env.tmp / "model")
    X = pd.DataFrame({"age": [31, 42, 25], "income": [1.5, 2.5, float("nan")], "city": ["a", "b", "c"]})
    y = np.array([0, 1, 0], dtype="int64")
    model = mr.sklearn.create_model(
        "fraud",
        metrics={"auc": 0.83, "loss": 0.21, "n": 3},
        description="first try",
        input_example=X[:2],
        model_schema=ModelSchema(Schema(X), Schema(y)),
        feature_view=FakeFeatureView("transactions", 2, f"{env.project}_featurestore"),
        training_dataset_version=3,
    )
    assert model.status == "new" and model.version is None
    assert model.save(src) is model
    assert (model.version, model.status, model.framework) == (1, "ready", "sklearn")
    assert model.file_count == len(_tree(src)) and model.total_size == sum(
        p.stat().st_size for p in src.rglob("*") if p.is_file()
    )
    assert model.created_by == "olive" and model.created_at is not None

    # the artifacts are in the project's models dataset, under <name>/<version>/, nothing else there
    stored = env.objects("fraud/1")
    assert stored == {rel: (src / rel).stat().st_size for rel in _tree(src)}
    assert env.read("fraud/1/config.yaml") == b"model: test\n"
    assert env.multipart_uploads("fraud") == []

    got = mr.get_model("fraud")
    assert (got.name, got.version, got.framework, got.description) == ("fraud", 1, "sklearn", "first try")
    assert got.metrics == {"auc": 0.83, "loss": 0.21, "n": 3} and got.training_metrics == got.metrics
    assert got.model_schema == {
        "input_schema": {
            "columnar_schema": [
                {"name": "age", "type": "int64"},
                {"name": "income", "type": "float64"},
                {"name": "city", "type": str(X["city"].dtype)},
            ]
        },
        "output_schema": {"tensor_schema": [{"type": "int64", "shape": [3]}]},
    }
    assert ModelSchema.from_dict(got.model_schema) == ModelSchema(Schema(X), Schema(y))
    assert got.input_example == {
        "columns": ["age", "income", "city"],
        "data": [[31, 1.5, "a"], [42, 2.5, "b"]],
    }
    assert (got.feature_store, got.feature_view_name, got.feature_view_version) == (
        f"{env.project}_featurestore",
        "transactions",
        2,
    )
    assert got.training_dataset_version == 3
    assert mr.get_model("fraud", 1).version == 1
    assert got.version_path == f"{env.namespace}/{env.dataset}/fraud/1"

    # download into a given folder (existing unrelated files stay) and into a fresh temp folder
    dest = env.tmp / "dl"
    dest.mkdir()
    (dest / "unrelated.txt").write_text("keep me")
    assert got.download(dest) == str(dest)
    assert _tree(dest) == {**_tree(src), "unrelated.txt": _sha(dest / "unrelated.txt")}
    tmp_dl = Path(got.download())
    try:
        assert _tree(tmp_dl) == _tree(src)
    finally:
        import shutil

        shutil.rmtree(tmp_dl)

    # a model saved from a single file downloads as a folder holding that file
    single = env.tmp / "model.pkl"
    single.write_bytes(os.urandom(5000))
    m2 = mr.python.create_model("single-file").save(single)
    out = Path(m2.download(env.tmp / "dl2"))
    assert _tree(out) == {"model.pkl": _sha(single)}


def test_versions_latest_best_and_listing(env: Env) -> None:
    mr = env.mr()
    src = env.tmp / "m.bin"
    src.write_bytes(b"weights")
    for metrics in (
        {"auc": 0.7, "loss": 0.5},
        {"auc": 0.9, "loss": 0.4},
        {"auc": 0.8, "loss": 0.3},
        {"f1": 0.1},
    ):
        mr.torch.create_model("ranker", metrics=metrics).save(src)
    assert [m.version for m in mr.get_models("ranker")] == [1, 2, 3, 4]
    with pytest.warns(errors.VersionNotPinnedWarning, match="newest is version 4"):  # hsml: version 1
        assert mr.get_model("ranker").version == 1
    assert mr.get_model("ranker", 4).version == 4
    assert mr.get_best_model("ranker", "auc").version == 2
    assert mr.get_best_model("ranker", "auc", direction="max").version == 2
    assert mr.get_best_model("ranker", "loss", direction="min").version == 3
    assert mr.get_best_model("ranker", "f1").version == 4
    assert "ranker" in mr.get_model_names()
    assert mr.get_models("nothing-here") == []
    with pytest.raises(errors.InvalidArgumentError, match="Unknown metric 'accuracy'.*auc, f1, loss"):
        mr.get_best_model("ranker", "accuracy")
    with pytest.raises(errors.InvalidArgumentError, match="direction"):
        mr.get_best_model("ranker", "auc", direction="up")
    with pytest.raises(errors.NotFoundError, match="no ready version"):
        mr.get_best_model("nothing-here", "auc")
    with pytest.raises(errors.NotFoundError, match="no ready version"):
        mr.get_model("nothing-here")
    with pytest.raises(errors.NotFoundError, match="version 9"):
        mr.get_model("ranker", 9)
    # explicit versions: a gap is fine, the next automatic number follows the highest
    mr.python.create_model("ranker", version=10, metrics={"auc": 0.95}).save(src)
    assert mr.python.create_model("ranker").save(src).version == 11
    assert mr.get_best_model("ranker", "auc").version == 10


def test_bad_input_gives_clear_errors_and_writes_nothing(env: Env) -> None:
    mr = env.mr()
    src = env.tmp / "m.bin"
    src.write_bytes(b"v1 weights")
    with pytest.raises(errors.InvalidArgumentError, match="Invalid model name 'Bad Name'"):
        mr.python.create_model("Bad Name")
    with pytest.raises(errors.InvalidArgumentError, match="Invalid model name"):
        mr.get_model("x")
    for bad in ("high", None, True, float("nan"), float("inf"), [1]):
        with pytest.raises(errors.InvalidArgumentError, match="Metric 'auc' has the value"):
            mr.python.create_model("badmetric", metrics={"auc": bad})
    with pytest.raises(errors.InvalidArgumentError, match="metrics must be a dict"):
        mr.python.create_model("badmetric", metrics=[0.5])
    with pytest.raises(errors.InvalidArgumentError, match="Unknown framework"):
        larder.model_registry.Model(mr, "fw", framework="caffe")
    # the server refuses non-numeric metrics on its own too (a client that skipped the check)
    r = env.server.api(
        "POST",
        f"/projects/{env.project}/models/raw/versions",
        env.keys["olive"],
        json={"metrics": {"auc": "x"}},
    )
    assert (
        r.status_code == 400 and r.json()["error_code"] == "invalid_argument" and "auc" in r.json()["message"]
    )

    missing = env.tmp / "does-not-exist"
    with pytest.raises(errors.InvalidArgumentError, match="does not exist"):
        mr.python.create_model("nofile").save(missing)
    (env.tmp / "empty-dir").mkdir()
    with pytest.raises(errors.InvalidArgumentError, match="holds no file"):
        mr.python.create_model("nofile").save(env.tmp / "empty-dir")
    assert mr.get_models("nofile") == [] and env.pending("nofile") == []

    # saving over an existing version: refused before anything is uploaded; v1 stays intact
    v1 = mr.python.create_model("immutable", metrics={"auc": 0.5}).save(src)
    other = env.tmp / "other.bin"
    other.write_bytes(b"something else entirely")
    with pytest.raises(errors.AlreadyExistsError, match="version 1 already exists"):
        mr.python.create_model("immutable", version=1, metrics={"auc": 0.9}).save(other)
    with pytest.raises(errors.AlreadyExistsError, match="saved already"):
        v1.save(other)
    assert env.read("immutable/1/m.bin") == b"v1 weights"
    assert env.objects("immutable/1") == {"m.bin": len(b"v1 weights")}
    assert mr.get_model("immutable").metrics == {"auc": 0.5}

    # downloading a deleted model
    v1.delete()
    with pytest.raises(errors.NotFoundError, match="version 1 was not found"):
        v1.download(env.tmp / "dl")
    with pytest.raises(errors.NotFoundError):
        mr.get_model("immutable", 1)
    with pytest.raises(errors.ConflictError, match="not been saved"):
        mr.python.create_model("unsaved").download()
    with pytest.raises(errors.InvalidArgumentError, match="version"):
        mr.get_model("immutable", 0)
    # oversized input example
    with pytest.raises(errors.InvalidArgumentError, match="input_example is .* bytes as JSON"):
        mr.python.create_model("huge", input_example=np.zeros((300, 300)))
    r = env.server.api(  # the server's own limit, for clients that skip the check
        "POST",
        f"/projects/{env.project}/models/huge/versions",
        env.keys["olive"],
        json={"input_example": [[0.125] * 250] * 250},
    )
    assert r.status_code == 400 and "input_example is" in r.json()["message"]
    assert env.pending("huge") == [] and mr.get_models("huge") == []


def test_tags(env: Env) -> None:
    mr = env.mr()
    src = env.tmp / "m.bin"
    src.write_bytes(b"x")
    model = mr.python.create_model("tagged").save(src)
    model.set_tag("stage", "staging")
    model.set_tag("owner.team", {"name": "risk", "members": [1, 2]})
    model.set_tag("stage", "production")
    assert model.get_tag("stage") == "production"
    assert mr.get_model("tagged").get_tags() == {
        "owner.team": {"name": "risk", "members": [1, 2]},
        "stage": "production",
    }
    model.delete_tag("stage")
    assert model.get_tags() == {"owner.team": {"name": "risk", "members": [1, 2]}}
    with pytest.raises(errors.NotFoundError, match="no tag 'stage'"):
        model.get_tag("stage")
    with pytest.raises(errors.NotFoundError):
        model.delete_tag("stage")
    with pytest.raises(errors.InvalidArgumentError, match="Invalid tag name"):
        model.set_tag("bad tag!", 1)


def test_delete_removes_artifacts_and_numbers_are_not_reused(env: Env) -> None:
    mr = env.mr()
    src = make_model_dir(env.tmp / "model", big=9 * MiB, small=3)
    a = mr.python.create_model("deleted").save(src)
    b = mr.python.create_model("deleted").save(src)
    assert env.objects("deleted/2")
    b.delete()
    assert b.status == "deleted"
    assert env.objects("deleted/2") == {} and env.multipart_uploads("deleted") == []
    assert [m.version for m in mr.get_models("deleted")] == [1]
    with pytest.raises(errors.NotFoundError):
        b.delete()
    assert mr.python.create_model("deleted").save(src).version == 3  # 2 is never handed out again
    # a data_scientist may delete what they saved, not what others saved; a data_owner may delete all
    sam = env.mr("sam")
    with pytest.raises(errors.PermissionDeniedError, match="data_owner"):
        sam.get_model("deleted", 1).delete()
    mine = sam.python.create_model("deleted").save(src)
    sam.get_model("deleted", mine.version).delete()
    a.delete()
    assert [m.version for m in mr.get_models("deleted")] == [3]


def test_concurrent_saves_get_distinct_versions(env: Env) -> None:
    src = env.tmp / "m.bin"
    src.write_bytes(os.urandom(100_000))
    registries = [env.mr("olive" if i % 2 else "sam") for i in range(8)]
    barrier = threading.Barrier(len(registries))
    versions: list[int] = []
    failures: list[BaseException] = []

    def save(mr: ModelRegistry, i: int) -> None:
        model = mr.python.create_model("raced", metrics={"i": i})
        barrier.wait()
        try:
            versions.append(model.save(src).version)  # type: ignore[arg-type]
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=save, args=(mr, i)) for i, mr in enumerate(registries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    assert sorted(versions) == list(range(1, 9))
    listed = env.mr().get_models("raced")
    assert sorted(m.version for m in listed) == list(range(1, 9))
    assert sorted(m.metrics["i"] for m in listed) == list(range(8))  # every save kept its own metadata
    for m in listed:
        assert env.objects(f"raced/{m.version}") == {"m.bin": 100_000}


def test_checksums_catch_a_corrupted_artifact(env: Env) -> None:
    mr = env.mr()
    src = make_model_dir(env.tmp / "model", big=20 * MiB, small=4)
    model = mr.python.create_model("corrupt").save(src)
    files = {f["path"]: f for f in mr._rest().get(f"/projects/{env.project}/models/corrupt/versions/1/files")}
    big = files["weights.bin"]
    # S3 stores: SHA-256 (S3 checks the parts itself); local stores: BLAKE3
    algorithm, name = ("blake3", "BLAKE3") if env.kind == "local" else ("sha256", "SHA-256")
    assert {f["checksum_algorithm"] for f in files.values()} == {algorithm}
    import blake3

    def digest(data: bytes) -> bytes:
        return blake3.blake3(data).digest() if algorithm == "blake3" else hashlib.sha256(data).digest()

    # a file sent in parts: one digest per 8 MiB part, and the composite (the hash of the part
    # digests in order, as S3 computes for multipart objects) as the file's checksum
    content = (src / "weights.bin").read_bytes()
    part_digests = [digest(content[i : i + 8 * MiB]) for i in range(0, len(content), 8 * MiB)]
    assert big["part_size"] == 8 * MiB and big["parts"] == [d.hex() for d in part_digests]
    assert big["checksum"] == digest(b"".join(part_digests)).hex()
    small = files["config.yaml"]
    assert small["parts"] is None and small["checksum"] == digest((src / "config.yaml").read_bytes()).hex()

    def check(fragment: str) -> None:
        dest = env.tmp / f"dl-{_uid()}"
        with pytest.raises(ArtifactCorruptedError, match=fragment) as info:
            model.download(dest)
        assert isinstance(info.value, errors.ConflictError)
        assert list(dest.iterdir()) == []  # nothing half-written, no staging folder left

    # same size, one flipped byte in a small file
    original = env.read("corrupt/1/config.yaml")
    env.write("corrupt/1/config.yaml", b"X" + original[1:])
    check(f"'config.yaml'.*{name} checksum differs")
    env.write("corrupt/1/config.yaml", original)
    assert _tree(Path(model.download(env.tmp / "fixed"))) == _tree(src)

    # one flipped byte in the second part of the large file
    data = bytearray(env.read("corrupt/1/weights.bin"))
    data[8 * MiB + 123] ^= 0xFF
    env.write("corrupt/1/weights.bin", bytes(data))
    check("'weights.bin'.*part 2")
    # truncated, then missing
    env.write("corrupt/1/weights.bin", bytes(data[: 10 * MiB]))
    check("'weights.bin'.*bytes")
    env.remove("corrupt/1/weights.bin")
    check("'weights.bin'.*missing")


def test_interrupted_save_leaves_no_version_and_no_parts(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    mr = env.mr()
    src = make_model_dir(env.tmp / "model", big=40 * MiB, small=30)
    real = _transfer._read_exact
    calls = {"n": 0}
    lock = threading.Lock()

    def failing(f: Any, mv: memoryview) -> int:
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 4:  # after the first parts and some small files went out
            raise OSError("simulated: the disk went away mid-upload")
        return real(f, mv)

    monkeypatch.setattr(_transfer, "_read_exact", failing)
    with pytest.raises(OSError, match="disk went away"):
        mr.python.create_model("interrupted").save(src)
    monkeypatch.setattr(_transfer, "_read_exact", real)
    assert mr.get_models("interrupted") == []
    with pytest.raises(errors.NotFoundError):
        mr.get_model("interrupted")
    assert env.pending("interrupted") == []  # the client withdrew its pending version
    assert env.objects("interrupted") == {} and env.multipart_uploads("interrupted") == []
    # the next save works and gets a fresh number
    ok = mr.python.create_model("interrupted").save(src)
    assert ok.version == 2 and _tree(Path(ok.download(env.tmp / "dl"))) == _tree(src)


KILLED_SAVE = textwrap.dedent(
    """
    import sys, time
    import larder
    from larder.model_registry import _transfer

    host, port, project, key, ca, certs, model_dir = sys.argv[1:8]
    real = _transfer._read_exact

    def slow(f, mv):  # large parts trickle out, so the parent can kill us mid-upload
        if len(mv) > 1024 * 1024:
            time.sleep(0.4)
        return real(f, mv)

    _transfer._read_exact = slow
    conn = larder.connection(host=host, port=int(port), project=project, api_key_value=key,
                             trust_store_path=ca, cert_folder=certs)
    conn.get_model_registry().python.create_model("killed").save(model_dir, progress=False)
    print("finished", flush=True)
    """
)


def test_killed_save_is_invisible_and_cleanup_removes_its_parts(env: Env) -> None:
    src = make_model_dir(env.tmp / "model", big=80 * MiB, small=20)
    script = env.tmp / "killed_save.py"
    script.write_text(KILLED_SAVE)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "127.0.0.1",
            str(_port(env.server)),
            env.project,
            env.keys["olive"],
            env.server.ca,
            str(env.tmp / "child-certs"),
            str(src),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not env.pending("killed") or not (env.objects("killed") or env.multipart_uploads("killed")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the child never started uploading"
            time.sleep(0.1)
        time.sleep(1.0)  # a few parts in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    mr = env.mr()
    # invisible to every read, but its leftovers are in the store
    assert mr.get_models("killed") == [] and "killed" not in mr.get_model_names()
    with pytest.raises(errors.NotFoundError):
        mr.get_model("killed", 1)
    [pending] = env.pending("killed")
    assert pending["version"] == 1 and pending["status"] == "pending" and pending["upload_token"] is None
    assert env.objects("killed") or env.multipart_uploads("killed")
    # a save still running is protected by its heartbeat: the default age keeps it
    assert mr.cleanup() == []
    assert mr.cleanup(older_than_seconds=0) == [("killed", 1)]
    assert env.pending("killed") == []
    assert env.objects("killed") == {} and env.multipart_uploads("killed") == []
    assert mr.python.create_model("killed").save(src).version == 2


def test_finalize_refuses_files_that_are_not_in_the_store(env: Env) -> None:
    """A version cannot become ready on a manifest alone: the server checks the store."""
    key = env.keys["olive"]
    base = f"/projects/{env.project}/models/liar/versions"
    created = _ok(env.server.api("POST", base, key, json={"metrics": {"auc": 1.0}}), 201)
    assert created["status"] == "pending" and created["upload_token"]
    token, v = created["upload_token"], created["version"]
    entry = {"path": "weights.bin", "size": 10, "checksum": "0" * 64}
    r = env.server.api("POST", f"{base}/{v}/files", key, json={"upload_token": "wrong", "files": [entry]})
    assert r.status_code == 409
    _ok(env.server.api("POST", f"{base}/{v}/files", key, json={"upload_token": token, "files": [entry]}), 200)
    r = env.server.api(
        "POST", f"{base}/{v}/finalize", key, json={"upload_token": token, "file_count": 1, "total_size": 10}
    )
    assert r.status_code == 409 and "missing or of another size" in r.json()["message"]
    r = env.server.api(
        "POST", f"{base}/{v}/finalize", key, json={"upload_token": token, "file_count": 2, "total_size": 10}
    )
    assert r.status_code == 409 and "record every file" in r.json()["message"]
    assert env.server.api("GET", f"{base}/{v}", key).status_code == 404
    assert env.mr().get_models("liar") == []
    assert _ok(env.server.api("DELETE", f"{base}/{v}", key), 204) is None


def test_sharing(env: Env) -> None:
    src = env.tmp / "m.bin"
    src.write_bytes(b"shared weights")
    mine = env.mr()
    mine.python.create_model("shared", metrics={"auc": 0.6}).save(src).set_tag("stage", "prod")
    petra_conn = env.conn("petra", project=env.other)
    theirs = ModelRegistry(env.project, petra_conn)
    assert theirs.shared
    with pytest.raises(errors.NotFoundError, match="not shared with you"):
        theirs.get_model("shared")
    lonely = f"lonely_{_uid()}"
    _ok(env.server.api("POST", "/projects", env.keys["nobody"], json={"name": lonely}), 201)
    with pytest.raises(errors.NotFoundError, match="not shared with you"):
        ModelRegistry(env.project, env.conn("nobody", project=lonely)).get_models("shared")
    # only a data_owner shares
    with pytest.raises(errors.PermissionDeniedError, match="data_owner"):
        env.mr("sam").share_with(env.other)
    with pytest.raises(errors.NotFoundError):
        mine.share_with("no_such_project")
    # sharing names a project the sharer is a member of (else the same 404 as a missing one)
    with pytest.raises(errors.NotFoundError):
        mine.share_with(env.other)
    _ok(
        env.server.api(
            "PUT", f"/projects/{env.other}/members/olive", env.keys["petra"], json={"role": "data_scientist"}
        ),
        200,
    )
    mine.share_with(env.other)
    assert mine.shared_with == [env.other]

    # petra's project reads: get, list, best, tags, download (with read-only vended credentials)
    got = theirs.get_model("shared")
    assert got.metrics == {"auc": 0.6} and got.get_tags() == {"stage": "prod"}
    assert [m.version for m in theirs.get_models("shared")] == [1]
    assert theirs.get_best_model("shared", "auc").version == 1
    assert _tree(Path(got.download(env.tmp / "petra-dl"))) == {"m.bin": _sha(src)}
    # ...but changes nothing
    with pytest.raises(errors.PermissionDeniedError, match="read"):
        theirs.python.create_model("shared").save(src)
    with pytest.raises(errors.PermissionDeniedError, match="read-only"):
        got.set_tag("stage", "hacked")
    with pytest.raises(errors.PermissionDeniedError, match="read-only"):
        got.delete()
    with pytest.raises(errors.PermissionDeniedError):
        theirs.share_with(env.other)
    assert [m.version for m in mine.get_models("shared")] == [1] and env.pending("shared") == []

    mine.stop_sharing(env.other)
    assert mine.shared_with == []
    with pytest.raises(errors.NotFoundError):
        theirs.get_model("shared")


def test_connection_opens_a_shared_registry(env: Env) -> None:
    _ok(
        env.server.api(
            "PUT", f"/projects/{env.other}/members/olive", env.keys["petra"], json={"role": "data_scientist"}
        ),
        200,
    )
    env.mr().share_with(env.other)
    assert env.conn("petra", project=env.other).get_model_registry(env.project).project == env.project


def test_lineage_round_trips(env: Env) -> None:
    mr = env.mr()
    src = env.tmp / "m.bin"
    src.write_bytes(b"x")
    fv = FakeFeatureView("clicks", 4, f"{env.project}_featurestore")
    saved = mr.python.create_model("lineage", feature_view=fv, training_dataset_version=7).save(src)
    for m in (saved, mr.get_model("lineage")):
        assert (m.feature_store, m.feature_view_name, m.feature_view_version, m.training_dataset_version) == (
            f"{env.project}_featurestore",
            "clicks",
            4,
            7,
        )
    by_tuple = mr.python.create_model("lineage", feature_view=("clicks", 5)).save(src)
    assert (mr.get_model("lineage", by_tuple.version).feature_view_version, by_tuple.feature_store) == (
        5,
        f"{env.project}_featurestore",
    )
    with pytest.raises(errors.InvalidArgumentError, match="feature_view"):
        mr.python.create_model("lineage", feature_view=("clicks", "five"))
    plain = mr.python.create_model("nolineage").save(src)
    with pytest.raises(errors.NotFoundError, match="without a feature view"):
        plain.get_feature_view()
    from larder.feature_store import FeatureStore

    if hasattr(FeatureStore, "get_feature_view"):  # the lineage reaches the project's feature store
        with pytest.raises(errors.NotFoundError, match="clicks"):
            saved.get_feature_view()  # (no feature view 'clicks' was created there)
    else:
        with pytest.raises(errors.ConfigurationError, match="feature view 'clicks' version 4"):
            saved.get_feature_view()

    class FeatureStoreLike:
        name = f"{env.project}_featurestore"

    class FeatureViewLike:  # larder's FeatureView keeps its store privately
        name, version, _fs = "views", 1, FeatureStoreLike()

    assert mr.python.create_model("lineage", feature_view=FeatureViewLike()).feature_store == (
        f"{env.project}_featurestore"
    )


def test_keep_original_files_false_and_progress_bar(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    mr = env.mr()
    src = make_model_dir(env.tmp / "model", big=9 * MiB, small=3)
    expected = _tree(src)
    model = mr.python.create_model("moved").save(src, keep_original_files=False, progress=True)
    assert not src.exists()
    assert "save moved v1" in capsys.readouterr().err
    assert _tree(Path(model.download(env.tmp / "dl", progress=False))) == expected


def test_scopes_and_secrets(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    no_scope = ModelRegistry(env.project, env.conn("olive-noreg"))
    with pytest.raises(errors.PermissionDeniedError, match="modelregistry"):
        no_scope.get_models("anything")
    caplog.set_level(logging.DEBUG)
    src = env.tmp / "m.bin"
    src.write_bytes(b"x" * 1000)
    mr = env.mr()
    model = mr.python.create_model("quiet").save(src)
    model.download(env.tmp / "dl")
    text = caplog.text + repr(model) + repr(mr)
    assert env.keys["olive"] not in text and env.keys["olive"].split(".", 1)[1] not in text
    assert "upload_token" not in repr(vars(model))


# --- PostgreSQL: version numbers under concurrency ---------------------------------------------------


def test_concurrent_versions_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    server = LarderServer(tmp_path / "home", database_url=_new_pg_database(pg_url)).init().start()
    conns: list[larder.Connection] = []
    try:
        server.create_user("pgolive")
        key, _ = server.create_key("pgolive", SCOPES, tmp_path)
        _ok(server.api("POST", "/projects", key, json={"name": "pgproj"}), 201)
        src = tmp_path / "m.bin"
        src.write_bytes(b"pg")
        for i in range(6):
            conns.append(
                larder.connection(
                    host="127.0.0.1",
                    port=_port(server),
                    project="pgproj",
                    api_key_value=key,
                    trust_store_path=server.ca,
                    cert_folder=str(tmp_path / f"certs{i}"),
                )
            )
        barrier = threading.Barrier(len(conns))
        versions: list[int] = []

        def save(conn: larder.Connection) -> None:
            model = conn.get_model_registry().python.create_model("pgraced")
            barrier.wait()
            versions.append(model.save(src).version)  # type: ignore[arg-type]

        threads = [threading.Thread(target=save, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    finally:
        for c in conns:
            c.close()
        server.stop()


# --- schemas and input examples (no server) ------------------------------------------------------------


def test_schema_inference() -> None:
    import polars as pl

    df = pd.DataFrame({"a": [1, 2], "b": [0.5, None], "c": ["x", "y"]})
    assert Schema(df).to_dict() == {
        "columnar_schema": [
            {"name": "a", "type": "int64"},
            {"name": "b", "type": "float64"},
            {"name": "c", "type": str(df["c"].dtype)},
        ]
    }
    assert Schema(df["a"]).columnar_schema == [{"name": "a", "type": "int64"}]
    assert Schema(pl.DataFrame({"a": [1], "s": ["q"]})).columnar_schema == [
        {"name": "a", "type": "Int64"},
        {"name": "s", "type": "String"},
    ]
    assert Schema(
        pa.table({"a": pa.array([1], pa.int32()), "t": pa.array([None], pa.timestamp("us"))})
    ).columnar_schema == [
        {"name": "a", "type": "int32"},
        {"name": "t", "type": "timestamp[us]"},
    ]
    assert Schema(np.zeros((4, 28, 28), dtype="float32")).to_dict() == {
        "tensor_schema": [{"type": "float32", "shape": [4, 28, 28]}]
    }
    structured = np.zeros(3, dtype=[("x", "f4"), ("y", "i8")])
    assert Schema(structured).columnar_schema == [
        {"name": "x", "type": "float32"},
        {"name": "y", "type": "int64"},
    ]

    class TensorLike:  # a torch/TensorFlow tensor, without importing either
        dtype = "torch.float16"
        shape = (2, 3)

    assert Schema(TensorLike()).tensor_schema == [{"type": "torch.float16", "shape": [2, 3]}]
    assert Schema([{"name": "a", "type": "int"}]).columnar_schema == [{"name": "a", "type": "int"}]
    with pytest.raises(errors.InvalidArgumentError, match="Cannot infer a schema"):
        Schema("not data")
    ms = ModelSchema(Schema(df), None)
    assert ModelSchema.from_dict(ms.to_dict()) == ms and ms.to_dict()["output_schema"] is None
    with pytest.raises(errors.InvalidArgumentError, match="Schema"):
        ModelSchema(df)  # type: ignore[arg-type]


def test_input_examples_become_json() -> None:
    import datetime as dt

    import polars as pl

    from larder.model_registry.schema import input_example_to_json

    df = pd.DataFrame(
        {"a": [1, 2], "b": [float("nan"), 2.5], "t": pd.to_datetime(["2024-01-01", "2024-01-02"])}
    )
    out = input_example_to_json(df)
    assert (
        out["columns"] == ["a", "b", "t"]
        and out["data"][0][:2] == [1, None]
        and out["data"][0][2].startswith("2024-01-01")
    )
    assert input_example_to_json(pl.DataFrame({"a": [1], "d": [dt.date(2024, 1, 2)]})) == {
        "columns": ["a", "d"],
        "data": [[1, "2024-01-02"]],
    }
    assert input_example_to_json(pa.table({"a": [1, 2]})) == {"columns": ["a"], "data": [[1], [2]]}
    assert input_example_to_json(np.array([[1.0, np.inf]])) == [[1.0, None]]
    assert input_example_to_json({"x": np.float32(0.5), "y": (1, 2)}) == {"x": 0.5, "y": [1, 2]}
    with pytest.raises(errors.InvalidArgumentError, match="input example"):
        input_example_to_json({"x": object()})


def test_deleting_the_project_removes_its_registry(env: Env) -> None:
    src = env.tmp / "m.bin"
    src.write_bytes(b"x")
    env.mr().python.create_model("gone").save(src).set_tag("a", 1)
    for c in env.conns:
        c.close()
    assert env.server.api("DELETE", f"/projects/{env.project}", env.keys["olive"]).status_code == 204
    assert env.objects("gone") == {}
    r = env.server.api("GET", f"/projects/{env.project}/models/gone/versions", env.keys["olive"])
    assert r.status_code == 404
    # the name is free again, with an empty registry
    _ok(
        env.server.api(
            "POST", "/projects", env.keys["olive"], json={"name": env.project, "namespace": env.namespace}
        ),
        201,
    )
    assert env.mr().get_models("gone") == []
    assert env.mr().python.create_model("gone").save(src).version == 1


def test_rest_refuses_malformed_requests_with_4xx(env: Env) -> None:
    """Hand-picked inputs a fuzzer would find: every one is a 4xx with a Larder error body, never a 5xx."""
    key = env.keys["olive"]
    base = f"/projects/{env.project}/models"
    created = _ok(env.server.api("POST", f"{base}/fuzz/versions", key, json={}), 201)
    v = created["version"]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{base}/fuzz/versions", {"json": {"metrics": {"a": int("9" * 400)}}}),
        ("POST", f"{base}/fuzz/versions", {"json": {"version": 2**40}}),
        ("POST", f"{base}/fuzz/versions", {"json": {"description": "a\x00b"}}),
        ("POST", f"{base}/fuzz/versions", {"json": {"framework": "caffe"}}),
        ("POST", f"{base}/fuzz/versions", {"json": {"feature_view_name": "x"}}),
        ("POST", f"{base}/fuzz/versions", {"json": {"unknown": 1}}),
        ("POST", f"{base}/Bad%20Name/versions", {"json": {}}),
        ("PUT", f"{base}/fuzz/versions/{v}/heartbeat", {"json": {"upload_token": "ü" * 10}}),
        ("POST", f"{base}/fuzz/versions/{v}/files", {"json": {"upload_token": "x", "files": []}}),
        (
            "POST",
            f"{base}/fuzz/versions/{v}/files",
            {
                "json": {
                    "upload_token": created["upload_token"],
                    "files": [{"path": "../x", "size": 1, "checksum": "a" * 64}],
                }
            },
        ),
        (
            "POST",
            f"{base}/fuzz/versions/{v}/files",
            {
                "json": {
                    "upload_token": created["upload_token"],
                    "files": [
                        {"path": "x", "size": 10, "checksum": "a" * 64, "part_size": 3, "parts": ["a" * 64]}
                    ],
                }
            },
        ),
        (
            "POST",
            f"{base}/fuzz/versions/{v}/files",
            {
                "json": {
                    "upload_token": created["upload_token"],
                    "files": [{"path": "x", "size": 1, "checksum": "a" * 64, "checksum_algorithm": "md5"}],
                }
            },
        ),
        ("GET", f"{base}/fuzz/versions/{2**40}", {}),
        ("GET", f"{base}/fuzz/best", {"params": {"metric": "auc", "direction": "sideways"}}),
        ("POST", f"{base}/_cleanup", {"params": {"older_than_seconds": 10**12}}),
        ("PUT", f"{base}/_shares/Not%20A%20Project", {}),
        ("PUT", f"{base}/_shares/{env.project}", {}),
        ("PUT", f"{base}/fuzz/versions/{v}/tags/ok", {"json": {"value": 1}}),  # pending: not taggable
    ]
    for method, path, kw in cases:
        r = env.server.api(method, path, key, **kw)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert r.json()["error_code"] and r.json()["message"], r.text
    assert not re.search(r" 5\d\d \d+\.\dms", env.server.log())


def test_heartbeats_protect_a_slow_save_from_cleanup(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_model_dir(env.tmp / "model", big=1000, small=12)
    real = _transfer._read_exact

    def slow(f: Any, mv: memoryview) -> int:
        time.sleep(0.25)
        return real(f, mv)

    monkeypatch.setattr(_transfer, "_read_exact", slow)
    monkeypatch.setattr(_transfer, "HEARTBEAT_SECONDS", 0.2)
    mr = env.mr()
    result: list[Any] = []
    saver = threading.Thread(target=lambda: result.append(mr.python.create_model("slow").save(src)))
    saver.start()
    deadline = time.monotonic() + 30
    while not env.pending("slow"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.5)  # older than the cleanup age below, but heartbeats keep it fresh
    assert env.mr().cleanup(older_than_seconds=1) == []
    saver.join(60)
    assert result and result[0].version == 1 and mr.get_model("slow").file_count == 15
