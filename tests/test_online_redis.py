"""The Redis online store, against a real redis-server (Debian's package, installed by the Makefile)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pandas as pd
import pytest
import real_services
from test_feature_store import T0, connect, weather_df

from conftest import LarderServer


@pytest.fixture(scope="module")
def redis_url():
    with real_services.redis() as url:
        yield url


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
