"""Model registry catalog: registered models, their versions, artifacts and tags.

Sharing a registry needs no table: it is a project (group) read grant on the owner project's
``<project>_models`` dataset (``dataset_permissions``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from larder.server.db.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "model_id",
            sa.Integer(),
            sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("framework", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metrics_json", sa.Text(), nullable=False),
        sa.Column("model_schema_json", sa.Text(), nullable=True),
        sa.Column("input_example_json", sa.Text(), nullable=True),
        sa.Column("feature_store", sa.String(80), nullable=True),
        sa.Column("feature_view_name", sa.String(63), nullable=True),
        sa.Column("feature_view_version", sa.Integer(), nullable=True),
        sa.Column("training_dataset_version", sa.Integer(), nullable=True),
        sa.Column("upload_token", sa.String(64), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("ready_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("model_id", "version"),
    )
    op.create_index("ix_model_versions_status", "model_versions", ["status"])
    op.create_table(
        "model_artifacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "model_version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("part_size", sa.BigInteger(), nullable=True),
        sa.Column("parts_json", sa.Text(), nullable=True),
        sa.UniqueConstraint("model_version_id", "path"),
    )
    op.create_table(
        "model_version_tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "model_version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.UniqueConstraint("model_version_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("model_version_tags")
    op.drop_table("model_artifacts")
    op.drop_index("ix_model_versions_status", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("registered_models")
