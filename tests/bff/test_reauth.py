"""Re-authentication through the BFF, against a real core whose re-auth window is 2 seconds: a sensitive
call passes `403 reauth_required` through as problem+json, `/bff/reauthenticate` gives the same session
fresh tokens from a new password grant, and a wrong password there leaves the session as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.support import PASSWORD, BffServer, Browser, CoreServer

WINDOW = "5"  # generous: the suite runs in two processes on a shared machine
PAST_WINDOW = float(WINDOW) + 0.5


async def create_pat(browser: Browser, name: str) -> httpx.Response:
    # The answer carries the PAT (`lkp_…`): that route exists to show it once. The Browser still checks
    # that no access or refresh token (`lka_`/`lkr_`) comes with it.
    return await browser.request(
        "POST", "/api/v1/me/tokens", json={"name": name, "scopes": ["profile"], "expires_in_days": 1}
    )


async def session_id(browser: Browser) -> str:
    response = await browser.request("GET", "/bff/session")
    assert response.status_code == 200, response.text
    return str(response.json()["session"]["id"])


async def test_reauth_required_then_reauthenticate(
    core_factory: Callable[..., Awaitable[CoreServer]],
    bff_factory: Callable[..., Awaitable[BffServer]],
    http: httpx.AsyncClient,
) -> None:
    core = await core_factory(LATCHKEY_REAUTH_WINDOW=WINDOW)
    service = await core.create_user(developer=True, name="Service")
    bff = await bff_factory(core_server=core, LATCHKEY_BFF_CLIENT_SECRET=service["client_secret"])
    user: dict[str, Any] = await core.create_user()
    browser = Browser(http, bff)
    await browser.login(user["email"])
    sid = await session_id(browser)

    # Right after the password login: allowed.
    created = await create_pat(browser, "right after login")
    assert created.status_code == 201, created.text
    assert created.json()["token"].startswith("lkp_")
    tokens = [created.json()["token"]]

    # Past the window: the core's answer reaches the browser as problem+json, so the app can ask.
    await asyncio.sleep(PAST_WINDOW)
    refused = await create_pat(browser, "too late")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["cache-control"] == "no-store"
    assert refused.json()["code"] == "reauth_required"

    # A wrong password: 401 invalid_credentials, and the session stays as it was.
    wrong = await browser.request("POST", "/bff/reauthenticate", json={"password": PASSWORD + "x"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["code"] == "invalid_credentials"
    assert "set-cookie" not in wrong.headers
    assert await session_id(browser) == sid
    assert (await browser.request("GET", "/api/v1/me")).status_code == 200
    assert (await create_pat(browser, "still too late")).json()["code"] == "reauth_required"

    # The right password: 204, same session (same cookie, same id), new tokens with a fresh auth_time.
    cookie = browser.cookie
    again = await browser.request("POST", "/bff/reauthenticate", json={"password": PASSWORD})
    assert again.status_code == 204, again.text
    assert browser.cookie == cookie
    assert await session_id(browser) == sid
    created = await create_pat(browser, "after reauthentication")
    assert created.status_code == 201, created.text
    tokens.append(created.json()["token"])
    assert (await browser.request("GET", "/api/v1/me")).json()["id"] == user["id"]

    # The PATs made are the user's: listed (without their tokens) through the same session.
    listed = await browser.request("GET", "/api/v1/me/tokens")
    assert listed.status_code == 200
    assert sorted(item["name"] for item in listed.json()["items"]) == [
        "after reauthentication",
        "right after login",
    ]
    assert not any(token in listed.text for token in tokens)
