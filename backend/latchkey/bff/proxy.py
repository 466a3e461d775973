"""The `{base}/api/{path}` forwarder: a raw ASGI app that sends each browser call to the core as a bearer
request on behalf of the browser's session.

Read top to bottom, one request is: check the raw target → authorize the session (before touching the
body) → build the upstream request from an allow-list of fields → stream the body up → wait for the
core's headers (LATCHKEY_UPSTREAM_TIMEOUT) → replay once with a refreshed token after `401 invalid_token`
→ filter the response fields (allow-list) → stream the body down until it ends, the browser leaves, or
the session ends (`StreamRegistry.close_session`).

Hot path: every set and table is built once at import or start-up; a request costs one pass over its
fields, a few byte scans of its target, and the aiohttp call. No regex, no database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import aiohttp
import anyio
from litestar.enums import ScopeType
from litestar.types import (
    HTTPReceiveMessage,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Receive,
    Scope,
    Send,
)
from yarl import URL

from latchkey.asgi import send_problem, send_problem_error
from latchkey.bff.forwarded import ClientAddress
from latchkey.problems import ProblemError
from latchkey.settings import BffSettings

log = logging.getLogger("latchkey.bff.proxy")

# RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy ones proxies still meet: they describe one
# connection, so they are never forwarded in either direction.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"trailer",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)

# Request fields the core may see: an allow-list, so whatever a browser or a script adds is dropped
# unless named here. Deliberately absent:
# - cookie (the BFF's session cookie and the site's others), authorization (the browser's own: the BFF
#   sets the session's), x-csrf (a contract between the SPA and the BFF);
# - origin, referer, sec-fetch-*: the BFF has judged the browser's context already; the BFF-to-core hop
#   is server to server, and the core needs no page URLs of the SPA;
# - forwarded, x-forwarded-*, x-real-ip: the BFF writes its own, and the core believes them;
# - expect (uvicorn answers 100-continue itself), content-length and accept-encoding (handled apart).
_REQUEST_FIELDS: dict[bytes, str] = {
    name.encode(): name
    for name in (
        "accept",
        "accept-language",
        "content-type",
        "content-encoding",
        "content-language",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        "range",
        "user-agent",
        "last-event-id",
        "cache-control",
        "pragma",
    )
}

# Response fields the browser may see. Absent on purpose: set-cookie (an upstream cookie would land in
# the BFF's origin, shared by every user of the page), cache-control and expires (replaced by no-store),
# vary and x-request-id (rewritten below), access-control-* (CORS is the BFF's own decision),
# strict-transport-security and alt-svc (the core's transport policy is not the BFF origin's), server.
_RESPONSE_FIELDS = frozenset(
    {
        b"content-type",
        b"content-length",
        b"content-encoding",
        b"content-language",
        b"content-disposition",
        b"content-range",
        b"accept-ranges",
        b"etag",
        b"last-modified",
        b"retry-after",
        # The core only challenges with Bearer (and Secret under /v1/oauth): schemes no browser prompts
        # for. RFC 9110 wants a 401 to carry one, and the SPA may read it.
        b"www-authenticate",
        b"allow",
        b"content-security-policy",
        b"x-content-type-options",
        b"x-frame-options",
        b"referrer-policy",
        b"cross-origin-resource-policy",
        b"x-accel-buffering",
    }
)
assert not HOP_BY_HOP & set(_REQUEST_FIELDS)
assert not HOP_BY_HOP & _RESPONSE_FIELDS

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Safe to send twice when a pooled connection turned out to be closed under us (RFC 9110 §9.2.2).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

# Bytes never allowed raw in the forwarded path: controls, space, DEL, non-ASCII, and the characters a
# conforming client always percent-encodes in a path (WHATWG path percent-encode set), plus `\`, which
# some servers and every browser read as `/`.
_PATH_REFUSED = bytes(range(0x21)) + b'"#<>?\\`{}\x7f' + bytes(range(0x80, 0x100))
_QUERY_REFUSED = bytes(range(0x21)) + b"#\x7f" + bytes(range(0x80, 0x100))
# Percent-escapes the core's router would decode into structure (`.` `/` `\`) or a control character.
_REFUSED_ESCAPES = {*range(0x20), 0x7F, ord("."), ord("/"), ord("\\")}
_HEX = "0123456789abcdefABCDEF"
_SAFE_ESCAPES = frozenset(
    (high + low).encode() for high in _HEX for low in _HEX if int(high + low, 16) not in _REFUSED_ESCAPES
)
_REQUEST_ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
# A `Connection` value naming nothing but hop-by-hop fields (what browsers send) needs no filtering.
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close", b"Keep-Alive", b"Close"})

# Bodies up to this size with a known length are read inside the header deadline and sent in one
# message; larger or unframed ones stream with a disconnect watcher.
_SMALL_BODY = 64 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
# What a refused stream is told: streams are long-lived, so a slot seldom frees within a second.
STREAM_RETRY_AFTER = b"5"


class Grant(Protocol):
    """What a valid session gives the proxy."""

    @property
    def access_token(self) -> str: ...

    @property
    def session_key(self) -> str:
        """A stable id of the session (its open streams are tracked under it)."""
        ...

    @property
    def user_id(self) -> int:
        """The session's user (streams are also capped per user)."""
        ...


