"""The core's answer on its way down: sent whole when small, else pumped chunk by chunk until it ends,
the browser leaves, or the stream's session ends (`StreamRegistry.close_session` cancels its scope)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import anyio
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Send

log = logging.getLogger("latchkey.bff.proxy")


async def send_start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send(HTTPResponseStartEvent(type="http.response.start", status=status, headers=headers))


async def send_end(send: Send, body: bytes = b"") -> None:
    await send(HTTPResponseBodyEvent(type="http.response.body", body=body, more_body=False))


async def watch_disconnect(receive: Receive, stream: anyio.CancelScope) -> None:
    """Cancel the response stream when the browser goes away (an idle SSE stream sends nothing that
    would tell us; uvicorn's `send` silently drops writes to a closed connection)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.cancel()


async def pump(
    response: aiohttp.ClientResponse,
    receive: Receive,
    send: Send,
    stream: anyio.CancelScope,
    watch: bool,
) -> None:
    """Pump the body chunk by chunk until it ends, the browser leaves or the session is closed
    (`stream` is the admitted slot's scope). `watch`: the browser's side of the request is drained, so
    `receive` is free for the disconnect watcher (not so when an early answer cut the upload short)."""
    complete = gone = False
    watcher = asyncio.ensure_future(watch_disconnect(receive, stream)) if watch else None
    try:
        with stream:
            async for chunk in response.content.iter_any():
                await send(HTTPResponseBodyEvent(type="http.response.body", body=chunk, more_body=True))
            complete = True
    except (aiohttp.ClientError, OSError) as exc:
        log.warning("core response to %s broke off: %s: %s", response.url.raw_path, type(exc).__name__, exc)
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
        await send_end(send)
