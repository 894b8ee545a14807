"""The crashes and traps a new user hits (issue 18, section 2), against real servers:

- a failed insert never leaves its statistics running, and no exit path aborts the process;
- remote-only settings without a host are an error, not a silent embedded platform; explicit
  key sources win over ``LARDER_API_KEY``; a refused key's message names its source;
- raw library exceptions come back as :class:`~larder.errors.LarderError` with the bad value.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

import larder
from conftest import LarderServer
from larder import errors


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def _host_port(server: LarderServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    return host, int(port)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LARDER_", "AWS_"))}
    env.update(extra)
    return env


# --- a failed insert, and the exit code ----------------------------------------------------------

CHILD = """
import sys, threading
import numpy as np, pandas as pd
import larder

host, port, project, key, ca, mode = sys.argv[1:7]
conn = larder.connection(host=host, port=int(port), project=project, api_key_value=key, trust_store_path=ca)
fg = conn.get_feature_store().get_or_create_feature_group(f"g_{mode}", primary_key=["k"])
n = 1_000_000  # statistics take a while: they are still running when the insert fails
df = pd.DataFrame({"k": np.arange(n), "x": np.random.default_rng(0).random(n), "s": np.arange(n).astype(str)})
print("inserting", flush=True)
try:
    fg.insert(df)
    print("inserted", flush=True)
except larder.errors.LarderError as e:
    print("caught", type(e).__name__, flush=True)
    if mode == "reraise":
        raise
stats = [t for t in threading.enumerate() if t.name.startswith("larder-stats")]
for t in stats:
    t.join(30)
print("stats threads left", sum(t.is_alive() for t in stats), flush=True)
"""


def _child(tmp_path: Path, server: LarderServer, project: str, key: str, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    host, port = _host_port(server)
    return subprocess.Popen(
        [sys.executable, str(script), host, str(port), project, key, server.ca, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(PYTHONUNBUFFERED="1"),
    )


@pytest.mark.timeout(600)
def test_an_insert_refused_past_validation_exits_cleanly_every_time(
    platform: LarderServer, tmp_path: Path
) -> None:
    """The key may write the catalog but not the dataset: the insert fails after its checks, with
    its statistics running. The script catches the error and exits 0 (the abort at exit, rc 134,
    was 10 runs in 12); the statistics thread is gone; uncaught, the exit code is Python's 1."""
    user = f"u{_uid()}"
    platform.create_user(user)
    key, _ = platform.create_key(user, "project,featurestore", tmp_path)
    project = f"p_{_uid()}"
    assert platform.api("POST", "/projects", key, json={"name": project}).status_code == 201
    for i in range(4):
        mode = "reraise" if i == 3 else "catch"
        proc = _child(tmp_path, platform, project, key, mode)
        out, err = proc.communicate(timeout=240)
        assert "caught PermissionDeniedError" in out, out + err
        if mode == "catch":
            assert proc.returncode == 0, f"run {i}: exit {proc.returncode}\n{out}\n{err[-3000:]}"
            assert "stats threads left 0" in out
        else:
            assert proc.returncode == 1 and "PermissionDeniedError" in err, (proc.returncode, err[-3000:])


@pytest.mark.timeout(600)
def test_a_server_killed_during_the_insert_never_aborts_the_script(tmp_path: Path) -> None:
    """The server is killed (SIGKILL) while the insert runs, at several points of the write; the
    script catches the LarderError and exits 0."""
    server = LarderServer(tmp_path / "home").init().start()
    project = f"p_{_uid()}"
    assert server.api("POST", "/projects", server.admin_key, json={"name": project}).status_code == 201
    codes = []
    try:
        for i, delay in enumerate((0.05, 0.4, 0.8, 1.5)):
            proc = _child(tmp_path, server, project, server.admin_key, f"kill{i}")
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("inserting")
            import time

            time.sleep(delay)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
            server.proc = None
            server._log.close()
            out, err = proc.communicate(timeout=240)
            codes.append(proc.returncode)
            assert proc.returncode == 0, f"delay {delay}: exit {proc.returncode}\n{out}\n{err[-3000:]}"
            assert "stats threads left 0" in out
            server.start()
    finally:
        server.stop()
    assert codes == [0, 0, 0, 0]


