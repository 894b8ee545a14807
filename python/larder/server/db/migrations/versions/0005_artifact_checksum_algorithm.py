"""Model artifacts name their checksum algorithm: ``sha256`` (S3 stores: S3 verifies SHA-256 parts
itself) or ``blake3`` (local stores: 3x less CPU per byte). The ``sha256`` column becomes
``checksum``; existing rows keep their values with the algorithm ``sha256``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_artifacts") as batch:
        batch.alter_column(
            "sha256", new_column_name="checksum", existing_type=sa.String(64), existing_nullable=False
        )
        batch.add_column(
            sa.Column("checksum_algorithm", sa.String(16), nullable=False, server_default="sha256")
        )


def downgrade() -> None:
    with op.batch_alter_table("model_artifacts") as batch:
        batch.drop_column("checksum_algorithm")
        batch.alter_column(
            "checksum", new_column_name="sha256", existing_type=sa.String(64), existing_nullable=False
        )
