"""client_secrets.last_used_at: when a client secret last authenticated a client (one-minute resolution)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import latchkey.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client_secrets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", latchkey.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client_secrets", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
