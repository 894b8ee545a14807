"""Alembic migrations on a real SQLite file: a catalog at an older revision keeps its rows."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from larder.server.db.session import MIGRATIONS


def _alembic(conn: sa.Connection, target: str, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    (command.downgrade if down else command.upgrade)(cfg, target)


def test_artifact_checksums_keep_their_values_and_become_sha256(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'catalog.db'}")  # no FK pragma: a bare row will do
    with engine.begin() as conn:
        _alembic(conn, "0004")
        conn.execute(
            sa.text(
                "INSERT INTO model_artifacts (model_version_id, path, size, sha256, part_size, parts_json) "
                "VALUES (1, 'w.bin', 3, :h, NULL, NULL)"
            ),
            {"h": "ab" * 32},
        )
    with engine.begin() as conn:
        _alembic(conn, "head")
        row = conn.execute(sa.text("SELECT checksum, checksum_algorithm FROM model_artifacts")).one()
        assert tuple(row) == ("ab" * 32, "sha256")
    with engine.begin() as conn:
        _alembic(conn, "0004", down=True)
        assert conn.execute(sa.text("SELECT sha256 FROM model_artifacts")).scalar_one() == "ab" * 32
    engine.dispose()
