"""The WebSocket relay of the configured routes (SPEC §12): a browser's socket on `{base}{prefix}/…` of a
route with `websocket = true`, relayed to a socket the BFF opens to that route's upstream with the
session's bearer token.

Read top to bottom (`_open`), one upgrade is: check the raw target → check `Origin` (the BFF's own or
listed, and present: a browser cannot add `X-CSRF` to a WebSocket, so Origin is the whole CSRF defence
here) → the session the route's token policy asks for → admit the socket against the caps → open the
upstream socket (aiohttp, `Authorization: Bearer`, the browser's subprotocol offer; one refresh and retry
after `401 invalid_token`) → accept the browser with the upstream's choice of subprotocol → relay both
ways until either side closes, or the session ends (`close_session`: 4401 to the browser).

Every refusal before the accept is an HTTP answer to the upgrade request (the ASGI
`websocket.http.response` extension, which uvicorn implements): problem+json with the same statuses and
codes as the HTTP proxy (400 `invalid_path`, 403 `csrf_failed`, 401 `no_session`…, 429
`too_many_streams`, 502 `upstream_unavailable`, 504 `upstream_timeout`). A browser's script cannot read
that status: it sees an `error` event and a `close` event with code 1006. Frames are parsed by uvicorn
(websockets) on the browser's side and by aiohttp on the upstream's; this module only moves messages.

Closing: a close code and reason are relayed as sent (codes an endpoint may not send, 1005 and 1006,
become 1000 and 1001); an upstream that vanishes without a close frame closes the browser with 1014
(bad gateway); a session that ends closes the browser with 4401 and the upstream with 1000. Pings are
answered by each side's library (uvicorn's for the browser, aiohttp's `autoping` for the upstream) and
never relayed. Messages are bounded by `MAX_MESSAGE_BYTES` both ways (1009 beyond).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import anyio
from aiohttp import WSMsgType
from litestar.types import (
    Receive,
    Scope,
    Send,
    WebSocketAcceptEvent,
    WebSocketCloseEvent,
    WebSocketResponseBodyEvent,
    WebSocketResponseStartEvent,
    WebSocketSendEvent,
)
from yarl import URL

from latchkey.bff.edge.cors import Cors
from latchkey.bff.edge.csrf import CsrfRules
from latchkey.bff.edge.forwarded import ClientAddress
from latchkey.bff.proxy.gate import Grant, SessionGate
from latchkey.bff.proxy.outbound import Field, bearer
from latchkey.bff.proxy.streams import StreamRegistry
from latchkey.bff.proxy.targets import checked_path, checked_query, request_id_for
from latchkey.bff.proxy.upstream import connection_pool_size
from latchkey.bff.upstream_routes import UpstreamRoute
from latchkey.http_server import MAX_WEBSOCKET_MESSAGE
from latchkey.problems import PROBLEM_JSON, ProblemError, problem_bytes
from latchkey.settings import BffSettings

log = logging.getLogger("latchkey.bff.websocket")

# Largest message relayed either way (aiohttp's own default): beyond, the socket closes with 1009.
MAX_MESSAGE_BYTES = MAX_WEBSOCKET_MESSAGE
# The close code a browser's socket gets when its session ends (4000-4999 are the application's; 4401
# reads as "401 over a WebSocket").
SESSION_ENDED = 4401
# The upstream's socket is pinged this often, so an upstream that vanished is noticed (uvicorn pings the
# browser's on the same schedule by default).
UPSTREAM_HEARTBEAT = 20.0
# Seconds the BFF waits for an upstream's answer to its close frame before dropping the connection.
UPSTREAM_CLOSE_WAIT = 2.0
# Close codes an endpoint may put on the wire (RFC 6455 §7.4): the registered ones, and 3000-4999.
_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
_MAX_REASON_BYTES = 123
# Keys of the sockets without a session: each its own, counted against the process cap only (session
# keys are hex digests, so none can clash).
_anonymous = itertools.count()
# Request fields the upstream's handshake may carry from the browser's (an allow-list, as outbound.py):
# no cookie, no authorization (the session's bearer is set instead), no origin (the BFF has judged it;
# the hop to the upstream is server to server).
_BROWSER_FIELDS = {b"user-agent": "user-agent", b"accept-language": "accept-language"}


def sendable(code: int | None, *, absent: int) -> int:
    """A close code fit to send on: `code` when an endpoint may send it, 1000 for "no status" (1005),
    else `absent` (1006 or nothing: the other side vanished)."""
    if code is not None and (code in _SENDABLE or 3000 <= code <= 4999):
        return code
    if code == 1005:
        return 1000
    return absent


def short_reason(reason: str | None) -> str:
    """A close reason that fits a close frame (123 bytes of UTF-8), cut on a character boundary."""
    if not reason:
        return ""
    encoded = reason.encode()[:_MAX_REASON_BYTES]
    return encoded.decode(errors="ignore")


@dataclass(frozen=True, slots=True)
class MountedRoute:
    """A route with WebSockets, at its mount (`{base}{prefix}`)."""

    mount: str
    route: UpstreamRoute

    def owns(self, path: str) -> bool:
        return path == self.mount or path.startswith(self.mount + "/")


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the upstream's handshake carries: URL, the browser's subprotocol offer, and fields."""

    url: URL
    protocols: tuple[str, ...]
    fields: list[Field]

    def with_token(self, access_token: str) -> Handshake:
        return Handshake(self.url, self.protocols, [bearer(access_token), *self.fields[1:]])


