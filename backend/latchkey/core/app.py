"""The core API's app factory: `create_app(settings)` builds everything from the settings passed in."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from latchkey import __version__
from latchkey.asgi import HeaderSizeLimit
from latchkey.core.accounts.routes import router as accounts_router
from latchkey.core.admin.routes import router as admin_router
from latchkey.core.events.routes import router as events_router
from latchkey.core.health.routes import healthz, readyz
from latchkey.core.oauth.routes import router as oauth_router
from latchkey.core.openapi import complete_document
from latchkey.core.projects.routes import router as projects_router
from latchkey.core.security.auth import PUBLIC, DeclaredAuthentication, provide_principal, undeclared_routes
from latchkey.core.security.passwords import PasswordHasher
from latchkey.core.state import CoreContext, core_context
from latchkey.core.tokens.routes import router as tokens_router
from latchkey.db import Database
from latchkey.problems import exception_handlers
from latchkey.runtime import freeze_startup_heap
from latchkey.settings import CoreSettings, load_core_settings

OAUTH_PREFIX = "/v1/oauth/"


def create_app(settings: CoreSettings) -> Litestar:
    """The core API for `settings`; the database engine opens in the app's lifespan."""
    context = CoreContext.build(settings, Database(settings.database_url), PasswordHasher())

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        settings.files_dir.mkdir(parents=True, exist_ok=True)
        await context.broadcast.start()
        if context.provider is not None:
            await context.provider.start()
        freeze_startup_heap()
        try:
            yield
        finally:
            if context.provider is not None:
                await context.provider.close()
            await context.broadcast.close()
            context.hasher.close()
            await context.db.dispose()

    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            oauth_router,
            accounts_router,
            tokens_router,
            projects_router,
            events_router,
            admin_router,
        ],
        state=State({"core": context}),
        dependencies={
            "principal": Provide(provide_principal),
            "ctx": Provide(core_context, sync_to_thread=False),
        },
        before_request=answer_options,
        middleware=[HeaderSizeLimit, DeclaredAuthentication],
        lifespan=[lifespan],
        exception_handlers=exception_handlers(oauth_prefixes=(OAUTH_PREFIX,)),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Latchkey core API",
            version=__version__,
            path="/schema",
            # The documentation's own pages are not operations of the API.
            openapi_router=Router(path="/schema", route_handlers=[], opt=PUBLIC, include_in_schema=False),
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="lkp_… or lka_…"),
                    "secret": SecurityScheme(
                        type="apiKey",
                        name="Authorization",
                        security_scheme_in="header",
                        description="Secret lks_…",
                    ),
                }
            ),
        ),
        debug=False,
    )
    # Every route says how it authenticates; an app with a route that does not never starts.
    missing = undeclared_routes(app)
    if missing:
        raise RuntimeError(f"routes without declared authentication: {', '.join(missing)}")
    complete_document(app)
    app.state.allowed_methods = allowed_methods(app)
    return app


def allowed_methods(app: Litestar) -> dict[str, str]:
    """The `Allow` value of each route path (as routing reports it in `path_template`)."""
    return {
        route.path_format: ", ".join(sorted(route.methods))
        for route in app.routes
        if isinstance(getattr(route, "methods", None), set)
    }


async def answer_options(request: Request[Any, Any, State]) -> Response[None] | None:
    """Answer `OPTIONS` with every method of the path.

    A coroutine on purpose: Litestar runs a plain function hook in its thread pool, a thread hop on
    every request of the core.

    Litestar 2 builds a path's automatic `OPTIONS` answer from the first handler registered on it, so its
    `Allow` misses the methods added later (litestar#4169, fixed in 3.0); this answers in its place.
    """
    if request.method != "OPTIONS":
        return None
    allow: str | None = request.app.state.allowed_methods.get(request.scope["path_template"])
    if allow is None:
        return None
    return Response(None, status_code=204, headers={"Allow": allow}, media_type=MediaType.TEXT)


def app_from_env() -> Litestar:
    """The uvicorn factory: each worker builds its own app from the environment (validated by the CLI)."""
    return create_app(load_core_settings(os.environ))
