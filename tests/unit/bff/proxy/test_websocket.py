"""`proxy/websocket.py`: the WebSocket relay as raw ASGI calls, with a stand-in gate and scripted upstream
sockets (no socket opened). The real thing, end to end, is `tests/bff/test_websocket.py`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import msgspec
import pytest
from aiohttp import WSMessage, WSMsgType
from aiohttp.http_websocket import WebSocketError

from latchkey.bff.proxy import StreamRegistry
from latchkey.bff.proxy.websocket import (
    MAX_MESSAGE_BYTES,
    SESSION_ENDED,
    Handshake,
    UpstreamRefused,
    WebSocketRelay,
    sendable,
    short_reason,
)
from latchkey.bff.upstream_routes import UpstreamRoute
from latchkey.problems import ProblemError
from tests.unit.bff.raw_asgi import LISTED, OWN, bff_settings

UPSTREAM = "http://chat.internal:9100"


@dataclass(frozen=True)
class Grant:
    access_token: str
    session_key: str
    user_id: int


@dataclass
class Gate:
    """A session named by its `session` cookie (`revoked` cannot refresh); no cookie is 401."""

    refreshed: list[str] = field(default_factory=list)

    async def authorize(self, scope: Any) -> Grant:
        for name, value in scope["headers"]:
            if name == b"cookie" and value.startswith(b"session="):
                session = value[len(b"session=") :].decode()
                return Grant(f"tok-{session}", session, 7)
        raise ProblemError(401, "no_session", "log in first")

    async def after_upstream_401(self, grant: Grant) -> Grant:
        self.refreshed.append(grant.session_key)
        if grant.session_key == "revoked":
            raise ProblemError(401, "session_revoked", "the session has ended")
        return Grant(grant.access_token + "-r1", grant.session_key, grant.user_id)


class FakeSocket:
    """An open upstream socket: `deliver` what the upstream sends; `sent` and `closes` what it got."""

    def __init__(self, protocol: str | None = None) -> None:
        self.protocol = protocol
        self.close_code: int | None = None
        self._queue: asyncio.Queue[WSMessage] = asyncio.Queue()
        self.sent: list[str | bytes] = []
        self.closes: list[tuple[int, bytes]] = []

    async def deliver(self, kind: WSMsgType, data: Any = None, extra: Any = None) -> None:
        await self._queue.put(WSMessage(kind, data, extra))

    async def send_str(self, data: str) -> None:
        if data == "break":
            raise ConnectionResetError("the upstream's connection broke")
        self.sent.append(data)

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def receive(self) -> WSMessage:
        return await self._queue.get()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closes.append((code, message))
        return True


@dataclass
class FakeSockets:
    """Opens FakeSockets, or fails as `outcomes` say (one per attempt; then a socket)."""

    outcomes: list[BaseException] = field(default_factory=list)
    protocol: str | None = None
    handshakes: list[Handshake] = field(default_factory=list)
    opened: list[FakeSocket] = field(default_factory=list)

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def connect(self, handshake: Handshake, timeout: float) -> FakeSocket:
        self.handshakes.append(handshake)
        if self.outcomes:
            raise self.outcomes.pop(0)
        socket = FakeSocket(self.protocol)
        self.opened.append(socket)
        return socket


def routes(*extra: UpstreamRoute) -> tuple[UpstreamRoute, ...]:
    return (
        UpstreamRoute("/live", UPSTREAM, websocket=True),
        UpstreamRoute("/maybe", UPSTREAM + "/under", token="user_or_none", websocket=True),
        UpstreamRoute("/public", UPSTREAM, token="none", websocket=True),
        UpstreamRoute("/plain", UPSTREAM),
        *extra,
    )


def relay_with(
    sockets: FakeSockets | None = None, registry: StreamRegistry | None = None, **env: str
) -> tuple[WebSocketRelay, FakeSockets, Gate, StreamRegistry]:
    settings = bff_settings(LATCHKEY_BFF_BASE_PATH="/base", LATCHKEY_COOKIE_PATH="/base", **env)
    settings = msgspec.structs.replace(settings, routes=routes())
    sockets = sockets or FakeSockets()
    gate, registry = Gate(), registry if registry is not None else StreamRegistry()
    return WebSocketRelay(settings, gate, registry, upstream=sockets), sockets, gate, registry


def ws_scope(
    path: str,
    headers: dict[str, str] | None = None,
    *,
    raw_path: bytes | None = None,
    query: bytes = b"",
    subprotocols: tuple[str, ...] = (),
    scheme: str = "ws",
    extension: bool = True,
) -> dict[str, Any]:
    fields = {"host": "bff.test", "origin": OWN, **(headers or {})}
    return {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": query,
        "headers": [(name.lower().encode(), value.encode()) for name, value in fields.items() if value],
        "scheme": scheme,
        "client": ("203.0.113.5", 5000),
        "subprotocols": list(subprotocols),
        "extensions": {"websocket.http.response": {}} if extension else {},
    }


@dataclass
class Browser:
    """The browser's side of one socket: what it sends in, and every message the app sent out."""

    inbox: anyio.abc.ObjectSendStream[dict[str, Any]]
    outbox: anyio.abc.ObjectReceiveStream[dict[str, Any]]
    got: list[dict[str, Any]] = field(default_factory=list)

    async def next(self) -> dict[str, Any]:
        with anyio.fail_after(2):
            message = await self.outbox.receive()
        self.got.append(message)
        return message

    async def say(self, **message: Any) -> None:
        await self.inbox.send({"type": "websocket.receive", **message})

    async def leave(self, code: int, reason: str = "") -> None:
        await self.inbox.send({"type": "websocket.disconnect", "code": code, "reason": reason})


