"""Small ASGI pieces shared by both apps."""

from __future__ import annotations

import json

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

# Like a typical proxy's header buffers (nginx: 4 × 8 KiB): far above any honest request, far below what
# would let one request make the server hold megabytes. uvicorn's httptools parser sets no limit itself.
MAX_HEADER_BYTES = 32 * 1024

_TOO_LARGE = json.dumps(
    {
        "type": "about:blank",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "code": "headers_too_large",
    }
).encode()


class HeaderSizeLimit:
    """Answer 431 problem+json when a request's headers add up to more than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            size = 0
            for name, value in scope["headers"]:
                size += len(name) + len(value)
            if size > self.max_bytes:
                start: HTTPResponseStartEvent = {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(_TOO_LARGE)).encode()),
                        (b"connection", b"close"),
                    ],
                }
                body: HTTPResponseBodyEvent = {
                    "type": "http.response.body",
                    "body": _TOO_LARGE,
                    "more_body": False,
                }
                await send(start)
                await send(body)
                return
        await self.app(scope, receive, send)
