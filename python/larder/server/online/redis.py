"""The Redis online store (shared deployments): one hash per row, ``larder:<table>:<key>``."""

from __future__ import annotations

from typing import Any

# Replace only when the incoming event time is not older than the stored one.
UPSERT_LUA = """
local cur = redis.call('HGET', KEYS[1], 'et')
if (not cur) or tonumber(ARGV[1]) >= tonumber(cur) then
  redis.call('HSET', KEYS[1], 'et', ARGV[1], 'v', ARGV[2])
  redis.call('SADD', KEYS[2], KEYS[1])
end
return 0
"""


class RedisOnlineStore:
    def __init__(self, url: str) -> None:
        import redis

        self._r: Any = redis.Redis.from_url(url)
        self._upsert = self._r.register_script(UPSERT_LUA)

    @staticmethod
    def _key(table: str, k: str) -> str:
        return f"larder:{table}:{k}"

    def upsert(self, table: str, rows: list[tuple[str, int, bytes]]) -> None:
        members = f"larder:{table}:__keys__"
        for i in range(0, len(rows), 1000):
            pipe = self._r.pipeline(transaction=False)
            for k, et, v in rows[i : i + 1000]:
                self._upsert(keys=[self._key(table, k), members], args=[et, v], client=pipe)
            pipe.execute()

    def get(self, table: str, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        if len(keys) == 1:
            return [self._r.hget(self._key(table, keys[0]), "v")]
        pipe = self._r.pipeline(transaction=False)
        for k in keys:
            pipe.hget(self._key(table, k), "v")
        return list(pipe.execute())

    def drop(self, table: str) -> None:
        members = f"larder:{table}:__keys__"
        keys = list(self._r.smembers(members))
        for i in range(0, len(keys), 1000):
            self._r.delete(*keys[i : i + 1000])
        self._r.delete(members)

    def close(self) -> None:
        self._r.close()
