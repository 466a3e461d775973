"""Configured upstream routes over HTTP (SPEC §12), end to end: a real BFF process in front of the real
core and of a real upstream process (`tests/upstream_app.py`), with LATCHKEY_BFF_ROUTES naming a TOML file.
Token policies, methods, CSRF, path hygiene, an upstream down or slow, 20 MiB both ways with the BFF's
memory flat, no cookie upstream, no upstream cookie or hop-by-hop field downstream, one refresh and retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from latchkey import devstack
from tests.support import (
    BffServer,
    Browser,
    CoreServer,
    RssSampler,
    assert_no_token_leak,
    free_port,
    start_bff,
    stop_bff,
)

pytestmark = pytest.mark.database_agnostic

MiB = 1 << 20
LISTED = "https://app.example"
ROOT = Path(__file__).resolve().parents[2]


def start_upstream(workdir: Path) -> devstack.Process:
    """`python -m tests.upstream_app` on a free port, ready when it answers (it echoes any path)."""
    port = free_port()
    process = devstack.Process(
        "upstream",
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "tests.upstream_app", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        log_path=workdir / f"upstream-{port}.log",
        ready_url=devstack.local_url(port, "/ready"),
    )
    process.start()
    return process


def upstream_url(process: devstack.Process) -> str:
    assert process.ready_url is not None
    return process.ready_url.removesuffix("/ready")


def routes_toml(upstream: str, nobody: str) -> str:
    return f"""
[[route]]
prefix = "/team"
upstream = "{upstream}/team-base"
token = "user"

[[route]]
prefix = "/maybe"
upstream = "{upstream}"
token = "user_or_none"

[[route]]
prefix = "/public"
upstream = "{upstream}"
token = "none"

[[route]]
prefix = "/narrow"
upstream = "{upstream}"
token = "user"
methods = ["GET", "post"]

[[route]]
prefix = "/quick"
upstream = "{upstream}"
token = "none"
timeout = 1

[[route]]
prefix = "/down"
upstream = "{nobody}"
token = "none"
timeout = 2
"""


@dataclass
class Stack:
    bff: BffServer
    upstream: devstack.Process


@pytest.fixture(scope="module")
async def stack(
    backend: str, core: CoreServer, service_client: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    workdir = tmp_path_factory.mktemp("routes")
    upstream = await asyncio.to_thread(start_upstream, workdir)
    routes = workdir / "routes.toml"
    routes.write_text(routes_toml(upstream_url(upstream), f"http://127.0.0.1:{free_port()}"))
    try:
        bff = await start_bff(
            backend,
            workdir / "bff",
            core,
            service_client["client_secret"],
            LATCHKEY_BFF_ROUTES=str(routes),
            LATCHKEY_ALLOWED_ORIGINS=LISTED,
        )
        try:
            yield Stack(bff, upstream)
        finally:
            await stop_bff(bff)
    finally:
        await asyncio.to_thread(upstream.stop)


@pytest.fixture
async def signed_in(stack: Stack, core: CoreServer, http: httpx.AsyncClient) -> Browser:
    user = await core.create_user()
    browser = Browser(http, stack.bff)
    await browser.login(user["email"])
    return browser


async def echoed(browser: Browser, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A call whose answer echoes what the upstream received, the session's bearer token included: sent
    past `Browser.request`, whose leak check would (rightly) flag it."""
    headers = browser.headers(kwargs.pop("headers", None))
    return await browser.client.request(method, browser.bff.url + path, headers=headers, **kwargs)


def header_map(echo: dict[str, Any]) -> dict[str, str]:
    return {name.lower(): value for name, value in echo["headers"]}


