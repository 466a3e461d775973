"""The BFF's front door as raw ASGI calls, no server: canonical paths (`edge/canonical.py`), then CSRF and
CORS (`bff/edge/`), in front of a downstream app that records whether it was reached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from latchkey.bff.edge.canonical import CanonicalPaths
from latchkey.bff.edge.csrf import CsrfMiddleware
from tests.unit.bff.raw_asgi import LISTED, OWN, bff_settings, call


@dataclass
class Downstream:
    """The app behind the middleware: answers 200 and remembers the paths it saw."""

    seen: list[str] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append(scope["path"])
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"cache-control", b"max-age=60")]}
        )
        await send({"type": "http.response.body", "body": b"ok", "more_body": False})


@pytest.fixture
def downstream() -> Downstream:
    return Downstream()


@pytest.fixture
def edge(downstream: Downstream) -> Any:
    return CanonicalPaths(CsrfMiddleware(downstream, bff_settings()))


# --- canonical paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["//bff/logout", "///bff/logout", "/bff//logout", "/bff/logout//", "//api/v1/me", "/api//v1/me", "//"],
)
async def test_a_path_with_an_empty_segment_never_reaches_a_policy(
    edge: Any, downstream: Downstream, path: str
) -> None:
    answer = await call(edge, "POST", path, {"X-CSRF": "1"})
    assert (answer.status, answer.code) == (400, "invalid_path")
    assert answer.headers["content-type"] == "application/problem+json"
    assert downstream.seen == []


@pytest.mark.parametrize("path", ["/", "/bff/logout", "/bff/logout/", "/api/v1/me", "/projects/1", "/a.b/c"])
async def test_canonical_paths_pass(edge: Any, downstream: Downstream, path: str) -> None:
    answer = await call(edge, "GET", path, {"X-CSRF": "1"})
    assert answer.status == 200
    assert downstream.seen == [path]


# --- X-CSRF ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/bff/session", "/bff", "/api", "/api/v1/me", "/bff/logout/"])
@pytest.mark.parametrize("value", [None, "", "0", "true", "1, 1", "11"])
async def test_every_bff_and_api_request_needs_x_csrf_1(
    edge: Any, downstream: Downstream, path: str, value: str | None
) -> None:
    headers = {} if value is None else {"X-CSRF": value}
    answer = await call(edge, "GET", path, headers)
    assert (answer.status, answer.code) == (403, "csrf_failed")
    assert not any(name.startswith("access-control-") for name in answer.headers)
    assert downstream.seen == []


@pytest.mark.parametrize("path", ["/", "/projects", "/healthz", "/bffx", "/apix", "/assets/app.js"])
async def test_other_paths_are_not_guarded(edge: Any, downstream: Downstream, path: str) -> None:
    assert (await call(edge, "POST", path)).status == 200
    assert downstream.seen == [path]


async def test_api_refusals_vary_by_cookie_and_bff_answers_are_never_cached(edge: Any) -> None:
    refused = await call(edge, "GET", "/api/v1/me")
    assert refused.headers["vary"] == "Cookie"
    served = await call(edge, "GET", "/bff/session", {"X-CSRF": "1"})
    assert served.headers["cache-control"] == "no-store"  # the downstream's max-age replaced
    proxied = await call(edge, "GET", "/api/v1/me", {"X-CSRF": "1"})
    assert proxied.headers["cache-control"] == "max-age=60"  # the proxy sets /api's own


# --- Origin and Fetch Metadata --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "http://evil.test",
        "https://bff.test",
        "http://bff.test:8080",
        "http://bff.test.evil.test",
        "*",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_a_foreign_origin_is_refused(
    edge: Any, downstream: Downstream, origin: str, method: str
) -> None:
    answer = await call(edge, method, "/api/v1/projects", {"X-CSRF": "1", "Origin": origin})
    assert (answer.status, answer.code) == (403, "csrf_failed")
    assert downstream.seen == []


async def test_the_own_and_listed_origins_pass(edge: Any, downstream: Downstream) -> None:
    own = await call(edge, "POST", "/api/v1/projects", {"X-CSRF": "1", "Origin": OWN})
    assert own.status == 200
    assert "access-control-allow-origin" not in own.headers
    listed = await call(edge, "POST", "/api/v1/projects", {"X-CSRF": "1", "Origin": LISTED})
    assert listed.status == 200
    assert listed.headers["access-control-allow-origin"] == LISTED
    assert listed.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in listed.headers["vary"]
    assert len(downstream.seen) == 2


async def test_the_public_origin_replaces_the_host_and_forwarded_host_is_ignored(
    downstream: Downstream,
) -> None:
    edge = CsrfMiddleware(downstream, bff_settings(LATCHKEY_PUBLIC_ORIGIN="https://app.example.com"))
    assert (
        await call(edge, "POST", "/bff/logout", {"X-CSRF": "1", "Origin": "https://app.example.com"})
    ).status == 200
    refused = await call(edge, "POST", "/bff/logout", {"X-CSRF": "1", "Origin": OWN})
    assert refused.status == 403
    forged = await call(
        edge,
        "POST",
        "/bff/logout",
        {"X-CSRF": "1", "Origin": "http://evil.test", "X-Forwarded-Host": "evil.test"},
    )
    assert forged.status == 403


@pytest.mark.parametrize("site", ["cross-site", "same-site", "CROSS-SITE", "bogus"])
async def test_unsafe_methods_need_a_same_origin_fetch(edge: Any, downstream: Downstream, site: str) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        answer = await call(edge, method, "/bff/logout", {"X-CSRF": "1", "Sec-Fetch-Site": site})
        assert (answer.status, answer.code) == (403, "csrf_failed"), method
    # Safe methods are guarded by X-CSRF and Origin, not by Fetch Metadata; a listed origin may be cross-site.
    assert (await call(edge, "GET", "/bff/session", {"X-CSRF": "1", "Sec-Fetch-Site": site})).status == 200
    listed = {"X-CSRF": "1", "Sec-Fetch-Site": site, "Origin": LISTED}
    assert (await call(edge, "POST", "/bff/logout", listed)).status == 200


@pytest.mark.parametrize("site", [None, "same-origin", "none"])
async def test_same_origin_fetches_pass(edge: Any, site: str | None) -> None:
    headers = {"X-CSRF": "1"} | ({} if site is None else {"Sec-Fetch-Site": site})
    assert (await call(edge, "POST", "/bff/logout", headers)).status == 200


# --- preflights -----------------------------------------------------------------------------------------


async def test_a_listed_origins_preflight_is_granted(edge: Any, downstream: Downstream) -> None:
    answer = await call(
        edge, "OPTIONS", "/api/v1/projects", {"Origin": LISTED, "Access-Control-Request-Method": "POST"}
    )
    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == LISTED
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert "X-CSRF" in answer.headers["access-control-allow-headers"]
    assert answer.headers["vary"] == "Origin"
    assert downstream.seen == []


@pytest.mark.parametrize("origin", [None, "http://evil.test", OWN, "null"])
async def test_any_other_preflight_is_refused_without_cors(edge: Any, origin: str | None) -> None:
    headers = {"Access-Control-Request-Method": "POST"} | ({} if origin is None else {"Origin": origin})
    answer = await call(edge, "OPTIONS", "/bff/login", headers)
    assert (answer.status, answer.code) == (403, "csrf_failed")
    assert not any(name.startswith("access-control-") for name in answer.headers)


async def test_under_a_base_path_only_its_routes_are_guarded(downstream: Downstream) -> None:
    edge = CanonicalPaths(
        CsrfMiddleware(downstream, bff_settings(LATCHKEY_BFF_BASE_PATH="/app", LATCHKEY_COOKIE_PATH="/app"))
    )
    assert (await call(edge, "POST", "/app/bff/logout")).status == 403
    assert (await call(edge, "POST", "/app/api/v1/me")).status == 403
    assert (await call(edge, "POST", "/bff/logout")).status == 200  # not this BFF's route
    assert (await call(edge, "POST", "/app//bff/logout", {"X-CSRF": "1"})).code == "invalid_path"


# --- exact answers and the policies on the way out -----------------------------------------------------


async def test_a_refusal_is_the_same_bytes_as_ever(edge: Any) -> None:
    api = await call(edge, "POST", "/api/v1/projects")
    assert api.fields == [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(api.body)).encode()),
        (b"cache-control", b"no-store"),
        (b"vary", b"Cookie"),
    ]
    assert api.body == (
        b'{"type": "about:blank", "title": "Forbidden", "status": 403, "code": "csrf_failed", '
        b'"detail": "the X-CSRF: 1 header is required"}'
    )
    bff = await call(edge, "POST", "/bff/logout")
    assert [name for name, _ in bff.fields] == [b"content-type", b"content-length", b"cache-control"]


async def test_options_without_a_request_method_is_no_preflight(edge: Any, downstream: Downstream) -> None:
    refused = await call(edge, "OPTIONS", "/api/v1/projects", {"Origin": LISTED})
    assert (refused.status, refused.code) == (403, "csrf_failed")
    passed = await call(edge, "OPTIONS", "/api/v1/projects", {"Origin": LISTED, "X-CSRF": "1"})
    assert passed.status == 200
    assert downstream.seen == ["/api/v1/projects"]


async def test_a_listed_origins_bff_answer_is_never_cached_and_carries_cors(edge: Any) -> None:
    answer = await call(edge, "GET", "/bff/session", {"X-CSRF": "1", "Origin": LISTED})
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["access-control-allow-origin"] == LISTED
    assert answer.headers["access-control-expose-headers"] == "X-Request-ID, Retry-After"
    assert answer.body == b"ok"


async def test_a_preflight_refusal_on_api_still_varies_by_cookie(edge: Any) -> None:
    answer = await call(
        edge, "OPTIONS", "/api", {"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"}
    )
    assert (answer.status, answer.headers["vary"]) == (403, "Cookie")


@pytest.mark.parametrize("origin", [LISTED + " ", LISTED.upper(), LISTED + "/", " " + OWN])
async def test_an_almost_listed_origin_is_foreign(edge: Any, downstream: Downstream, origin: str) -> None:
    answer = await call(edge, "GET", "/api/v1/me", {"X-CSRF": "1", "Origin": origin})
    assert (answer.status, answer.code) == (403, "csrf_failed")
    assert downstream.seen == []


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_other_scopes_pass_untouched(downstream: Downstream, kind: str) -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    middleware = CsrfMiddleware(app, bff_settings())
    await middleware({"type": kind, "path": "/api/v1/me", "headers": []}, None, None)
    assert reached == [kind]


# --- configured routes (LATCHKEY_BFF_ROUTES) are guarded like /api -----------------------------------


async def test_a_configured_route_is_guarded_like_api(tmp_path: Any, downstream: Downstream) -> None:
    file = tmp_path / "routes.toml"
    file.write_text('[[route]]\nprefix = "/billing"\nupstream = "http://127.0.0.1:9100"\ntoken = "none"\n')
    edge = CanonicalPaths(CsrfMiddleware(downstream, bff_settings(LATCHKEY_BFF_ROUTES=str(file))))
    refused = await call(edge, "GET", "/billing/invoices")
    assert (refused.status, refused.code) == (403, "csrf_failed")
    assert refused.headers["vary"] == "Cookie"
    foreign = await call(edge, "POST", "/billing/invoices", {"X-CSRF": "1", "Sec-Fetch-Site": "same-site"})
    assert (foreign.status, foreign.code) == (403, "csrf_failed")
    passed = await call(edge, "GET", "/billing/invoices", {"X-CSRF": "1", "Origin": LISTED})
    assert passed.status == 200
    assert passed.headers["access-control-allow-origin"] == LISTED
    # The proxy writes its own caching fields (no-store unless the route's token is `none`).
    assert passed.headers["cache-control"] == "max-age=60"
    assert downstream.seen == ["/billing/invoices"]
    # A sibling of the prefix is not the route: not guarded.
    assert (await call(edge, "POST", "/billingx")).status == 200
