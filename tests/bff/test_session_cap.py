"""Live sessions per user are capped (real core and BFF processes): a login beyond
LATCHKEY_MAX_SESSIONS_PER_USER ends the user's oldest sessions, whose cookies then get 401
`session_revoked` and whose refresh chains are revoked at the core, so a flood of right-password
logins leaves at most the cap alive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from latchkey.settings import SettingsError, load_bff_settings
from tests.bff.test_logout import chains, logged_in
from tests.support import BffServer, Browser, CoreServer, new_key, start_bff, stop_bff

CAP = 3


@pytest.fixture(scope="module")
async def capped(
    backend: str, core: CoreServer, service_client: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BffServer]:
    """One BFF with the cap for the module: each test's user is its own, and the cap is per user."""
    server = await start_bff(
        backend,
        tmp_path_factory.mktemp("capped"),
        core,
        service_client["client_secret"],
        LATCHKEY_MAX_SESSIONS_PER_USER=str(CAP),
    )
    yield server
    await stop_bff(server)


async def assert_evicted(browser: Browser) -> None:
    for path in ("/api/v1/me", "/bff/session"):
        response = await browser.request("GET", path)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["code"] == "session_revoked", response.text


async def assert_alive(browser: Browser) -> None:
    for path in ("/api/v1/me", "/bff/session"):
        response = await browser.request("GET", path)
        assert response.status_code == 200, (path, response.text)


async def test_logins_beyond_the_cap_end_the_oldest_sessions(
    core: CoreServer, capped: BffServer, http: httpx.AsyncClient
) -> None:
    bff = capped
    user: dict[str, Any] = await core.create_user()
    bystander = await logged_in(http, bff, await core.create_user(), "bystander")

    browsers = [await logged_in(http, bff, user, f"device-{index}") for index in range(5)]
    oldest, newest = browsers[:2], browsers[2:]
    for browser in oldest:
        await assert_evicted(browser)
    for browser in newest:
        await assert_alive(browser)
    await assert_alive(bystander)

    # The evicted sessions' chains are revoked at the core (each login is one chain, in order).
    rows = await chains(core, user["id"])
    assert [row.revoked_at is not None for row in rows] == [True, True, False, False, False]

    # The list shows exactly the cap, the newest sessions.
    listed = (await newest[-1].request("GET", "/bff/sessions")).json()["items"]
    assert sorted(item["user_agent"] for item in listed) == ["device-2", "device-3", "device-4"]

    # Logging out of an evicted session is harmless: 204, and nobody else is logged out.
    assert (await oldest[0].request("POST", "/bff/logout?everywhere=true")).status_code == 204
    for browser in newest:
        await assert_alive(browser)


async def test_a_flood_of_right_password_logins_leaves_the_cap(
    core: CoreServer, capped: BffServer, http: httpx.AsyncClient
) -> None:
    bff = capped
    user: dict[str, Any] = await core.create_user()
    for _ in range(3):  # waves of concurrent logins, as a script would send them
        wave = [Browser(http, bff) for _ in range(6)]
        answers = await asyncio.gather(
            *(
                browser.request(
                    "POST", "/bff/login", json={"username": user["email"], "password": user["password"]}
                )
                for browser in wave
            )
        )
        # The core's hashing admission limit may turn some away (429/503); the rest are sessions.
        statuses = {answer.status_code for answer in answers}
        assert 200 in statuses and statuses <= {200, 429, 503}, [a.text for a in answers]
    alive = [row for row in await chains(core, user["id"]) if row.revoked_at is None]
    assert 1 <= len(alive) <= CAP
    browser = Browser(http, bff)
    await browser.login(user["email"])
    listed = (await browser.request("GET", "/bff/sessions")).json()["items"]
    assert len(listed) <= CAP
    assert len([row for row in await chains(core, user["id"]) if row.revoked_at is None]) <= CAP


async def test_a_login_that_replaces_the_browsers_session_counts_once(
    core: CoreServer, capped: BffServer, http: httpx.AsyncClient
) -> None:
    bff = capped
    user: dict[str, Any] = await core.create_user()
    others = [await logged_in(http, bff, user, f"other-{index}") for index in range(CAP - 1)]
    same = await logged_in(http, bff, user, "same")
    for _ in range(3):  # the same browser logs in again and again: it replaces its own session
        await same.login(user["email"])
    for browser in [*others, same]:
        await assert_alive(browser)
    listed = (await same.request("GET", "/bff/sessions")).json()["items"]
    assert len(listed) == CAP


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LATCHKEY_MAX_SESSIONS_PER_USER", "0"),
        ("LATCHKEY_MAX_SESSIONS_PER_USER", "many"),
        ("LATCHKEY_MAX_STREAMS_PER_SESSION", "0"),
        ("LATCHKEY_MAX_STREAMS_PER_USER", "-1"),
    ],
)
def test_bad_caps_refuse_to_start(variable: str, value: str) -> None:
    env = {
        "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "A1" * 24 + "B",
        "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
        variable: value,
    }
    with pytest.raises(SettingsError) as raised:
        load_bff_settings(env)
    assert variable in str(raised.value)


def test_caps_default_to_the_spec() -> None:
    settings = load_bff_settings(
        {"LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "A1" * 24 + "B", "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}"}
    )
    assert (settings.max_streams_per_session, settings.max_streams_per_user) == (8, 16)
    assert settings.max_sessions_per_user == 20
