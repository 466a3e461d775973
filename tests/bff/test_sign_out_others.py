"""Ending the user's other sessions through a real BFF (real core): "sign out other sessions"
(`POST /bff/sessions/end-others`), and a password change through the BFF, which ends them at once; and the
login page's counters (`attempts_remaining`, `lockout_seconds`) carried through from the core."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.bff.test_logout import assert_alive, assert_ended, logged_in, revoked_count
from tests.core.test_brute_force import fresh_ipv4
from tests.support import PASSWORD, BffServer, Browser, CoreServer

Factory = Callable[..., Awaitable[Any]]
WRONG = "not the password at all"


async def listed_ids(browser: Browser) -> set[str]:
    response = await browser.request("GET", "/bff/sessions")
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def session_id(browser: Browser) -> str:
    return str((await browser.request("GET", "/bff/session")).json()["session"]["id"])


async def test_end_others_keeps_this_session_and_ends_the_rest_of_the_users(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user, other = await core.create_user(), await core.create_user()
    laptop = await logged_in(http, bff, user, "laptop")
    phone = await logged_in(http, bff, user, "phone")
    tablet = await logged_in(http, bff, user, "tablet")
    bystander = await logged_in(http, bff, other, "bystander")

    response = await laptop.request("POST", "/bff/sessions/end-others")
    assert response.status_code == 204, response.text
    assert not response.headers.get_list("set-cookie")  # this browser keeps its cookie
    assert "clear-site-data" not in response.headers
    await assert_alive(laptop)
    await assert_ended(phone)
    await assert_ended(tablet)
    await assert_alive(bystander)
    assert await listed_ids(laptop) == {await session_id(laptop)}
    # The ended sessions' chains are revoked at the core; this one's and the bystander's are not.
    assert await revoked_count(core, user["id"]) == (2, 3)
    assert await revoked_count(core, other["id"]) == (0, 1)

    # Nothing left to end: still 204.
    again = await laptop.request("POST", "/bff/sessions/end-others")
    assert again.status_code == 204
    await assert_alive(laptop)


async def test_end_others_needs_a_live_session_and_csrf(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user = await core.create_user()
    laptop = await logged_in(http, bff, user, "laptop")
    phone = await logged_in(http, bff, user, "phone")

    without_csrf = await laptop.request("POST", "/bff/sessions/end-others", csrf=False)
    assert without_csrf.status_code == 403
    assert without_csrf.json()["code"] == "csrf_failed"
    cross_site = await laptop.request(
        "POST", "/bff/sessions/end-others", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    assert cross_site.json()["code"] == "csrf_failed"
    await assert_alive(phone)

    anonymous = await Browser(http, bff).request("POST", "/bff/sessions/end-others")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "no_session"

    # An ended session's cookie ends nothing.
    copy = Browser(http, bff)
    copy.cookie = laptop.cookie
    assert (await laptop.request("POST", "/bff/logout")).status_code == 204
    refused = await copy.request("POST", "/bff/sessions/end-others")
    assert refused.status_code == 401
    assert refused.json()["code"] == "session_revoked"
    await assert_alive(phone)


async def test_a_password_change_ends_the_other_sessions_at_once(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user, other = await core.create_user(), await core.create_user()
    changer = await logged_in(http, bff, user, "changer")
    phone = await logged_in(http, bff, user, "phone")
    bystander = await logged_in(http, bff, other, "bystander")
    assert len(await listed_ids(changer)) == 2

    # A refused change (wrong current password) ends nothing.
    wrong = await changer.request(
        "POST", "/api/v1/me/password", json={"current_password": WRONG, "new_password": PASSWORD + "!2"}
    )
    assert wrong.status_code in (400, 401, 403), wrong.text
    assert len(await listed_ids(changer)) == 2

    changed = await changer.request(
        "POST",
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": PASSWORD + " again"},
    )
    assert changed.status_code == 204, changed.text
    # Before any request of the phone: the list shows this session alone, the phone's cookie is dead on
    # /bff and /api with the code the login page explains.
    assert await listed_ids(changer) == {await session_id(changer)}
    for path in ("/bff/session", "/api/v1/me"):
        refused = await phone.request("GET", path)
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "session_password_changed"
    await assert_alive(changer)
    await assert_alive(bystander)


async def test_failed_logins_say_how_many_attempts_remain_and_how_long_the_lockout_lasts(
    core: CoreServer, http: httpx.AsyncClient, bff_factory: Factory
) -> None:
    # Behind a trusted proxy each test browser has an address of its own, so no other test's failures
    # from 127.0.0.1 count here.
    server: BffServer = await bff_factory(LATCHKEY_TRUSTED_PROXIES="127.0.0.1")
    user = await core.create_user()
    browser = Browser(http, server)
    address = {"X-Forwarded-For": fresh_ipv4()}

    async def attempt(password: str) -> httpx.Response:
        return await browser.request(
            "POST", "/bff/login", json={"username": user["email"], "password": password}, headers=address
        )

    for remaining in (4, 3, 2, 1):
        response = await attempt(WRONG)
        assert response.status_code == 401, response.text
        body = response.json()
        assert body["code"] == "invalid_credentials"
        assert body["attempts_remaining"] == remaining
        assert "lockout_seconds" not in body
    last = await attempt(WRONG)
    assert last.status_code == 401
    assert last.json()["attempts_remaining"] == 0
    assert 880 <= last.json()["lockout_seconds"] <= 900

    locked = await attempt(PASSWORD)
    assert locked.status_code == 429, locked.text
    assert locked.headers["content-type"].startswith("application/problem+json")
    assert locked.json()["code"] == "rate_limited"
    assert locked.json()["lockout_seconds"] == int(locked.headers["retry-after"])
    assert 880 <= locked.json()["lockout_seconds"] <= 900
    assert "attempts_remaining" not in locked.json()
