"""One canonical path before any policy (finding: a doubled slash bypassed CSRF). Litestar's router collapses
`//`, so `POST //bff/logout?everywhere=true` once reached the logout route while the CSRF prefix test did
not recognise it. Every non-canonical spelling — doubled, tripled, inner, trailing, percent-encoded
slashes, under a base path too — is now refused 400 `invalid_path` before CSRF, dispatch or routing; the
session survives every attempt."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.support import BffServer, Browser, CoreServer

pytestmark = pytest.mark.database_agnostic

BffFactory = Callable[..., Awaitable[BffServer]]
FOREIGN = "http://evil.example.test"

# (method, target) pairs that name a policy-bearing route in a non-canonical spelling.
BYPASSES = [
    ("POST", "//bff/logout?everywhere=true"),
    ("POST", "///bff/logout?everywhere=true"),
    ("POST", "/bff//logout?everywhere=true"),
    ("POST", "//bff/logout/?everywhere=true"),
    ("POST", "/%2Fbff/logout?everywhere=true"),
    ("POST", "/%2fbff%2flogout?everywhere=true"),
    ("POST", "//bff/logout"),
    ("GET", "//bff/session"),
    ("GET", "//bff/sessions"),
    ("DELETE", "//bff/sessions/anything"),
    ("POST", "//bff/reauthenticate"),
    ("GET", "//api/v1/me"),
    ("GET", "/api//v1/me"),
    ("POST", "//api/v1/projects"),
]


async def raw(
    server: BffServer, method: str, target: str, headers: dict[str, str]
) -> tuple[int, bytes, bytes]:
    """Send a request target exactly as written (httpx would normalise some of these)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Content-Length: 0"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join([*lines, "Connection: close", "", ""])).encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.lower(), body


async def two_sessions(
    core: CoreServer, http: httpx.AsyncClient, server: BffServer
) -> tuple[Browser, Browser]:
    user = await core.create_user()
    first, second = Browser(http, server), Browser(http, server)
    for browser in (first, second):
        assert (await browser.login(user["email"])).status_code == 200
    return first, second


@pytest.mark.parametrize("foreign", [True, False])
async def test_non_canonical_paths_are_refused_before_any_policy(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer, foreign: bool
) -> None:
    attacked, other = await two_sessions(core, http, bff)
    # A cross-site attacker sends neither X-CSRF nor a same-origin Origin; a careless client sends both.
    headers = {"Origin": FOREIGN} if foreign else {"X-CSRF": "1"}
    headers["Cookie"] = f"{attacked.cookie_name}={attacked.cookie}"
    for method, target in BYPASSES:
        status, head, body = await raw(bff, method, target, headers)
        assert status == 400, (method, target, status, body[:200])
        assert json.loads(body)["code"] == "invalid_path", (target, body)
        assert b"application/problem+json" in head
        assert b"set-cookie" not in head, target
    # Nothing reached a route: both sessions live, no project was created.
    for browser in (attacked, other):
        assert (await browser.request("GET", "/bff/session")).status_code == 200
    assert (await attacked.request("GET", "/api/v1/projects")).json()["items"] == []


async def test_canonical_paths_still_work_and_keep_their_policy(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    attacked, other = await two_sessions(core, http, bff)
    cookie = {"Cookie": f"{attacked.cookie_name}={attacked.cookie}"}
    # The same routes spelled canonically (a trailing slash, percent-encoded letters) meet CSRF.
    for target in (
        "/bff/logout?everywhere=true",
        "/bff/logout/?everywhere=true",
        "/%62ff/logout?everywhere=true",
    ):
        status, _, body = await raw(bff, "POST", target, {**cookie, "Origin": FOREIGN})
        assert status == 403, (target, status)
        assert json.loads(body)["code"] == "csrf_failed"
    for browser in (attacked, other):
        assert (await browser.request("GET", "/bff/session")).status_code == 200
    # And with the header, the percent-encoded spelling is the logout route it decodes to.
    status, _, _ = await raw(bff, "POST", "/%62ff/logout?everywhere=true", {**cookie, "X-CSRF": "1"})
    assert status == 204
    for browser in (attacked, other):
        assert (await browser.request("GET", "/bff/session")).status_code == 401


async def test_under_a_base_path_too(bff_factory: BffFactory) -> None:
    server = await bff_factory(LATCHKEY_BFF_BASE_PATH="/app", LATCHKEY_COOKIE_PATH="/app")
    targets = (
        "//app/bff/logout",
        "/app//bff/logout",
        "/app/bff//logout",
        "/app%2F%2Fbff/logout",
        "//app/api/v1/me",
    )
    for target in targets:
        status, _, body = await raw(server, "POST", target, {"Origin": FOREIGN})
        assert status == 400, (target, status, body[:200])
        assert json.loads(body)["code"] == "invalid_path"
    # The canonical spelling under the base path meets CSRF as before.
    status, _, body = await raw(server, "POST", "/app/bff/logout", {"Origin": FOREIGN})
    assert status == 403
    assert json.loads(body)["code"] == "csrf_failed"


async def test_the_core_answers_oauth_errors_by_the_routed_path(
    core: CoreServer, http: httpx.AsyncClient
) -> None:
    # `//v1/oauth/token` is routed to the token endpoint: its errors keep the RFC 6749 format there too.
    for target in ("//v1/oauth/token", "/v1//oauth/token", "//v1/oauth/revoke"):
        response = await http.post(
            core.url + target,
            content=b"grant_type=password",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 401, (target, response.text)
        assert response.json()["error"] == "invalid_client", target
        assert response.headers["www-authenticate"].startswith("Secret")