GrantT = TypeVar("GrantT", bound=Grant)


class SessionGate(Protocol[GrantT]):
    """The session side of the proxy (the BFF's session manager), generic in its grant type so an
    implementation may take back exactly the grants it hands out."""

    async def authorize(self, scope: Scope) -> GrantT:
        """The grant of the request's session; raises ProblemError (401 no_session, …) without one."""
        ...

    async def after_upstream_401(self, grant: GrantT) -> GrantT:
        """A refreshed grant after the core answered 401 invalid_token; ProblemError when it cannot."""
        ...


class TooManyStreams(Exception):
    """A streaming answer refused by a cap: `limit` is `session`, `user` or `process`."""

    def __init__(self, limit: str) -> None:
        self.limit = limit
        super().__init__(f"too many open streams for this {limit}")


class StreamSlot:
    """One admitted response stream; leaving its `with` block frees the slot."""

    __slots__ = ("_registry", "released", "scope", "session_key", "user_id")

    def __init__(self, registry: StreamRegistry, session_key: str, user_id: object) -> None:
        self._registry = registry
        self.session_key = session_key
        self.user_id = user_id
        self.scope = anyio.CancelScope()
        self.released = False

    def __enter__(self) -> anyio.CancelScope:
        return self.scope

    def __exit__(self, *_: object) -> None:
        self._registry.release(self)


class StreamRegistry:
    """The response streams open in this process, by session and by user, so ending a session ends its
    streams, and one session or user cannot hold the upstream pool: at most `per_session` streams per
    session, `per_user` per user and `total` in the process (None: no limit)."""

    def __init__(
        self, *, per_session: int | None = None, per_user: int | None = None, total: int | None = None
    ) -> None:
        self._open: dict[str, set[StreamSlot]] = {}
        self._users: dict[object, int] = {}
        self._total = 0
        self.per_session = per_session
        self.per_user = per_user
        self.total = total

    def limit(
        self, *, per_session: int | None = None, per_user: int | None = None, total: int | None = None
    ) -> None:
        """Set the caps (the proxy does, from its settings and its upstream pool)."""
        self.per_session, self.per_user, self.total = per_session, per_user, total

    def reserve(self, session_key: str, user_id: object = None) -> StreamSlot:
        """Admit one more stream of that session (and user) at once, or raise TooManyStreams. The caller
        enters the returned slot's `with` block at once and runs its pump inside the yielded scope."""
        slots = self._open.get(session_key)
        if self.per_session is not None and slots is not None and len(slots) >= self.per_session:
            raise TooManyStreams("session")
        if self.per_user is not None and user_id is not None and self._users.get(user_id, 0) >= self.per_user:
            raise TooManyStreams("user")
        if self.total is not None and self._total >= self.total:
            raise TooManyStreams("process")
        slot = StreamSlot(self, session_key, user_id)
        if slots is None:
            slots = self._open[session_key] = set()
        slots.add(slot)
        if user_id is not None:
            self._users[user_id] = self._users.get(user_id, 0) + 1
        self._total += 1
        return slot

    def release(self, slot: StreamSlot) -> None:
        """Free an admitted slot (once; later calls do nothing)."""
        if slot.released:
            return
        slot.released = True
        slots = self._open.get(slot.session_key)
        if slots is not None:
            slots.discard(slot)
            if not slots:
                del self._open[slot.session_key]
        if slot.user_id is not None:
            left = self._users.get(slot.user_id, 0) - 1
            if left > 0:
                self._users[slot.user_id] = left
            else:
                self._users.pop(slot.user_id, None)
        self._total -= 1

    @contextmanager
    def track(self, session_key: str, user_id: object = None) -> Iterator[anyio.CancelScope]:
        """`reserve` and enter in one step (raises TooManyStreams before registering anything)."""
        with self.reserve(session_key, user_id) as scope:
            yield scope

    def close_session(self, session_key: str) -> int:
        """Cancel every stream of that session in this process; returns how many there were. Their
        slots are freed as their pumps stop."""
        slots = self._open.get(session_key)
        if not slots:
            return 0
        for slot in slots:
            slot.scope.cancel()
        return len(slots)

    def user_streams(self, user_id: object) -> int:
        return self._users.get(user_id, 0)

    def __len__(self) -> int:
        return self._total


