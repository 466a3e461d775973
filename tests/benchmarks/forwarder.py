"""The floor of a Python hop (SPEC §9): a bare Litestar + aiohttp forwarder with no session work.

A benchmark fixture, not product code. It does the least a forwarder can: one Litestar route that sends
the request's method, path, query, `Authorization` and `Accept` to the upstream on a pooled aiohttp client
and returns the status, content type and body. No header hygiene, no streaming, no CSRF, no session: what
Latchkey's BFF does beyond this is the cost of its security work.

Served by uvicorn exactly like the BFF (httptools, uvloop, one worker, no access log):
    BENCH_UPSTREAM=http://127.0.0.1:8001 uvicorn tests.benchmarks.forwarder:app --factory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from litestar import Litestar, Request, Response, route

_FORWARDED = ("authorization", "accept")


def create_app(upstream: str) -> Litestar:
    client: dict[str, aiohttp.ClientSession] = {}
    base = upstream.rstrip("/")

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        client["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1024, keepalive_timeout=4.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )
        try:
            yield
        finally:
            await client["session"].close()

    @route("/{path:path}", http_method=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def forward(request: Request[None, None, None], path: str) -> Response[bytes]:
        headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
        query = request.scope["query_string"].decode()
        url = base + path + ("?" + query if query else "")
        body = await request.body()
        async with client["session"].request(
            request.method, url, headers=headers, data=body or None, allow_redirects=False
        ) as upstream_response:
            content = await upstream_response.read()
            return Response(
                content,
                status_code=upstream_response.status,
                media_type=upstream_response.headers.get("content-type", "application/octet-stream"),
            )

    return Litestar(route_handlers=[forward], lifespan=[lifespan], debug=False)


def app() -> Litestar:
    """The uvicorn factory: the upstream comes from BENCH_UPSTREAM."""
    return create_app(os.environ["BENCH_UPSTREAM"])
