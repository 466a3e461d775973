"""Ending sessions through a real BFF (real core): logout, logout everywhere, the session list and ending
one session from it; each way revokes the session's refresh chain at the core."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from latchkey.core.models import TokenChain
from latchkey.db import Database
from tests.support import BffServer, Browser, CoreServer

ENDED = {"session_revoked", "no_session"}


async def chains(core: CoreServer, user_id: int) -> list[TokenChain]:
    """The user's token chains at the core (each BFF login is one)."""
    db = Database(core.database_url)
    try:
        async with db.read() as session:
            rows = await session.scalars(
                select(TokenChain).where(TokenChain.user_id == user_id).order_by(TokenChain.id)
            )
            return list(rows)
    finally:
        await db.dispose()


async def revoked_count(core: CoreServer, user_id: int) -> tuple[int, int]:
    rows = await chains(core, user_id)
    return sum(row.revoked_at is not None for row in rows), len(rows)


async def assert_ended(browser: Browser) -> None:
    # /api first: the hot path's cache must not outlive the session on the instance that ended it.
    for path in ("/api/v1/me", "/bff/session"):
        response = await browser.request("GET", path)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["code"] in ENDED, response.text


async def assert_alive(browser: Browser) -> None:
    for path in ("/bff/session", "/api/v1/me"):
        response = await browser.request("GET", path)
        assert response.status_code == 200, (path, response.text)