class UpstreamSocket(Protocol):
    """What the relay uses of an open upstream socket (aiohttp's ClientWebSocketResponse)."""

    @property
    def protocol(self) -> str | None: ...

    @property
    def close_code(self) -> int | None: ...

    async def send_str(self, data: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def receive(self) -> aiohttp.WSMessage: ...

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool: ...


class UpstreamRefused(Exception):
    """The upstream answered the handshake with a status other than 101."""

    def __init__(self, status: int, invalid_token: bool) -> None:
        super().__init__(status)
        self.status = status
        self.invalid_token = invalid_token


class UpstreamSockets(Protocol):
    """Opens upstream sockets: `connect` raises UpstreamRefused, TimeoutError, or OSError/ClientError."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def connect(self, handshake: Handshake, timeout: float) -> UpstreamSocket: ...


class AiohttpSockets:
    """The real `UpstreamSockets`: one aiohttp session (no cookie jar, no environment proxies)."""

    def __init__(self) -> None:
        self._client: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._client = aiohttp.ClientSession(
            # One user's upstream cookie must never ride on another user's socket.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(),
            trust_env=False,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def connect(self, handshake: Handshake, timeout: float) -> UpstreamSocket:
        if self._client is None:
            raise RuntimeError("WebSocketRelay.startup() was not called")
        try:
            with anyio.fail_after(timeout):
                socket: UpstreamSocket = await self._client.ws_connect(
                    handshake.url,
                    protocols=handshake.protocols,
                    headers=handshake.fields,
                    autoping=True,
                    heartbeat=UPSTREAM_HEARTBEAT,
                    max_msg_size=MAX_MESSAGE_BYTES,
                    timeout=aiohttp.ClientWSTimeout(ws_close=UPSTREAM_CLOSE_WAIT),
                )
        except aiohttp.WSServerHandshakeError as exc:
            challenge = exc.headers.get("WWW-Authenticate", "") if exc.headers is not None else ""
            raise UpstreamRefused(exc.status, exc.status == 401 and "invalid_token" in challenge) from None
        return socket


@dataclass(frozen=True, slots=True)
class Ending:
    """How a relay ended: which side closed first (`browser`, `upstream`), with what code and reason."""

    side: str
    code: int
    reason: str = ""


class WebSocketRelay:
    """The raw ASGI app for WebSocket upgrades on the routes with `websocket = true`."""

    def __init__(
        self,
        settings: BffSettings,
        gate: SessionGate[Any],
        sockets: StreamRegistry,
        *,
        upstream: UpstreamSockets | None = None,
    ) -> None:
        """`sockets`: the open relays by session (the app ends a session's through `close_session`);
        `upstream`: what opens upstream sockets (aiohttp by default; unit tests pass a stand-in)."""
        self._gate = gate
        self._sockets = sockets
        self._upstream = upstream if upstream is not None else AiohttpSockets()
        self._mounts = tuple(
            MountedRoute(settings.base_path + route.prefix, route)
            for route in settings.routes
            if route.websocket
        )
        self._rules = CsrfRules(settings.public_origin)
        self._cors = Cors(settings.allowed_origins)
        self._client_address = ClientAddress(settings.trusted_proxies)

    def route_for(self, path: str) -> MountedRoute | None:
        """The route whose WebSockets `path` belongs to, if any."""
        for mounted in self._mounts:
            if mounted.owns(path):
                return mounted
        return None

    async def startup(self) -> None:
        await self._upstream.start()

    async def shutdown(self) -> None:
        await self._upstream.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send, mounted: MountedRoute) -> None:
        """Relay one browser socket on `mounted` (the caller matched its path with `route_for`)."""
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return  # the browser left before the handshake was handled
        try:
            await self._open(scope, receive, send, mounted)
        except ProblemError as problem:
            await refuse(scope, send, problem)

    async def _open(self, scope: Scope, receive: Receive, send: Send, mounted: MountedRoute) -> None:
        route = mounted.route
        url = upstream_url(route, mounted.mount, scope)
        self._check_origin(scope)
        grant = await self._grant(route, scope)
        handshake = self._handshake(url, scope, grant)
        key = grant.session_key if grant is not None else f"anonymous:{next(_anonymous)}"
        upstream: UpstreamSocket | None = None
        outcome: Ending | None = None
        try:
            # The slot's scope is cancelled when the session ends (`StreamRegistry.close_session`).
            with self._sockets.reserve(key, grant.user_id if grant is not None else None) as ended, ended:
                upstream = await self._connect(handshake, route, grant)
                accept: WebSocketAcceptEvent = {
                    "type": "websocket.accept",
                    "subprotocol": upstream.protocol,
                    "headers": [],
                }
                await send(accept)
                outcome = await relay(receive, send, upstream)
            if upstream is None:
                raise ProblemError(401, "session_revoked", "the session has ended; sign in again")
            if outcome is None:
                await close_for_session_end(send, upstream)
            else:
                await finish(outcome, send, upstream)
        finally:
            if upstream is not None:
                # Whatever happened above (the server shutting down included), the upstream is closed.
                with anyio.CancelScope(shield=True), anyio.move_on_after(UPSTREAM_CLOSE_WAIT + 1):
                    await upstream.close(code=1001)

    def _check_origin(self, scope: Scope) -> None:
        """A present Origin that is the BFF's own or listed. A missing one is refused too: every browser
        sends Origin on a WebSocket handshake, so its absence means a client that is not a page."""
        origin = None
        host = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"host":
                host = value
        if origin is None:
            raise ProblemError(403, "csrf_failed", "a WebSocket needs an Origin")
        scheme = "https" if scope.get("scheme") == "wss" else "http"
        if not self._cors.listed(origin) and origin != self._rules.own_origin(scheme, host):
            raise ProblemError(403, "csrf_failed", "cross-origin WebSocket refused")

    async def _grant(self, route: UpstreamRoute, scope: Scope) -> Grant | None:
        """The session's grant as the route's token policy asks: required (`user`), used when valid
        (`user_or_none`), or never looked at (`none`)."""
        if route.token == "none":
            return None
        if route.token == "user":
            grant: Grant = await self._gate.authorize(scope)
            return grant
        try:
            grant = await self._gate.authorize(scope)
        except ProblemError as problem:
            if problem.status == 401:
                return None  # no session, or one that ended: the socket opens without a token
            raise
        return grant

    def _handshake(self, url: URL, scope: Scope, grant: Grant | None) -> Handshake:
        fields: list[Field] = [bearer(grant.access_token)] if grant is not None else []
        host = None
        request_id = None
        for name, value in scope["headers"]:
            known = _BROWSER_FIELDS.get(name)
            if known is not None:
                fields.append((known, value.decode("latin-1")))
            elif name == b"host":
                host = value
            elif name == b"x-request-id":
                request_id = value
        client = self._client_address(scope)
        if client:
            fields.append(("x-forwarded-for", client))
        fields.append(("x-forwarded-proto", "https" if scope.get("scheme") == "wss" else "http"))
        if host is not None:
            fields.append(("x-forwarded-host", host.decode("latin-1")))
        fields.append(("x-request-id", request_id_for(request_id).decode()))
        offered: list[str] = scope.get("subprotocols", [])  # type: ignore[assignment]
        return Handshake(url, tuple(offered), fields)

    async def _connect(
        self, handshake: Handshake, route: UpstreamRoute, grant: Grant | None
    ) -> UpstreamSocket:
        """The upstream's socket; after `401 invalid_token`, one refresh and one retry, as for HTTP."""
        try:
            try:
                return await self._upstream.connect(handshake, route.timeout)
            except UpstreamRefused as refused:
                if not refused.invalid_token or grant is None:
                    raise
                grant = await self._gate.after_upstream_401(grant)
                return await self._upstream.connect(handshake.with_token(grant.access_token), route.timeout)
        except UpstreamRefused as refused:
            log.warning("upstream %s refused a WebSocket with %s", route.upstream, refused.status)
            raise ProblemError(502, "upstream_unavailable", "the API refused the WebSocket") from None
        except TimeoutError:
            log.warning("upstream %s did not open a WebSocket within %ss", route.upstream, route.timeout)
            raise ProblemError(504, "upstream_timeout", "the API did not answer in time") from None
        except (OSError, aiohttp.ClientError) as exc:
            log.warning(
                "upstream %s unreachable for a WebSocket: %s: %s", route.upstream, type(exc).__name__, exc
            )
            raise ProblemError(502, "upstream_unavailable", "the API is not reachable") from None


def upstream_url(route: UpstreamRoute, mount: str, scope: Scope) -> URL:
    """The upstream URL: the route's upstream + the rest of the raw path + the query, both as received
    and checked (400 `invalid_path` otherwise). The host comes from configuration only."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    mount_bytes = mount.encode()
    rest = raw[len(mount_bytes) :] if raw.startswith(mount_bytes) else None
    path = "" if rest == b"" else checked_path(rest) if rest is not None else None
    query = checked_query(scope.get("query_string", b""))
    if path is None or query is None:
        raise ProblemError(400, "invalid_path", "the request path is not allowed")
    return URL(route.upstream + path + ("?" + query if query else ""), encoded=True)


def close_event(code: int, reason: str = "") -> WebSocketCloseEvent:
    return {"type": "websocket.close", "code": code, "reason": reason}


async def refuse(scope: Scope, send: Send, problem: ProblemError) -> None:
    """Answer the upgrade request with the problem, when the server can send an HTTP answer on a
    WebSocket scope; else close before accepting (uvicorn answers that with a bare 403)."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send(close_event(1008))
        return
    body = problem_bytes(problem.status, problem.code, problem.detail)
    extra = [(name.lower().encode(), value.encode()) for name, value in problem.headers.items()]
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"vary", b"Cookie"),
        *extra,
    ]
    start: WebSocketResponseStartEvent = {
        "type": "websocket.http.response.start",
        "status": problem.status,
        "headers": headers,
    }
    end: WebSocketResponseBodyEvent = {
        "type": "websocket.http.response.body",
        "body": body,
        "more_body": False,
    }
    await send(start)
    await send(end)


