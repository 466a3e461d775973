"""The BFF's app factory: `create_app(settings)` builds the ASGI app from the settings passed in.

`/api/*` and the prefixes of LATCHKEY_BFF_ROUTES are dispatched straight to the proxy (raw ASGI, no
framework work on the hot path); `/bff/*`, the probes and `/schema` go to a Litestar app; when
`LATCHKEY_BFF_STATIC_DIR` is set, every other path goes to the built SPA (`edge/static.py`), else to
Litestar's 404. CSRF/CORS checks and the header-size limit sit in front of all of them, behind the refusal
of non-canonical paths (`edge/canonical.py`), so each prefix decision sees the path that is routed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send
from sqlalchemy import text

from latchkey import __version__
from latchkey.asgi import HeaderSizeLimit, send_problem
from latchkey.bff.core_client import CoreClient
from latchkey.bff.downloads import DownloadGate, DownloadTickets
from latchkey.bff.edge.canonical import CanonicalPaths
from latchkey.bff.edge.csrf import CsrfMiddleware
from latchkey.bff.edge.forwarded import ClientAddress
from latchkey.bff.edge.paths import Routes
from latchkey.bff.edge.protocol import ABSOLUTE_FORM
from latchkey.bff.edge.static import StaticSite
from latchkey.bff.oidc.flow import FlowCookies
from latchkey.bff.oidc.login import OidcLogin
from latchkey.bff.oidc.routes import Oidc
from latchkey.bff.openapi import complete_document, problem_responses
from latchkey.bff.proxy import ApiProxy, StreamRegistry
from latchkey.bff.proxy.websocket import WebSocketRelay, socket_registry
from latchkey.bff.routes import bff_router
from latchkey.bff.sessions.service import SessionService
from latchkey.bff.sessions.sql_store import SqlSessionStore
from latchkey.broadcast import Broadcast, namespace
from latchkey.db import Database
from latchkey.oidc import Provider
from latchkey.problems import ProblemError, exception_handlers
from latchkey.runtime import freeze_startup_heap
from latchkey.sealing import KeyRing
from latchkey.settings import BffSettings, load_bff_settings


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/readyz",
    responses=problem_responses(503, s503="`database_unavailable`: the session store is not answering"),
)
async def readyz(request: Request[Any, Any, State]) -> dict[str, str]:
    """200 while the session store answers. `redis` says whether notifications reach the other
    instances (`up`), cannot now (`down`: the BFF keeps answering, SPEC §8) or are not configured (`off`)."""
    db: Database = request.app.state.db
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ProblemError(503, "database_unavailable", "the session store is not answering") from exc
    broadcast: Broadcast = request.app.state.broadcast
    return {"status": "ready", "redis": broadcast.state()}


class BffApp:
    """Dispatches `{base}/api/…` and each configured route's `{base}{prefix}/…` to its forwarder, the
    BFF's own routes to Litestar, and (when a static directory is configured) every other path to the
    SPA."""

    def __init__(
        self,
        settings: BffSettings,
        litestar: Litestar,
        proxy: ApiProxy,
        websockets: WebSocketRelay | None = None,
        downloads: DownloadGate | None = None,
    ) -> None:
        self.litestar = litestar
        self.proxy = proxy
        self.api = proxy.api  # the /api forwarder itself: one call less on the hot path
        self.routes = Routes.of(settings)
        self.static = StaticSite(settings.static_dir) if settings.static_dir is not None else None
        self.websockets = websockets
        self.downloads = downloads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # type: ignore[comparison-overlap]
            if ABSOLUTE_FORM in scope:
                await send_problem(send, 400, "invalid_path", "absolute-form request targets are refused")
                return
            path = scope["path"]
            if self.routes.is_api(path):
                await self.api(scope, receive, send)
                return
            route = self.routes.route_of(path)
            if route is not None:
                await self.proxy.routes[route](scope, receive, send)
                return
            if self.downloads is not None and self.routes.is_download(path):
                await self.downloads(cast("HTTPScope", scope), receive, send)
                return
            if self.static is not None and not self.routes.is_framework(path):
                await self.static(cast("HTTPScope", scope), receive, send)
                return
        elif scope["type"] == "websocket" and self.websockets is not None:  # type: ignore[comparison-overlap]
            # Upgrades on a route with `websocket = true` are relayed; any other is Litestar's (refused).
            mounted = self.websockets.route_for(scope["path"])
            if mounted is not None:
                await self.websockets(scope, receive, send, mounted)
                return
        await self.litestar(scope, receive, send)


def create_app(settings: BffSettings) -> ASGIApp:
    """The BFF for `settings`; connections open in the Litestar app's lifespan."""
    ring = KeyRing(settings.cookie_keys)
    db = Database(settings.database_url)
    core = CoreClient(settings)
    streams = StreamRegistry()
    broadcast = Broadcast(settings.redis_url, app="bff", namespace=namespace(settings.database_url))
    sessions = SessionService(settings, SqlSessionStore(db, ring), ring, core, broadcast=broadcast)
    oidc = provider_login(settings, ring)
    # A session that ends on this instance closes its open streams at once; on another, within a second.
    sessions.on_end(streams.close_session)
    # Relayed WebSockets too: a session that ends closes its sockets with 4401 (SPEC §12).
    sockets = socket_registry(settings)
    sessions.on_end(sockets.close_session)
    websockets = WebSocketRelay(settings, sessions, sockets)
    proxy = ApiProxy(settings, sessions, streams, password_changed=sessions.after_password_change)
    tickets = DownloadTickets(ring)
    downloads = DownloadGate(tickets, sessions, proxy.api, settings.base_path)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await core.start()
        await broadcast.start()
        if oidc is not None:
            await oidc.login.provider.start()
        await proxy.startup()
        await websockets.startup()
        sweeper = asyncio.create_task(sessions.run_sweeper())
        freeze_startup_heap()
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await sessions.close()
            await proxy.shutdown()
            await websockets.shutdown()
            await broadcast.close()
            if oidc is not None:
                await oidc.login.provider.close()
            await core.close()
            await db.dispose()

    litestar = Litestar(
        route_handlers=[healthz, readyz, bff_router(settings.base_path)],
        state=State(
            {
                "sessions": sessions,
                "db": db,
                "broadcast": broadcast,
                "oidc": oidc,
                "login_methods": settings.login_methods,
                "client_address": ClientAddress(settings.trusted_proxies),
                "download_tickets": tickets,
                "base_path": settings.base_path,
            }
        ),
        lifespan=[lifespan],
        exception_handlers=exception_handlers(),
        request_max_body_size=64 * 1024,
        # Only the JSON document: the browsable UIs load scripts from a CDN, and on the SPA's origin such a
        # script could call /api with the user's cookie. The core (another origin) keeps its UIs.
        openapi_config=OpenAPIConfig(
            title="Latchkey BFF", version=__version__, path="/schema", render_plugins=[JsonRenderPlugin()]
        ),
        debug=False,
    )
    complete_document(litestar)
    app: ASGIApp = BffApp(settings, litestar, proxy, websockets, downloads)
    app = CsrfMiddleware(app, settings)
    app = CanonicalPaths(app)
    return HeaderSizeLimit(app)


def provider_login(settings: BffSettings, ring: KeyRing) -> Oidc | None:
    """The OIDC sign-in's parts when a provider is configured (SPEC §11): the provider (discovery and
    keys fetched when first needed, so the BFF starts while it is down), the client, the flow cookies."""
    if settings.oidc_issuer is None:
        return None
    return Oidc(
        login=OidcLogin(settings, Provider(settings.oidc_issuer)),
        flows=FlowCookies(ring, secure=settings.cookie_secure, path=f"{settings.base_path}/bff/callback"),
        base_path=settings.base_path,
        public_origin=settings.public_origin,
        password_login="password" in settings.login_methods,
    )


def app_from_env() -> ASGIApp:
    """The uvicorn factory: each worker builds its own app from the environment (validated by the CLI)."""
    return create_app(load_bff_settings(os.environ))
