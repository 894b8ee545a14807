"""Object stores, namespaces, datasets, permissions, the object index; projects live in a namespace.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from larder.server.db.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_stores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("root_path", sa.Text(), nullable=True),
        sa.Column("endpoint_url", sa.Text(), nullable=True),
        sa.Column("sts_endpoint_url", sa.Text(), nullable=True),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("access_key_id", sa.String(256), nullable=True),
        sa.Column("secret_access_key_enc", sa.Text(), nullable=True),
        sa.Column("role_arn", sa.String(2048), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "namespaces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("object_store_id", sa.Integer(), sa.ForeignKey("object_stores.id"), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("namespace_id", sa.Integer(), sa.ForeignKey("namespaces.id"), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("namespace_id", "name"),
    )
    op.create_table(
        "dataset_permissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id", sa.Integer(), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("access", sa.String(2), nullable=False),
        sa.UniqueConstraint("dataset_id", "user_id", "project_id"),
    )
    op.create_table(
        "objects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id", sa.Integer(), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(128), nullable=False),
        sa.Column("last_modified", UTCDateTime(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.UniqueConstraint("dataset_id", "key"),
    )
    op.create_table(
        "object_tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("object_id", sa.Integer(), sa.ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("k", sa.String(128), nullable=False),
        sa.Column("v", sa.String(1024), nullable=False),
    )
    op.create_index("ix_object_tags_k", "object_tags", ["k"])
    op.create_index("ix_object_tags_kv", "object_tags", ["k", "v"])
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("namespace_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_projects_namespace", "namespaces", ["namespace_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_constraint("fk_projects_namespace", type_="foreignkey")
        batch.drop_column("namespace_id")
    for table in ("object_tags", "objects", "dataset_permissions", "datasets", "namespaces", "object_stores"):
        op.drop_table(table)
