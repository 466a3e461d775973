"""CSRF defence for `/bff/*`, `/api/*` and the configured routes' prefixes (whatever their token policy),
as raw ASGI middleware in front of the whole BFF.

- Every request must carry `X-CSRF: 1`: a custom header forces a CORS preflight, which only listed
  origins pass (`cors.py`), so a foreign page cannot send it with the user's cookie.
- Unsafe methods also need `Sec-Fetch-Site` same-origin/none (or absent), or a listed `Origin`;
  `same-site` counts as foreign (another port of the same host is same-site, and SameSite=Strict still
  sends the cookie there).
- A present `Origin` must be the BFF's own (LATCHKEY_PUBLIC_ORIGIN, else the request's scheme and Host —
  never X-Forwarded-Host) or listed; `null` fails.
- `OPTIONS` preflights are answered here, without X-CSRF: a listed origin's is granted (`cors.py`), any
  other is 403 without CORS headers.

The middleware applies the answer policies of guarded paths too: `/bff` answers are never cached
(`no_store.py`), a listed origin's answers carry CORS headers (`cors.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from latchkey.asgi import send_problem
from latchkey.bff.edge.cors import Cors, grant_preflight, with_cors
from latchkey.bff.edge.no_store import never_cached
from latchkey.bff.edge.paths import Routes
from latchkey.settings import BffSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ALLOWED_FETCH_SITES = frozenset({b"same-origin", b"none"})
# Every proxied answer varies by cookie (SPEC §5, §12), refusals included.
_VARY_COOKIE = [(b"vary", b"Cookie")]


@dataclass(slots=True)
class BrowserContext:
    """The request fields the CSRF and CORS rules read, from one pass over the headers."""

    origin: bytes | None = None
    fetch_site: bytes | None = None
    csrf: bytes | None = None
    host: bytes | None = None
    preflight: bool = False


def read_context(headers: Iterable[tuple[bytes, bytes]]) -> BrowserContext:
    context = BrowserContext()
    for name, value in headers:
        if name == b"origin":
            context.origin = value
        elif name == b"sec-fetch-site":
            context.fetch_site = value
        elif name == b"x-csrf":
            context.csrf = value
        elif name == b"host":
            context.host = value
        elif name == b"access-control-request-method":
            context.preflight = True
    return context


class CsrfRules:
    """Whether a (non-preflight) request on a guarded path may go on, and if not, why."""

    __slots__ = ("_public_origin",)

    def __init__(self, public_origin: str | None) -> None:
        self._public_origin = public_origin.encode() if public_origin else None

    def own_origin(self, scheme: str, host: bytes | None) -> bytes | None:
        """The BFF's own origin: the configured public one, else the request's scheme and Host."""
        if self._public_origin is not None:
            return self._public_origin
        if host is None:
            return None
        return scheme.encode() + b"://" + host

    def refusal(self, method: str, scheme: str, context: BrowserContext, listed: bool) -> str | None:
        """The reason to refuse (the 403 `csrf_failed` detail), or None when the request passes."""
        if context.csrf != b"1":
            return "the X-CSRF: 1 header is required"
        origin = context.origin
        if origin is not None and not listed and origin != self.own_origin(scheme, context.host):
            # Includes `null` (sandboxed frames, some redirects): never ours.
            return "cross-origin request refused"
        fetch_site = context.fetch_site
        if (
            method not in SAFE_METHODS
            and not listed
            and fetch_site is not None
            and fetch_site not in _ALLOWED_FETCH_SITES
        ):
            return "cross-site request refused"
        return None


class CsrfMiddleware:
    """CSRF checks and CORS on the guarded paths (`Routes.is_guarded`); other paths pass untouched."""

    def __init__(self, app: ASGIApp, settings: BffSettings) -> None:
        self.app = app
        self.routes = Routes.of(settings)
        self.rules = CsrfRules(settings.public_origin)
        self.cors = Cors(settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not self.routes.is_guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        context = read_context(scope["headers"])
        method = scope["method"]
        origin = context.origin
        listed = self.cors.listed(origin)
        proxied = self.routes.is_proxied(scope["path"])
        refused = _VARY_COOKIE if proxied else None

        if method == "OPTIONS" and context.preflight:
            if origin is None or not listed:
                await send_problem(send, 403, "csrf_failed", "this origin may not call the API", refused)
                return
            await grant_preflight(send, origin)
            return

        reason = self.rules.refusal(method, scope.get("scheme", "http"), context, listed)
        if reason is not None:
            await send_problem(send, 403, "csrf_failed", reason, refused)
            return
        if not proxied:  # the proxy writes its own caching fields (inbound.py)
            send = never_cached(send)
        if listed and origin is not None:
            send = with_cors(send, origin)
        await self.app(scope, receive, send)
