"""The BFF's first check on a path: no empty segment (`//`), whatever the route.

Litestar's router collapses `//` before routing, so `//bff/logout` reaches the logout route while a
prefix test on the path as received (`/bff/…`: CSRF, the /api dispatch, the SPA fallback) would not
recognise it. Refusing those paths at the front door means every later decision (`edge/paths.py`) sees the
path that is routed. Paths arrive percent-decoded, so `/%2Fbff/…` is caught too. No browser sends `//`.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send, WebSocketCloseEvent

from latchkey.asgi import send_problem


class CanonicalPaths:
    """Answer 400 `invalid_path` to an HTTP request whose path holds an empty segment; close such a
    WebSocket with 1008 (policy violation)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in (ScopeType.HTTP, ScopeType.WEBSOCKET) and "//" in scope["path"]:
            if scope["type"] == ScopeType.HTTP:
                await send_problem(send, 400, "invalid_path", "the request path is not allowed")
            else:
                close: WebSocketCloseEvent = {"type": "websocket.close", "code": 1008, "reason": ""}
                await send(close)
            return
        await self.app(scope, receive, send)
