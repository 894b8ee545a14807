"""The SQLite online store's batch read: values in the order of the keys asked for, duplicates and
missing keys included, across the 500-key chunks of its IN lists (which it sends sorted)."""

from __future__ import annotations

import random

from larder.server.online.sqlite import SqliteOnlineStore


def test_get_keeps_the_order_asked_for(tmp_path):
    store = SqliteOnlineStore(str(tmp_path / "online.db"))
    rows = [(f'{{"key":{i}}}', 1, f"v{i}".encode()) for i in range(1500)]
    store.upsert("fg1", rows)
    store.upsert("fg2", [(rows[0][0], 1, b"other table")])
    rng = random.Random(3)
    keys = [f'{{"key":{rng.randrange(1800)}}}' for _ in range(1200)]  # > 500 distinct, some missing
    keys += keys[:7]  # duplicates
    got = store.get("fg1", keys)
    want = [f"v{int(k[7:-1])}".encode() if int(k[7:-1]) < 1500 else None for k in keys]
    assert got == want
    assert any(v is None for v in got)
    assert store.get("fg2", [rows[1][0], rows[0][0]]) == [None, b"other table"]
    assert store.get("fg1", [rows[5][0]]) == [b"v5"]
    assert store.get("fg1", []) == []
    store.close()
