"""sessions signed in through the OpenID Provider (its sid, sub and ID token), and back-channel logout
tokens already acted on

Revision ID: bff0003
Revises: bff0002
Create Date: 2026-12-03 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import latchkey.db

revision: str = "bff0003"
down_revision: str | None = "bff0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bff_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_sid", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("provider_sub", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("provider_key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("id_token_encrypted", sa.LargeBinary(), nullable=True))
        batch_op.create_index(batch_op.f("ix_bff_sessions_provider_sid"), ["provider_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_bff_sessions_provider_sub"), ["provider_sub"], unique=False)
    op.create_table(
        "bff_seen_logout_tokens",
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", latchkey.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti_hash", name=op.f("pk_bff_seen_logout_tokens")),
    )
    with op.batch_alter_table("bff_seen_logout_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bff_seen_logout_tokens_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("bff_seen_logout_tokens")
    with op.batch_alter_table("bff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bff_sessions_provider_sub"))
        batch_op.drop_index(batch_op.f("ix_bff_sessions_provider_sid"))
        batch_op.drop_column("id_token_encrypted")
        batch_op.drop_column("provider_key_id")
        batch_op.drop_column("provider_sub")
        batch_op.drop_column("provider_sid")
