"""Token refresh through the BFF, against a real core whose access tokens live 2 seconds: many parallel
calls (from one BFF process, or from two sharing one session DB) after expiry cause exactly one refresh
at the core, and a password change at the core ends the user's other BFF sessions with
`session_revoked` while the session that changed it keeps working.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from latchkey.core.models import RefreshToken, TokenChain
from latchkey.db import Database
from tests.support import PASSWORD, BffServer, Browser, CoreServer, new_key, start_core, stop_core

TTL = "2"
# Past the 2 s access token's refresh point (1.5 s after issue) and its expiry at the core.
PAST_EXPIRY = 2.2
BURST = 20

Factory = Callable[..., Awaitable[Any]]


@dataclass
class ShortCore:
    """A core issuing 2-second access tokens, and the client secret a BFF in front of it presents."""

    server: CoreServer
    client_secret: str

    @property
    def bff_env(self) -> dict[str, str]:
        return {"LATCHKEY_BFF_CLIENT_SECRET": self.client_secret}


@pytest.fixture(scope="module")
async def short_core(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ShortCore]:
    """Shared by this module's tests (each makes its own users): starting a core costs seconds."""
    server = await start_core(
        backend, tmp_path_factory.mktemp(f"short-core-{backend}"), LATCHKEY_ACCESS_TOKEN_TTL=TTL
    )
    try:
        # A core of its own has its own accounts: the BFF needs a developer account of this one.
        service = await server.create_user(developer=True, name="Service")
        yield ShortCore(server, service["client_secret"])
    finally:
        await stop_core(server)


async def refresh_tokens_per_chain(core: CoreServer, user_id: int) -> list[int]:
    """How many refresh tokens each of the user's token chains at the core has seen (one per grant)."""
    db = Database(core.database_url)
    try:
        async with db.read() as session:
            rows = await session.execute(
                select(TokenChain.id, func.count(RefreshToken.id))
                .join(RefreshToken, RefreshToken.chain_id == TokenChain.id)
                .where(TokenChain.user_id == user_id)
                .group_by(TokenChain.id)
                .order_by(TokenChain.id)
            )
            return [int(count) for _, count in rows]
    finally:
        await db.dispose()


async def burst(browsers: list[Browser], count: int = BURST) -> list[httpx.Response]:
    """`count` concurrent `/api/v1/me` calls spread over the given browsers (tabs or instances)."""
    return await asyncio.gather(
        *(browsers[i % len(browsers)].request("GET", "/api/v1/me") for i in range(count))
    )


def twin(http: httpx.AsyncClient, bff: BffServer, of: Browser) -> Browser:
    """Another tab (or another instance behind a load balancer) holding the same cookie."""
    other = Browser(http, bff)
    other.cookie = of.cookie
    return other


async def test_parallel_calls_after_expiry_refresh_once(
    short_core: ShortCore, bff_factory: Factory, http: httpx.AsyncClient
) -> None:
    core = short_core.server
    bff: BffServer = await bff_factory(core_server=core, **short_core.bff_env)
    user = await core.create_user()
    browser = Browser(http, bff)
    await browser.login(user["email"])
    assert await refresh_tokens_per_chain(core, user["id"]) == [1]

    await asyncio.sleep(PAST_EXPIRY)
    started = time.monotonic()
    responses = await burst([browser])
    elapsed = time.monotonic() - started

    assert [r.status_code for r in responses] == [200] * BURST, [r.text for r in responses if r.is_error]
    assert {r.json()["id"] for r in responses} == {user["id"]}
    # One chain (one login), and exactly one refresh for the whole burst.
    assert await refresh_tokens_per_chain(core, user["id"]) == [2], f"burst took {elapsed:.2f}s"


async def test_two_instances_on_one_session_db_refresh_once(
    short_core: ShortCore, bff_factory: Factory, http: httpx.AsyncClient
) -> None:
    core = short_core.server
    shared = {"LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}", **short_core.bff_env}
    first: BffServer = await bff_factory(core_server=core, **shared)
    second: BffServer = await bff_factory(
        core_server=core, LATCHKEY_BFF_DATABASE_URL=first.database_url, **shared
    )
    user = await core.create_user()
    browser = Browser(http, first)
    await browser.login(user["email"])
    tabs = [browser, twin(http, second, browser)]

    # Both instances know the session (and cache it) before its token runs out.
    assert [r.status_code for r in await burst(tabs, 2)] == [200, 200]

    for expiry in (1, 2):
        await asyncio.sleep(PAST_EXPIRY)
        responses = await burst(tabs)
        assert [r.status_code for r in responses] == [200] * BURST, [r.text for r in responses if r.is_error]
        # The claim on the session row lets exactly one instance refresh per expiry; the other re-reads.
        assert await refresh_tokens_per_chain(core, user["id"]) == [1 + expiry]

    # Still one session, seen alike by both instances.
    ids = {(await tab.request("GET", "/bff/session")).json()["session"]["id"] for tab in tabs}
    assert len(ids) == 1


async def test_password_change_revokes_the_other_sessions(
    short_core: ShortCore, bff_factory: Factory, http: httpx.AsyncClient
) -> None:
    core = short_core.server
    bff: BffServer = await bff_factory(core_server=core, **short_core.bff_env)
    user = await core.create_user()
    changer, other, third = Browser(http, bff), Browser(http, bff), Browser(http, bff)
    for browser in (changer, other, third):
        await browser.login(user["email"])
        assert (await browser.request("GET", "/api/v1/me")).status_code == 200

    new_password = PASSWORD + " again"
    changed = await changer.request(
        "POST",
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
    )
    assert changed.status_code == 204, changed.text

    # The BFF ended the other sessions before it answered the 204: their next call, on /api or /bff,
    # says why (the core had revoked their chains too).
    for browser in (other, third):
        refused = await browser.request("GET", "/api/v1/me")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "session_password_changed"
        session = await browser.request("GET", "/bff/session")
        assert session.status_code == 401
        assert session.json()["code"] == "session_password_changed"

    # The session that changed the password keeps working, through its next refresh too.
    assert (await changer.request("GET", "/api/v1/me")).status_code == 200
    assert (await changer.request("GET", "/bff/session")).status_code == 200
    await asyncio.sleep(PAST_EXPIRY)
    assert (await changer.request("GET", "/api/v1/me")).status_code == 200
    assert (await changer.request("GET", "/bff/session")).status_code == 200

    # And the new password signs in again.
    await other.login(user["email"], new_password)
    assert (await other.request("GET", "/api/v1/me")).status_code == 200
