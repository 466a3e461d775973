"""The HTTP layer both servers run on (`latchkey/http_server.py`), attacked through real core and BFF
processes: oversized request heads are refused before they are buffered (RSS measured in the server
process, a concurrent /healthz timed), too many header fields, overlong targets, heads that never finish
(slowloris) or never start, and the connection bound — while honest requests, bodies that arrive in the
same packet as their head, and keep-alive connections keep working."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support import RssSampler, ServerProcess, start_bff, start_core, stop_bff, stop_core

MiB = 1024 * 1024
HEADER_TIMEOUT = 1.0
MAX_CONNECTIONS = 20


@pytest.fixture(scope="module")
async def servers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, ServerProcess]]:
    """A core and a BFF in front of it, both with a short head timeout and a small connection bound.

    The HTTP layer does not depend on the database, so they run on SQLite only."""
    limits = {
        "LATCHKEY_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "LATCHKEY_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    workdir = tmp_path_factory.mktemp("http-server")
    core = await start_core("sqlite", workdir / "core", **limits)
    account = await core.create_user(developer=True, forwards_client_ip=True)
    bff = await start_bff("sqlite", workdir / "bff", core, account["client_secret"], **limits)
    yield {"core": core, "bff": bff}
    await stop_bff(bff)
    await stop_core(core)


@pytest.fixture(params=["core", "bff"])
def server(request: pytest.FixtureRequest, servers: dict[str, ServerProcess]) -> ServerProcess:
    """Each test runs against both apps."""
    return servers[request.param]


async def send_raw(port: int, payload: bytes, *, chunk: int = 64 * 1024) -> bytes:
    """Send `payload` (in chunks, stopping when the server hangs up) and return what comes back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for start in range(0, len(payload), chunk):
            writer.write(payload[start : start + chunk])
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                break
            if reader.at_eof():
                break
        try:
            return await asyncio.wait_for(reader.read(), 10)
        except (ConnectionError, OSError):
            return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def assert_problem(answer: bytes, status: int, code: str) -> None:
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    assert b'"code": "%s"' % code.encode() in body, body


async def healthz_latency(server: ServerProcess, stop: asyncio.Event) -> float:
    """The slowest /healthz answer while `stop` is not set (each must succeed)."""
    worst = 0.0
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            started = time.monotonic()
            response = await client.get(f"{server.url}/healthz")
            assert response.status_code == 200
            worst = max(worst, time.monotonic() - started)
            await asyncio.sleep(0.02)
    return worst


@pytest.mark.parametrize("size", [8 * MiB, 64 * MiB])
async def test_a_huge_header_line_is_refused_before_it_is_buffered(server: ServerProcess, size: int) -> None:
    assert server.process is not None
    stop = asyncio.Event()
    probe = asyncio.ensure_future(healthz_latency(server, stop))
    async with RssSampler(server.process.pid) as rss:
        answer = await send_raw(
            server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
        )
    stop.set()
    worst = await probe
    # The server stops reading at 40 KiB and answers; a client still writing may see a reset instead.
    if answer:
        assert_problem(answer, 431, "headers_too_large")
    assert rss.growth < 8 * MiB, rss.growth
    assert worst < 0.5, worst
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{server.url}/healthz")).status_code == 200


async def test_head_limits_answer_with_problems(server: ServerProcess) -> None:
    many = b"".join(b"X-F%d: v\r\n" % i for i in range(101))
    assert_problem(
        await send_raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"),
        431,
        "headers_too_large",
    )
    # Many small fields adding up past the byte bound.
    wide = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 500) for i in range(90))
    assert_problem(
        await send_raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + wide + b"\r\n"),
        431,
        "headers_too_large",
    )
    for target in (b"/healthz?" + b"q" * 50_000, b"/" + b"a" * 50_000):
        assert_problem(
            await send_raw(server.port, b"GET " + target + b" HTTP/1.1\r\n\r\n"), 414, "uri_too_long"
        )


async def test_honest_requests_at_the_edges_still_work(server: ServerProcess) -> None:
    # 100 fields (with Host and Connection) and ~28 KiB of head: allowed.
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 280) for i in range(98))
    answer = await send_raw(
        server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"Connection: close\r\n\r\n"
    )
    assert status_of(answer) == 200, answer[:200]
    # A head and a 200 KiB body in one write: only the head counts against the bound.
    body = b"x" * (200 * 1024)
    post = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    then = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = await send_raw(server.port, post + then, chunk=len(post) + len(then))
    assert status_of(answer) == 405, answer[:200]  # routed (GET only), not refused as a large head
    assert b"HTTP/1.1 200 OK" in answer, answer[:400]
    # Keep-alive: many requests on one connection, and pipelined ones, each head counted afresh.
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 20_000 + b"\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = await send_raw(server.port, one * 5 + last, chunk=16 * 1024)
    assert answer.count(b"HTTP/1.1 200 OK") == 6, answer[:300]


async def test_a_head_that_never_ends_is_cut_off(server: ServerProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    answer = b""
    # Slowloris: one more header byte every 100 ms; the deadline counts from the head's first byte.
    with contextlib.suppress(ConnectionError, OSError):
        while not reader.at_eof() and time.monotonic() - started < 5:
            writer.write(b"X")
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(reader.read(4096), 0.1)
    elapsed = time.monotonic() - started
    writer.close()
    assert HEADER_TIMEOUT * 0.9 < elapsed < HEADER_TIMEOUT + 1.5, elapsed
    assert_problem(answer, 408, "request_timeout")


async def test_a_connection_that_sends_nothing_is_closed(server: ServerProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 1.5
    writer.close()


async def test_slow_connections_cannot_starve_honest_ones(server: ServerProcess) -> None:
    held: list[Any] = []
    try:
        for _ in range(2 * MAX_CONNECTIONS):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            held.append((reader, writer))
        async with httpx.AsyncClient(timeout=10) as client:
            # While the slow ones hold the connection bound, a request is refused at once, as a problem.
            busy = await client.get(f"{server.url}/healthz")
            assert busy.status_code == 503
            assert busy.headers["content-type"] == "application/problem+json"
            assert busy.json()["code"] == "server_busy"
            assert busy.headers["retry-after"] == "1"
            # Once their heads time out they are gone, and requests are served again.
            await asyncio.sleep(HEADER_TIMEOUT + 0.5)
            assert (await client.get(f"{server.url}/healthz")).status_code == 200
        for reader, _ in held:
            assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408 ")
    finally:
        for _, writer in held:
            writer.close()
