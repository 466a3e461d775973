"""The `/api` forwarder over real HTTP: a recording upstream (an aiohttp server in a thread of this
process, standing in for the core) and the proxy in its own uvicorn process, so the proxy's RSS is its
own. A stand-in gate (below) plays the session side: the `session` cookie names the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes

import httpx
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from latchkey.bff.edge.paths import Routes
from latchkey.bff.proxy import ApiProxy, StreamRegistry, checked_path
from latchkey.bff.proxy.inbound import BrowserLocation
from latchkey.devstack import Process
from latchkey.problems import ProblemError
from latchkey.settings import load_bff_settings
from tests.support import free_port, new_key

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20
BLOCK = random.Random(7).randbytes(MiB)  # the repeating content of large bodies
BASE = "/base"


# --- the stand-in session side, and the app the proxy process serves ---------------------------------


@dataclass
class FixedGrant:
    access_token: str
    session_key: str
    user_id: int


def user_of(session: str) -> int:
    """Sessions named `u<n>-…` belong to user n; any other name is a user of its own."""
    head, dash, _ = session.partition("-")
    if dash and head[:1] == "u" and head[1:].isdigit():
        return int(head[1:])
    return int.from_bytes(hashlib.sha256(session.encode()).digest()[:6], "big") + 1_000_000


class FixedGate:
    """The `session` cookie names the session; its token is `tok-<name>`, then `tok-<name>-r1`, … after
    each refresh. Sessions named `revoked-…` cannot refresh (their chain was revoked)."""

    def __init__(self) -> None:
        self.refreshes: dict[str, int] = {}

    def _grant(self, name: str) -> FixedGrant:
        count = self.refreshes.get(name, 0)
        return FixedGrant(f"tok-{name}" + (f"-r{count}" if count else ""), name, user_of(name))

    async def authorize(self, scope: Any) -> FixedGrant:
        for key, value in scope["headers"]:
            if key == b"cookie":
                for crumb in value.decode("latin-1").split(";"):
                    name, _, session = crumb.strip().partition("=")
                    if name == "session" and session:
                        return self._grant(session)
        raise ProblemError(401, "no_session", "log in first")

    async def after_upstream_401(self, grant: FixedGrant) -> FixedGrant:
        if grant.session_key.startswith("revoked"):
            raise ProblemError(401, "session_revoked", "the session has ended")
        self.refreshes[grant.session_key] = self.refreshes.get(grant.session_key, 0) + 1
        return self._grant(grant.session_key)


class ProxyHarness:
    """`{base}/api/…` goes to the proxy (as in the BFF's app); `/_test/…` lets the tests end a session's
    streams and read this process's memory."""

    def __init__(self) -> None:
        settings = load_bff_settings(os.environ)
        self.streams = StreamRegistry()
        self.proxy = ApiProxy(settings, FixedGate(), self.streams)
        self.api = f"{settings.base_path}/api"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.proxy.startup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.proxy.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if path == self.api or path.startswith(self.api + "/"):
            await self.proxy(scope, receive, send)
            return
        if path == "/_test/close":
            session = parse_qs(scope["query_string"].decode())["session"][0]
            content: dict[str, int] = {"closed": self.streams.close_session(session)}
        elif path == "/_test/stats":
            if scope["query_string"] == b"reset_peak=1":
                # Linux: "5" resets the peak RSS (VmHWM) to the current RSS, so a later peak is this run's.
                with open("/proc/self/clear_refs", "w") as clear_refs:
                    clear_refs.write("5")
            with open("/proc/self/status") as status:
                fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
            content = {
                "rss": int(fields["VmRSS"].split()[0]) * 1024,
                "peak": int(fields["VmHWM"].split()[0]) * 1024,
                "streams": len(self.streams),
            }
        else:
            content = {"not_found": 1}
        body = json.dumps(content).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def harness_app() -> ProxyHarness:
    """The uvicorn factory of the proxy process."""
    return ProxyHarness()


@dataclass
class ProxyProcess:
    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.process.log()

    async def stats(self, *, reset_peak: bool = False) -> dict[str, int]:
        """The proxy process's RSS and peak RSS (VmHWM), in bytes, and its open streams."""
        params = {"reset_peak": "1"} if reset_peak else {}
        async with httpx.AsyncClient() as client:
            return dict((await client.get(f"{self.url}/_test/stats", params=params)).json())

    async def close_session(self, session: str) -> int:
        async with httpx.AsyncClient() as client:
            return int(
                (await client.get(f"{self.url}/_test/close", params={"session": session})).json()["closed"]
            )


def start_proxy(workdir: Path, core_url: str, *, nofile: int | None = None, **env: str) -> ProxyProcess:
    """The proxy in a uvicorn process of its own; `nofile` lowers its descriptor limit (and with it the
    upstream pool: half the descriptors less 64, at least 32)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    variables = {
        "LATCHKEY_ENV": "dev",
        "LATCHKEY_COOKIE_SECURE": "false",
        "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "A1" * 24 + "B",
        "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
        "LATCHKEY_CORE_URL": core_url,
        **env,
    }
    # util-linux's prlimit lowers the soft descriptor limit of the command it runs.
    limit = [] if nofile is None else ["prlimit", f"--nofile={nofile}:", "--"]
    process = Process(
        name="proxy",
        argv=[
            *limit,
            *(sys.executable, "-m", "uvicorn", "tests.bff.test_proxy:harness_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"),
            # As `latchkey bff` runs it: the peer address is the socket's, never a header's.
            "--no-proxy-headers",
        ],
        env={**os.environ, **variables},
        cwd=ROOT,
        log_path=workdir / f"proxy-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/_test/stats",
    )
    process.start(timeout=30)
    return ProxyProcess(port, process)


def stop_proxy(server: ProxyProcess) -> None:
    server.process.stop()
    log = server.log()
    # Nothing the tests do may make the proxy fail: no traceback, no aborted response it did not mean.
    assert "Traceback" not in log, log
    assert "Exception in ASGI application" not in log, log


# --- the recording upstream ---------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    target: str  # the raw request target as received: path and query, still encoded
    headers: list[tuple[str, str]]
    peer_port: int
    body_size: int | None = None  # set once a body was read whole
    body_sha256: str | None = None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def get(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, (name, values)
        return values[0] if values else None


@dataclass
class Upstream:
    """A real HTTP server on a free port that records each request and answers by its first segment."""

    port: int = field(default_factory=free_port)
    requests: list[Recorded] = field(default_factory=list)
    sse_closed: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    def close(self) -> None:
        self.stop()
        asyncio.run_coroutine_threadsafe(self._cancel_handlers(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    async def _cancel_handlers() -> None:
        """End handlers still sleeping (a hung-core test's) so the loop closes clean."""
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def seen(self, marker: str) -> list[Recorded]:
        return [request for request in list(self.requests) if marker in request.target]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = Recorded(
            request.method,
            request.raw_path,
            [(key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in request.raw_headers],
            request.transport.get_extra_info("peername")[1] if request.transport else 0,
        )
        self.requests.append(record)
        segments = request.raw_path.partition("?")[0].split("/")
        kind = segments[1]
        if kind == "upload" or request.method in ("POST", "PUT"):
            digest, size = hashlib.sha256(), 0
            async for chunk in request.content.iter_any():
                digest.update(chunk)
                size += len(chunk)
            record.body_size, record.body_sha256 = size, digest.hexdigest()
        if kind == "upload":
            return web.json_response({"size": record.body_size, "sha256": record.body_sha256})
        if kind == "record":
            response = web.json_response({"ok": True})
            for name, value in (
                ("Set-Cookie", "upstream=leak; Path=/"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Authenticate", "Basic realm=x"),
                ("X-Internal", "secret"),
                ("Cache-Control", "public, max-age=60"),
                ("Vary", "Accept-Encoding"),
                ("ETag", '"v1"'),
                ("Location", "/v1/things/1"),
                ("Strict-Transport-Security", "max-age=60"),
                ("Access-Control-Allow-Origin", "*"),
                ("X-Request-ID", "upstream-own"),
                ("X-Content-Type-Options", "nosniff"),
            ):
                response.headers.add(name, value)
            return response
        if kind == "conn-named":
            response = web.json_response({"ok": True})
            response.headers["Connection"] = "keep-alive, ETag"
            response.headers["ETag"] = '"named"'
            return response
        if kind == "status":
            status = int(segments[2])
            if status in (204, 304):
                return web.Response(status=status, headers={"ETag": '"s"'})
            return web.json_response({"status": status}, status=status)
        if kind == "fresh-only":
            if request.headers.get("Authorization", "").rpartition("-")[2].startswith("r"):
                return web.json_response({"ok": True})
            return web.json_response(
                {"type": "about:blank", "status": 401, "code": "invalid_token"},
                status=401,
                content_type="application/problem+json",
                headers={"WWW-Authenticate": 'Bearer realm="latchkey", error="invalid_token"'},
            )
        if kind == "big":
            size = int(segments[2])
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            response.content_length = size
            await response.prepare(request)
            sent = 0
            while sent < size:
                piece = BLOCK[: min(len(BLOCK), size - sent)]
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
            return response
        if kind == "sse":
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                }
            )
            await response.prepare(request)
            try:
                await response.write(b"data: hello\n\n")
                while True:
                    await asyncio.sleep(0.2)
                    await response.write(b": heartbeat\n\n")
            except ConnectionError:
                self.sse_closed[segments[2]] = time.monotonic()
                return response
            except asyncio.CancelledError:
                self.sse_closed[segments[2]] = time.monotonic()
                raise
        if kind == "slow-headers":
            await asyncio.sleep(float(segments[2]))
            return web.json_response({"ok": True})
        if kind == "slow-body":
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            await response.write(b"a")
            await asyncio.sleep(1.0)
            await response.write(b"b")
            await response.write_eof()
            return response
        return web.json_response({"ok": True})


# --- fixtures and helpers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def proxy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    """The main proxy: a base path, a roomy body limit, a generous timeout."""
    server = start_proxy(
        tmp_path_factory.mktemp("proxy"),
        # A host name, not an IP: a cookie jar would accept the upstream's cookies for it.
        f"http://localhost:{upstream.port}",
        LATCHKEY_BFF_BASE_PATH=BASE,
        LATCHKEY_UPSTREAM_TIMEOUT="10",
        LATCHKEY_MAX_BODY_BYTES=str(128 * MiB),
    )
    yield server
    stop_proxy(server)


@pytest.fixture(scope="module")
def strict(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    """No base path, a 0.5 s timeout and a 64 KiB body limit."""
    server = start_proxy(
        tmp_path_factory.mktemp("strict"),
        upstream.url,
        LATCHKEY_UPSTREAM_TIMEOUT="0.5",
        LATCHKEY_MAX_BODY_BYTES=str(64 * 1024),
    )
    yield server
    stop_proxy(server)


def marker() -> str:
    return uuid.uuid4().hex[:12]


def assert_api_headers(headers: httpx.Headers | dict[str, str]) -> None:
    """What every /api answer carries, whoever produced it."""
    assert headers["cache-control"] == "no-store"
    assert "cookie" in headers["vary"].lower()
    assert "set-cookie" not in headers


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    all_headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_exchange(port: int, request: bytes) -> RawResponse:
    """Send bytes exactly as written (httpx would normalise the target) and read one response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        pairs = [
            (k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line)
        ]
        headers = dict(pairs)
        if "content-length" in headers:
            body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int((await asyncio.wait_for(reader.readline(), 10)).strip(), 16):
                body += await reader.readexactly(size + 2)
                body = body[:-2]
            await reader.readline()
        else:
            body = await asyncio.wait_for(reader.read(), 10)
        return RawResponse(status, headers, pairs, body)
    finally:
        writer.close()


def head(target: bytes, *lines: str, method: str = "GET") -> bytes:
    extra = "".join(f"{line}\r\n" for line in lines)
    return method.encode() + b" " + target + b" HTTP/1.1\r\n" + extra.encode("latin-1") + b"\r\n"


SESSION = "Cookie: session=alice"


async def body_stream(total: int, piece: int = MiB) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = BLOCK[: min(piece, total - sent)]
        sent += len(chunk)
        yield chunk


def expected_digest(total: int, piece: int = MiB) -> str:
    """The digest of `body_stream(total, piece)` (and of the upstream's `/big/<total>`)."""
    digest = hashlib.sha256()
    sent = 0
    while sent < total:
        chunk = BLOCK[: min(piece, total - sent)]
        digest.update(chunk)
        sent += len(chunk)
    return digest.hexdigest()


# --- header hygiene -----------------------------------------------------------------------------------


async def test_request_headers_follow_the_allow_list(proxy: ProxyProcess, upstream: Upstream) -> None:
    mark = marker()
    request = head(
        f"{BASE}/api/record/{mark}".encode(),
        "Host: bff.example:8443",
        "Cookie: session=alice; theme=dark",
        "Authorization: Bearer stolen-from-the-page",
        "Authorization: Basic c2Vjb25kOm9uZQ==",
        "X-CSRF: 1",
        "Origin: http://bff.example:8443",
        "Referer: http://bff.example:8443/projects",
        "Sec-Fetch-Site: same-origin",
        "Sec-Fetch-Mode: cors",
        "Connection: keep-alive, X-Named, Accept-Language",
        "X-Named: 1",
        "Accept-Language: fr",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Proxy-Authorization: Basic eDp5",
        "X-Forwarded-For: 203.0.113.66",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Proto: https",
        "Forwarded: for=203.0.113.66",
        "X-Real-IP: 203.0.113.66",
        "X-Request-ID: client-req.1",
        "Accept: application/json",
        'If-None-Match: "abc"',
        "User-Agent: proxy-test/1",
        "Last-Event-ID: 42",
    )
    response = await raw_exchange(proxy.port, request)
    assert response.status == 200, response.body
    [seen] = upstream.seen(mark)
    names = {name for name, _ in seen.headers}

    assert seen.all("authorization") == ["Bearer tok-alice"]
    assert seen.all("x-forwarded-for") == ["127.0.0.1"]
    assert seen.all("x-forwarded-host") == ["bff.example:8443"]
    assert seen.all("x-forwarded-proto") == ["http"]
    assert seen.all("x-request-id") == ["client-req.1"]
    assert seen.get("accept") == "application/json"
    assert seen.get("if-none-match") == '"abc"'
    assert seen.get("user-agent") == "proxy-test/1"
    assert seen.get("last-event-id") == "42"
    assert seen.get("host") == f"localhost:{upstream.port}"
    for absent in (
        "cookie",
        "x-csrf",
        "origin",
        "referer",
        "sec-fetch-site",
        "sec-fetch-mode",
        "x-named",  # named in Connection
        "accept-language",  # allowed, but named in Connection
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "proxy-authorization",
        "forwarded",
        "x-real-ip",
        "transfer-encoding",
        "upgrade",
    ):
        assert absent not in names, (absent, seen.headers)
    assert response.headers["x-request-id"] == "client-req.1"
    assert_api_headers(response.headers)


async def test_a_bad_request_id_is_replaced(proxy: ProxyProcess, upstream: Upstream) -> None:
    mark = marker()
    request = head(
        f"{BASE}/api/record/{mark}".encode(), "Host: bff", SESSION, "X-Request-ID: no spaces/slashes!"
    )
    response = await raw_exchange(proxy.port, request)
    [seen] = upstream.seen(mark)
    generated = seen.get("x-request-id")
    assert generated is not None and generated != "no spaces/slashes!"
    assert len(generated) == 32 and all(ch in "0123456789abcdef" for ch in generated)
    assert response.headers["x-request-id"] == generated


async def test_response_headers_follow_the_allow_list(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    response = await http.get(f"{proxy.url}{BASE}/api/record/{marker()}", headers={"Cookie": "session=alice"})
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert_api_headers(response.headers)
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers["vary"] == "Accept-Encoding, Cookie"
    assert response.headers["etag"] == '"v1"'
    assert response.headers["x-content-type-options"] == "nosniff"
    # A Location inside the core points to the same place under /api.
    assert response.headers["location"] == f"{BASE}/api/v1/things/1"
    assert response.headers.get_list("x-request-id") != ["upstream-own"]
    for absent in (
        "set-cookie",
        "keep-alive",
        "proxy-authenticate",
        "x-internal",
        "strict-transport-security",
    ):
        assert absent not in response.headers, absent
    assert "access-control-allow-origin" not in response.headers

    named = await http.get(
        f"{proxy.url}{BASE}/api/conn-named/{marker()}", headers={"Cookie": "session=alice"}
    )
    assert named.status_code == 200
    assert "etag" not in named.headers  # the core named it in Connection: hop-by-hop


async def test_upstream_cookies_never_reach_the_browser_nor_ride_again(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    first = await http.get(f"{proxy.url}{BASE}/api/record/{mark}/1", headers={"Cookie": "session=alice"})
    assert "set-cookie" not in first.headers
    assert not http.cookies
    # Another session's request on the same pooled upstream client: no jar, no cookie.
    await http.get(f"{proxy.url}{BASE}/api/record/{mark}/2", headers={"Cookie": "session=bob"})
    recorded = upstream.seen(mark)
    assert len(recorded) == 2
    for seen in recorded:
        assert seen.get("cookie") is None
    assert recorded[1].all("authorization") == ["Bearer tok-bob"]


async def test_connections_to_the_core_are_pooled(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    for number in range(6):
        response = await http.get(
            f"{proxy.url}{BASE}/api/record/{mark}/{number}", headers={"Cookie": "session=a"}
        )
        assert response.status_code == 200
    assert len({seen.peer_port for seen in upstream.seen(mark)}) == 1


async def test_statuses_and_bodiless_answers_pass_through(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    cookie = {"Cookie": "session=alice"}
    for status in (201, 404, 409, 500):
        response = await http.post(
            f"{proxy.url}{BASE}/api/status/{status}/{marker()}", headers=cookie, json={}
        )
        assert response.status_code == status
        assert response.json() == {"status": status}
        assert_api_headers(response.headers)
    for status in (204, 304):
        response = await http.get(f"{proxy.url}{BASE}/api/status/{status}/{marker()}", headers=cookie)
        assert response.status_code == status
        assert response.content == b""
        assert response.headers["etag"] == '"s"'
        assert_api_headers(response.headers)
    mark = marker()
    got = await http.get(f"{proxy.url}{BASE}/api/record/{mark}", headers=cookie)
    headed = await http.head(f"{proxy.url}{BASE}/api/record/{mark}", headers=cookie)
    assert headed.status_code == 200
    assert headed.content == b""
    assert headed.headers["content-length"] == got.headers["content-length"]
    assert [seen.method for seen in upstream.seen(mark)] == ["GET", "HEAD"]


async def test_no_session_is_answered_without_calling_the_core(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    response = await http.get(f"{proxy.url}{BASE}/api/record/{mark}")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "no_session"
    assert_api_headers(response.headers)
    assert upstream.seen(mark) == []


# --- paths --------------------------------------------------------------------------------------------


HOSTILE_TARGETS = [
    b"{api}/../bff/{mark}",
    b"{api}/v1/../../{mark}",
    b"{api}/./{mark}",
    b"{api}/{mark}/.",
    b"{api}/{mark}/..",
    b"{api}/%2e%2e/{mark}",
    b"{api}/%2E%2E/{mark}",
    b"{api}/.%2e/{mark}",
    b"{api}/%2e/{mark}",
    b"{api}/v1%2f{mark}",
    b"{api}/v1%2F{mark}",
    b"{api}/v1%5c{mark}",
    b"{api}/v1%5C{mark}",
    b"{api}/v1\\{mark}",
    b"{api}//evil.example/{mark}",
    b"{api}/v1//{mark}",
    b"{api}/http://evil.example/{mark}",
    b"{api}/{mark}%00",
    b"{api}/{mark}%0d%0aX-Injected:%201",
    b"{api}/{mark}%1F",
    b"{api}/{mark}%7f",
    b"{api}/{mark}%zz",
    b"{api}/{mark}%2",
    b"{api}/{mark}/caf\xc3\xa9",
    b"{api}/{mark}/\x7f",
    b'{api}/{mark}/a"b',
    b"{api}/{mark}/a<b>",
    b"{api}/{mark}/a{b}",
    b"{api}/{mark}/a`b",
    b"{api}/{mark}?q=caf\xc3\xa9",
    b"{base}/%61pi/{mark}",  # decodes to the mount, but the raw target is not under it
    b"{api}",
]
# Targets uvicorn's parser refuses on its own (400 before any app runs): still never forwarded.
SERVER_REFUSED = {b"{api}/{mark}/\x7f", b"{api}/{mark}/caf\xc3\xa9", b"{api}/{mark}?q=caf\xc3\xa9"}


@pytest.mark.parametrize("template", HOSTILE_TARGETS)
async def test_hostile_targets_are_refused_and_never_sent(
    proxy: ProxyProcess, upstream: Upstream, template: bytes
) -> None:
    mark = marker()
    target = (
        template.replace(b"{api}", f"{BASE}/api".encode())
        .replace(b"{base}", BASE.encode())
        .replace(b"{mark}", mark.encode())
    )
    response = await raw_exchange(proxy.port, head(target, "Host: bff", SESSION, "Connection: close"))
    assert response.status == 400, (target, response.status, response.body)
    if template not in SERVER_REFUSED:
        assert response.headers["content-type"] == "application/problem+json", target
        assert response.json()["code"] == "invalid_path"
        assert_api_headers(response.headers)
    await asyncio.sleep(0.05)
    assert upstream.seen(mark) == [], target
    assert all("evil" not in seen.target for seen in upstream.requests)


async def test_an_absolute_form_target_cannot_choose_the_host(
    proxy: ProxyProcess, upstream: Upstream
) -> None:
    """uvicorn keeps only the path of `GET http://host/…`: whatever it answers, nothing leaves for the
    named host, and the path is still judged."""
    mark = marker()
    request = head(
        f"http://evil.example{BASE}/api/record/{mark}".encode(), "Host: bff", SESSION, "Connection: close"
    )
    response = await raw_exchange(proxy.port, request)
    assert response.status in (200, 400)
    for seen in upstream.seen(mark):
        assert seen.target == f"/record/{mark}"
        assert seen.get("host") == f"localhost:{upstream.port}"
    other = marker()
    hostile = head(
        f"http://evil.example{BASE}/api/../{other}".encode(), "Host: bff", SESSION, "Connection: close"
    )
    assert (await raw_exchange(proxy.port, hostile)).status == 400
    assert upstream.seen(other) == []


async def test_path_and_query_are_forwarded_as_received(proxy: ProxyProcess, upstream: Upstream) -> None:
    mark = marker()
    rest = f"/record/{mark}/a%20b/%C3%A9/%c3%a9/~x(y)*'!$&+,;=:@[z]|^/%25252e%41"
    rest += "?q=a%2F+b&&c=%zz&d=%2e%2e/..;e=%00"
    response = await raw_exchange(
        proxy.port, head(f"{BASE}/api{rest}".encode(), "Host: bff", SESSION, "Connection: close")
    )
    assert response.status == 200, response.body
    [seen] = upstream.seen(mark)
    assert seen.target == rest

    trailing = f"/record/{mark}/dir/"
    response = await raw_exchange(
        proxy.port, head(f"{BASE}/api{trailing}".encode(), "Host: bff", SESSION, "Connection: close")
    )
    assert response.status == 200
    assert upstream.seen(mark)[-1].target == trailing


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "/",
                ".",
                "..",
                "%",
                "2e",
                "2E",
                "2f",
                "5c",
                "00",
                "1f",
                "7f",
                "41",
                "%2",
                "\\",
                "a",
                "v1",
                "é",
                "\x01",
                ":",
                "@",
                "?",
                "#",
            ]
        ),
        max_size=12,
    )
)
def test_accepted_paths_decode_to_plain_segments(parts: list[str]) -> None:
    raw = ("/" + "".join(parts)).encode()
    path = checked_path(raw)
    if path is None:
        return
    # What the core's router will see once it decodes the path: plain segments, nothing structural.
    decoded = unquote_to_bytes(path)
    segments = decoded.split(b"/")
    assert decoded.startswith(b"/")
    assert b"\\" not in decoded and b"//" not in path.encode()
    assert all(segment not in (b".", b"..") for segment in segments)
    assert all(byte >= 0x20 and byte != 0x7F for byte in decoded)
    assert path.count("/") == decoded.count(b"/")  # no encoded slash
    url = URL("http://127.0.0.1:8001" + path, encoded=True)
    assert (url.host, url.port, url.raw_path) == ("127.0.0.1", 8001, path)


@pytest.mark.parametrize(
    ("core_url", "location", "expected"),
    [
        ("http://core:8001", b"/v1/projects/7", b"/base/api/v1/projects/7"),
        ("http://core:8001", b"http://core:8001/v1/projects/7?a=1", b"/base/api/v1/projects/7?a=1"),
        ("http://core:8001/inner", b"/inner/v1/projects/7", b"/base/api/v1/projects/7"),
        ("http://core:8001/inner", b"http://core:8001/inner/v1/x", b"/base/api/v1/x"),
        ("http://core:8001", b"7", b"7"),  # relative: resolves under /api by itself
        ("http://core:8001", b"https://elsewhere.example/x", b"https://elsewhere.example/x"),
        ("http://core:8001", b"//elsewhere.example/x", b"//elsewhere.example/x"),
    ],
)
def test_a_location_inside_the_core_maps_under_the_mount(
    core_url: str, location: bytes, expected: bytes
) -> None:
    env = {
        "LATCHKEY_ENV": "dev",
        "LATCHKEY_COOKIE_SECURE": "false",
        "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "A1" * 24 + "B",
        "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
        "LATCHKEY_CORE_URL": core_url,
        "LATCHKEY_BFF_BASE_PATH": BASE,
    }
    bff = load_bff_settings(env)
    browser_location = BrowserLocation(bff.core_url, Routes.of(bff).api_mount)
    assert browser_location(location) == expected


async def test_stream_registry_counts_and_cancels() -> None:
    streams = StreamRegistry()
    with streams.track("a", 1) as first, streams.track("a", 1) as second, streams.track("b", 2) as third:
        assert len(streams) == 3
        assert streams.close_session("a") == 2
        assert first.cancel_called and second.cancel_called and not third.cancel_called
        # Cancelled streams hold their slots until their pumps stop (leave the `with`).
        assert streams.user_streams(1) == 2
    assert len(streams) == 0
    assert streams.user_streams(1) == streams.user_streams(2) == 0
    assert streams.close_session("a") == streams.close_session("b") == 0


# --- bodies -------------------------------------------------------------------------------------------


async def test_100_mib_each_way_streams_with_bounded_memory(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    """The proxy process's own RSS, read by itself from /proc: its peak during the transfers (VmHWM,
    reset just before) against its RSS before."""
    size = 100 * MiB
    cookie = {"Cookie": "session=alice"}
    # Warm up both directions so the baseline includes what one request of each kind allocates.
    await http.post(f"{proxy.url}{BASE}/api/upload/{marker()}", headers=cookie, content=b"x" * 1000)
    await http.get(f"{proxy.url}{BASE}/api/big/1000000/{marker()}", headers=cookie)
    before = await proxy.stats(reset_peak=True)

    mark = marker()
    started = time.monotonic()
    response = await http.put(
        f"{proxy.url}{BASE}/api/upload/{mark}",
        headers={**cookie, "Content-Length": str(size), "Content-Type": "application/octet-stream"},
        content=body_stream(size),
    )
    up_seconds = time.monotonic() - started
    assert response.status_code == 200, response.text
    expected = expected_digest(size)
    assert response.json() == {"size": size, "sha256": expected}
    [seen] = upstream.seen(mark)
    assert seen.get("content-length") == str(size)

    digest, received = hashlib.sha256(), 0
    started = time.monotonic()
    async with http.stream("GET", f"{proxy.url}{BASE}/api/big/{size}/{marker()}", headers=cookie) as download:
        assert download.status_code == 200
        assert download.headers["content-length"] == str(size)
        async for chunk in download.aiter_raw():
            digest.update(chunk)
            received += len(chunk)
    down_seconds = time.monotonic() - started
    assert received == size
    assert digest.hexdigest() == expected

    after = await proxy.stats()
    growth = max(0, after["peak"] - before["rss"])
    print(
        f"\nproxy process RSS {before['rss'] / MiB:.1f} MiB before, peak {after['peak'] / MiB:.1f} MiB: "
        f"growth {growth / MiB:.1f} MiB streaming 100 MiB up ({up_seconds:.2f} s) "
        f"and down ({down_seconds:.2f} s)"
    )
    assert growth <= 32 * MiB


async def test_a_body_over_the_limit_is_refused(
    strict: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    cookie = {"Cookie": "session=alice"}
    # Declared too large: refused at once, the core never asked.
    mark = marker()
    response = await http.post(f"{strict.url}/api/upload/{mark}", headers=cookie, content=b"x" * (100 * 1024))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert_api_headers(response.headers)
    assert upstream.seen(mark) == []

    # Streamed without a length: refused when the count passes the limit, the upstream request aborted.
    mark = marker()
    response = await http.post(
        f"{strict.url}/api/upload/{mark}", headers=cookie, content=body_stream(200 * 1024, piece=16 * 1024)
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    await asyncio.sleep(0.2)
    assert all(seen.body_size is None for seen in upstream.seen(mark))

    # Under the limit, streamed: arrives whole.
    mark = marker()
    response = await http.post(
        f"{strict.url}/api/upload/{mark}", headers=cookie, content=body_stream(60 * 1024, piece=8 * 1024)
    )
    assert response.status_code == 200
    assert response.json() == {"size": 60 * 1024, "sha256": expected_digest(60 * 1024, 8 * 1024)}


async def test_a_browser_leaving_mid_upload_aborts_the_upstream_request(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(
        head(f"{BASE}/api/upload/{mark}".encode(), "Host: bff", SESSION, f"Content-Length: {10 * MiB}")
    )
    writer.write(BLOCK)
    await writer.drain()
    async with asyncio.timeout(3):
        while not upstream.seen(mark):
            await asyncio.sleep(0.02)
    writer.close()
    await asyncio.sleep(0.5)
    [seen] = upstream.seen(mark)
    assert seen.body_size is None  # the core never got a whole body
    response = await http.get(f"{proxy.url}{BASE}/api/record/{marker()}", headers={"Cookie": "session=a"})
    assert response.status_code == 200


async def test_methods_outside_http_semantics_are_refused(proxy: ProxyProcess, upstream: Upstream) -> None:
    mark = marker()
    request = head(
        f"{BASE}/api/record/{mark}".encode(), "Host: bff", SESSION, "Connection: close", method="TRACE"
    )
    response = await raw_exchange(proxy.port, request)
    assert response.status == 405
    assert response.json()["code"] == "method_not_allowed"
    assert upstream.seen(mark) == []


# --- streams ------------------------------------------------------------------------------------------


async def read_until(iterator: AsyncIterator[bytes], needle: bytes, timeout: float = 3.0) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while needle not in seen:
            seen += await anext(iterator)
    return seen


async def test_sse_event_arrives_while_the_stream_is_open_and_close_session_ends_it(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    session = f"sse-{mark}"
    url = f"{proxy.url}{BASE}/api/sse/{mark}"
    async with http.stream("GET", url, headers={"Cookie": f"session={session}"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["x-accel-buffering"] == "no"
        assert_api_headers(stream.headers)
        chunks = stream.aiter_raw()
        assert b"data: hello\n\n" in await read_until(chunks, b"data: hello")
        assert not stream.is_closed
        await read_until(chunks, b": heartbeat")  # still flowing

        assert await proxy.close_session(f"other-{mark}") == 0
        started = time.monotonic()
        assert await proxy.close_session(session) == 1
        async with asyncio.timeout(3):
            async for _ in chunks:  # ends cleanly: the browser sees the end of the stream
                pass
        assert time.monotonic() - started < 2
    await asyncio.sleep(0.5)
    assert mark in upstream.sse_closed  # the core's stream was closed too
    assert (await proxy.stats())["streams"] == 0


async def test_a_browser_leaving_an_sse_stream_ends_it_upstream(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    async with http.stream(
        "GET", f"{proxy.url}{BASE}/api/sse/{mark}", headers={"Cookie": "session=x"}
    ) as stream:
        await read_until(stream.aiter_raw(), b"data: hello")
    # The client closed its connection (body unread): the proxy must notice although it has nothing to send.
    left = time.monotonic()
    async with asyncio.timeout(3):
        while mark not in upstream.sse_closed:
            await asyncio.sleep(0.05)
    assert upstream.sse_closed[mark] - left < 2
    assert (await proxy.stats())["streams"] == 0


# --- stream caps: no session, user or crowd holds the upstream pool ----------------------------------

# A descriptor limit of 256 makes the upstream pool 64 connections (the reviewer's setup) and the
# process's stream cap 3/4 of it.
SMALL_POOL, SMALL_STREAM_CAP = 64, 48


@pytest.fixture(scope="module")
def small_pool(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    server = start_proxy(
        tmp_path_factory.mktemp("small-pool"), upstream.url, nofile=256, LATCHKEY_UPSTREAM_TIMEOUT="2"
    )
    yield server
    stop_proxy(server)


@dataclass
class HeldStream:
    response: httpx.Response
    chunks: AsyncIterator[bytes]  # held: a collected iterator would close the stream
    stack: contextlib.AsyncExitStack


async def hold_stream(http: httpx.AsyncClient, url: str, session: str) -> HeldStream | httpx.Response:
    """An SSE stream through the proxy held open (its first event read), or the refusal, read whole."""
    stack = contextlib.AsyncExitStack()
    response = await stack.enter_async_context(
        http.stream("GET", url, headers={"Cookie": f"session={session}"})
    )
    if response.status_code != 200:
        await response.aread()
        await stack.aclose()
        return response
    chunks = response.aiter_raw()
    await read_until(chunks, b"data: hello")
    return HeldStream(response, chunks, stack)


async def release(streams: list[HeldStream | httpx.Response]) -> None:
    await asyncio.gather(
        *(item.stack.aclose() for item in streams if isinstance(item, HeldStream)), return_exceptions=True
    )


def assert_refused(response: HeldStream | httpx.Response, status: int) -> None:
    assert isinstance(response, httpx.Response), "admitted"
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "too_many_streams"
    assert response.headers["retry-after"].isdigit()
    assert response.headers["x-request-id"]
    assert_api_headers(response.headers)


async def short_calls_are_fast(
    http: httpx.AsyncClient, proxy: ProxyProcess, session: str, count: int
) -> None:
    """`count` short calls at once all answer 200 well inside the 2 s upstream timeout (no 504)."""
    started = time.monotonic()
    answers = await asyncio.gather(
        *(
            http.get(f"{proxy.url}/api/ok/{marker()}", headers={"Cookie": f"session={session}"})
            for _ in range(count)
        )
    )
    assert [answer.status_code for answer in answers] == [200] * count
    assert time.monotonic() - started < 1.5


async def test_one_session_opening_70_streams_gets_8_and_others_go_on(
    small_pool: ProxyProcess, http: httpx.AsyncClient
) -> None:
    """The review's attack: 70 SSE streams from one session against a pool of 64."""
    url = f"{small_pool.url}/api/sse/{marker()}"
    held = await asyncio.gather(*(hold_stream(http, url, "u1-hog") for _ in range(70)))
    try:
        admitted = [item for item in held if isinstance(item, HeldStream)]
        assert len(admitted) == 8
        for refused in held:
            if not isinstance(refused, HeldStream):
                assert_refused(refused, 429)
        assert (await small_pool.stats())["streams"] == 8
        # The hog's own short calls, and another user's calls and streams, go on.
        await short_calls_are_fast(http, small_pool, "u1-hog", 4)
        await short_calls_are_fast(http, small_pool, "u2-other", 32)
        theirs = await hold_stream(http, url, "u2-other")
        assert isinstance(theirs, HeldStream)
        await release([theirs])
    finally:
        await release(held)


async def test_streams_may_hold_at_most_three_quarters_of_the_pool(
    small_pool: ProxyProcess, http: httpx.AsyncClient
) -> None:
    url = f"{small_pool.url}/api/sse/{marker()}"
    # Three users with two full sessions each: 48 streams, the process's cap.
    sessions = [f"u{user}-s{index}-{marker()}" for user in (11, 12, 13) for index in (1, 2)]
    held: list[HeldStream | httpx.Response] = []
    try:
        for session in sessions:
            held += await asyncio.gather(*(hold_stream(http, url, session) for _ in range(8)))
        assert all(isinstance(item, HeldStream) for item in held)
        assert (await small_pool.stats())["streams"] == SMALL_STREAM_CAP
        # Anyone's next stream is refused: 503, the process is full (not the caller's fault).
        assert_refused(await hold_stream(http, url, f"u14-{marker()}"), 503)
        # The last quarter of the pool serves short calls: 16 at once, none waiting for a connection.
        await short_calls_are_fast(http, small_pool, f"u15-{marker()}", SMALL_POOL - SMALL_STREAM_CAP)
        # Ending one session's streams frees its slots for others.
        assert await small_pool.close_session(sessions[0]) == 8
        deadline = time.monotonic() + 3
        while True:
            again = await hold_stream(http, url, f"u14-{marker()}")
            if isinstance(again, HeldStream):
                held.append(again)
                break
            assert_refused(again, 503)
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        await release(held)


# --- the core failing ---------------------------------------------------------------------------------


async def test_core_stopped_is_502_fast_and_the_proxy_recovers(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    core = Upstream()
    core.start()
    server = start_proxy(tmp_path, core.url, LATCHKEY_UPSTREAM_TIMEOUT="5")
    try:
        cookie = {"Cookie": "session=alice"}
        assert (await http.get(f"{server.url}/api/record/{marker()}", headers=cookie)).status_code == 200
        core.stop()
        for _ in range(3):
            started = time.monotonic()
            response = await http.get(f"{server.url}/api/record/{marker()}", headers=cookie)
            assert time.monotonic() - started < 1
            assert response.status_code == 502
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "upstream_unavailable"
            assert_api_headers(response.headers)
        core.start()
        assert (await http.get(f"{server.url}/api/record/{marker()}", headers=cookie)).status_code == 200
    finally:
        stop_proxy(server)
        core.close()


async def test_core_hung_is_504_at_the_timeout_and_others_still_work(
    strict: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    cookie = {"Cookie": "session=alice"}

    async def timed(path: str) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await http.get(f"{strict.url}/api/{path}", headers=cookie)
        return response, time.monotonic() - started

    (hung, hung_seconds), (other, other_seconds) = await asyncio.gather(
        timed(f"slow-headers/3/{marker()}"), timed(f"record/{marker()}")
    )
    assert hung.status_code == 504
    assert hung.headers["content-type"] == "application/problem+json"
    assert hung.json()["code"] == "upstream_timeout"
    assert_api_headers(hung.headers)
    assert 0.45 <= hung_seconds < 1.5, hung_seconds
    assert other.status_code == 200
    assert other_seconds < hung_seconds
    again, _ = await timed(f"record/{marker()}")
    assert again.status_code == 200

    # The timeout is on the headers, not the body: a body slower than it still streams through.
    body, body_seconds = await timed(f"slow-body/{marker()}")
    assert body.status_code == 200
    assert body.content == b"ab"
    assert body_seconds >= 0.9


# --- tokens -------------------------------------------------------------------------------------------


async def test_a_401_invalid_token_is_replayed_once_with_the_refreshed_token(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    response = await http.get(
        f"{proxy.url}{BASE}/api/fresh-only/{mark}", headers={"Cookie": f"session=r-{mark}"}
    )
    assert response.status_code == 200
    assert [seen.get("authorization") for seen in upstream.seen(mark)] == [
        f"Bearer tok-r-{mark}",
        f"Bearer tok-r-{mark}-r1",
    ]


async def test_a_401_with_a_body_is_not_replayed_but_the_session_is_refreshed(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    cookie = {"Cookie": f"session=p-{mark}"}
    response = await http.post(f"{proxy.url}{BASE}/api/fresh-only/{mark}/post", headers=cookie, json={"x": 1})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert "invalid_token" in response.headers["www-authenticate"]
    assert_api_headers(response.headers)
    [posted] = upstream.seen(f"{mark}/post")
    assert posted.body_size == len(b'{"x":1}')
    # The next call already carries the refreshed token.
    response = await http.get(f"{proxy.url}{BASE}/api/fresh-only/{mark}/next", headers=cookie)
    assert response.status_code == 200
    assert [seen.get("authorization") for seen in upstream.seen(f"{mark}/next")] == [
        f"Bearer tok-p-{mark}-r1"
    ]


async def test_a_refresh_that_fails_ends_with_session_revoked(
    proxy: ProxyProcess, upstream: Upstream, http: httpx.AsyncClient
) -> None:
    mark = marker()
    response = await http.get(
        f"{proxy.url}{BASE}/api/fresh-only/{mark}", headers={"Cookie": f"session=revoked-{mark}"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert_api_headers(response.headers)
    assert len(upstream.seen(mark)) == 1
