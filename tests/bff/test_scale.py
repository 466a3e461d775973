"""Scale-out (SPEC §8): two BFF processes on one session database with the same key ring act as one.
A cookie issued by either works on both, and a logout through one ends the session there at once and
on the other at once for `/bff/*` (which always reads the store) and within 2 seconds on `/api` (whose
in-process cache is re-read after at most a second). On PostgreSQL this is the scale-out check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support import BffServer, Browser, CoreServer, new_key, start_bff, stop_bff

CROSS_INSTANCE_LIMIT = 2.0


@pytest.fixture(scope="module")
async def two_instances(
    backend: str, core: CoreServer, service_client: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[BffServer, BffServer]]:
    """Two BFF processes in front of the shared core, on one session DB, with one key ring."""
    keys = f"k1:{new_key()},k0:{new_key()}"
    secret = service_client["client_secret"]
    first = await start_bff(
        backend, tmp_path_factory.mktemp("bff-a"), core, secret, LATCHKEY_COOKIE_KEYS=keys
    )
    second: BffServer | None = None
    try:
        second = await start_bff(
            backend,
            tmp_path_factory.mktemp("bff-b"),
            core,
            secret,
            LATCHKEY_BFF_DATABASE_URL=first.database_url,
            LATCHKEY_COOKIE_KEYS=keys,
        )
        yield first, second
    finally:
        if second is not None:
            await stop_bff(second, drop=False)  # the database is the first's: dropped with it
        await stop_bff(first)


def holding(http: httpx.AsyncClient, bff: BffServer, cookie: str | None) -> Browser:
    """A browser talking to `bff` with a given cookie (what a load balancer does to the same tab)."""
    browser = Browser(http, bff)
    browser.cookie = cookie
    return browser


async def test_a_cookie_from_one_instance_works_on_the_other(
    core: CoreServer, two_instances: tuple[BffServer, BffServer], http: httpx.AsyncClient
) -> None:
    first, second = two_instances
    for issuer, other in ((first, second), (second, first)):
        user: dict[str, Any] = await core.create_user()
        browser = Browser(http, issuer)
        login = await browser.login(user["email"])
        elsewhere = holding(http, other, browser.cookie)

        session = await elsewhere.request("GET", "/bff/session")
        assert session.status_code == 200, session.text
        assert session.json()["session"]["id"] == login.json()["session"]["id"]
        me = await elsewhere.request("GET", "/api/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["id"] == user["id"]
        listed = await elsewhere.request("GET", "/bff/sessions")
        assert [item["current"] for item in listed.json()["items"]] == [True]


async def test_a_logout_on_one_instance_ends_the_session_on_the_other(
    core: CoreServer, two_instances: tuple[BffServer, BffServer], http: httpx.AsyncClient
) -> None:
    first, second = two_instances
    user: dict[str, Any] = await core.create_user()
    browser = Browser(http, first)
    await browser.login(user["email"])
    cookie = browser.cookie
    elsewhere = holding(http, second, cookie)
    # Both instances have the session in their /api cache.
    for tab in (browser, elsewhere):
        assert (await tab.request("GET", "/api/v1/me")).status_code == 200

    logout = await browser.request("POST", "/bff/logout")
    assert logout.status_code == 204
    ended = time.monotonic()

    # On the instance that ended it: at once, on /api and /bff alike (same cookie as before).
    again = holding(http, first, cookie)
    assert (await again.request("GET", "/api/v1/me")).json()["code"] == "session_revoked"
    assert (await again.request("GET", "/bff/session")).status_code == 401
    # On the other: /bff/* reads the store, so at once.
    session = await elsewhere.request("GET", "/bff/session")
    assert session.status_code == 401
    assert session.json()["code"] == "session_revoked"
    # /api within 2 seconds.
    while True:
        response = await elsewhere.request("GET", "/api/v1/me")
        waited = time.monotonic() - ended
        if response.status_code == 401:
            break
        assert response.status_code == 200, response.text
        assert waited < CROSS_INSTANCE_LIMIT, f"still 200 on the other instance after {waited:.2f}s"
        await asyncio.sleep(0.1)
    assert waited <= CROSS_INSTANCE_LIMIT, waited
    print(f"\nthe other instance refused the session on /api {waited * 1000:.0f} ms after the logout")
    assert response.json()["code"] == "session_revoked"
    assert response.headers["content-type"].startswith("application/problem+json")
