"""Every core route declares its authentication (`opt=bearer(…)`, `CLIENT_SECRET` or `PUBLIC`), and one
guard enforces the declaration before the body is read: a route cannot become anonymous, nor authenticate
after parsing its body, by how a parameter is named."""

from __future__ import annotations

import inspect
import re
from typing import Any

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.handlers.http_handlers import HTTPRouteHandler

from latchkey.core.app import create_app
from latchkey.core.security.auth import (
    AUTH_OPT,
    PUBLIC,
    Bearer,
    ClientSecretAuth,
    Public,
    bearer,
    declared_auth,
    undeclared_routes,
)
from latchkey.settings import load_core_settings
from tests.support import CoreServer, new_key

# Litestar 2.25 announces 3.0 changes while building handlers in-process (the served apps only log them).
pytestmark = [
    pytest.mark.database_agnostic,
    pytest.mark.filterwarnings("ignore::litestar.exceptions.base_exceptions.LitestarDeprecationWarning"),
]


@pytest.fixture(scope="module")
def app() -> Litestar:
    return create_app(load_core_settings({"LATCHKEY_CORE_SECRET_KEY": new_key()}))


def handlers(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler):
                for method in handler.http_methods:
                    found[(route.path, method)] = handler
    return [(path, method, handler) for (path, method), handler in sorted(found.items())]


def test_every_route_declares_its_authentication(app: Litestar) -> None:
    assert undeclared_routes(app) == []
    rules = {(path, method): declared_auth(handler) for path, method, handler in handlers(app)}
    assert all(rule is not None for rule in rules.values())
    # The map SPEC §4 gives, spot-checked.
    assert rules[("/healthz", "GET")] == Public()
    assert rules[("/v1/oauth/token", "POST")] == ClientSecretAuth()
    assert rules[("/v1/me", "GET")] == Bearer(scope="profile")
    assert rules[("/v1/me/tokens", "POST")] == Bearer(session=True, sensitive=True)
    assert rules[("/v1/me/client-secret", "GET")] == Bearer(session=True, developer=True, sensitive=True)
    assert rules[("/v1/me/client-secret/info", "GET")] == Bearer(session=True, developer=True)
    assert rules[("/v1/projects", "GET")] == Bearer(scope="projects:read")
    assert rules[("/v1/projects/{project_id:int}/files/{name:path}", "PUT")] == Bearer(scope="projects:write")
    assert rules[("/v1/admin/users", "POST")] == Bearer(scope="admin", session=True, sensitive=True)
    assert rules[("/v1/admin/users", "GET")] == Bearer(scope="admin")
    # Only probes, the API documentation and Litestar's OPTIONS answers are public.
    public = {path for (path, method), rule in rules.items() if rule == Public() and method != "OPTIONS"}
    assert public and all(path in ("/healthz", "/readyz") or path.startswith("/schema") for path in public)


def test_a_handler_taking_principal_declares_bearer(app: Litestar) -> None:
    for path, method, handler in handlers(app):
        if "principal" in inspect.signature(handler.fn).parameters:
            assert isinstance(declared_auth(handler), Bearer), (method, path)


def test_an_app_with_an_undeclared_route_is_caught() -> None:
    @get("/forgotten", sync_to_thread=False)
    def forgotten() -> str:
        return "anyone"

    @post("/declared", opt=bearer(scope="profile"), sync_to_thread=False)
    def declared() -> str:
        return "someone"

    @get("/public", opt=PUBLIC, sync_to_thread=False)
    def public() -> str:
        return "everyone"

    app = Litestar([forgotten, declared, public], openapi_config=None)
    assert undeclared_routes(app) == ["GET /forgotten"]
    assert AUTH_OPT in declared.opt


async def test_every_bearer_route_refuses_an_anonymous_caller_before_its_body(
    app: Litestar, core: CoreServer, http: httpx.AsyncClient
) -> None:
    # A 1 MiB body that no route would accept: the 401 must come first, whatever the content type says.
    body = b"{" + b" " * (1024 * 1024) + b"}"
    checked = 0
    for path, method, handler in handlers(app):
        if method == "OPTIONS" or not isinstance(declared_auth(handler), Bearer):
            continue
        url = core.url + re.sub(r"\{[a-z_]+:(int|path|str)\}", "1", path)
        kwargs: dict[str, Any] = {"content": body, "headers": {"Content-Type": "application/json"}}
        response = await http.request(method, url, **kwargs if method in ("POST", "PUT", "PATCH") else {})
        assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
        assert response.json()["code"] == "missing_token"
        assert response.headers["www-authenticate"].startswith("Bearer")
        checked += 1
    assert checked >= 20