@asynccontextmanager
async def browsing(relay: WebSocketRelay, scope: dict[str, Any]) -> AsyncIterator[Browser]:
    """Run the relay for one upgrade; the block drives the browser; leaving waits for the app to end."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](16)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](16)
    await to_app.send({"type": "websocket.connect"})
    mounted = relay.route_for(scope["path"])
    assert mounted is not None

    async def receive() -> dict[str, Any]:
        return await app_inbox.receive()

    async def send(message: dict[str, Any]) -> None:
        await app_outbox.send(message)

    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as group:
        group.start_soon(cast(Any, relay), scope, receive, send, mounted)
        yield Browser(to_app, from_app)
        # Leaving the task group waits for the app to end.


async def refusal(relay: WebSocketRelay, scope: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    async with browsing(relay, scope) as browser:
        start = await browser.next()
        assert start["type"] == "websocket.http.response.start", start
        body = await browser.next()
    fields = {name.decode(): value.decode() for name, value in start["headers"]}
    return start["status"], fields, json.loads(body["body"])


async def opened(relay: WebSocketRelay, browser: Browser) -> dict[str, Any]:
    accept = await browser.next()
    assert accept["type"] == "websocket.accept", accept
    return accept


SESSION = {"cookie": "session=s1"}


# --- matching -------------------------------------------------------------------------------------------


def test_only_routes_with_websockets_match_under_the_base_path() -> None:
    relay, *_ = relay_with()
    assert relay.route_for("/base/live/ws") is not None
    assert relay.route_for("/base/live") is not None
    maybe = relay.route_for("/base/maybe/x")
    assert maybe is not None and maybe.route.token == "user_or_none"
    for path in ("/base/plain/ws", "/base/livex/ws", "/live/ws", "/base/api/ws", "/base/bff/ws"):
        assert relay.route_for(path) is None, path


def test_close_codes_an_endpoint_may_send() -> None:
    assert [sendable(code, absent=1001) for code in (1000, 1011, 1014, 3000, 4401, 4999)] == [
        1000,
        1011,
        1014,
        3000,
        4401,
        4999,
    ]
    assert sendable(1005, absent=1001) == 1000  # no status: a normal close
    assert sendable(1006, absent=1001) == 1001
    assert sendable(None, absent=1014) == 1014
    assert sendable(1015, absent=1014) == 1014
    assert sendable(5000, absent=1011) == 1011
    assert short_reason("é" * 100) == "é" * 61  # 123 bytes, cut on a character
    assert short_reason(None) == ""


# --- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "scheme"),
    [(None, "ws"), ("https://evil.example", "ws"), ("null", "ws"), ("https://bff.test", "ws"), (OWN, "wss")],
)
async def test_a_foreign_or_missing_origin_is_refused_before_anything(
    origin: str | None, scheme: str
) -> None:
    relay, sockets, *_ = relay_with()
    scope = ws_scope("/base/live/ws", {**SESSION, "origin": origin or ""}, scheme=scheme)
    status, fields, body = await refusal(relay, scope)
    assert (status, body["code"]) == (403, "csrf_failed")
    assert fields["content-type"] == "application/problem+json"
    assert fields["cache-control"] == "no-store"
    assert sockets.handshakes == []


@pytest.mark.parametrize("origin", [OWN, LISTED])
async def test_the_own_or_a_listed_origin_opens(origin: str) -> None:
    relay, sockets, *_ = relay_with()
    async with browsing(relay, ws_scope("/base/live/ws", {**SESSION, "origin": origin})) as browser:
        await opened(relay, browser)
        await browser.leave(1000)
    assert len(sockets.handshakes) == 1


async def test_the_public_origin_replaces_the_hosts() -> None:
    relay, *_ = relay_with(LATCHKEY_PUBLIC_ORIGIN="https://app.public.test")
    refused = await refusal(relay, ws_scope("/base/live/ws", SESSION))  # Origin http://bff.test
    assert refused[0] == 403
    scope = ws_scope("/base/live/ws", {**SESSION, "origin": "https://app.public.test"})
    async with browsing(relay, scope) as browser:
        await opened(relay, browser)
        await browser.leave(1000)


async def test_without_the_http_response_extension_the_socket_closes_before_the_accept() -> None:
    relay, *_ = relay_with()
    async with browsing(relay, ws_scope("/base/live/ws", {"origin": ""}, extension=False)) as browser:
        close = await browser.next()
    assert close["type"] == "websocket.close"


@pytest.mark.parametrize(
    "raw", [b"/base/live/%2e%2e/x", b"/base/live/a%2fb", b"/base/live/a\\b", b"/base/live/./x"]
)
async def test_a_hostile_path_is_refused(raw: bytes) -> None:
    relay, sockets, *_ = relay_with()
    status, _, body = await refusal(relay, ws_scope("/base/live/x", SESSION, raw_path=raw))
    assert (status, body["code"]) == (400, "invalid_path")
    assert sockets.handshakes == []


async def test_a_user_route_needs_a_session() -> None:
    relay, sockets, *_ = relay_with()
    status, _, body = await refusal(relay, ws_scope("/base/live/ws"))
    assert (status, body["code"]) == (401, "no_session")
    assert sockets.handshakes == []


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (UpstreamRefused(403, invalid_token=False), 502, "upstream_unavailable"),
        (TimeoutError(), 504, "upstream_timeout"),
        (ConnectionRefusedError(), 502, "upstream_unavailable"),
    ],
)
async def test_an_upstream_that_refuses_or_is_not_there(
    failure: BaseException, status: int, code: str
) -> None:
    relay, _, _, registry = relay_with(FakeSockets([failure]))
    refused = await refusal(relay, ws_scope("/base/live/ws", SESSION))
    assert (refused[0], refused[2]["code"]) == (status, code)
    assert len(registry) == 0  # the slot was given back


async def test_invalid_token_refreshes_once_and_retries() -> None:
    relay, sockets, gate, _ = relay_with(FakeSockets([UpstreamRefused(401, invalid_token=True)]))
    async with browsing(relay, ws_scope("/base/live/ws", SESSION)) as browser:
        await opened(relay, browser)
        await browser.leave(1000)
    assert gate.refreshed == ["s1"]
    assert [dict(h.fields)["authorization"] for h in sockets.handshakes] == [
        "Bearer tok-s1",
        "Bearer tok-s1-r1",
    ]


async def test_a_second_invalid_token_is_not_retried() -> None:
    failures: list[BaseException] = [UpstreamRefused(401, invalid_token=True)] * 2
    relay, sockets, gate, _ = relay_with(FakeSockets(failures))
    refused = await refusal(relay, ws_scope("/base/live/ws", SESSION))
    assert refused[0] == 502
    assert len(sockets.handshakes) == 2 and gate.refreshed == ["s1"]


async def test_too_many_sockets_for_one_session() -> None:
    relay, *_ = relay_with(registry=StreamRegistry(per_session=1))
    async with browsing(relay, ws_scope("/base/live/ws", SESSION)) as first:
        await opened(relay, first)
        status, fields, body = await refusal(relay, ws_scope("/base/live/ws", SESSION))
        assert (status, body["code"], fields["retry-after"]) == (429, "too_many_streams", "5")
        await first.leave(1000)


# --- the upstream's handshake ---------------------------------------------------------------------------


async def test_the_handshake_carries_the_bearer_and_the_offer_never_the_cookie() -> None:
    relay, sockets, *_ = relay_with(FakeSockets(protocol="superchat"))
    scope = ws_scope(
        "/base/live/rooms/1",
        {
            **SESSION,
            "authorization": "Bearer the-browsers-own",
            "user-agent": "Browser/1",
            "x-request-id": "rid-1",
            "sec-websocket-protocol": "superchat, chat",
        },
        raw_path=b"/base/live/rooms/%41",
        query=b"a=1&b=%20",
        subprotocols=("superchat", "chat"),
    )
    async with browsing(relay, scope) as browser:
        accept = await opened(relay, browser)
        await browser.leave(1000)
    assert accept["subprotocol"] == "superchat"  # the upstream's choice
    handshake = sockets.handshakes[0]
    assert str(handshake.url) == UPSTREAM + "/rooms/%41?a=1&b=%20"  # as received
    assert handshake.protocols == ("superchat", "chat")
    assert handshake.fields == [
        ("authorization", "Bearer tok-s1"),
        ("user-agent", "Browser/1"),
        ("x-forwarded-for", "203.0.113.5"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "bff.test"),
        ("x-request-id", "rid-1"),
    ]


@pytest.mark.parametrize(
    ("path", "headers", "authorization"),
    [
        ("/base/maybe/ws", SESSION, "Bearer tok-s1"),
        ("/base/maybe/ws", {}, None),
        ("/base/public/ws", SESSION, None),
        ("/base/public/ws", {}, None),
    ],
)
async def test_token_policies(path: str, headers: dict[str, str], authorization: str | None) -> None:
    relay, sockets, *_ = relay_with()
    async with browsing(relay, ws_scope(path, headers)) as browser:
        await opened(relay, browser)
        await browser.leave(1000)
    assert dict(sockets.handshakes[0].fields).get("authorization") == authorization
    if path.startswith("/base/maybe"):
        assert str(sockets.handshakes[0].url) == UPSTREAM + "/under/ws"


# --- relaying -------------------------------------------------------------------------------------------


async def test_messages_pass_both_ways_and_the_browsers_close_reaches_the_upstream() -> None:
    relay, sockets, *_ = relay_with()
    async with browsing(relay, ws_scope("/base/live/ws", SESSION)) as browser:
        await opened(relay, browser)
        upstream = sockets.opened[0]
        await browser.say(text="hello")
        await browser.say(bytes=b"\x00\x01")
        await upstream.deliver(WSMsgType.TEXT, "hi there")
        await upstream.deliver(WSMsgType.BINARY, b"\xff")
        assert await browser.next() == {"type": "websocket.send", "text": "hi there", "bytes": None}
        assert await browser.next() == {"type": "websocket.send", "bytes": b"\xff", "text": None}
        await browser.leave(4321, "bye")
    assert upstream.sent == ["hello", b"\x00\x01"]
    assert upstream.closes[0] == (4321, b"bye")


@pytest.mark.parametrize(("browser_code", "upstream_code"), [(1005, 1000), (1006, 1001), (1000, 1000)])
async def test_a_browser_leaving_without_a_sendable_code(browser_code: int, upstream_code: int) -> None:
    relay, sockets, *_ = relay_with()
    async with browsing(relay, ws_scope("/base/live/ws", SESSION)) as browser:
        await opened(relay, browser)
        await browser.leave(browser_code)
    assert sockets.opened[0].closes[0] == (upstream_code, b"")


@pytest.mark.parametrize(
    ("kind", "data", "extra", "close_code", "browser_close"),
    [
        (WSMsgType.CLOSE, 4000, "asked", None, (4000, "asked")),
        (WSMsgType.CLOSE, 1005, None, None, (1000, "")),
        (WSMsgType.CLOSED, None, None, 1006, (1014, "")),  # vanished without a close frame
        (WSMsgType.ERROR, WebSocketError(1009, "too big"), None, 1009, (1009, "message too big")),
        (WSMsgType.ERROR, ValueError("broken"), None, 1006, (1014, "")),
    ],
)
async def test_the_upstreams_close_reaches_the_browser(
    kind: WSMsgType, data: Any, extra: Any, close_code: int | None, browser_close: tuple[int, str]
) -> None:
    relay, sockets, *_ = relay_with()
    async with browsing(relay, ws_scope("/base/live/ws", SESSION)) as browser:
        await opened(relay, browser)
        upstream = sockets.opened[0]
        upstream.close_code = close_code
        await upstream.deliver(kind, data, extra)
        close = await browser.next()
        await browser.leave(close["code"])
    assert (close["type"], close["code"], close["reason"]) == ("websocket.close", *browser_close)


async def test_a_message_over_the_bound_closes_both_sides_with_1009() -> None:
    relay, sockets, *_ = relay_with()
    async with browsing(relay, ws_scope("/base/live/ws", SESSION)) as browser:
        await opened(relay, browser)
        await browser.say(text="é" * (MAX_MESSAGE_BYTES // 2 + 1))  # few characters, too many bytes
        close = await browser.next()
        await browser.leave(1009)
    assert (close["code"], close["reason"]) == (1009, "message too big")
    assert sockets.opened[0].closes[0] == (1009, b"message too big")
    assert sockets.opened[0].sent == []


async def test_the_session_ending_closes_its_sockets_with_4401() -> None:
    relay, sockets, _, registry = relay_with()
    async with (
        browsing(relay, ws_scope("/base/live/ws", SESSION)) as mine,
        browsing(relay, ws_scope("/base/live/ws", {"cookie": "session=s2"})) as theirs,
    ):
        await opened(relay, mine)
        await opened(relay, theirs)
        assert registry.close_session("s1") == 1
        close = await mine.next()
        assert (close["type"], close["code"]) == ("websocket.close", SESSION_ENDED)
        await mine.leave(SESSION_ENDED)
        # The other session's socket still relays.
        await theirs.say(text="still here")
        await theirs.leave(1000)
    assert sockets.opened[0].closes[0] == (1000, b"session ended")
    assert sockets.opened[1].sent == ["still here"]
    assert len(registry) == 0


async def test_an_upstream_connection_that_breaks_under_a_send_closes_the_browser_with_1014() -> None:
    relay, *_ = relay_with()
    async with browsing(relay, ws_scope("/base/live/ws", SESSION)) as browser:
        await opened(relay, browser)
        await browser.say(text="break")
        close = await browser.next()
        await browser.leave(1014)
    assert (close["type"], close["code"]) == ("websocket.close", 1014)
