"""Small ASGI pieces shared by both apps, and the one way a raw ASGI app answers with a problem
(`send_problem`): the CSRF middleware, the BFF's dispatcher and the proxy all answer through it, with the
body `problems.py` renders."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

from latchkey.problems import PROBLEM_JSON, ProblemError, problem_bytes

# Like a typical proxy's header buffers (nginx: 4 × 8 KiB): far above any honest request, far below what
# would let one request make the server hold megabytes. uvicorn's httptools parser sets no limit itself.
MAX_HEADER_BYTES = 32 * 1024

_PROBLEM_CONTENT_TYPE = (b"content-type", PROBLEM_JSON.encode())


async def send_problem(
    send: Send,
    status: int,
    code: str,
    detail: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer a raw ASGI request with a problem+json response (and `Cache-Control: no-store`)."""
    body = problem_bytes(status, code, detail)
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            _PROBLEM_CONTENT_TYPE,
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *(headers or []),
        ],
    }
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(start)
    await send(end)


async def send_problem_error(send: Send, exc: ProblemError, headers: list[tuple[bytes, bytes]]) -> None:
    """Answer a raw ASGI request with a ProblemError (its own headers after `headers`)."""
    extra = [(name.lower().encode(), value.encode()) for name, value in exc.headers.items()]
    await send_problem(send, exc.status, exc.code, exc.detail, [*headers, *extra])


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
                await send_problem(send, 431, "headers_too_large", headers=[(b"connection", b"close")])
                return
        await self.app(scope, receive, send)
