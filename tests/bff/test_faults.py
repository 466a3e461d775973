"""The BFF in front of a core that goes away or hangs (real processes): fast, clear problem answers
(502 `upstream_unavailable`, 504 `upstream_timeout`), the BFF's own routes keep answering, no session is
lost, and the BFF recovers without a restart once the core is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support import BffServer, Browser, CoreServer

pytestmark = pytest.mark.database_agnostic

CoreFactory = Callable[..., Awaitable[CoreServer]]
BffFactory = Callable[..., Awaitable[BffServer]]


async def stack(
    core_factory: CoreFactory, bff_factory: BffFactory, **bff_env: str
) -> tuple[CoreServer, BffServer]:
    """A core of this test's own (it gets stopped or hung) and a BFF in front of it."""
    core = await core_factory()
    # A core of its own has its own accounts: the BFF presents a developer account's secret of this one.
    service = await core.create_user(developer=True, name="Service")
    bff = await bff_factory(core_server=core, LATCHKEY_BFF_CLIENT_SECRET=service["client_secret"], **bff_env)
    return core, bff


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["code"] == code


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


async def test_core_down_then_back_on_the_same_port(
    core_factory: CoreFactory, bff_factory: BffFactory, http: httpx.AsyncClient
) -> None:
    core, bff = await stack(core_factory, bff_factory)
    user: dict[str, Any] = await core.create_user()
    browser = Browser(http, bff)
    await browser.login(user["email"])
    assert (await browser.request("GET", "/api/v1/me")).status_code == 200

    await asyncio.to_thread(core.stop)
    restarted: CoreServer | None = None
    try:
        for _ in range(3):  # the pooled connection the core closed, then fresh connection attempts
            response, elapsed = await timed(browser.request("GET", "/api/v1/me"))
            assert_problem(response, 502, "upstream_unavailable")
            assert elapsed < 1.0, elapsed
        # The BFF's own routes only read the session store: they keep answering.
        session = await browser.request("GET", "/bff/session")
        assert session.status_code == 200
        assert session.json()["user"]["id"] == user["id"]
        assert (await http.get(bff.url + "/healthz")).status_code == 200
        assert (await http.get(bff.url + "/readyz")).status_code == 200

        # A login needs the core: a clear, fast problem answer, and no cookie.
        newcomer = Browser(http, bff)
        login, elapsed = await timed(
            newcomer.request(
                "POST", "/bff/login", json={"username": user["email"], "password": user["password"]}
            )
        )
        assert login.status_code in (502, 503), login.text
        assert login.headers["content-type"].startswith("application/problem+json")
        assert login.json()["code"] in ("upstream_unavailable", "service_unavailable")
        assert "set-cookie" not in login.headers
        assert elapsed < 1.0, elapsed

        # The core comes back on the same port and database: the BFF recovers without a restart, and
        # the session survived.
        restarted = CoreServer(env=core.env, workdir=core.workdir, port=core.port)
        await asyncio.to_thread(restarted.start)
        me = await browser.request("GET", "/api/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["id"] == user["id"]
        await newcomer.login(user["email"])
        assert (await newcomer.request("GET", "/api/v1/projects")).status_code == 200
    finally:
        if restarted is not None:
            await asyncio.to_thread(restarted.stop)


async def test_core_hung(core_factory: CoreFactory, bff_factory: BffFactory, http: httpx.AsyncClient) -> None:
    core, bff = await stack(core_factory, bff_factory, LATCHKEY_UPSTREAM_TIMEOUT="1")
    user: dict[str, Any] = await core.create_user()
    browser = Browser(http, bff)
    await browser.login(user["email"])
    assert (await browser.request("GET", "/api/v1/me")).status_code == 200
    assert core.process is not None

    os.kill(core.process.pid, signal.SIGSTOP)
    try:
        # The core still accepts connections (the kernel does), but never answers.
        hanging = asyncio.ensure_future(timed(browser.request("GET", "/api/v1/me")))
        await asyncio.sleep(0.1)
        # Meanwhile the BFF's other routes answer at once (well inside the 1 s the proxied call waits).
        for path in ("/healthz", "/bff/session"):
            response, elapsed = await timed(browser.request("GET", path))
            assert response.status_code == 200, (path, response.text)
            assert elapsed < 0.3, (path, elapsed)
        assert not hanging.done()

        response, elapsed = await hanging
        assert_problem(response, 504, "upstream_timeout")
        assert 0.8 <= elapsed <= 3.0, elapsed

        # A login while the core hangs gives up after the same timeout.
        login, elapsed = await timed(
            Browser(http, bff).request(
                "POST", "/bff/login", json={"username": user["email"], "password": user["password"]}
            )
        )
        assert_problem(login, 504, "upstream_timeout")
        assert "set-cookie" not in login.headers
        assert 0.8 <= elapsed <= 3.0, elapsed
    finally:
        os.kill(core.process.pid, signal.SIGCONT)

    # Resumed: the BFF recovers without a restart, with the same session.
    response = await browser.request("GET", "/api/v1/me")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user["id"]
    assert (await browser.request("GET", "/bff/session")).status_code == 200
