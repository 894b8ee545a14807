"""Ids are never handed out twice, and online rows are named apart from ids.

On SQLite every table becomes ``AUTOINCREMENT`` (recreated with its rows: SQLite otherwise gives
the largest id again after that row is deleted; PostgreSQL sequences never do). Feature groups get
``online_table``, the name of their rows in the online store: existing groups keep the name their
rows already have (``fg<id>``), new ones get a random name, so a group can never see rows written
for another.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# parents before children (the order does not matter with foreign keys off, which upgrade() ensures)
TABLES = (
    "users",
    "projects",
    "project_members",
    "api_keys",
    "issued_certificates",
    "object_stores",
    "namespaces",
    "datasets",
    "dataset_permissions",
    "objects",
    "object_tags",
    "feature_groups",
    "feature_group_commits",
    "feature_views",
    "training_datasets",
    "registered_models",
    "model_versions",
    "model_artifacts",
    "model_version_tags",
)


def upgrade() -> None:
    with op.batch_alter_table("feature_groups") as batch:
        batch.add_column(sa.Column("online_table", sa.String(64), nullable=True))
    op.execute("UPDATE feature_groups SET online_table = 'fg' || CAST(id AS VARCHAR)")
    with op.batch_alter_table("feature_groups") as batch:
        batch.alter_column("online_table", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_feature_groups_online_table", ["online_table"])
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ) as batch:
                pass
            del batch


def downgrade() -> None:
    with op.batch_alter_table("feature_groups") as batch:
        batch.drop_constraint("uq_feature_groups_online_table", type_="unique")
        batch.drop_column("online_table")
