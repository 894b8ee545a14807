"""Transformation functions: the functions a feature view applies (``feature_views.
transformations_json``, a JSON list; ``[]`` for views made before), and the functions a project
registered by name and version (``transformation_functions``). The statistics the functions were
fitted with live in each training dataset's ``metadata_json``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from larder.server.db.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite too): the table is not rebuilt, its ids and references stay
    op.add_column(
        "feature_views", sa.Column("transformations_json", sa.Text(), nullable=False, server_default="[]")
    )
    op.create_table(
        "transformation_functions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition_json", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("project_id", "name", "version"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("transformation_functions")
    with op.batch_alter_table("feature_views") as batch:
        batch.drop_column("transformations_json")
