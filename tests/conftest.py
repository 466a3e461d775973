"""Fixtures: a real core process per backend (SQLite always; PostgreSQL when LATCHKEY_TEST_POSTGRES_URL is
set), a developer client to log in with, and an HTTP client."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    BACKENDS,
    BffServer,
    Browser,
    CoreServer,
    Session,
    login,
    start_bff,
    start_core,
    stop_bff,
    stop_core,
)

# Bytecode: the suite starts hundreds of Python processes (servers, CLI runs), and with
# PYTHONDONTWRITEBYTECODE set (as on CI) each compiled the project's modules again. They are cached under
# the virtualenv instead (PYTHONPYCACHEPREFIX), never next to the sources; this process and pytest-xdist's
# workers too.
_PYCACHE = os.environ.get("PYTHONPYCACHEPREFIX") or str(Path(sys.prefix) / "pycache")
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ["PYTHONPYCACHEPREFIX"] = _PYCACHE
sys.pycache_prefix = _PYCACHE
sys.dont_write_bytecode = False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "database_agnostic: what the module tests does not depend on the database; it runs on SQLite only",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test using a database runs on each backend (SQLite; PostgreSQL when configured), except
    modules marked `database_agnostic` (HTTP edge behaviour: CSRF, paths, headers, static files, the
    proxy's streams), which run on SQLite alone so the suite stays quick."""
    if "backend" in metafunc.fixturenames:
        agnostic = metafunc.definition.get_closest_marker("database_agnostic") is not None
        metafunc.parametrize("backend", ["sqlite"] if agnostic else BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
async def core(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CoreServer]:
    """A shared core process (default settings, a short secret-rotation grace)."""
    server = await start_core(
        backend, tmp_path_factory.mktemp(f"core-{backend}"), LATCHKEY_SECRET_ROTATION_GRACE="3"
    )
    yield server
    await stop_core(server)


@pytest.fixture
async def core_factory(backend: str, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[CoreServer]]]:
    """Start extra core processes with their own settings: `await core_factory(LATCHKEY_X="1")`."""
    started: list[CoreServer] = []

    async def factory(**overrides: str) -> CoreServer:
        server = await start_core(backend, tmp_path / f"core{len(started)}", **overrides)
        started.append(server)
        return server

    yield factory
    await asyncio.gather(*(stop_core(server) for server in started))  # their grace periods overlap


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def service_client(core: CoreServer) -> dict[str, Any]:
    """A developer account whose client secret plays the BFF's part in password grants (its
    X-Forwarded-For is believed, as the BFF's service account's is)."""
    return await core.create_user(developer=True, forwards_client_ip=True, name="Service")


@pytest.fixture
async def member(core: CoreServer) -> dict[str, Any]:
    return await core.create_user()


@pytest.fixture
async def member_session(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member: dict[str, Any]
) -> Session:
    return await login(http, core, service_client["client_secret"], member["email"])


@pytest.fixture(scope="session")
async def bff(
    backend: str, core: CoreServer, service_client: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BffServer]:
    """A shared BFF process in front of the shared core."""
    server = await start_bff(
        backend, tmp_path_factory.mktemp(f"bff-{backend}"), core, service_client["client_secret"]
    )
    yield server
    await stop_bff(server)


@pytest.fixture
async def bff_factory(
    backend: str, core: CoreServer, service_client: dict[str, Any], tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[BffServer]]]:
    """Start extra BFF processes: `await bff_factory(core=other_core, LATCHKEY_X="1")`."""
    started: list[BffServer] = []

    async def factory(*, core_server: CoreServer | None = None, **overrides: str) -> BffServer:
        upstream = core_server or core
        secret = overrides.pop("LATCHKEY_BFF_CLIENT_SECRET", None)
        if secret is None:
            # Another core knows nothing of the shared service account: give the BFF one of its own.
            account = (
                service_client
                if upstream is core
                else await upstream.create_user(developer=True, forwards_client_ip=True)
            )
            secret = account["client_secret"]
        server = await start_bff(backend, tmp_path / f"bff{len(started)}", upstream, secret, **overrides)
        started.append(server)
        return server

    yield factory
    await asyncio.gather(*(stop_bff(server) for server in started))


@pytest.fixture
async def browser(http: httpx.AsyncClient, bff: BffServer) -> Browser:
    return Browser(http, bff)
