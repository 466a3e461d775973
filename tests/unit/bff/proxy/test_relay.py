"""`proxy/relay.py` alone: pumping a streamed answer until it ends, breaks, the browser leaves, or the
session is closed."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio

from latchkey.bff.proxy.relay import pump, watch_disconnect
from tests.unit.bff.proxy.fakes import FakeResponse

END = {"type": "http.response.body", "body": b"", "more_body": False}


class Sent(list[dict[str, Any]]):
    async def __call__(self, message: dict[str, Any]) -> None:
        self.append(message)

    @property
    def bodies(self) -> list[bytes]:
        return [message["body"] for message in self if message["more_body"]]


async def stays() -> dict[str, Any]:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


async def leaves() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def test_a_whole_stream_is_pumped_then_ended() -> None:
    sent = Sent()
    await pump(FakeResponse(chunks=[b"a", b"b"]), stays, sent, anyio.CancelScope(), True)  # type: ignore[arg-type]
    assert (sent.bodies, sent[-1]) == ([b"a", b"b"], END)


async def test_a_stream_the_core_breaks_off_is_left_incomplete() -> None:
    sent = Sent()
    broken = FakeResponse(chunks=[b"a"], then=aiohttp.ClientPayloadError("cut"), content_length=10)
    await pump(broken, stays, sent, anyio.CancelScope(), True)  # type: ignore[arg-type]
    assert sent.bodies == [b"a"] and END not in sent  # uvicorn then drops the connection


async def test_closing_the_session_ends_an_unframed_stream_cleanly() -> None:
    sent = Sent()
    scope = anyio.CancelScope()
    async with anyio.create_task_group() as group:
        group.start_soon(pump, FakeResponse(chunks=[b"data: 1\n\n"], hang=True), stays, sent, scope, True)
        await anyio.sleep(0.01)
        scope.cancel()
    assert (sent.bodies, sent[-1]) == ([b"data: 1\n\n"], END)


async def test_closing_the_session_leaves_a_framed_download_incomplete() -> None:
    sent = Sent()
    scope = anyio.CancelScope()
    async with anyio.create_task_group() as group:
        group.start_soon(
            pump, FakeResponse(chunks=[b"x"], content_length=99, hang=True), stays, sent, scope, True
        )
        await anyio.sleep(0.01)
        scope.cancel()
    assert END not in sent


async def test_a_browser_leaving_stops_the_pump_without_an_end() -> None:
    sent = Sent()
    with anyio.fail_after(2):
        await pump(FakeResponse(chunks=[b"a"], hang=True), leaves, sent, anyio.CancelScope(), True)  # type: ignore[arg-type]
    assert END not in sent


async def test_without_watching_receive_is_left_alone() -> None:
    sent = Sent()

    async def untouched() -> dict[str, Any]:
        raise AssertionError("the upload still owns receive")

    await pump(FakeResponse(chunks=[b"a"]), untouched, sent, anyio.CancelScope(), False)  # type: ignore[arg-type]
    assert sent[-1] == END


async def test_the_watcher_skips_other_messages_until_the_disconnect() -> None:
    messages = [{"type": "http.request", "body": b"late", "more_body": False}, {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    scope = anyio.CancelScope()
    await watch_disconnect(receive, scope)
    assert scope.cancel_called and messages == []
