"""`/bff` answers carry session data (who is signed in, their claims): no cache may keep them.

The proxy sets `Cache-Control: no-store` on `/api` answers itself (`proxy/inbound.py`), and every raw
ASGI problem carries it (`latchkey/asgi.py`); this covers the BFF's own routes, whatever a handler set.
"""

from __future__ import annotations

from litestar.types import Message, Send

NO_STORE = (b"cache-control", b"no-store")


def no_store_fields(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with any Cache-Control replaced by `no-store` (last)."""
    return [*((name, value) for name, value in headers if name.lower() != b"cache-control"), NO_STORE]


def never_cached(send: Send) -> Send:
    """`send`, rewriting the response start's Cache-Control to `no-store`."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": no_store_fields(list(message.get("headers", [])))}
        await send(message)

    return wrapped
