"""CSRF defence and CORS for `/bff/*` and `/api/*`, as raw ASGI middleware in front of the whole BFF.

- Every request must carry `X-CSRF: 1`: a custom header forces a CORS preflight, which only listed
  origins pass, so a foreign page cannot send it with the user's cookie.
- Unsafe methods also need `Sec-Fetch-Site` same-origin/none (or absent), or a listed `Origin`;
  `same-site` counts as foreign (another port of the same host is same-site, and SameSite=Strict still
  sends the cookie there).
- A present `Origin` must be the BFF's own (LATCHKEY_PUBLIC_ORIGIN, else the request's scheme and Host —
  never X-Forwarded-Host) or listed; `null` fails.
- `OPTIONS` preflights are answered here, without X-CSRF: a listed origin gets 204 with its own
  `Access-Control-Allow-Origin` and credentials, any other 403 without CORS headers. Never `*`.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from latchkey.asgi import send_problem
from latchkey.settings import BffSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ALLOWED_FETCH_SITES = frozenset({b"same-origin", b"none"})
_ALLOW_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
_ALLOW_HEADERS = b"X-CSRF, Content-Type, X-Request-ID, Last-Event-ID, If-Match, If-None-Match, Range"
_VARY_COOKIE = [(b"vary", b"Cookie")]


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, settings: BffSettings) -> None:
        self.app = app
        base = settings.base_path
        self.prefixes = (f"{base}/bff/", f"{base}/api/", f"{base}/bff", f"{base}/api")
        self.public_origin = settings.public_origin.encode() if settings.public_origin else None
        self.allowed = frozenset(origin.encode() for origin in settings.allowed_origins)

    def _guarded(self, path: str) -> bool:
        base_bff, base_api = self.prefixes[2], self.prefixes[3]
        return path.startswith(self.prefixes[:2]) or path in (base_bff, base_api)

    def _own_origin(self, scope: Scope, host: bytes | None) -> bytes | None:
        if self.public_origin is not None:
            return self.public_origin
        if host is None:
            return None
        return scope.get("scheme", "http").encode() + b"://" + host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not self._guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = fetch_site = csrf = host = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"x-csrf":
                csrf = value
            elif name == b"host":
                host = value
            elif name == b"access-control-request-method":
                preflight = True
        method = scope["method"]
        listed = origin is not None and origin in self.allowed
        path = scope["path"]
        # Every /api answer varies by cookie (SPEC §5), refusals included.
        refused = _VARY_COOKIE if path.startswith(self.prefixes[1]) or path == self.prefixes[3] else None

        if method == "OPTIONS" and preflight:
            if not listed:
                await send_problem(send, 403, "csrf_failed", "this origin may not call the API", refused)
                return
            await _preflight(send, origin or b"")
            return

        if csrf != b"1":
            await send_problem(send, 403, "csrf_failed", "the X-CSRF: 1 header is required", refused)
            return
        if origin is not None and not listed and origin != self._own_origin(scope, host):
            # Includes `null` (sandboxed frames, some redirects): never ours.
            await send_problem(send, 403, "csrf_failed", "cross-origin request refused", refused)
            return
        if (
            method not in SAFE_METHODS
            and not listed
            and fetch_site is not None
            and fetch_site not in _ALLOWED_FETCH_SITES
        ):
            await send_problem(send, 403, "csrf_failed", "cross-site request refused", refused)
            return
        if not path.startswith(self.prefixes[1]):
            # /bff answers carry session data: never cached (the proxy sets this on /api itself).
            send = _no_store(send)
        if listed and origin is not None:
            send = _with_cors(send, origin)
        await self.app(scope, receive, send)


async def _preflight(send: Send, origin: bytes) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 204,
        "headers": [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", _ALLOW_METHODS),
            (b"access-control-allow-headers", _ALLOW_HEADERS),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
            (b"cache-control", b"no-store"),
        ],
    }
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
    await send(start)
    await send(end)


def _no_store(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
            headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


def _with_cors(send: Send, origin: bytes) -> Send:
    """Add the CORS answer headers for a listed origin to the response start."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", b"X-Request-ID, Retry-After"),
                (b"vary", b"Origin"),
            ]
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
