"""Feature store catalog: feature groups, their commits, feature views, training datasets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from larder.server.db.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("primary_key_json", sa.Text(), nullable=False),
        sa.Column("event_time", sa.String(128), nullable=True),
        sa.Column("partition_key_json", sa.Text(), nullable=False),
        sa.Column("online_enabled", sa.Boolean(), nullable=False),
        sa.Column("statistics_enabled", sa.Boolean(), nullable=False),
        sa.Column("schema_json", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("project_id", "name", "version"),
    )
    op.create_table(
        "feature_group_commits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "feature_group_id",
            sa.Integer(),
            sa.ForeignKey("feature_groups.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("delta_version", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("rows_inserted", sa.BigInteger(), nullable=False),
        sa.Column("rows_updated", sa.BigInteger(), nullable=False),
        sa.Column("rows_deleted", sa.BigInteger(), nullable=False),
        sa.Column("statistics_json", sa.Text(), nullable=True),
        sa.Column("committed_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("feature_group_id", "delta_version"),
    )
    op.create_table(
        "feature_views",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("query_json", sa.Text(), nullable=False),
        sa.Column("labels_json", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("project_id", "name", "version"),
    )
    op.create_table(
        "training_datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "feature_view_id",
            sa.Integer(),
            sa.ForeignKey("feature_views.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("feature_view_id", "version"),
    )


def downgrade() -> None:
    for table in ("training_datasets", "feature_views", "feature_group_commits", "feature_groups"):
        op.drop_table(table)
