"""WebSockets through the BFF (SPEC §12), against real processes: a core, BFFs with a routes file, and the
team's own API (`tests/upstream_app.py`) as the upstream. The browser is an aiohttp client that sends the
session cookie and `Origin` itself, as a browser's WebSocket does.

Relayed: text, binary, the subprotocol offer and the upstream's choice, close codes and reasons both
ways. Refused before the upgrade: a foreign, `null` or missing Origin, no session on a `user` route, a
hostile path, an upstream that refuses or is not there. A session that ends closes its sockets with 4401
within a second: on the instance that ended it, and on another one through Redis.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from latchkey import devstack
from latchkey.bff.proxy.websocket import MAX_MESSAGE_BYTES
from tests.support import BffServer, Browser, CoreServer, free_port, new_key, start_bff, stop_bff

pytestmark = pytest.mark.database_agnostic

ROOT = Path(__file__).resolve().parents[2]
LISTED = "https://app.example.test"
SHARED_REDIS = "redis://127.0.0.1:6379/0"
COOKIE_NAME = "__Host-latchkey"
SESSION_ENDED = 4401
# SPEC §12 and §8: the socket of an ended session closes within this many seconds.
CLOSE_LIMIT = 1.0


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Upstream:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """The team's own API, a real aiohttp process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.upstream_app", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while devstack.port_is_free(port):
        assert process.poll() is None, "the upstream app exited"
        assert time.monotonic() < deadline, "the upstream app did not start"
        time.sleep(0.05)
    yield Upstream(port, process)
    process.terminate()
    process.wait(10)


ROUTES = """
[[route]]
prefix = "/live"
upstream = "{upstream}"
token = "user"
websocket = true

[[route]]
prefix = "/maybe"
upstream = "{upstream}/under/base"
token = "user_or_none"
websocket = true

[[route]]
prefix = "/public"
upstream = "{upstream}"
token = "none"
websocket = true

[[route]]
prefix = "/plain"
upstream = "{upstream}"
token = "user"

[[route]]
prefix = "/gone"
upstream = "http://127.0.0.1:{closed_port}"
token = "user"
websocket = true
"""


@dataclass
class Stack:
    core: CoreServer
    first: BffServer
    second: BffServer
    upstream: Upstream


