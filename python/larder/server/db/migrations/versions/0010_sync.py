"""Sync between linked servers: peers, namespace sync targets, the outbox, what each target holds,
tombstones, per-dataset state and conflicts; datasets' sync settings and objects' origin.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from larder.server.db.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _fk(name: str, table: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("datasets") as t:
        t.add_column(sa.Column("sync_type", sa.String(8), nullable=True))
        t.add_column(sa.Column("sync_policy", sa.Text(), nullable=False, server_default=""))
        t.add_column(sa.Column("sync_source", sa.String(2100), nullable=True))
    with op.batch_alter_table("objects") as t:
        t.add_column(sa.Column("origin", sa.String(2100), nullable=False, server_default=""))
    op.create_table(
        "sync_peers",
        _id(),
        sa.Column("url", sa.String(2048), nullable=False, unique=True),
        sa.Column("api_key_enc", sa.Text(), nullable=False),
        sa.Column("ca_pem", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sync_targets",
        _id(),
        _fk("namespace_id", "namespaces"),
        sa.Column("target_core_service", sa.String(2048), nullable=False),
        sa.Column("target_namespace", sa.String(63), nullable=False),
        sa.Column("sync_type", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("namespace_id", "target_core_service", "target_namespace"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sync_outbox",
        _id(),
        _fk("dataset_id", "datasets"),
        _fk("target_id", "sync_targets"),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("origin", sa.String(2100), nullable=False),
        sa.Column("repair", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sync_outbox_dataset_id", "sync_outbox", ["dataset_id"])
    op.create_index("ix_sync_outbox_stream", "sync_outbox", ["dataset_id", "target_id", "key", "id"])
    op.create_table(
        "sync_objects",
        _id(),
        _fk("dataset_id", "datasets"),
        _fk("target_id", "sync_targets"),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(128), nullable=False),
        sa.Column("target_etag", sa.String(128), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
        sa.Column("seen", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("target_id", "dataset_id", "key"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sync_tombstones",
        _id(),
        _fk("dataset_id", "datasets"),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=False),
        sa.Column("origin", sa.String(2100), nullable=False),
        sa.UniqueConstraint("dataset_id", "key"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sync_state",
        _id(),
        _fk("dataset_id", "datasets"),
        _fk("target_id", "sync_targets"),
        sa.Column("copied", sa.BigInteger(), nullable=False),
        sa.Column("copied_bytes", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_reconciled_at", UTCDateTime(), nullable=True),
        sa.Column("last_reconcile_json", sa.Text(), nullable=False),
        sa.UniqueConstraint("dataset_id", "target_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sync_conflicts",
        _id(),
        _fk("dataset_id", "datasets"),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("winner_origin", sa.String(2100), nullable=False),
        sa.Column("winner_changed_at", UTCDateTime(), nullable=False),
        sa.Column("loser_origin", sa.String(2100), nullable=False),
        sa.Column("loser_changed_at", UTCDateTime(), nullable=False),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sync_conflicts_dataset_id", "sync_conflicts", ["dataset_id"])


def downgrade() -> None:
    for table in ("sync_conflicts", "sync_state", "sync_tombstones", "sync_objects", "sync_outbox"):
        op.drop_table(table)
    op.drop_table("sync_targets")
    op.drop_table("sync_peers")
    with op.batch_alter_table("objects") as t:
        t.drop_column("origin")
    with op.batch_alter_table("datasets") as t:
        t.drop_column("sync_source")
        t.drop_column("sync_policy")
        t.drop_column("sync_type")
