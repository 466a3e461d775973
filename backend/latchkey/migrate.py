"""Alembic, configured from the package (never from the working directory), run on an async engine.

Each app has its own history and version table; SQLite migrations use batch mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from latchkey.db import create_engine

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class History:
    """One Alembic history: where its scripts live, its version table, the metadata it targets."""

    name: str
    script_location: Path
    version_table: str

    def metadata(self) -> MetaData:
        if self.name == "core":
            from latchkey.core.models import Base as CoreBase

            return CoreBase.metadata
        if self.name == "bff":
            from latchkey.bff.models import Base as BffBase

            return BffBase.metadata
        raise ValueError(f"unknown history {self.name!r}")


HISTORIES = {
    "core": History("core", PACKAGE_DIR / "core" / "migrations", "alembic_version_core"),
    "bff": History("bff", PACKAGE_DIR / "bff" / "migrations", "alembic_version_bff"),
}


def alembic_config(history: History, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(history.script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["history"] = history
    return config


async def upgrade(history_name: str, url: str, revision: str = "head") -> None:
    """Apply `history_name`'s migrations to the database at `url`, then dispose of the engine."""
    history = HISTORIES[history_name]
    config = alembic_config(history, url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run, config, "upgrade", revision)
    finally:
        await engine.dispose()


def _run(connection: Connection, config: Config, action: str, revision: str) -> None:
    config.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(config, revision)
    elif action == "autogenerate":
        command.revision(config, message=revision, autogenerate=True)
    else:
        raise ValueError(action)


async def autogenerate(history_name: str, url: str, message: str) -> None:
    """Write a new revision from the models' diff against the database at `url` (a developer tool)."""
    history = HISTORIES[history_name]
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run, alembic_config(history, url), "autogenerate", message)
    finally:
        await engine.dispose()


def configure_context(context: Any) -> None:
    """Shared body of each history's env.py: online migrations on the connection we pass in."""
    config: Config = context.config
    history: History = config.attributes["history"]
    connection: Connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=history.metadata(),
        version_table=history.version_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
