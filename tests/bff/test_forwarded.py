"""The browser's address behind reverse proxies (`LATCHKEY_TRUSTED_PROXIES`, bff/forwarded.py).

Finding: behind a TLS-terminating proxy the BFF saw only the proxy's address, so 50 failed logins by
anyone locked out everyone's logins. With the proxy listed, each browser is counted by its own address;
without it (the default), `X-Forwarded-For` is the client's word and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support import BffServer, Browser, CoreServer

pytestmark = pytest.mark.database_agnostic

Factory = Callable[..., Awaitable[Any]]


async def failed_logins(browser: Browser, email: str, forwarded: str, count: int) -> list[int]:
    statuses = []
    for _ in range(count):
        response = await browser.request(
            "POST",
            "/bff/login",
            json={"username": email, "password": "wrong password, wrong"},
            headers={"X-Forwarded-For": forwarded},
        )
        statuses.append(response.status_code)
    return statuses


async def test_behind_a_trusted_proxy_each_browser_is_counted_apart(
    core_factory: Factory, bff_factory: Factory, http: httpx.AsyncClient
) -> None:
    core: CoreServer = await core_factory()
    server: BffServer = await bff_factory(core_server=core, LATCHKEY_TRUSTED_PROXIES="127.0.0.1")
    victim = await core.create_user()
    browser = Browser(http, server)
    # One browser guesses five times and is stopped…
    assert await failed_logins(browser, victim["email"], "203.0.113.7", 5) == [401] * 5
    assert await failed_logins(browser, victim["email"], "203.0.113.7", 1) == [429]
    # …while the victim, behind the same proxy, still signs in.
    response = await browser.request(
        "POST",
        "/bff/login",
        json={"username": victim["email"], "password": "correct horse battery staple"},
        headers={"X-Forwarded-For": "198.51.100.20"},
    )
    assert response.status_code == 200, response.text
    sessions = (await browser.request("GET", "/bff/sessions")).json()["items"]
    assert [item["ip"] for item in sessions] == ["198.51.100.20"]


async def test_without_trusted_proxies_a_forged_header_changes_nothing(
    core_factory: Factory, bff_factory: Factory, http: httpx.AsyncClient
) -> None:
    core: CoreServer = await core_factory()
    server: BffServer = await bff_factory(core_server=core)
    victim = await core.create_user()
    browser = Browser(http, server)
    # Spreading guesses over made-up addresses does not give fresh counters: all are 127.0.0.1.
    statuses = []
    for i in range(6):
        statuses += await failed_logins(browser, victim["email"], f"203.0.113.{i + 1}", 1)
    assert statuses == [401] * 5 + [429]
    await browser.login((await core.create_user())["email"])
    sessions = (await browser.request("GET", "/bff/sessions", headers={"X-Forwarded-For": "1.2.3.4"})).json()
    assert [item["ip"] for item in sessions["items"]] == ["127.0.0.1"]
