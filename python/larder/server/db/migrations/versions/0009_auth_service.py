"""The auth service: token signing keys, and users federated from a trusted auth service.

``signing_keys`` holds the Ed25519 keys that sign access tokens (the private key encrypted with the
home's ``tls/secrets.key``); a rotated-out key keeps verifying until ``verify_until``. A user
``federated_issuer`` names the auth service whose tokens created it (NULL: a local user).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from larder.server.db.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kid", sa.String(64), nullable=False, unique=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("verify_until", UTCDateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("federated_issuer", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("federated_issuer")
    op.drop_table("signing_keys")
