"""Alembic environment of the BFF's session store (history `bff`, table `alembic_version_bff`)."""

from alembic import context

from latchkey.migrate import configure_context

configure_context(context)