@pytest.fixture(scope="module")
async def stack(
    backend: str,
    core: CoreServer,
    service_client: dict[str, Any],
    upstream: Upstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    """Two BFF instances on one session database and the shared Redis, with the routes file."""
    if not redis_reachable():
        pytest.fail("the shared Redis at 127.0.0.1:6379 is not running; start it")
    workdir = tmp_path_factory.mktemp("bff-ws")
    routes = workdir / "routes.toml"
    routes.write_text(ROUTES.format(upstream=upstream.url, closed_port=free_port()))
    common: dict[str, Any] = {
        "LATCHKEY_BFF_ROUTES": str(routes),
        "LATCHKEY_ALLOWED_ORIGINS": LISTED,
        "LATCHKEY_REDIS_URL": SHARED_REDIS,
        "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
    }
    secret = service_client["client_secret"]
    first = await start_bff(backend, workdir / "a", core, secret, **common)
    second: BffServer | None = None
    try:
        second = await start_bff(
            backend, workdir / "b", core, secret, LATCHKEY_BFF_DATABASE_URL=first.database_url, **common
        )
        async with httpx.AsyncClient() as http:
            for server in (first, second):
                await wait_for_redis(http, server)
        yield Stack(core, first, second, upstream)
        for server in (first, second):
            # No relay ended in an unhandled exception (uvicorn logs those, and answers 500 or 1011).
            assert "Traceback" not in server.log(), server.log()
    finally:
        if second is not None:
            await stop_bff(second, drop=False)  # the database is the first's
        await stop_bff(first)


async def wait_for_redis(http: httpx.AsyncClient, server: BffServer) -> None:
    deadline = time.monotonic() + 10
    while (await http.get(f"{server.url}/readyz")).json().get("redis") != "up":
        assert time.monotonic() < deadline, "the BFF never reached Redis"
        await asyncio.sleep(0.05)


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def signed_in(http: httpx.AsyncClient, stack: Stack, bff: BffServer | None = None) -> str:
    """A new user's session cookie, signed in through `bff` (the first instance by default)."""
    user = await stack.core.create_user()
    browser = Browser(http, bff or stack.first)
    await browser.login(user["email"])
    assert browser.cookie is not None
    return browser.cookie


def own_origin(bff: BffServer) -> str:
    return bff.url


async def open_socket(
    client: aiohttp.ClientSession,
    bff: BffServer,
    path: str,
    cookie: str | None,
    *,
    origin: str | None = "own",
    protocols: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientWebSocketResponse:
    fields = dict(headers or {})
    if cookie is not None:
        fields["Cookie"] = f"{COOKIE_NAME}={cookie}"
    if origin is not None:
        fields["Origin"] = own_origin(bff) if origin == "own" else origin
    return await client.ws_connect(
        bff.url + path, headers=fields, protocols=protocols, autoping=True, timeout=aiohttp.ClientWSTimeout(5)
    )


async def refused_status(
    client: aiohttp.ClientSession, bff: BffServer, path: str, cookie: str | None, **kw: Any
) -> int:
    try:
        socket = await open_socket(client, bff, path, cookie, **kw)
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    await socket.close()
    raise AssertionError(f"{path} opened")


async def whoami(socket: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    await socket.send_str("whoami")
    answer: dict[str, Any] = json.loads(await socket.receive_str(timeout=5))
    return answer


# --- relaying -------------------------------------------------------------------------------------------


async def test_text_binary_and_the_subprotocol_are_relayed(
    stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession
) -> None:
    cookie = await signed_in(http, stack)
    socket = await open_socket(client, stack.first, "/live/ws", cookie, protocols=("superchat", "chat"))
    try:
        # The browser's offer reached the upstream, and its choice came back.
        assert socket.protocol == "superchat"
        await socket.send_str("hello, upstream")
        assert await socket.receive_str(timeout=5) == "hello, upstream"
        await socket.send_str("ünïcødé ✓")
        assert await socket.receive_str(timeout=5) == "ünïcødé ✓"
        blob = bytes(range(256)) * 4096  # 1 MiB
        await socket.send_bytes(blob)
        assert await socket.receive_bytes(timeout=5) == blob
        assert (await whoami(socket))["protocol"] == "superchat"
    finally:
        await socket.close()


async def test_the_upstream_gets_the_bearer_token_and_never_the_cookie(
    stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession
) -> None:
    cookie = await signed_in(http, stack)
    socket = await open_socket(
        client, stack.first, "/live/ws", cookie, headers={"Authorization": "Bearer the-browsers-own"}
    )
    try:
        seen = await whoami(socket)
    finally:
        await socket.close()
    assert seen["authorization"].startswith("Bearer lka_"), seen
    assert seen["cookie"] is None
    assert seen["origin"] is None  # judged by the BFF; the hop to the upstream is server to server
    assert seen["protocol"] is None


async def test_token_policies(stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession) -> None:
    cookie = await signed_in(http, stack)
    # user_or_none: with a session its token, without one (or with a bad cookie) none; on a base path.
    for given, expected in ((cookie, "Bearer lka_"), (None, None), ("garbage", None)):
        socket = await open_socket(client, stack.first, "/maybe/ws", given)
        try:
            authorization = (await whoami(socket))["authorization"]
        finally:
            await socket.close()
        if expected is None:
            assert authorization is None
        else:
            assert authorization.startswith(expected)
    # none: never a token, session or not.
    socket = await open_socket(client, stack.first, "/public/ws", cookie)
    try:
        assert (await whoami(socket))["authorization"] is None
    finally:
        await socket.close()
    # user: no session, no socket.
    assert await refused_status(client, stack.first, "/live/ws", None) == 401
    assert await refused_status(client, stack.first, "/live/ws", "garbage") == 401


async def test_close_codes_and_reasons_pass_both_ways(
    stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession
) -> None:
    cookie = await signed_in(http, stack)
    # The upstream closes: the browser gets its code and reason.
    socket = await open_socket(client, stack.first, "/live/ws", cookie)
    await socket.send_str("close:4000")
    message = await socket.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert (message.data, message.extra) == (4000, "asked")
    await socket.close()

    # The browser closes: the upstream gets its code.
    for code in (4321, 1001):
        socket = await open_socket(client, stack.first, "/live/ws?tag=t" + str(code), cookie)
        await socket.send_str("ping")
        assert await socket.receive_str(timeout=5) == "ping"
        await socket.close(code=code, message=b"bye")
        deadline = time.monotonic() + 5
        while (
            closed := (await http.get(f"{stack.upstream.url}/ws-closed?tag=t{code}")).json()["code"]
        ) is None:
            assert time.monotonic() < deadline, "the upstream never heard the close"
            await asyncio.sleep(0.02)
        assert closed == code


# --- refusals before the upgrade ------------------------------------------------------------------------


async def test_the_origin_must_be_our_own_or_listed(
    stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession
) -> None:
    cookie = await signed_in(http, stack)
    for origin in ("own", LISTED):
        socket = await open_socket(client, stack.first, "/live/ws", cookie, origin=origin)
        await socket.send_str("fine")
        assert await socket.receive_str(timeout=5) == "fine"
        await socket.close()
    # Cross-site WebSocket hijacking: the browser sends the cookie to a foreign page's socket, but its
    # Origin gives the page away. Missing (not a browser) and `null` (a sandboxed frame) fail too.
    foreign: tuple[str | None, ...] = ("https://evil.example", "http://127.0.0.1:1", "null", None)
    for refused in foreign:
        assert await refused_status(client, stack.first, "/live/ws", cookie, origin=refused) == 403, refused
    # Even where no session is needed.
    assert await refused_status(client, stack.first, "/public/ws", None, origin="https://evil.example") == 403


async def test_refusals_are_problems_before_the_upgrade(
    stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession
) -> None:
    cookie = await signed_in(http, stack)
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}", "Origin": stack.first.url}
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    # The problem body and fields reach a client that reads the refusal (the BFF's logs; a browser's
    # script only sees the socket fail).
    refused = await http.get(
        f"{stack.first.url}/live/ws", headers={**upgrade, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "csrf_failed"
    for path in ("/live/%2e%2e/ws", "/live/a%2fb/ws", "/live/a%5cb/ws"):
        answer = await http.get(stack.first.url + path, headers={**upgrade, **headers})
        assert answer.status_code == 400, path
        assert answer.json()["code"] == "invalid_path"
    # The upstream refuses the upgrade, or is not there: 502.
    answer = await http.get(f"{stack.first.url}/live/ws-reject", headers={**upgrade, **headers})
    assert (answer.status_code, answer.json()["code"]) == (502, "upstream_unavailable")
    answer = await http.get(f"{stack.first.url}/gone/ws", headers={**upgrade, **headers})
    assert (answer.status_code, answer.json()["code"]) == (502, "upstream_unavailable")
    # A route without `websocket = true` relays no upgrade.
    assert await refused_status(client, stack.first, "/plain/ws", cookie) >= 400


# --- the session ends -----------------------------------------------------------------------------------


async def seconds_until_4401(socket: aiohttp.ClientWebSocketResponse, since: float) -> float:
    message = await socket.receive(timeout=5)
    elapsed = time.monotonic() - since
    assert message.type is aiohttp.WSMsgType.CLOSE, message
    assert message.data == SESSION_ENDED
    return elapsed


async def test_a_logout_closes_the_sessions_sockets_with_4401_within_a_second(
    stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession
) -> None:
    cookie = await signed_in(http, stack)
    other = await signed_in(http, stack)
    sockets = [await open_socket(client, stack.first, path, cookie) for path in ("/live/ws", "/maybe/ws")]
    bystander = await open_socket(client, stack.first, "/live/ws", other)
    try:
        since = time.monotonic()
        logout = await http.post(
            f"{stack.first.url}/bff/logout", headers={"X-CSRF": "1", "Cookie": f"{COOKIE_NAME}={cookie}"}
        )
        assert logout.status_code == 204
        for socket in sockets:
            elapsed = await seconds_until_4401(socket, since)
            print(f"\nclosed with 4401 {elapsed * 1000:.0f} ms after the logout began")
            assert elapsed < CLOSE_LIMIT
        # Another session's socket stays open.
        await bystander.send_str("still here")
        assert await bystander.receive_str(timeout=5) == "still here"
    finally:
        for socket in (*sockets, bystander):
            await socket.close()


async def test_a_logout_through_one_instance_closes_the_socket_on_the_other(
    stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession
) -> None:
    cookie = await signed_in(http, stack)
    socket = await open_socket(client, stack.second, "/live/ws", cookie)
    try:
        await socket.send_str("on b")
        assert await socket.receive_str(timeout=5) == "on b"
        since = time.monotonic()
        logout = await http.post(
            f"{stack.first.url}/bff/logout", headers={"X-CSRF": "1", "Cookie": f"{COOKIE_NAME}={cookie}"}
        )
        assert logout.status_code == 204
        elapsed = await seconds_until_4401(socket, since)
        print(f"\nthe other instance closed the socket with 4401 {elapsed * 1000:.0f} ms after the logout")
        assert elapsed < CLOSE_LIMIT
    finally:
        await socket.close()
    # And a new socket with the ended session is refused there.
    assert await refused_status(client, stack.second, "/live/ws", cookie) == 401


async def test_pings_are_answered_and_messages_are_bounded(
    stack: Stack, http: httpx.AsyncClient, client: aiohttp.ClientSession
) -> None:
    cookie = await signed_in(http, stack)
    socket = await client.ws_connect(
        stack.first.url + "/live/ws",
        headers={"Cookie": f"{COOKIE_NAME}={cookie}", "Origin": stack.first.url},
        autoping=False,
    )
    try:
        await socket.ping(b"are you there")
        pong = await socket.receive(timeout=5)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")
        # Still relaying after the ping; then a message over the bound closes the socket with 1009.
        await socket.send_str("after the ping")
        assert await socket.receive_str(timeout=5) == "after the ping"
        await socket.send_bytes(b"x" * (MAX_MESSAGE_BYTES + 1))
        closed = await socket.receive(timeout=5)
        assert (closed.type, closed.data) == (aiohttp.WSMsgType.CLOSE, 1009)
    finally:
        await socket.close()
