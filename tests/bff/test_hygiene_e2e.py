"""Proxy hygiene end to end (SPEC §5): a real BFF process whose upstream is a recording relay in this test
process, which forwards every request unchanged to the real core and adds hostile fields to the answers
(an upstream cookie, a hop-by-hop field named in `Connection`). What the core would see, and what the
browser gets back, are checked field by field; hostile targets never leave the BFF.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tests.support import BffServer, Browser, CoreServer, assert_no_token_leak, free_port, start_bff, stop_bff

pytestmark = pytest.mark.database_agnostic

# Fields describing one connection (RFC 9110 §7.6.1, plus the legacy ones).
HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer")
# Framing the relay recomputes on each side rather than copying.
FRAMING = ("host", "content-length", "transfer-encoding", "connection", "keep-alive", "date", "server")


@dataclass
class Recorded:
    method: str
    target: str
    headers: CIMultiDictProxy[str]


@dataclass
class Relay:
    """An aiohttp app on a free port that records each request and forwards it to the core unchanged."""

    core_url: str
    port: int = field(default_factory=free_port)
    records: list[Recorded] = field(default_factory=list)
    _client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def since(self, index: int, path: str) -> list[Recorded]:
        return [record for record in self.records[index:] if record.target.split("?")[0] == path]

    async def handle(self, request: web.Request) -> web.Response:
        self.records.append(Recorded(request.method, request.raw_path, request.headers))
        assert self._client is not None
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in FRAMING]
        body = await request.read()
        async with self._client.request(
            request.method,
            self.core_url + request.raw_path,
            headers=CIMultiDict(headers),
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            content = await upstream.read()
            answer = web.Response(status=upstream.status, body=content)
            for name, value in upstream.headers.items():
                if name.lower() not in FRAMING:
                    answer.headers.add(name, value)
        # What a hostile or careless upstream might add.
        answer.headers.add("Set-Cookie", "upstream=evil; Path=/")
        answer.headers["Connection"] = "x-secret-hop"
        answer.headers["X-Secret-Hop"] = "1"
        return answer

    async def __aenter__(self) -> Relay:
        self._client = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False, skip_auto_headers=("User-Agent",)
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._runner.cleanup()
        assert self._client is not None
        await self._client.close()


Relayed = tuple[Relay, BffServer]


@pytest.fixture(scope="module")
async def relayed(
    backend: str, core: CoreServer, service_client: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Relayed]:
    """The relay in front of the shared core, and a BFF process whose LATCHKEY_CORE_URL is the relay."""
    async with Relay(core.url) as relay:
        bff = await start_bff(
            backend,
            tmp_path_factory.mktemp("bff-relayed"),
            core,
            service_client["client_secret"],
            LATCHKEY_CORE_URL=relay.url,
        )
        try:
            yield relay, bff
        finally:
            await stop_bff(bff)


async def raw_request(bff: BffServer, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send a request target byte for byte (no client normalises it); returns the status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", bff.port)
    try:
        lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{bff.port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        async with asyncio.timeout(10):
            data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = dict(line.split(": ", 1) for line in header_lines)
    assert_no_token_leak(target, response_headers, body)
    return int(status_line.split(" ")[1]), body


async def test_relay_adds_its_hostile_fields(relayed: Relayed, http: httpx.AsyncClient) -> None:
    """The relay really does send what the BFF must filter (else the test below would prove nothing)."""
    relay, _ = relayed
    response = await http.get(relay.url + "/healthz")
    assert response.status_code == 200
    assert response.headers["x-secret-hop"] == "1"
    assert response.headers["connection"] == "x-secret-hop"
    assert "upstream=evil" in response.headers["set-cookie"]


async def test_headers_both_ways(relayed: Relayed, core: CoreServer, http: httpx.AsyncClient) -> None:
    relay, bff = relayed
    user: dict[str, Any] = await core.create_user()
    browser = Browser(http, bff)
    login = await browser.login(user["email"])  # through the relay too (the BFF's core client)
    assert "upstream=evil" not in str(login.headers)

    before = len(relay.records)
    response = await browser.request(
        "GET",
        "/api/v1/me",
        headers={
            "Cookie": f"{browser.cookie_name}={browser.cookie}; theme=dark; other=1",
            "Authorization": "Bearer lkp_fake",
            "Connection": "keep-alive, x-custom",
            "X-Custom": "1",
            "Keep-Alive": "timeout=5, max=100",
            "TE": "trailers",
            "Upgrade": "websocket",
            "Trailer": "X-Checksum",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil",
            "X-Forwarded-Proto": "gopher",
            "Forwarded": "for=6.6.6.6;host=evil",
            "X-Real-IP": "6.6.6.6",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user["id"]

    [seen] = relay.since(before, "/v1/me")
    assert len(relay.records) == before + 1
    sent = seen.headers
    assert "cookie" not in sent
    assert "x-csrf" not in sent
    authorization = sent.getall("authorization")
    assert len(authorization) == 1 and authorization[0].startswith("Bearer lka_"), authorization
    for name in (*HOP_BY_HOP, "x-custom", "proxy-authorization", "forwarded", "x-real-ip"):
        assert name not in sent, (name, sent.getall(name))
    assert sent.getall("x-forwarded-for") == ["127.0.0.1"]
    assert sent.getall("x-forwarded-host") == [f"127.0.0.1:{bff.port}"]
    assert sent.getall("x-forwarded-proto") == ["http"]
    assert len(sent.getall("x-request-id")) == 1
    assert response.headers["x-request-id"] == sent["x-request-id"]

    # The upstream's cookie and its hop-by-hop fields stop at the BFF.
    assert "set-cookie" not in response.headers
    assert "x-secret-hop" not in response.headers
    assert "x-secret-hop" not in response.headers.get("connection", "")
    assert response.headers["cache-control"] == "no-store"
    assert "cookie" in response.headers["vary"].lower()

    # No cookie jar: the upstream's cookie never rides on a later request (this user's or another's).
    other = Browser(http, bff)
    await other.login((await core.create_user())["email"])
    before = len(relay.records)
    for tab in (browser, other, browser):
        assert (await tab.request("GET", "/api/v1/me")).status_code == 200
    later = relay.since(before, "/v1/me")
    assert len(later) == 3
    for record in later:
        assert "cookie" not in record.headers
        assert not any("upstream=evil" in value for value in record.headers.values())


HOSTILE_TARGETS = [
    "/api/..%2f",
    "/api/%2e%2e/x",
    "/api/v1/%5cx",
    "/api//evil.example/x",
    "/api/v1/me/..%2F..%2Fadmin/users",
    "/api/v1/%2e/me",
    "/api/v1/./me",
    "/api/v1/../v1/me",
    "/api/v1/me%00",
    "/api/v1/me\\..",
    # Absolute-form targets: their path is still judged.
    "http://evil/api/../x",
    "http://evil/api//evil.example/x",
]


async def test_hostile_targets_never_leave(
    relayed: Relayed, core: CoreServer, http: httpx.AsyncClient
) -> None:
    relay, bff = relayed
    browser = Browser(http, bff)
    await browser.login((await core.create_user())["email"])
    headers = {"X-CSRF": "1", "Cookie": f"{browser.cookie_name}={browser.cookie}"}

    outcomes = {}
    for target in HOSTILE_TARGETS:
        before = len(relay.records)
        status, body = await raw_request(bff, target, headers)
        code = json.loads(body).get("code") if body.startswith(b"{") else body[:80]
        outcomes[target] = (status, code, [r.target for r in relay.records[before:]])
    assert outcomes == {target: (400, "invalid_path", []) for target in HOSTILE_TARGETS}

    # The same session and connection setup pass an honest target (the refusals above were the paths').
    status, body = await raw_request(bff, "/api/v1/me", headers)
    assert status == 200, body

    # Absolute-form targets name a host: refused before anything else runs, nothing sent upstream.
    before = len(relay.records)
    for target in ("http://evil/", "http://evil/api/v1/me", "https://127.0.0.1/api/v1/me"):
        status, body = await raw_request(bff, target, headers)
        assert status == 400, body
        assert json.loads(body)["code"] == "invalid_path"
    assert relay.records[before:] == []
