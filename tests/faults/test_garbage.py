"""What a killed process leaves behind is swept: a client's private key and keystores (the next
connection on the host removes the folders of processes that are gone), a dataset upload's hidden
part file (the server's janitor, by age), and a killed model save's files (never listed while the
version is pending, removed by the registry's cleanup)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

KILLED_CONNECTION = textwrap.dedent(
    """
    import os, signal, sys, larder
    conn = larder.connection(host=sys.argv[1], port=int(sys.argv[2]), project=sys.argv[3],
                             api_key_value=sys.argv[4], trust_store_path=sys.argv[5], cert_folder=sys.argv[6])
    print(conn.certificates.folder, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_clients_certificates_are_removed_by_the_next_connection(cast, tmp_path):
    alice = cast.user("alice")
    project = cast.project(alice)
    certs = tmp_path / "certs"
    host, port = cast.server.url.removeprefix("https://").rsplit(":", 1)
    args = [host, port, project, alice.key, cast.server.ca, str(certs)]
    folders = []
    for _ in range(3):
        p = subprocess.run(
            [sys.executable, "-c", KILLED_CONNECTION, *args], capture_output=True, text=True, timeout=120
        )
        assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
        folders.append(Path(p.stdout.strip()))
    # what a SIGKILL leaves: the last one's private key (each connection swept the one before)
    assert (folders[-1] / "client_key.pem").exists() and not any(f.exists() for f in folders[:-1])
    with alice.connection(project, cert_folder=str(certs)) as conn:
        assert conn.certificates.folder.exists()
        assert not any(f.exists() for f in folders)
    assert not any(certs.rglob("client_key.pem"))


KILLED_SAVE = textwrap.dedent(
    """
    import os, signal, sys, larder
    from larder.model_registry import _transfer
    real, done = _transfer._upload_file, []

    def upload_then_die(run, store, f):  # SIGKILL once two files are in the store
        out = real(run, store, f)
        done.append(f)
        if len(done) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    _transfer._upload_file = upload_then_die
    conn = larder.connection(host=sys.argv[1], port=int(sys.argv[2]), project=sys.argv[3],
                             api_key_value=sys.argv[4], trust_store_path=sys.argv[5])
    conn.get_model_registry().python.create_model("killed").save(sys.argv[6])
    """
)


def test_a_killed_model_save_is_never_listed_and_is_cleaned_up(cast, tmp_path):
    alice = cast.user("alice")
    project = cast.project(alice)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for i in range(6):
        (model_dir / f"shard-{i}.bin").write_bytes(os.urandom(256 * 1024))
    host, port = cast.server.url.removeprefix("https://").rsplit(":", 1)
    args = [host, port, project, alice.key, cast.server.ca, str(model_dir)]
    p = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, *args], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    folder = cast.server.home / "data" / "default" / f"{project}_models" / "killed" / "1"
    assert len(list(folder.iterdir())) >= 2  # two shards are in the store ...
    with alice.connection(project) as conn:
        ds = conn.get_namespace("default").get_dataset(f"{project}_models")
        listed = [r.key for r in ds.root.rglob("*")]
        assert not any(k.startswith("killed/1") for k in listed), listed  # ... and listed nowhere
        assert [p.name for p in (ds / "killed").iterdir()] == []
        assert conn.get_model_registry().get_models("killed") == []
        # the registry's cleanup (of versions without a heartbeat) removes the files and the marker
        r = alice.api("POST", f"/projects/{project}/models/_cleanup", params={"older_than_seconds": 0})
        assert r.status_code == 200 and r.json()["removed"] == [{"name": "killed", "version": 1}], r.text
    assert (
        not folder.exists() and not any(folder.parent.glob(".larder-*")) if folder.parent.exists() else True
    )
    # a save that completes is listed whole
    with alice.connection(project) as conn:
        conn.get_model_registry().python.create_model("whole").save(str(model_dir))
        ds = conn.get_namespace("default").get_dataset(f"{project}_models")
        assert sorted(r.name for r in (ds / "whole" / "1").iterdir()) == [f"shard-{i}.bin" for i in range(6)]
        assert [r.name for r in (ds / "whole").iterdir()] == ["1"]


KILLED_UPLOAD = textwrap.dedent(
    """
    import os, signal, sys, larder
    conn = larder.connection(host=sys.argv[1], port=int(sys.argv[2]), project=sys.argv[3],
                             api_key_value=sys.argv[4], trust_store_path=sys.argv[5])
    ds = conn.get_namespace("default").get_dataset(sys.argv[6])
    with (ds / "big.bin").open("wb") as f:
        for _ in range(40):
            f.write(os.urandom(1 << 20))
        os.kill(os.getpid(), signal.SIGKILL)  # 40 MiB written, never renamed into place
    """
)


def test_a_killed_uploads_part_file_is_removed_by_the_janitor(cast):
    from .conftest import STALE_UPLOAD_SECONDS

    priv = cast.user("priv", role="privileged")
    name = f"up{os.urandom(3).hex()}"
    assert priv.api("POST", "/namespaces/default/datasets", json={"name": name}).status_code == 201
    host, port = cast.server.url.removeprefix("https://").rsplit(":", 1)
    project = cast.project(priv)
    args = [host, port, project, priv.key, cast.server.ca, name]
    p = subprocess.run(
        [sys.executable, "-c", KILLED_UPLOAD, *args], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    folder = cast.server.home / "data" / "default" / name
    parts = list(folder.glob(".larder-*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 40 << 20
    with priv.connection(project) as conn:  # the part file is never listed
        assert [r.name for r in conn.get_namespace("default").get_dataset(name).root.iterdir()] == []
    deadline = time.monotonic() + STALE_UPLOAD_SECONDS + 20
    while parts[0].exists():
        assert time.monotonic() < deadline, "the janitor did not remove the part file"
        time.sleep(0.5)


def test_larder_server_gc_sweeps_on_demand(cast):
    from conftest import run_cli

    folder = cast.server.home / "data" / "default" / "gc-probe"
    folder.mkdir(parents=True, exist_ok=True)
    stale = folder / ".larder-0123abcd.part"
    stale.write_bytes(b"x" * 1000)
    out = run_cli("server", "gc", "--home", str(cast.server.home), "--older-than", "0", "--json")
    import json

    swept = json.loads(out.stdout)
    assert swept["part_files"] >= 1 and swept["part_bytes"] >= 1000 and not stale.exists()
