"""`proxy/body.py` alone: how the body is framed, counted against the limit, and timed, on a fake
`receive`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from latchkey.bff.proxy.body import BodyLimits, Upload, UploadAborted, frame_body
from latchkey.bff.proxy.outbound import BrowserHead
from latchkey.problems import ProblemError

LIMITS = BodyLimits(max_bytes=10, timeout=5.0)


def feed(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    return receive


def part(body: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


async def drain(upload: Upload) -> None:
    async for _ in upload.chunks():
        pass


async def nothing() -> dict[str, Any]:
    raise AssertionError("framing never reads the body")


async def test_no_framing_fields_means_no_body() -> None:
    framing = frame_body(BrowserHead(), nothing, LIMITS)
    assert (framing.field, framing.upload) == (None, None)


async def test_an_empty_content_length_is_forwarded_without_an_upload() -> None:
    framing = frame_body(BrowserHead(content_length=b"0"), nothing, LIMITS)
    assert (framing.field, framing.upload) == (("content-length", "0"), None)


async def test_a_content_length_within_the_limit_is_forwarded_with_its_upload() -> None:
    framing = frame_body(BrowserHead(content_length=b"10"), nothing, LIMITS)
    assert framing.field == ("content-length", "10")
    assert isinstance(framing.upload, Upload)


async def test_a_chunked_body_streams_without_a_length() -> None:
    framing = frame_body(BrowserHead(chunked=True), nothing, LIMITS)
    assert framing.field is None and isinstance(framing.upload, Upload)


@pytest.mark.parametrize("value", [b"ten", b"", b"1e3", b"0x10", b"\xff", b"1 2"])
async def test_a_malformed_content_length_is_400_before_reading(value: bytes) -> None:
    with pytest.raises(ProblemError) as refused:
        frame_body(BrowserHead(content_length=value), nothing, LIMITS)
    assert (refused.value.status, refused.value.code, refused.value.detail) == (
        400,
        "bad_request",
        "invalid Content-Length",
    )


@pytest.mark.parametrize("value", [b"11", b"99999999999999999999999"])
async def test_a_content_length_over_the_limit_is_413_before_reading(value: bytes) -> None:
    with pytest.raises(ProblemError) as refused:
        frame_body(BrowserHead(content_length=value, chunked=True), nothing, LIMITS)
    assert (refused.value.status, refused.value.code, refused.value.detail) == (
        413,
        "payload_too_large",
        "at most 10 bytes",
    )


async def test_an_upload_yields_the_browsers_chunks_then_finishes() -> None:
    upload = Upload(feed(part(b"abc"), part(b""), part(b"de", more=False)), 10, 5.0)
    assert [chunk async for chunk in upload.chunks()] == [b"abc", b"de"]
    assert (upload.finished, upload.too_large, upload.client_gone) == (True, False, False)


async def test_an_upload_growing_past_the_limit_is_cut_off() -> None:
    upload = Upload(feed(part(b"123456"), part(b"78901"), part(b"", more=False)), 10, 5.0)
    got: list[bytes] = []

    async def drain() -> None:
        async for chunk in upload.chunks():
            got.append(chunk)

    with pytest.raises(UploadAborted):
        await drain()
    assert got == [b"123456"]  # the chunk crossing the limit is never sent
    assert (upload.too_large, upload.finished, upload.client_gone) == (True, False, False)


async def test_a_browser_leaving_mid_upload_is_noted() -> None:
    upload = Upload(feed(part(b"12"), {"type": "http.disconnect"}), 10, 5.0)
    with pytest.raises(UploadAborted):
        await drain(upload)
    assert (upload.client_gone, upload.finished, upload.too_large) == (True, False, False)


async def test_progress_pushes_the_header_deadline_back() -> None:
    loop = asyncio.get_running_loop()
    upload = Upload(feed(part(b"1", more=False)), 10, 5.0)
    async with asyncio.timeout(0.5) as deadline:
        upload.deadline = deadline
        async for _ in upload.chunks():
            pass
        when = deadline.when()
        assert when is not None and when > loop.time() + 4


async def test_a_stalled_browser_trips_the_deadline() -> None:
    upload = Upload(feed(part(b"1")), 10, 0.05)  # then nothing, ever

    async def send_up() -> None:
        async with asyncio.timeout(0.05) as deadline:
            upload.deadline = deadline
            await drain(upload)

    with pytest.raises(TimeoutError):
        await send_up()
    assert not upload.finished


async def test_without_a_deadline_progress_changes_nothing() -> None:
    upload = Upload(feed(part(b"1", more=False)), 10, 5.0)
    assert [chunk async for chunk in upload.chunks()] == [b"1"]
    assert upload.deadline is None
