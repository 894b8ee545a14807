"""Write leases, and commits registered from the Delta log.

``write_leases`` serializes writers of a table. Commits record the writer's ``write_id`` and
whether the server ``recovered`` them from the Delta log; feature groups remember the newest Delta
version the catalog has accounted for (``reconciled_version``; existing groups: their newest
recorded commit).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from larder.server.db.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_leases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("resource", sa.String(128), nullable=False, unique=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("holder_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("feature_group_commits") as batch:
        batch.add_column(sa.Column("write_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("recovered", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("feature_groups") as batch:
        batch.add_column(
            sa.Column("reconciled_version", sa.BigInteger(), nullable=False, server_default="-1")
        )
    op.execute(
        "UPDATE feature_groups SET reconciled_version = COALESCE((SELECT max(c.delta_version) FROM "
        "feature_group_commits c WHERE c.feature_group_id = feature_groups.id), -1)"
    )


def downgrade() -> None:
    with op.batch_alter_table("feature_groups") as batch:
        batch.drop_column("reconciled_version")
    with op.batch_alter_table("feature_group_commits") as batch:
        batch.drop_column("recovered")
        batch.drop_column("write_id")
    op.drop_table("write_leases")
