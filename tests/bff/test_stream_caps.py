"""Streaming answers are capped per session and per user (real core and BFF processes), so one user
cannot hold the BFF's upstream pool: the 9th SSE stream of a session and the 17th of a user are
429 `too_many_streams`, downloads count like SSE while small answers do not, other users' calls and
streams go on fast meanwhile, and a slot is freed as soon as its stream ends, by the browser leaving or
by a logout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support import BffServer, Browser, CoreServer, assert_no_token_leak

pytestmark = pytest.mark.database_agnostic

EVENTS = "/api/v1/events"
PER_SESSION, PER_USER = 8, 16  # the defaults of LATCHKEY_MAX_STREAMS_PER_SESSION / _PER_USER
BffFactory = Callable[..., Awaitable[BffServer]]


class OpenStream:
    """One SSE stream held open through the BFF until closed."""

    def __init__(
        self, response: httpx.Response, chunks: AsyncIterator[bytes], closer: contextlib.AsyncExitStack
    ) -> None:
        self.response = response
        # Held: an iterator collected as garbage would close the stream under the test.
        self.chunks = chunks
        self._closer = closer

    async def close(self) -> None:
        await self._closer.aclose()


async def open_stream(browser: Browser, path: str = EVENTS) -> OpenStream | httpx.Response:
    """An open stream (200 and its first bytes read), or the refused answer, read whole."""
    stack = contextlib.AsyncExitStack()
    response = await stack.enter_async_context(
        browser.client.stream(
            "GET", browser.bff.url + path, headers=browser.headers({"Accept": "text/event-stream"})
        )
    )
    if response.status_code != 200:
        await response.aread()
        await stack.aclose()
        return response
    chunks = response.aiter_raw()
    async with asyncio.timeout(5):
        await anext(chunks)  # ": connected": the core holds the stream now
    return OpenStream(response, chunks, stack)


async def open_streams(browser: Browser, count: int) -> list[OpenStream]:
    opened = await asyncio.gather(*(open_stream(browser) for _ in range(count)))
    streams = [item for item in opened if isinstance(item, OpenStream)]
    refused = [item for item in opened if isinstance(item, httpx.Response)]
    assert not refused, [(r.status_code, r.text) for r in refused]
    return streams


def assert_too_many(response: OpenStream | httpx.Response, path: str = EVENTS) -> None:
    assert isinstance(response, httpx.Response), "the stream was admitted"
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "too_many_streams"
    assert response.headers["retry-after"].isdigit()
    assert response.headers["cache-control"] == "no-store"
    assert "cookie" in response.headers["vary"].lower()
    assert response.headers["x-request-id"]
    assert "set-cookie" not in response.headers
    assert_no_token_leak(path, response.headers, response.content)


async def eventually_open(browser: Browser, within: float = 3.0) -> OpenStream:
    """A slot frees once the BFF has seen its stream end: retry briefly until one is admitted."""
    deadline = time.monotonic() + within
    while True:
        opened = await open_stream(browser)
        if isinstance(opened, OpenStream):
            return opened
        assert opened.status_code == 429, opened.text
        assert time.monotonic() < deadline, "no slot was freed"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def closing(streams: list[OpenStream]) -> AsyncIterator[list[OpenStream]]:
    try:
        yield streams
    finally:
        await asyncio.gather(*(stream.close() for stream in streams), return_exceptions=True)


async def timed_ok(browser: Browser, path: str) -> float:
    started = time.monotonic()
    response = await browser.request("GET", path)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, (path, response.text)
    return elapsed


async def test_streams_are_capped_per_session_and_per_user(
    core: CoreServer, bff: BffServer, http: httpx.AsyncClient
) -> None:
    user: dict[str, Any] = await core.create_user()
    other: dict[str, Any] = await core.create_user()
    laptop, phone, tablet, bystander = (Browser(http, bff) for _ in range(4))
    for browser in (laptop, phone, tablet):
        await browser.login(user["email"])
    await bystander.login(other["email"])

    # A file larger than the proxy sends whole (64 KiB): its download streams like SSE.
    project = await laptop.request("POST", "/api/v1/projects", json={"name": "caps"})
    assert project.status_code == 201, project.text
    big = f"/api/v1/projects/{project.json()['id']}/files/big"
    put = await laptop.request(
        "PUT", big, content=b"x" * (256 * 1024), headers={"Content-Type": "application/octet-stream"}
    )
    assert put.status_code == 201, put.text

    async with closing(await open_streams(laptop, PER_SESSION)) as laptop_streams:
        # The session's 9th stream is refused, SSE or download alike; its short calls still work.
        assert_too_many(await open_stream(laptop))
        download = await laptop.request("GET", big)
        assert_too_many(download, big)
        assert await timed_ok(laptop, "/api/v1/me") < 1.0
        assert await timed_ok(laptop, "/bff/session") < 1.0

        # A second session of the same user fills the user's cap; a third session then gets nothing.
        async with closing(await open_streams(phone, PER_USER - PER_SESSION)) as phone_streams:
            assert_too_many(await open_stream(phone))
            assert_too_many(await open_stream(tablet))
            assert_too_many(await tablet.request("GET", big), big)
            assert await timed_ok(tablet, "/api/v1/projects") < 1.0

            # Another user is not affected: fast calls, and streams of their own.
            async with closing(await open_streams(bystander, 2)):
                for path in ("/api/v1/me", "/api/v1/projects", "/bff/session"):
                    assert await timed_ok(bystander, path) < 1.0
                whole = await bystander.request("GET", big)
                assert whole.status_code == 404  # not theirs; answered, not refused

            # Closing one of the laptop's streams frees its slot (the user is at 15 of 16 meanwhile).
            await laptop_streams.pop().close()
            laptop_streams.append(await eventually_open(laptop))
            assert_too_many(await open_stream(tablet))

            # A logout ends the phone's streams, and their slots go back to the user.
            logout = await phone.request("POST", "/bff/logout")
            assert logout.status_code == 204
            for stream in phone_streams:
                async with asyncio.timeout(3):
                    async for _ in stream.chunks:
                        pass
            async with closing([await eventually_open(tablet)]) as tablet_streams:
                tablet_streams += await open_streams(tablet, PER_SESSION - 1)
                assert_too_many(await open_stream(tablet))
                # …and the download works again for a session below its cap once one stream closes.
                await tablet_streams.pop().close()
                deadline = time.monotonic() + 3
                while (download := await tablet.request("GET", big)).status_code == 429:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.1)
                assert download.status_code == 200
                assert len(download.content) == 256 * 1024
