"""The browser's request body on its way up: how it is framed (`Content-Length` or chunked), the size
limit (LATCHKEY_MAX_BODY_BYTES), and the header deadline that an upload's progress keeps alive.

Checked before a byte is read: a malformed or too large `Content-Length` is answered at once. A chunked
body is counted as it streams, and cut off past the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

from litestar.types import HTTPReceiveMessage, Receive

from latchkey.bff.proxy.outbound import BrowserHead, Field
from latchkey.problems import ProblemError


class UploadAborted(Exception):
    """The request body stopped: the browser left, or it grew past the limit."""


class Upload:
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
                raise UploadAborted("the browser went away during the upload")
            chunk = message.get("body", b"")
            if chunk:
                received += len(chunk)
                if received > self._limit:
                    self.too_large = True
                    raise UploadAborted("the body is larger than allowed")
                self._progress()
                yield chunk
            if not message.get("more_body", False):
                break
        self.finished = True
        self._progress()


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The most a body may hold, and how long the core may take to answer once it stops moving."""

    max_bytes: int
    timeout: float

    def too_large(self) -> ProblemError:
        return ProblemError(413, "payload_too_large", f"at most {self.max_bytes} bytes")


@dataclass(frozen=True, slots=True)
class Framing:
    """How the body goes up: the `Content-Length` field to forward (None when chunked or absent) and
    the upload to stream (None when there is no body)."""

    field: Field | None
    upload: Upload | None


def frame_body(head: BrowserHead, receive: Receive, limits: BodyLimits) -> Framing:
    """The body's framing, checked before reading it: 400 `bad_request` for a malformed Content-Length,
    413 `payload_too_large` when it announces more than the limit."""
    if head.content_length is not None:
        try:
            length = int(head.content_length)
        except ValueError:
            raise ProblemError(400, "bad_request", "invalid Content-Length") from None
        if length > limits.max_bytes:
            raise limits.too_large()
        upload = Upload(receive, limits.max_bytes, limits.timeout) if length else None
        return Framing(("content-length", head.content_length.decode()), upload)
    if head.chunked:
        return Framing(None, Upload(receive, limits.max_bytes, limits.timeout))
    return Framing(None, None)
