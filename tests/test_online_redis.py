"""The Redis online store, against a real redis-server (Debian's package, installed by the Makefile)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from datetime import timedelta

import pandas as pd
import pytest
from test_feature_store import T0, connect, weather_df

from conftest import LarderServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url():
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed: `make test` installs Debian's redis-server package"
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def redis_platform(tmp_path_factory, redis_url):
    home = tmp_path_factory.mktemp("redis") / "home"
    server = LarderServer(home).init()
    with open(home / "server.toml", "a") as f:
        f.write(f'online_store = "redis"\nredis_url = "{redis_url}"\n')
    server.start()
    yield server
    server.stop()


def test_redis_online_store(redis_platform, redis_url):
    import redis

    with connect(redis_platform) as conn:
        fs = conn.get_feature_store()
        weather = fs.create_feature_group(
            f"wx_{uuid.uuid4().hex[:6]}", primary_key=["origin"], event_time="time_hour", online_enabled=True
        )
        weather.insert(weather_df())
        fv = fs.create_feature_view(f"v_{uuid.uuid4().hex[:6]}", weather.select(["origin", "temp"]))
        assert fv.get_feature_vector({"origin": "JFK"}) == [2.0]
        r = redis.Redis.from_url(redis_url)
        assert (
            len([k for k in r.scan_iter("larder:*") if not k.endswith(b"__keys__")]) == 3
        )  # it really is in Redis
        weather.insert(
            pd.DataFrame(
                {"origin": ["JFK"], "time_hour": [T0 - timedelta(days=1)], "temp": [-5.0], "wind": [1]}
            )
        )
        assert fv.get_feature_vector({"origin": "JFK"}) == [2.0]  # older never overwrites newer
        weather.insert(
            pd.DataFrame(
                {"origin": ["JFK"], "time_hour": [T0 + timedelta(days=1)], "temp": [7.0], "wind": [1]}
            )
        )
        assert fv.get_feature_vectors([{"origin": "JFK"}, {"origin": "LGA"}]) == [[7.0], [3.0]]
        online = weather.read(online=True).sort_values("origin")
        assert online.temp.tolist() == [4.0, 7.0, 3.0]
        weather.delete()
        assert [k for k in r.scan_iter("larder:*")] == []
