"""Online stores: the latest row per primary key of online-enabled feature groups.

The server owns the online store and keeps it consistent with committed offline data: after a
commit to a feature group's Delta table, the server reads that commit's changes and upserts them
here before ``insert(wait=True)`` returns. An older event time never overwrites a newer one.

Two implementations behind one small interface, picked by ``online_store`` in ``server.toml``:
``"sqlite"`` (default, a file in the platform home) and ``"redis"`` (``redis_url``).
"""

from __future__ import annotations

from typing import Protocol

from larder.errors import ConfigurationError


class OnlineStore(Protocol):
    """Rows are ``(key, event_time_us, payload)``: ``key`` is the canonical JSON of the primary-key
    values, ``payload`` the JSON of the row's features."""

    def upsert(self, table: str, rows: list[tuple[str, int, bytes]]) -> None:
        """Write rows; a row replaces the stored one only when its event time is not older."""

    def get(self, table: str, keys: list[str]) -> list[bytes | None]:
        """The payloads for ``keys`` in order (None where a key is missing)."""

    def drop(self, table: str) -> None:
        """Forget every row of ``table``."""

    def close(self) -> None:
        """Release connections."""


def open_store(kind: str, sqlite_path: str, redis_url: str | None) -> OnlineStore:
    """Open the online store named in the settings (``"sqlite"`` or ``"redis"``)."""
    if kind == "sqlite":
        from larder.server.online.sqlite import SqliteOnlineStore

        return SqliteOnlineStore(sqlite_path)
    if kind == "redis":
        if not redis_url:
            raise ConfigurationError(
                "online_store = 'redis' needs redis_url = 'redis://host:port/0' in server.toml."
            )
        from larder.server.online.redis import RedisOnlineStore

        return RedisOnlineStore(redis_url)
    raise ConfigurationError(f"Unknown online_store {kind!r} in server.toml; use 'sqlite' or 'redis'.")