async def relay(receive: Receive, send: Send, upstream: UpstreamSocket) -> Ending | None:
    """Move messages both ways until one side closes; how it ended (None: cancelled from outside, by the
    session's end)."""
    endings: list[Ending] = []
    async with anyio.create_task_group() as group:

        async def run_browser() -> None:
            endings.append(await from_browser(receive, upstream))
            group.cancel_scope.cancel()

        async def run_upstream() -> None:
            endings.append(await from_upstream(upstream, send))
            group.cancel_scope.cancel()

        group.start_soon(run_browser)
        group.start_soon(run_upstream)
    return endings[0] if endings else None


async def from_browser(receive: Receive, upstream: UpstreamSocket) -> Ending:
    """The browser's messages to the upstream, until the browser closes (or sends one too large, or the
    upstream's connection breaks under a send)."""
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            data = message.get("bytes") or b""
            # A character is 1 to 4 bytes of UTF-8: encode only a text that might be too big.
            size = (
                len(text.encode()) if text is not None and len(text) > MAX_MESSAGE_BYTES // 4 else len(data)
            )
            if size > MAX_MESSAGE_BYTES:
                return Ending("relay", 1009, "message too big")
            try:
                if text is not None:
                    await upstream.send_str(text)
                else:
                    await upstream.send_bytes(data)
            except (OSError, aiohttp.ClientError):
                return Ending("upstream", 1014)  # the upstream's connection is gone
        elif message["type"] == "websocket.disconnect":
            code = sendable(message.get("code"), absent=1001)
            reason = message.get("reason")
            return Ending("browser", code, short_reason(reason if isinstance(reason, str) else None))


