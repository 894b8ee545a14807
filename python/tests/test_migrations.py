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


def test_ids_are_never_reused_after_0006_and_rows_keep_their_online_names(tmp_path):
    from larder.server.db.session import make_engine, upgrade

    path = tmp_path / "catalog.db"
    bare = sa.create_engine(f"sqlite:///{path}")
    with bare.begin() as conn:
        _alembic(conn, "0005")
        conn.execute(
            sa.text(
                "INSERT INTO users (id, username, email, role, created_at) VALUES (1, 'ann', '', 'user', '2024-01-01')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO projects (id, name, description, owner_id, created_at) VALUES (1, 'p', '', 1, '2024-01-01')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (1, 1, 'data_owner', '2024-01-01')"
            )
        )
        for i in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO feature_groups (id, project_id, name, version, description, primary_key_json, "
                    "partition_key_json, online_enabled, statistics_enabled, created_by_id, created_at) "
                    "VALUES (:i, 1, 'g', :i, '', '[\"k\"]', '[]', 1, 1, 1, '2024-01-01')"
                ),
                {"i": i},
            )
    bare.dispose()
    engine = make_engine(f"sqlite:///{path}")  # foreign keys on, as the server runs
    upgrade(engine)
    with engine.begin() as conn:
        names = conn.execute(sa.text("SELECT id, online_table FROM feature_groups ORDER BY id")).all()
        assert [tuple(r) for r in names] == [(1, "fg1"), (2, "fg2")]
        assert conn.execute(sa.text("SELECT count(*) FROM project_members")).scalar_one() == 1
        conn.execute(sa.text("DELETE FROM feature_groups WHERE id = 2"))
        conn.execute(
            sa.text(
                "INSERT INTO feature_groups (project_id, name, version, description, primary_key_json, "
                "partition_key_json, online_enabled, statistics_enabled, created_by_id, created_at, online_table) "
                "VALUES (1, 'g', 3, '', '[\"k\"]', '[]', 1, 1, 1, '2024-01-01', 'fg_new')"
            )
        )
        assert conn.execute(sa.text("SELECT max(id) FROM feature_groups")).scalar_one() == 3
        indexes = {r[0] for r in conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
        assert any("status" in n for n in indexes) and any("object_tags" in n for n in indexes), indexes
        # the cascades still hold after the rebuild
        conn.execute(sa.text("DELETE FROM projects WHERE id = 1"))
        assert conn.execute(sa.text("SELECT count(*) FROM project_members")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM feature_groups")).scalar_one() == 0
    engine.dispose()
