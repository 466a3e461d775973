"""Alembic environment of the core DB (history `core`, table `alembic_version_core`)."""

from alembic import context

from latchkey.migrate import configure_context

configure_context(context)
