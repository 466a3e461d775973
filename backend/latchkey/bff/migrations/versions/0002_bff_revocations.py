"""pending revocations of refresh chains at the core

Revision ID: bff0002
Revises: bff0001
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import latchkey.db

revision: str = "bff0002"
down_revision: str | None = "bff0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bff_revocations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("token_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", latchkey.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", latchkey.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bff_revocations")),
    )
    with op.batch_alter_table("bff_revocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bff_revocations_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bff_revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bff_revocations_next_attempt_at"))
    op.drop_table("bff_revocations")
