"""Session timeouts through a real BFF (real core), with short settings: the idle timeout ends a session
left alone but not an active one, and the absolute lifetime ends even an active one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
from sqlalchemy import select

from latchkey.core.models import TokenChain
from latchkey.db import Database
from tests.support import BffServer, Browser, CoreServer

BffFactory = Callable[..., Awaitable[BffServer]]
PATHS = ("/api/v1/me", "/bff/session")


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def chain_revoked(core: CoreServer, user_id: int) -> bool:
    db = Database(core.database_url)
    try:
        async with db.read() as session:
            rows = list(await session.scalars(select(TokenChain).where(TokenChain.user_id == user_id)))
    finally:
        await db.dispose()
    assert len(rows) == 1
    return rows[0].revoked_at is not None


async def assert_code(browser: Browser, code: str) -> None:
    for path in PATHS:
        response = await browser.request("GET", path)
        assert response.status_code == 401, (path, response.status_code, response.text)
        assert response.json()["code"] == code, (path, response.text)


async def assert_alive(browser: Browser, paths: tuple[str, ...] = PATHS) -> None:
    for path in paths:
        response = await browser.request("GET", path)
        assert response.status_code == 200, (path, response.text)


async def test_idle_sessions_end_and_active_ones_live(
    core: CoreServer, http: httpx.AsyncClient, bff_factory: BffFactory
) -> None:
    server = await bff_factory(LATCHKEY_SESSION_IDLE_TIMEOUT="2")
    idle_user, api_user, bff_user = [await core.create_user() for _ in range(3)]
    idle, api_tab, bff_tab = Browser(http, server), Browser(http, server), Browser(http, server)
    for browser, user in ((idle, idle_user), (api_tab, api_user), (bff_tab, bff_user)):
        await browser.login(user["email"])
    body = (await idle.request("GET", "/bff/session")).json()["session"]
    assert abs(timestamp(body["idle_expires_at"]) - time.time() - 2) <= 1
    await assert_alive(idle)  # the /api cache now holds it too

    start = time.monotonic()
    checked_idle = False
    while time.monotonic() - start < 4:
        # One tab uses only the proxied API, the other only the BFF's own routes: both count as activity.
        await assert_alive(api_tab, ("/api/v1/me",))
        await assert_alive(bff_tab, ("/bff/session",))
        if not checked_idle and time.monotonic() - start >= 2.5:
            await assert_code(idle, "session_idle_expired")
            checked_idle = True
        await asyncio.sleep(0.5)
    assert checked_idle
    await assert_alive(api_tab)
    await assert_alive(bff_tab)
    await assert_code(idle, "session_idle_expired")  # and it stays ended

    # An idle end revokes the session's chain at the core (by the request that found it, or the sweeper).
    deadline = time.monotonic() + 5
    while not await chain_revoked(core, idle_user["id"]):
        assert time.monotonic() < deadline, "the idle session's chain was never revoked"
        await asyncio.sleep(0.2)
    assert not await chain_revoked(core, api_user["id"])
    assert not await chain_revoked(core, bff_user["id"])


async def test_the_absolute_lifetime_ends_even_an_active_session(
    core: CoreServer, http: httpx.AsyncClient, bff_factory: BffFactory
) -> None:
    server = await bff_factory(LATCHKEY_SESSION_MAX_AGE="3")
    user = await core.create_user()
    browser = Browser(http, server)
    start = time.monotonic()
    response = await browser.login(user["email"])
    assert "Max-Age=3;" in response.headers["set-cookie"]
    ends = timestamp(response.json()["session"]["expires_at"])
    assert abs(ends - time.time() - 3) <= 1

    # Active all along: fine until near the end (the sealed cookie's end is in whole seconds, so it may
    # come up to 1 s before the session's; `start` was taken before the login, so this stays clear of it).
    while True:
        await assert_alive(browser)
        if time.monotonic() - start >= 1.2:
            break
        await asyncio.sleep(0.3)
    # Half a second past the session's absolute end (by the BFF's own clock, as the body reported it).
    await asyncio.sleep(max(0.0, ends + 0.5 - time.time()))
    # The cookie itself has expired by now as well: either way, session_expired.
    await assert_code(browser, "session_expired")