def assert_per_user(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert "Cookie" in response.headers["vary"]


# --- token policies ----------------------------------------------------------------------------------


async def test_user_route_forwards_the_session_token_and_nothing_of_the_browser(
    signed_in: Browser,
) -> None:
    response = await echoed(
        signed_in,
        "GET",
        "/team/re%20ports/echo?year=2026&q=a%20b",
        headers={"Authorization": "Bearer browser-own", "X-Custom": "dropped", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    echo = response.json()
    # The upstream's base path, then the rest of the path and the query as received.
    assert echo["path"] == "/team-base/re%20ports/echo"
    assert echo["query"] == "year=2026&q=a b"  # as aiohttp decodes it
    headers = header_map(echo)
    assert headers["authorization"].startswith("Bearer ")
    assert headers["authorization"] != "Bearer browser-own"
    assert "cookie" not in headers
    assert "x-csrf" not in headers
    assert "x-custom" not in headers
    assert headers["accept"] == "application/json"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-request-id"] == response.headers["x-request-id"]
    assert_per_user(response)


async def test_user_route_without_a_session_is_401_no_session(stack: Stack, http: httpx.AsyncClient) -> None:
    response = await Browser(http, stack.bff).request("GET", "/team/echo")
    assert response.status_code == 401
    assert response.json()["code"] == "no_session"
    assert "Cookie" in response.headers["vary"]


async def test_user_or_none_forwards_the_token_of_a_valid_session_only(
    stack: Stack, signed_in: Browser, http: httpx.AsyncClient
) -> None:
    with_session = await echoed(signed_in, "GET", "/maybe/echo")
    assert with_session.status_code == 200
    assert header_map(with_session.json())["authorization"].startswith("Bearer ")
    assert_per_user(with_session)

    anonymous = Browser(http, stack.bff)
    garbage = Browser(http, stack.bff)
    garbage.cookie = "not-a-sealed-cookie"
    for browser in (anonymous, garbage):
        response = await browser.request("GET", "/maybe/echo")
        assert response.status_code == 200, response.text
        headers = header_map(response.json())
        assert "authorization" not in headers
        assert "cookie" not in headers
        assert_per_user(response)

    # An ended session's cookie does not fail the request either.
    ended = signed_in.cookie
    assert (await signed_in.request("POST", "/bff/logout")).status_code == 204
    stale = Browser(http, stack.bff)
    stale.cookie = ended
    response = await stale.request("GET", "/maybe/echo")
    assert response.status_code == 200, response.text
    assert "authorization" not in header_map(response.json())


async def test_none_never_sends_a_token_and_keeps_the_upstreams_caching(signed_in: Browser) -> None:
    response = await signed_in.request("GET", "/public/echo", headers={"Authorization": "Bearer mine"})
    assert response.status_code == 200
    headers = header_map(response.json())
    assert "authorization" not in headers
    assert "cookie" not in headers
    assert "no-store" not in response.headers.get("cache-control", "")
    assert "Cookie" not in response.headers.get("vary", "")


async def test_an_upstream_invalid_token_gets_one_refresh_and_one_retry(signed_in: Browser) -> None:
    response = await signed_in.request("GET", "/team/refresh-me")
    assert response.status_code == 200, response.text
    assert response.json() == {"authorization_changed": True}
    # The session lives on with its new token.
    assert (await signed_in.request("GET", "/api/v1/me")).status_code == 200


# --- methods and CSRF ---------------------------------------------------------------------------------


async def test_methods_outside_the_list_are_405_with_allow(signed_in: Browser) -> None:
    assert (await echoed(signed_in, "POST", "/narrow/echo", json={})).status_code == 200
    for method in ("DELETE", "PUT"):
        response = await signed_in.request(method, "/narrow/echo")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("prefix", ["/team", "/maybe", "/public"])
async def test_csrf_on_every_route_whatever_the_token(prefix: str, signed_in: Browser) -> None:
    missing = await signed_in.request("GET", f"{prefix}/echo", csrf=False)
    assert missing.status_code == 403
    assert missing.json()["code"] == "csrf_failed"
    cross_site = await signed_in.request("POST", f"{prefix}/echo", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    foreign = await signed_in.request("GET", f"{prefix}/echo", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers
    listed = await echoed(
        signed_in, "POST", f"{prefix}/echo", headers={"Origin": LISTED, "Sec-Fetch-Site": "cross-site"}
    )
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == LISTED


@pytest.mark.parametrize("prefix", ["/team", "/public"])
async def test_preflights_are_answered_by_the_bff(prefix: str, stack: Stack, http: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-csrf"}
    granted = await http.options(f"{stack.bff.url}{prefix}/echo", headers={**preflight, "Origin": LISTED})
    assert granted.status_code == 204
    assert granted.headers["access-control-allow-origin"] == LISTED
    refused = await http.options(
        f"{stack.bff.url}{prefix}/echo", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


# --- path hygiene -------------------------------------------------------------------------------------


async def raw_get(bff: BffServer, target: str, cookie: str | None) -> tuple[int, bytes]:
    """A request target sent byte for byte (no client normalises it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", bff.port)
    try:
        lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{bff.port}", "Connection: close", "X-CSRF: 1"]
        if cookie is not None:
            lines.append(f"Cookie: __Host-latchkey={cookie}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        async with asyncio.timeout(10):
            data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize(
    "target",
    [
        "/team/../api/v1/me",
        "/team/%2e%2e/echo",
        "/team/a%2Fb/echo",
        "/team/a%5Cb",
        "/team/a\\b",
        "/public/./echo",
        "/public/%2E/echo",
        "/public/a%00b",
        "/public",
    ],
)
async def test_hostile_paths_are_400_invalid_path(target: str, stack: Stack, signed_in: Browser) -> None:
    status, body = await raw_get(stack.bff, target, signed_in.cookie)
    assert status == 400, body
    assert b"invalid_path" in body


async def test_a_sibling_of_a_prefix_is_not_the_route(signed_in: Browser) -> None:
    response = await signed_in.request("GET", "/publicx/echo")
    assert response.status_code == 404


# --- upstream failures --------------------------------------------------------------------------------


async def test_an_upstream_down_is_a_fast_502(stack: Stack, signed_in: Browser) -> None:
    started = time.monotonic()
    response = await signed_in.request("GET", "/down/echo")
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 2


async def test_a_slow_upstream_is_504_at_the_routes_timeout(
    stack: Stack, signed_in: Browser, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    response = await signed_in.request("GET", "/quick/slow?delay=4")
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"
    assert 0.9 < elapsed < 3, elapsed
    # The same upstream answers in time on a route with a longer timeout, and the BFF stays healthy.
    assert (await signed_in.request("GET", "/public/slow?delay=1.5")).status_code == 200
    assert (await http.get(stack.bff.url + "/healthz")).status_code == 200


# --- fields downstream --------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/team", "/public"])
async def test_no_upstream_cookie_or_hop_by_hop_field_reaches_the_browser(
    prefix: str, signed_in: Browser
) -> None:
    response = await signed_in.request("GET", f"{prefix}/leaky")
    assert response.status_code == 200
    assert response.json() == {"leaky": True}
    for name in ("set-cookie", "x-upstream-private", "keep-alive", "proxy-authenticate", "connection"):
        assert name not in response.headers, name
    assert signed_in.cookie is not None  # the BFF's own cookie was not touched


# --- streaming ----------------------------------------------------------------------------------------


async def test_20_mib_down_and_up_with_flat_memory(
    stack: Stack, signed_in: Browser, http: httpx.AsyncClient
) -> None:
    process = stack.bff.process
    assert process is not None
    size = 20 * MiB
    # Warm the route's pool and code paths first, so the sampler sees the transfer only.
    assert (await signed_in.request("GET", "/team/stream?mib=1")).status_code == 200

    async with RssSampler(process.pid) as memory:
        received = 0
        async with http.stream(
            "GET", stack.bff.url + "/team/stream?mib=20", headers=signed_in.headers(), timeout=60
        ) as response:
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-store"
            async for piece in response.aiter_raw():
                received += len(piece)
        assert received == size

        block = hashlib.sha256(b"latchkey").digest() * 2048  # 64 KiB
        sent = hashlib.sha256()

        async def body() -> AsyncIterator[bytes]:
            for _ in range(size // len(block)):
                sent.update(block)
                yield block

        uploaded = await signed_in.request(
            "POST",
            "/team/upload",
            content=body(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            timeout=60,
        )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {"bytes": size, "sha256": sent.hexdigest()}
    print(f"\nBFF RSS growth {memory.growth / MiB:.1f} MiB while 20 MiB went down and up a route")
    assert memory.growth < 10 * MiB, f"BFF RSS grew {memory.growth / MiB:.1f} MiB"


async def test_a_streamed_answer_is_filtered_too(signed_in: Browser) -> None:
    response = await signed_in.request("GET", "/public/stream?mib=1")
    assert response.status_code == 200
    assert len(response.content) == MiB
    assert_no_token_leak("/public/stream", response.headers, b"")
    assert "set-cookie" not in response.headers


# --- start-up -----------------------------------------------------------------------------------------


async def test_a_bad_routes_file_refuses_start_with_one_line(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text('[[route]]\nprefix = "/bff/x"\nupstream = "http://127.0.0.1:9"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    env.update(
        LATCHKEY_ENV="development",
        LATCHKEY_BFF_ROUTES=str(routes),
        LATCHKEY_BFF_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bff.db'}",
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / ".venv" / "bin" / "latchkey"), "bff", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "LATCHKEY_BFF_ROUTES" in lines[0]
    assert "route 1 (/bff/x): prefix:" in lines[0]
    assert "Traceback" not in result.stderr