def checked_path(raw: bytes) -> str | None:
    """The still-encoded path to forward, or None when it must be refused with 400 invalid_path."""
    if (
        not raw.startswith(b"/")
        or len(raw.translate(None, _PATH_REFUSED)) != len(raw)
        # `//` could become an authority on the other side, and is never a useful path.
        or b"//" in raw
    ):
        return None
    at = raw.find(b"%")
    while at != -1:
        if raw[at + 1 : at + 3] not in _SAFE_ESCAPES:
            return None
        at = raw.find(b"%", at + 3)
    if b"/." in raw and any(segment in (b".", b"..") for segment in raw.split(b"/")):
        return None
    return raw.decode("ascii")


def checked_query(raw: bytes) -> str | None:
    """The query string to forward as received, or None when it holds raw controls or non-ASCII."""
    if len(raw.translate(None, _QUERY_REFUSED)) != len(raw):
        return None
    return raw.decode("ascii")


def _valid_request_id(value: bytes) -> bool:
    return 0 < len(value) <= 128 and not value.translate(None, _REQUEST_ID_CHARS)


def _connection_pool_size() -> int:
    """Upstream connections allowed: half the process's descriptors (each open stream holds one, and
    its browser connection another), at most 4096."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(32, min(4096, soft // 2 - 64))


def stream_cap(pool_size: int) -> int:
    """Streams one process may hold at once: 3/4 of its upstream pool, so the last quarter always serves
    short calls (a stream holds its upstream connection for as long as it runs)."""
    return max(1, pool_size * 3 // 4)


class _UploadAborted(Exception):
    """The request body stopped: the browser left, or it grew past the limit."""


class _Upload:
    """The request body, pulled from ASGI `receive` as aiohttp sends it, counted against the limit."""

    __slots__ = (
        "_limit",
        "_loop",
        "_receive",
        "_timeout",
        "client_gone",
        "deadline",
        "finished",
        "too_large",
    )

    def __init__(self, receive: Receive, limit: int, timeout: float) -> None:
        self._receive = receive
        self._limit = limit
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self.deadline: asyncio.Timeout | None = None
        self.finished = self.too_large = self.client_gone = False

    def _progress(self) -> None:
        # The header deadline counts from the last progress of the upload: a 100 MiB body may take
        # longer than the timeout to send, but a core that stops reading (or a stalled browser) trips it.
        deadline = self.deadline
        if deadline is not None and not deadline.expired():
            deadline.reschedule(self._loop.time() + self._timeout)

    async def chunks(self) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = cast(HTTPReceiveMessage, await self._receive())
            if message["type"] != "http.request":
                self.client_gone = True
                raise _UploadAborted("the browser went away during the upload")
            chunk = message.get("body", b"")
            if chunk:
                received += len(chunk)
                if received > self._limit:
                    self.too_large = True
                    raise _UploadAborted("the body is larger than allowed")
                self._progress()
                yield chunk
            if not message.get("more_body", False):
                break
        self.finished = True
        self._progress()


async def _watch_disconnect(receive: Receive, stream: anyio.CancelScope) -> None:
    """Cancel the response stream when the browser goes away (an idle SSE stream sends nothing that
    would tell us; uvicorn's `send` silently drops writes to a closed connection)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.cancel()


class ApiProxy:
    """The raw ASGI app mounted at `{base}/api`: forwards each call to the fixed core URL."""

    def __init__(self, settings: BffSettings, gate: SessionGate[Any], streams: StreamRegistry) -> None:
        self._gate = gate
        self._streams = streams
        self._mount = f"{settings.base_path}/api".encode()
        self._core = settings.core_url.rstrip("/")
        core_path = urlsplit(self._core).path
        self._core_prefix = self._core.encode() + b"/"
        self._core_path = core_path.encode() + b"/" if core_path else None
        self._timeout = settings.upstream_timeout
        self._max_body = settings.max_body_bytes
        self._client_address = ClientAddress(settings.trusted_proxies)
        self._client: aiohttp.ClientSession | None = None
        self._pool_size = _connection_pool_size()
        # Streams (SSE, downloads) hold an upstream connection for as long as they run: capped per
        # session, per user, and to 3/4 of the pool in the process, so short calls always find one.
        streams.limit(
            per_session=settings.max_streams_per_session,
            per_user=settings.max_streams_per_user,
            total=stream_cap(self._pool_size),
        )

    async def startup(self) -> None:
        """Open the pooled upstream client (call from the app's lifespan, in the serving loop)."""
        connector = aiohttp.TCPConnector(
            limit=self._pool_size,
            # Shorter than uvicorn's 5 s keep-alive on the core, so a pooled connection is dropped here
            # before the core closes it under a request.
            keepalive_timeout=4.0,
            ttl_dns_cache=300,
        )
        self._client = aiohttp.ClientSession(
            connector=connector,
            # One user's upstream cookie must never ride on another user's request.
            cookie_jar=aiohttp.DummyCookieJar(),
            # Bodies pass through as the core encoded them, with their Content-Encoding.
            auto_decompress=False,
            # No total or read timeout: SSE and large downloads stream for as long as they need. The
            # connect-and-headers deadline is applied per request (see _open).
            timeout=aiohttp.ClientTimeout(),
            trust_env=False,
            requote_redirect_url=False,
        )

    async def shutdown(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            return
        http: HTTPScope = scope

        # One pass over the request's fields: keep the allowed ones, note the few we act on.
        forwarded: list[tuple[str, str]] = [("authorization", "")]  # filled in once authorized
        host = connection = request_id = content_length = accept_encoding = None
        chunked = False
        for name, value in http["headers"]:
            field = _REQUEST_FIELDS.get(name)
            if field is not None:
                try:  # noqa: SIM105 (no context manager per field on the hot path)
                    # aiohttp writes fields as UTF-8: only values that round-trip exactly are sent.
                    forwarded.append((field, value.decode()))
                except UnicodeDecodeError:
                    pass
            elif name == b"host":
                host = value
            elif name == b"content-length":
                content_length = value
            elif name == b"connection":
                connection = value if connection is None else connection + b"," + value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"accept-encoding":
                accept_encoding = value
            elif name == b"transfer-encoding":
                chunked = True

        if request_id is None or not _valid_request_id(request_id):
            request_id = secrets.token_hex(16).encode()
        answer_headers = [(b"vary", b"Cookie"), (b"x-request-id", request_id)]

        # The target is judged as the browser sent it: uvicorn has already decoded scope["path"].
        raw = http.get("raw_path") or http["path"].encode()
        path = checked_path(raw[len(self._mount) :]) if raw.startswith(self._mount) else None
        query = checked_query(http["query_string"])
        if path is None or query is None:
            await send_problem(send, 400, "invalid_path", "the request path is not allowed", answer_headers)
            return
        method = http["method"]
        if method not in _METHODS:
            allow = (b"allow", b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
            await send_problem(send, 405, "method_not_allowed", None, [*answer_headers, allow])
            return

        try:
            grant = await self._gate.authorize(scope)
        except ProblemError as exc:
            await send_problem_error(send, exc, answer_headers)
            return

        if connection is not None and connection not in _PLAIN_CONNECTION:
            # Fields the browser named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
            named = {token.strip().lower().decode("latin-1") for token in connection.split(b",")}
            forwarded = [forwarded[0], *(item for item in forwarded[1:] if item[0] not in named)]

        upload: _Upload | None = None
        if content_length is not None:
            try:
                length = int(content_length)
            except ValueError:
                await send_problem(send, 400, "bad_request", "invalid Content-Length", answer_headers)
                return
            if length > self._max_body:
                await send_problem(
                    send, 413, "payload_too_large", f"at most {self._max_body} bytes", answer_headers
                )
                return
            forwarded.append(("content-length", content_length.decode()))
            if length:
                upload = _Upload(receive, self._max_body, self._timeout)
        elif chunked:
            upload = _Upload(receive, self._max_body, self._timeout)

        forwarded[0] = ("authorization", "Bearer " + grant.access_token)
        # Overwritten, never appended: the core trusts these from the BFF.
        client = self._client_address(http)
        if client:
            forwarded.append(("x-forwarded-for", client))
        forwarded.append(("x-forwarded-proto", http.get("scheme", "http")))
        if host is not None:
            try:  # noqa: SIM105
                forwarded.append(("x-forwarded-host", host.decode()))
            except UnicodeDecodeError:
                pass
        forwarded.append(("x-request-id", request_id.decode()))
        # Without one, aiohttp would ask for gzip and hand a compressed body to a client that never did.
        forwarded.append(
            ("accept-encoding", accept_encoding.decode("latin-1") if accept_encoding else "identity")
        )

        # Forwarded exactly as received (already checked); the host comes from configuration only.
        url = URL(self._core + path + ("?" + query if query else ""), encoded=True)
        opened = await self._open_or_answer(send, method, url, forwarded, upload, answer_headers)
        if opened is None:
            return
        response, body = opened
        try:
            if response.status == 401 and "invalid_token" in response.headers.get("WWW-Authenticate", ""):
                # The core refused the token before doing anything. Refresh once (so the next call works
                # in any case); replay only when no body was taken from the browser's stream, else pass
                # the 401 through.
                try:
                    refreshed = await self._gate.after_upstream_401(grant)
                except ProblemError as exc:
                    await send_problem_error(send, exc, answer_headers)
                    return
                if upload is None:
                    response.release()
                    grant = refreshed
                    forwarded[0] = ("authorization", "Bearer " + grant.access_token)
                    opened = await self._open_or_answer(send, method, url, forwarded, None, answer_headers)
                    if opened is None:
                        return
                    response, body = opened

            slot: StreamSlot | None = None
            if body is None:
                # This answer streams and holds its upstream connection until it ends: admit it first.
                try:
                    slot = self._streams.reserve(grant.session_key, grant.user_id)
                except TooManyStreams as refused:
                    response.close()
                    await _send_too_many_streams(send, refused, answer_headers)
                    return
            with slot if slot is not None else contextlib.nullcontext():
                await send(
                    HTTPResponseStartEvent(
                        type="http.response.start",
                        status=response.status,
                        headers=self._response_headers(response, request_id),
                    )
                )
                if body is not None or slot is None:
                    await send(
                        HTTPResponseBodyEvent(type="http.response.body", body=body or b"", more_body=False)
                    )
                    return
                await self._stream(response, receive, send, slot.scope, upload is None or upload.finished)
        finally:
            response.close()

    async def _open_or_answer(
        self,
        send: Send,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        upload: _Upload | None,
        answer_headers: list[tuple[bytes, bytes]],
    ) -> tuple[aiohttp.ClientResponse, bytes | None] | None:
        """The core's response (and its body when small), or None once a problem has been answered."""
        try:
            return await self._open(method, url, headers, upload)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if upload is not None and upload.client_gone:
                return None
            if upload is not None and upload.too_large:
                detail = f"at most {self._max_body} bytes"
                await send_problem(send, 413, "payload_too_large", detail, answer_headers)
            elif isinstance(exc, TimeoutError):
                log.warning("core did not answer %s %s within %ss", method, url.raw_path, self._timeout)
                detail = "the API did not answer in time"
                await send_problem(send, 504, "upstream_timeout", detail, answer_headers)
            else:
                log.warning(
                    "core unreachable for %s %s: %s: %s", method, url.raw_path, type(exc).__name__, exc
                )
                detail = "the API is not reachable"
                await send_problem(send, 502, "upstream_unavailable", detail, answer_headers)
            return None

    async def _open(
        self, method: str, url: URL, headers: list[tuple[str, str]], upload: _Upload | None
    ) -> tuple[aiohttp.ClientResponse, bytes | None]:
        """Send the request and wait for the core's headers, and for a small body, within the deadline."""
        client = self._client
        if client is None:
            raise RuntimeError("ApiProxy.startup() was not called")
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                if upload is not None:
                    upload.deadline = deadline
                attempts = 2 if upload is None and method in _IDEMPOTENT else 1
                while True:
                    attempts -= 1
                    try:
                        response = await client.request(
                            method,
                            url,
                            headers=headers,
                            data=upload.chunks() if upload is not None else None,
                            allow_redirects=False,
                        )
                        break
                    except aiohttp.ServerDisconnectedError:
                        # A pooled connection the core closed just as we reused it; nothing was done.
                        if not attempts:
                            raise
                try:
                    return response, await self._small_body(method, response)
                except BaseException:
                    response.close()
                    raise
        finally:
            if upload is not None:
                upload.deadline = None

    @staticmethod
    async def _small_body(method: str, response: aiohttp.ClientResponse) -> bytes | None:
        """The whole body when it is empty or small with a known length; None when it must stream."""
        if method == "HEAD" or response.status in _NO_BODY_STATUS or response.status < 200:
            return b""
        length = response.content_length
        if length is not None and length <= _SMALL_BODY:
            return await response.read()
        return None

    def _response_headers(
        self, response: aiohttp.ClientResponse, request_id: bytes
    ) -> list[tuple[bytes, bytes]]:
        """The core's allowed fields, plus no-store, `Vary: Cookie` and the request id."""
        kept: list[tuple[bytes, bytes]] = []
        vary = connection = None
        for name, value in response.raw_headers:
            lower = name.lower()
            if lower in _RESPONSE_FIELDS:
                kept.append((lower, value))
            elif lower == b"vary":
                vary = value if vary is None else vary + b", " + value
            elif lower == b"location":
                kept.append((lower, self._browser_location(value)))
            elif lower == b"connection":
                connection = value if connection is None else connection + b"," + value
        if connection is not None and connection not in _PLAIN_CONNECTION:
            named = {token.strip().lower() for token in connection.split(b",")}
            kept = [item for item in kept if item[0] not in named]
        if response.status in _NO_BODY_STATUS:
            # uvicorn would hold a 204/304 to a Content-Length it never sends.
            kept = [item for item in kept if item[0] != b"content-length"]
        if vary is None:
            vary = b"Cookie"
        elif b"*" not in vary and b"cookie" not in vary.lower():
            vary += b", Cookie"
        kept += ((b"vary", vary), (b"cache-control", b"no-store"), (b"x-request-id", request_id))
        return kept

    def _browser_location(self, value: bytes) -> bytes:
        """Map a Location inside the core (`/v1/…` or the core's own URL) to the same place under /api."""
        if value.startswith(self._core_prefix):
            value = value[len(self._core_prefix) - 1 :]
        elif self._core_path is not None and value.startswith(self._core_path):
            value = b"/" + value[len(self._core_path) :]
        if value.startswith(b"/") and not value.startswith(b"//"):
            return self._mount + value
        return value

    async def _stream(
        self,
        response: aiohttp.ClientResponse,
        receive: Receive,
        send: Send,
        stream: anyio.CancelScope,
        watch: bool,
    ) -> None:
        """Pump the body chunk by chunk until it ends, the browser leaves or the session is closed
        (`stream` is the admitted slot's scope, which `StreamRegistry.close_session` cancels)."""
        complete = gone = False
        # The browser's side of the request is drained unless an early answer cut the upload short;
        # only then is `receive` free for the watcher.
        watcher = asyncio.ensure_future(_watch_disconnect(receive, stream)) if watch else None
        try:
            with stream:
                async for chunk in response.content.iter_any():
                    await send(HTTPResponseBodyEvent(type="http.response.body", body=chunk, more_body=True))
                complete = True
        except (aiohttp.ClientError, OSError) as exc:
            log.warning(
                "core response to %s broke off: %s: %s", response.url.raw_path, type(exc).__name__, exc
            )
        finally:
            if watcher is not None:
                gone = watcher.done() and not watcher.cancelled()
                watcher.cancel()
        if gone:
            return
        # A session closed under an unframed stream (SSE) ends it cleanly: the browser sees the end. A
        # response with a Content-Length, or one the core broke off, stays incomplete, and uvicorn drops
        # the connection rather than pass a truncated body for a whole one.
        if complete or (stream.cancelled_caught and response.content_length is None):
            await send(HTTPResponseBodyEvent(type="http.response.body", body=b"", more_body=False))


async def _send_too_many_streams(
    send: Send, refused: TooManyStreams, headers: list[tuple[bytes, bytes]]
) -> None:
    """429 when the session or the user holds too many streams; 503 when the whole process does."""
    status = 503 if refused.limit == "process" else 429
    detail = f"too many open streams for this {refused.limit}; close one or retry later"
    retry = (b"retry-after", STREAM_RETRY_AFTER)
    await send_problem(send, status, "too_many_streams", detail, [*headers, retry])
