"""The SQLite online store (default): one table, keyed by (feature group table, primary key)."""

from __future__ import annotations

import sqlite3
import threading

SCHEMA = """
CREATE TABLE IF NOT EXISTS online (
    t TEXT NOT NULL,
    k TEXT NOT NULL,
    et INTEGER NOT NULL,
    v BLOB NOT NULL,
    PRIMARY KEY (t, k)
) WITHOUT ROWID
"""
UPSERT = """
INSERT INTO online (t, k, et, v) VALUES (?, ?, ?, ?)
ON CONFLICT (t, k) DO UPDATE SET et = excluded.et, v = excluded.v WHERE excluded.et >= online.et
"""


# Reads go through a memory map of the file instead of a read() per page: a 100-key batch seeks
# 100 leaf pages, and on the bench's 45 MB store that took 0.23 ms instead of 0.39 (p50, queries
# interleaved in one process; a bigger page cache alone did not help). SQLite caps the map at its
# compile-time maximum (2 GiB in the usual builds) and reads the rest of a larger file as before.
MMAP_BYTES = 1 << 31


class SqliteOnlineStore:
    """Thread-safe: one connection per thread, WAL mode so readers never wait for a writer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            self._local.conn = conn
        return conn

    def upsert(self, table: str, rows: list[tuple[str, int, bytes]]) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(UPSERT, [(table, k, et, v) for k, et, v in rows])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def get(self, table: str, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        conn = self._conn()
        if len(keys) == 1:
            row = conn.execute("SELECT v FROM online WHERE t = ? AND k = ?", (table, keys[0])).fetchone()
            return [row[0] if row else None]
        found: dict[str, bytes] = {}
        # the IN list in key order, each key once: SQLite then probes the primary key in order
        # (100 stored keys on the bench's store: 0.214 ms vs 0.229 unsorted, p50; the 0.10 vs 0.33
        # first measured came from keys that were not stored)
        unique = sorted(set(keys))
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT k, v FROM online WHERE t = ? AND k IN ({marks})"  # noqa: S608 - placeholders only
            found.update(conn.execute(sql, (table, *chunk)).fetchall())
        return [found.get(k) for k in keys]

    def drop(self, table: str) -> None:
        self._conn().execute("DELETE FROM online WHERE t = ?", (table,))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