async def logged_in(http: httpx.AsyncClient, bff: BffServer, user: dict[str, Any], agent: str) -> Browser:
    browser = Browser(http, bff)
    response = await browser.request(
        "POST",
        "/bff/login",
        json={"username": user["email"], "password": user["password"]},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 200, response.text
    return browser


CLEAR_SITE_DATA = '"cache", "storage", "cookies"'


def assert_clears_site_data(response: httpx.Response, value: str = CLEAR_SITE_DATA) -> None:
    """SPEC §10: an ending by the user's hand clears the cookie and the site's data in the browser."""
    assert response.headers.get_list("clear-site-data") == [value], response.headers
    assert any(
        h.startswith("__Host-latchkey=;") or "Max-Age=0" in h for h in response.headers.get_list("set-cookie")
    )


def replay(http: httpx.AsyncClient, bff: BffServer, cookie: str | None) -> Browser:
    """Another tab that kept a copy of the cookie."""
    browser = Browser(http, bff)
    browser.cookie = cookie
    return browser


async def test_logout_ends_the_session_and_revokes_its_chain(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user = await core.create_user()
    browser = await logged_in(http, bff, user, "tab")
    await assert_alive(browser)
    assert await revoked_count(core, user["id"]) == (0, 1)
    copy = replay(http, bff, browser.cookie)

    response = await browser.request("POST", "/bff/logout")
    assert response.status_code == 204
    assert response.content == b""
    assert browser.cookie is None  # cleared
    assert_clears_site_data(response)
    # The old cookie replayed afterwards is refused, on the /bff routes and on the /api hot path.
    await assert_ended(copy)
    # The refresh chain is revoked at the core.
    assert await revoked_count(core, user["id"]) == (1, 1)
    # Logging out again with the dead cookie is still 204.
    assert (await copy.request("POST", "/bff/logout")).status_code == 204


async def test_logout_without_a_session_is_204(http: httpx.AsyncClient, bff: BffServer) -> None:
    anonymous = Browser(http, bff)
    for cookie in (None, "garbage", ""):
        anonymous.cookie = cookie
        response = await anonymous.request("POST", "/bff/logout")
        assert response.status_code == 204
        assert any(h.startswith("__Host-latchkey=;") for h in response.headers.get_list("set-cookie"))
        assert_clears_site_data(response)
    response = await anonymous.request("POST", "/bff/logout?everywhere=true")
    assert response.status_code == 204
    assert_clears_site_data(response)


async def test_logout_everywhere_ends_every_session_of_the_user_only(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user, other = await core.create_user(), await core.create_user()
    laptop = await logged_in(http, bff, user, "laptop")
    phone = await logged_in(http, bff, user, "phone")
    bystander = await logged_in(http, bff, other, "bystander")
    for browser in (laptop, phone, bystander):
        await assert_alive(browser)
    copy = replay(http, bff, laptop.cookie)

    response = await laptop.request("POST", "/bff/logout?everywhere=true")
    assert response.status_code == 204
    assert laptop.cookie is None
    assert_clears_site_data(response)
    await assert_ended(copy)
    await assert_ended(phone)
    await assert_alive(bystander)
    assert await revoked_count(core, user["id"]) == (2, 2)
    assert await revoked_count(core, other["id"]) == (0, 1)


async def test_session_list_and_ending_another_session(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user, other = await core.create_user(), await core.create_user()
    laptop = await logged_in(http, bff, user, "laptop-agent/1.0")
    phone = await logged_in(http, bff, user, "phone-agent/2.0")
    stranger = await logged_in(http, bff, other, "stranger")

    laptop_id = (await laptop.request("GET", "/bff/session")).json()["session"]["id"]
    phone_id = (await phone.request("GET", "/bff/session")).json()["session"]["id"]
    stranger_id = (await stranger.request("GET", "/bff/session")).json()["session"]["id"]
    assert len({laptop_id, phone_id, stranger_id}) == 3

    listed = await laptop.request("GET", "/bff/sessions")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {item["id"] for item in items} == {laptop_id, phone_id}
    by_id = {item["id"]: item for item in items}
    assert by_id[laptop_id]["current"] is True
    assert by_id[phone_id]["current"] is False
    assert by_id[laptop_id]["user_agent"] == "laptop-agent/1.0"
    assert by_id[phone_id]["user_agent"] == "phone-agent/2.0"
    for item in items:
        assert item["ip"] == "127.0.0.1"
        assert item["created_at"] and item["last_seen_at"]
    # From the phone, `current` marks the phone.
    phone_view = {
        i["id"]: i["current"] for i in (await phone.request("GET", "/bff/sessions")).json()["items"]
    }
    assert phone_view == {laptop_id: False, phone_id: True}

    # Unknown ids and another user's session are 404, and end nothing.
    for unknown in ("nope", "A" * 22, "x" * 100, stranger_id):
        response = await laptop.request("DELETE", f"/bff/sessions/{unknown}")
        assert response.status_code == 404, (unknown, response.text)
        assert response.json()["code"] == "not_found"
    await assert_alive(stranger)

    # Ending the phone's session from the laptop: only the phone is logged out, and its chain revoked.
    response = await laptop.request("DELETE", f"/bff/sessions/{phone_id}")
    assert response.status_code == 204
    assert not response.headers.get_list("set-cookie")  # the laptop keeps its cookie
    assert "clear-site-data" not in response.headers  # and its site data
    await assert_ended(phone)
    await assert_alive(laptop)
    await assert_alive(stranger)
    assert await revoked_count(core, user["id"]) == (1, 2)
    remaining = (await laptop.request("GET", "/bff/sessions")).json()["items"]
    assert [item["id"] for item in remaining] == [laptop_id]
    # Already ended: 404.
    assert (await laptop.request("DELETE", f"/bff/sessions/{phone_id}")).status_code == 404

    # Ending the current session from the list clears the cookie, like a logout.
    response = await laptop.request("DELETE", f"/bff/sessions/{laptop_id}")
    assert response.status_code == 204
    assert laptop.cookie is None
    assert_clears_site_data(response)
    assert await revoked_count(core, user["id"]) == (2, 2)
    assert await revoked_count(core, other["id"]) == (0, 1)


async def test_ended_session_list_requires_a_session(http: httpx.AsyncClient, bff: BffServer) -> None:
    anonymous = Browser(http, bff)
    for method, path in (("GET", "/bff/sessions"), ("DELETE", "/bff/sessions/anything")):
        response = await anonymous.request(method, path)
        assert response.status_code == 401
        assert response.json()["code"] == "no_session"


async def test_an_ended_sessions_cookie_cannot_log_out_everywhere(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user = await core.create_user()
    first = await logged_in(http, bff, user, "first")
    second = await logged_in(http, bff, user, "second")
    dead = first.cookie  # a copy kept by another tab, or by a thief
    assert (await first.request("POST", "/bff/logout")).status_code == 204

    for query in ("?everywhere=true", "?everywhere=1", ""):
        stale = replay(http, bff, dead)
        response = await stale.request("POST", "/bff/logout" + query)
        assert response.status_code == 204
        assert_clears_site_data(response)
        assert stale.cookie is None
    # The other session of the user lives on, and its chain too.
    await assert_alive(second)
    assert [row.revoked_at is not None for row in await chains(core, user["id"])] == [True, False]


async def test_an_idle_sessions_cookie_cannot_log_out_everywhere(
    core: CoreServer, http: httpx.AsyncClient, bff_factory: Callable[..., Awaitable[BffServer]]
) -> None:
    server = await bff_factory(LATCHKEY_SESSION_IDLE_TIMEOUT="3")
    user = await core.create_user()
    idle = await logged_in(http, server, user, "idle")
    busy = await logged_in(http, server, user, "busy")
    idle_cookie = idle.cookie
    for _ in range(4):  # `busy` keeps using its session while `idle` passes its idle timeout
        await asyncio.sleep(0.9)
        assert (await busy.request("GET", "/bff/session")).status_code == 200
    late = replay(http, server, idle_cookie)
    response = await late.request("POST", "/bff/logout?everywhere=true")
    assert response.status_code == 204
    assert_clears_site_data(response)
    await assert_alive(busy)
    # It ended by its idle timeout, not by that logout.
    again = replay(http, server, idle_cookie)
    assert (await again.request("GET", "/bff/session")).json()["code"] == "session_idle_expired"
