"""Streaming through the BFF (real core and BFF processes): 100 MiB up and down arrive whole with the
BFF's memory flat, and a Server-Sent Events stream carries live events until its session ends, which
closes it at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support import BffServer, Browser, CoreServer, RssSampler, assert_no_token_leak

pytestmark = pytest.mark.database_agnostic

MiB = 1 << 20
SIZE = 100 * MiB  # LATCHKEY_MAX_BODY_BYTES' default: the largest body both processes accept
BLOCK = random.Random(11).randbytes(MiB)
RSS_GROWTH_LIMIT = 40 * MiB

BffFactory = Callable[..., Awaitable[BffServer]]


def chunk(index: int) -> bytes:
    """The index-th MiB of the body: the block rotated, so no two MiB are alike."""
    at = (index * 4099) % MiB
    return BLOCK[at:] + BLOCK[:at]


async def new_project(browser: Browser, name: str) -> int:
    response = await browser.request("POST", "/api/v1/projects", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_100_mib_up_and_down_with_flat_memory(
    core: CoreServer, bff_factory: BffFactory, http: httpx.AsyncClient
) -> None:
    # A BFF of its own, so its memory reflects this transfer only.
    bff = await bff_factory()
    assert bff.process is not None
    user: dict[str, Any] = await core.create_user()
    browser = Browser(http, bff)
    await browser.login(user["email"])
    project = await new_project(browser, "big files")
    path = f"/api/v1/projects/{project}/files/big"
    assert (await browser.request("GET", "/api/v1/me")).status_code == 200

    sent = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for index in range(SIZE // MiB):
            piece = chunk(index)
            sent.update(piece)
            yield piece

    async with RssSampler(bff.process.pid) as memory:
        started = time.monotonic()
        uploaded = await browser.request(
            "PUT",
            path,
            content=body(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(SIZE)},
            timeout=120,
        )
        up_seconds = time.monotonic() - started
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["size"] == SIZE
        assert uploaded.json()["sha256"] == sent.hexdigest()

        received = hashlib.sha256()
        size = 0
        started = time.monotonic()
        async with http.stream("GET", bff.url + path, headers=browser.headers(), timeout=120) as response:
            assert response.status_code == 200
            assert int(response.headers["content-length"]) == SIZE
            assert_no_token_leak(path, response.headers, b"")
            async for piece in response.aiter_raw():
                assert_no_token_leak(path, {}, piece)
                received.update(piece)
                size += len(piece)
        down_seconds = time.monotonic() - started

    assert size == SIZE
    assert received.hexdigest() == sent.hexdigest()
    print(
        f"\nBFF RSS {memory.baseline / MiB:.1f} MiB before, peak {memory.peak / MiB:.1f} MiB, "
        f"growth {memory.growth / MiB:.1f} MiB while 100 MiB went up ({up_seconds:.1f} s) "
        f"and down ({down_seconds:.1f} s)"
    )
    assert memory.growth < RSS_GROWTH_LIMIT, f"BFF RSS grew {memory.growth / MiB:.1f} MiB"


def created_events(stream: bytes | bytearray) -> list[dict[str, Any]]:
    """The complete `project.created` messages in an SSE stream read so far."""
    events = []
    for message in bytes(stream).decode().split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in message.split("\n") if not line.startswith(":"))
        if fields.get("event") == "project.created":
            events.append(json.loads(fields["data"]))
    return events


async def test_sse_through_the_bff_until_the_session_ends(
    core: CoreServer, bff: BffServer, http: httpx.AsyncClient
) -> None:
    user: dict[str, Any] = await core.create_user()
    browser = Browser(http, bff)
    await browser.login(user["email"])
    path = "/api/v1/events"
    seen = bytearray()

    async with http.stream(
        "GET", bff.url + path, headers=browser.headers({"Accept": "text/event-stream"}), timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        assert_no_token_leak(path, response.headers, b"")
        stream = response.aiter_raw()

        async def read_until(done: Callable[[], bool], timeout: float) -> None:
            async with asyncio.timeout(timeout):
                while not done():
                    seen.extend(await anext(stream))
                    assert_no_token_leak(path, {}, bytes(seen))

        # The core has subscribed this stream once it says so; then another request changes a project.
        await read_until(lambda: b": connected\n\n" in seen, 5)
        project = await new_project(browser, "live")
        await read_until(lambda: bool(created_events(seen)), 5)
        assert [event["project"]["id"] for event in created_events(seen)] == [project]
        assert created_events(seen)[0]["project"]["name"] == "live"

        # Logging out (another request, same cookie) closes the open stream promptly.
        started = time.monotonic()
        logout = await browser.request("POST", "/bff/logout")
        assert logout.status_code == 204
        async with asyncio.timeout(2.0):
            async for piece in stream:
                seen.extend(piece)
                assert_no_token_leak(path, {}, bytes(seen))
        closed_after = time.monotonic() - started
    assert closed_after < 2.0
    print(f"\nSSE stream closed {closed_after * 1000:.0f} ms after the logout was sent")
