"""CORS for the origins in LATCHKEY_ALLOWED_ORIGINS, and for no one else: their preflights are granted
(204 with their own `Access-Control-Allow-Origin` and credentials), and their answers carry the CORS
headers. Never `*`. Refusing any other preflight is a CSRF decision (`csrf.py`).
"""

from __future__ import annotations

from collections.abc import Iterable

from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Send

from latchkey.bff.edge.no_store import NO_STORE

ALLOW_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = b"X-CSRF, Content-Type, X-Request-ID, Last-Event-ID, If-Match, If-None-Match, Range"
EXPOSE_HEADERS = b"X-Request-ID, Retry-After"
PREFLIGHT_MAX_AGE = b"600"


class Cors:
    """The listed origins, and what the BFF tells them."""

    __slots__ = ("_allowed",)

    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self._allowed = frozenset(origin.encode() for origin in allowed_origins)

    def listed(self, origin: bytes | None) -> bool:
        """Whether `origin` is one of LATCHKEY_ALLOWED_ORIGINS (byte for byte: no `*`, no `null`)."""
        return origin is not None and origin in self._allowed


def preflight_headers(origin: bytes) -> list[tuple[bytes, bytes]]:
    """The grant of a listed origin's preflight (never cached by a shared cache: it names the origin)."""
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-allow-methods", ALLOW_METHODS),
        (b"access-control-allow-headers", ALLOW_HEADERS),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        (b"vary", b"Origin"),
        NO_STORE,
    ]


def answer_headers(origin: bytes) -> list[tuple[bytes, bytes]]:
    """What a listed origin's actual answers carry on top of their own fields."""
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", EXPOSE_HEADERS),
        (b"vary", b"Origin"),
    ]


async def grant_preflight(send: Send, origin: bytes) -> None:
    """Answer a listed origin's preflight: 204, no body."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 204,
        "headers": preflight_headers(origin),
    }
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
    await send(start)
    await send(end)


def with_cors(send: Send, origin: bytes) -> Send:
    """`send`, adding the CORS answer headers for a listed origin to the response start."""
    extra = answer_headers(origin)

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped
