"""The HTTP/1.1 layer both servers run on: uvicorn's httptools protocol with bounds on the request head.

uvicorn's httptools binding buffers a header line until it is complete, so a 64 MiB header grows the
process by 64 MiB before any ASGI middleware can refuse it, and a connection that never finishes its
head stays open for as long as its peer likes (uvicorn's keep-alive timer is cancelled by every byte).
`BoundedHeadProtocol` refuses at the byte level, before buffering:

- the request line and header block together may hold at most `max_head_bytes` (414 while still in the
  request line, 431 after): bytes are counted as they arrive, and a chunk is fed to the parser only up
  to the allowance while the head is unfinished;
- at most `max_headers` header fields (431);
- the head must be complete within `header_timeout` seconds of its first byte, or of the connection
  opening (408, or a silent close when nothing was sent) — slowloris holds a connection 10 s, not forever.

The concurrency bound is uvicorn's `limit_concurrency` (`LATCHKEY_MAX_CONNECTIONS`, set by the CLI
through `ServerConfig`): past it a request is answered 503 problem+json with `Retry-After` and its
connection closed. The ASGI-level `HeaderSizeLimit` stays behind all this as a second line.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from latchkey.problems import problem_bytes

# Request line (8 KiB, nginx's large buffer) plus the header block (32 KiB, see asgi.MAX_HEADER_BYTES).
MAX_HEAD_BYTES = 40 * 1024
MAX_HEADERS = 100
# The largest WebSocket message relayed (bff/proxy/websocket.py closes with 1009 beyond); the server
# refuses a frame much larger before buffering it.
MAX_WEBSOCKET_MESSAGE = 4 * 1024 * 1024
HEADER_TIMEOUT = 10.0


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the head bounds; a module-level class, so workers can unpickle it."""

    def __init__(
        self,
        *args: Any,
        header_timeout: float = HEADER_TIMEOUT,
        max_head_bytes: int = MAX_HEAD_BYTES,
        max_headers: int = MAX_HEADERS,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_head_bytes = max_head_bytes
        self.max_headers = max_headers


def raw_problem(status: int, code: str, detail: str, *, retry_after: bool = False) -> bytes:
    """A complete HTTP/1.1 problem+json answer that closes the connection, for refusals below ASGI."""
    body = problem_bytes(status, code, detail)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "cache-control: no-store\r\n"
        + ("retry-after: 1\r\n" if retry_after else "")
        + "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Refused(Exception):
    """Raised from a parser callback to stop parsing once the connection has been answered and closed."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with byte, field-count and time bounds on every request head."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._max_head_bytes: int = getattr(config, "max_head_bytes", MAX_HEAD_BYTES)
        self._max_headers: int = getattr(config, "max_headers", MAX_HEADERS)
        self._header_timeout: float = getattr(config, "header_timeout", HEADER_TIMEOUT)
        self._in_head = True
        self._head_bytes = 0
        self._heads = 0  # request heads completed on this connection
        self._head_timer: asyncio.TimerHandle | None = None

    # --- connection -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte is held no longer than a slow head.
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        while data:
            if not self._in_head:
                self._feed(data)
                return
            if self._head_timer is None:
                self._arm_head_timer()
            room = self._max_head_bytes - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
                self._feed(data)
                return
            # Feed only what the head may still hold; if that head did not end within it, refuse.
            heads = self._heads
            piece, data = data[:room], data[room:]
            self._head_bytes += room
            self._feed(piece)
            if self.transport.is_closing():
                return
            if self._heads == heads:
                if self.headers:
                    self._refuse(431, "headers_too_large", "the request headers are too large")
                else:
                    self._refuse(414, "uri_too_long", "the request target is too long")
                return
            # The head ended inside `piece`; what follows it there (a pipelined request's start) went
            # uncounted, so a pipelined head may reach twice the bound: still a bound.

    def _feed(self, data: bytes) -> None:
        # uvicorn's data_received, except that a refusal from a callback is not answered a second time.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Refused) or self.transport.is_closing():
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    # --- parser callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        if len(self.headers) > self._max_headers:
            self._refuse(431, "headers_too_large", f"at most {self._max_headers} header fields")
            raise _Refused
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            # uvicorn's own check (which would answer text/plain), answered as a problem.
            self._refuse(503, "server_busy", "too many connections; retry shortly", retry_after=True)
            raise _Refused
        self._in_head = False
        self._heads += 1
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request's head starts here; its timer starts with its first byte (until then
        # uvicorn's keep-alive timeout governs the idle connection).
        self._in_head = True
        self._head_bytes = 0

    # --- refusals ---------------------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self._header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._head_bytes:
            self._refuse(408, "request_timeout", "the request head took too long")
        else:
            self.transport.close()

    def _refuse(self, status: int, code: str, detail: str, *, retry_after: bool = False) -> None:
        self._disarm_head_timer()
        self.logger.warning("refused a request head: %s %s", status, code)
        if not self.transport.is_closing():
            self.transport.write(raw_problem(status, code, detail, retry_after=retry_after))
            self.transport.close()