# --- connecting: remote intent without a host, explicit sources, the refused key's source ---------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"secrets_store": "secretsmanager"}, "secrets_store='secretsmanager'"),
        ({"secrets_store": "parameterstore"}, "secrets_store='parameterstore'"),
        ({"trust_store_path": "/etc/larder/ca.pem"}, "trust_store_path='/etc/larder/ca.pem'"),
    ],
)
def test_remote_settings_without_a_host_are_an_error_not_an_embedded_platform(
    kwargs: dict[str, str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LARDER_HOST", "LARDER_PORT", "LARDER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "larder-home"
    monkeypatch.setenv("LARDER_HOME", str(home))
    with pytest.raises(errors.ConfigurationError) as info:
        larder.connection(**kwargs)  # type: ignore[arg-type]
    msg = str(info.value)
    assert named in msg and "LARDER_HOST" in msg and "LARDER_PORT" in msg and "host" in msg
    assert info.value.details["looked_at"] == ["host", "LARDER_HOST", "LARDER_PORT"]
    assert not home.exists()  # no embedded platform was started


@pytest.fixture(scope="module")
def alice(platform: LarderServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("alice")
    user = f"alice{_uid()}"
    platform.create_user(user, role="privileged")  # may create datasets
    key, key_file = platform.create_key(user, "project,featurestore,modelregistry,dataset", tmp)
    project = f"p_{_uid()}"
    assert platform.api("POST", "/projects", key, json={"name": project}).status_code == 201
    return {"user": user, "key": key, "key_file": str(key_file), "project": project}


def _opts(platform: LarderServer, alice: dict[str, str], **kw: str) -> dict[str, object]:
    host, port = _host_port(platform)
    return {"host": host, "port": port, "project": alice["project"], "trust_store_path": platform.ca, **kw}


def test_an_unknown_key_names_where_it_came_from_never_the_key(
    platform: LarderServer, alice: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = "0123456789abcdef.aStaleKeyLeftInTheEnvironment_0123456789"
    monkeypatch.setenv("LARDER_API_KEY", stale)
    with pytest.raises(errors.AuthenticationError) as info:
        larder.connection(**_opts(platform, alice))  # type: ignore[arg-type]
    msg = str(info.value)
    assert "Unknown API key" in msg and "env LARDER_API_KEY" in msg
    assert stale not in msg and "aStaleKey" not in repr(info.value) + str(info.value.details)
    stale_file = tmp_path / "old.key"
    stale_file.write_text(stale)
    with pytest.raises(errors.AuthenticationError, match=f"api_key_file {stale_file}"):
        larder.connection(**_opts(platform, alice, api_key_file=str(stale_file)))  # type: ignore[arg-type]
    # an explicit argument wins over the environment
    with larder.connection(**_opts(platform, alice, api_key_file=alice["key_file"])) as conn:  # type: ignore[arg-type]
        assert conn.user == alice["user"] and conn.api_key_source == f"api_key_file {alice['key_file']}"


# --- raw exceptions become LarderErrors ---------------------------------------------------------


@pytest.fixture(scope="module")
def conn(platform: LarderServer, alice: dict[str, str]):
    c = larder.connection(**_opts(platform, alice, api_key_value=alice["key"]))  # type: ignore[arg-type]
    yield c
    c.close()


def test_search_takes_the_time_strings_hsfs_users_pass(conn) -> None:
    """``modified_after="2020-01-01T00:00:00Z"`` raised AttributeError ('str' has no tzinfo)."""
    import warnings

    ns = conn.get_namespace("default")
    ds = ns.create_dataset(f"s_{_uid()}")
    tag = _uid()
    (ds / "a.txt").write_text("x", metadata={"tag": tag})
    assert [r.key for r in conn.search(metadata={"tag": tag}, modified_after="2020-01-01T00:00:00Z")] == [
        "a.txt"
    ]
    assert conn.search(metadata={"tag": tag}, modified_before="2020-01-01T00:00:00Z") == []
    future_ms = int((datetime.now(timezone.utc).timestamp() + 3600) * 1000)
    assert conn.search(metadata={"tag": tag}, modified_after=future_ms) == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(conn.search(metadata={"tag": tag}, modified_after="2020-01-01")) == 1
    assert [w.category for w in caught] == [errors.NaiveTimeWarning]
    assert caught[0].filename == __file__  # pointed at the caller's line
    with pytest.raises(errors.InvalidArgumentError, match="'last tuesday'"):
        conn.search(metadata={"tag": tag}, modified_after="last tuesday")
    with pytest.raises(errors.InvalidArgumentError, match="epoch seconds"):
        conn.search(metadata={"tag": tag}, modified_after=1_700_000_000)


def test_select_except_every_column_is_a_clear_error(conn) -> None:
    """It was a duckdb ParserException (a SELECT of no column)."""
    fs = conn.get_feature_store()
    fg = fs.create_feature_group(f"w_{_uid()}", primary_key=["k"])
    fg.insert(pd.DataFrame({"k": [1, 2], "x": [1.0, 2.0]}))
    with pytest.raises(errors.InvalidArgumentError, match=r"select_except\(\['k', 'x'\]\) leaves no feature"):
        fg.select_except(["k", "x"])
    with pytest.raises(errors.InvalidArgumentError, match="selects no feature"):
        fg.select([])
    # a bare string is one name (hsfs), not its characters
    assert list(fg.select_except("x").read().columns) == ["k"]
    assert list(fg.select("x").read().columns) == ["x"]


def test_a_column_of_mixed_types_is_a_clear_error(conn) -> None:
    """It was pyarrow's ArrowInvalid ("Could not convert 'warm' with type str ...")."""
    fg = conn.get_feature_store().create_feature_group(f"m_{_uid()}", primary_key=["k"], event_time="t")
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    mixed = pd.DataFrame({"k": [1, 2], "t": [t0, t0], "x": [1.5, "warm"]})
    with pytest.raises(errors.InvalidArgumentError) as info:
        fg.insert(mixed)
    assert "Column 'x'" in info.value.message and "float, str" in info.value.message
    assert info.value.details["column"] == "x"
    with pytest.raises(errors.InvalidArgumentError, match="Column 'x' holds values of several types"):
        fg.insert([{"k": 1, "t": t0, "x": 1.5}, {"k": 2, "t": t0, "x": "warm"}])
    aware_and_naive = pd.DataFrame({"k": [1, 2], "t": [t0, datetime(2024, 1, 1)], "x": [1.0, 2.0]})
    with pytest.raises(errors.InvalidArgumentError, match="Column 't' holds timezone-aware and naive"):
        fg.insert(aware_and_naive)
    with pytest.raises(errors.NotFoundError):  # nothing was written
        fg.read()


def test_a_spark_dataframe_on_the_python_engine_gets_a_hint(conn) -> None:
    """A stand-in of pyspark's DataFrame class (by its module: what the python engine looks at),
    so that the test needs no JVM."""
    spark_frame = type("DataFrame", (), {"__module__": "pyspark.sql.classic.dataframe"})()
    fg = conn.get_feature_store().create_feature_group(f"s_{_uid()}", primary_key=["k"])
    with pytest.raises(errors.InvalidArgumentError, match=r"toPandas\(\).*engine='spark'"):
        fg.insert(spark_frame)