async def from_upstream(upstream: UpstreamSocket, send: Send) -> Ending:
    """The upstream's messages to the browser, until the upstream closes (or vanishes)."""
    while True:
        message = await upstream.receive()
        kind = message.type
        try:
            if kind is WSMsgType.TEXT:
                text: WebSocketSendEvent = {"type": "websocket.send", "text": message.data, "bytes": None}
                await send(text)
                continue
            if kind is WSMsgType.BINARY:
                data: WebSocketSendEvent = {"type": "websocket.send", "bytes": message.data, "text": None}
                await send(data)
                continue
        except OSError:  # uvicorn's ClientDisconnected: the browser's disconnect follows on its side
            return Ending("browser", 1001)
        if kind is WSMsgType.CLOSE:
            return Ending("upstream", sendable(message.data, absent=1000), short_reason(message.extra))
        if kind is WSMsgType.ERROR:
            too_big = getattr(message.data, "code", None) == 1009
            return Ending("upstream", 1009 if too_big else 1014, "message too big" if too_big else "")
        # CLOSED or CLOSING: the connection went away, with or without a close frame.
        return Ending("upstream", sendable(upstream.close_code, absent=1014))


async def finish(ending: Ending, send: Send, upstream: UpstreamSocket) -> None:
    """Close what is still open after `ending`: the other side gets the same code and reason."""
    reason = ending.reason
    if ending.side != "upstream":
        with anyio.move_on_after(UPSTREAM_CLOSE_WAIT + 1):
            await upstream.close(code=ending.code, message=reason.encode())
    if ending.side != "browser":
        with contextlib.suppress(OSError):  # the browser left meanwhile
            await send(close_event(ending.code, reason))


async def close_for_session_end(send: Send, upstream: UpstreamSocket) -> None:
    """The session ended: the browser hears 4401 at once, then the upstream is told (1000)."""
    with contextlib.suppress(OSError):  # the browser left meanwhile
        await send(close_event(SESSION_ENDED, "session ended"))
    with anyio.move_on_after(UPSTREAM_CLOSE_WAIT + 1):
        await upstream.close(code=1000, message=b"session ended")


def socket_registry(settings: BffSettings) -> StreamRegistry:
    """The open relays of this process, by session and user: capped as the streaming answers are (each
    socket holds a browser's connection and an upstream's for as long as it lives), and in the process
    to a quarter of its descriptors."""
    return StreamRegistry(
        per_session=settings.max_streams_per_session,
        per_user=settings.max_streams_per_user,
        total=max(1, connection_pool_size() // 2),
    )
