"""CSRF defence and CORS through a real BFF (real core): the X-CSRF header, Sec-Fetch-Site, Origin (own,
listed, foreign, null), preflights, LATCHKEY_PUBLIC_ORIGIN, X-Forwarded-Host; and what the session
store holds after real use (no token, no session id, no cookie)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from latchkey.db import Database, sqlite_path
from latchkey.sealing import KeyRing, unseal
from latchkey.settings import parse_key_ring
from tests.support import BffServer, Browser, CoreServer

pytestmark = pytest.mark.database_agnostic

BffFactory = Callable[..., Awaitable[BffServer]]
APP = "http://app.example.test"
PUBLIC = "https://bff.example.test"


def assert_csrf_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "csrf_failed"
    assert_no_cors(response)


def assert_no_cors(response: httpx.Response) -> None:
    cors = [name for name in response.headers if name.lower().startswith("access-control-")]
    assert not cors, (response.request.url, cors)


def assert_never_wildcard(response: httpx.Response) -> None:
    for name, value in response.headers.multi_items():
        if name.lower().startswith("access-control-"):
            assert value.strip() != "*", (name, value)


def assert_cors(response: httpx.Response, origin: str) -> None:
    assert response.headers.get_list("access-control-allow-origin") == [origin]
    assert response.headers["access-control-allow-credentials"] == "true"
    vary = {v.strip().lower() for h in response.headers.get_list("vary") for v in h.split(",")}
    assert "origin" in vary
    assert_never_wildcard(response)


async def logged_in(core: CoreServer, http: httpx.AsyncClient, server: BffServer) -> Browser:
    user = await core.create_user()
    browser = Browser(http, server)
    await browser.login(user["email"])
    return browser


def new_project() -> dict[str, str]:
    return {"name": f"csrf-{uuid.uuid4().hex[:8]}"}


async def test_x_csrf_is_required_on_every_bff_and_api_route(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    browser = await logged_in(core, http, bff)
    user = (await browser.request("GET", "/bff/session")).json()["user"]
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/bff/login", {"json": {"username": user["email"], "password": "whatever"}}),
        ("GET", "/bff/session", {}),
        ("GET", "/bff/sessions", {}),
        ("POST", "/bff/logout", {}),
        ("POST", "/bff/reauthenticate", {"json": {"password": "whatever"}}),
        ("GET", "/api/v1/me", {}),
        ("HEAD", "/api/v1/me", {}),
        ("GET", "/api/v1/projects", {}),
        ("POST", "/api/v1/projects", {"json": new_project()}),
    ]
    for bad in (None, "0", "true", "", "11", "1, 1"):
        headers = {} if bad is None else {"X-CSRF": bad}
        for method, path, kwargs in calls:
            response = await browser.request(method, path, csrf=False, headers=headers, **kwargs)
            if method == "HEAD":
                assert response.status_code == 403
            else:
                assert_csrf_refused(response)
    # Nothing above reached the routes: the session is alive (no logout happened) and no project exists.
    assert (await browser.request("GET", "/bff/session")).status_code == 200
    assert (await browser.request("GET", "/api/v1/projects")).json()["items"] == []


async def test_sec_fetch_site_guards_unsafe_methods(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    browser = await logged_in(core, http, bff)
    for site in ("cross-site", "same-site", "CROSS-SITE", "bogus"):
        headers = {"Sec-Fetch-Site": site}
        assert_csrf_refused(
            await browser.request("POST", "/api/v1/projects", headers=headers, json=new_project())
        )
        assert_csrf_refused(await browser.request("POST", "/bff/logout", headers=headers))
        assert_csrf_refused(await browser.request("DELETE", "/bff/sessions/whatever", headers=headers))
    assert (await browser.request("GET", "/api/v1/projects")).json()["items"] == []
    assert (await browser.request("GET", "/bff/session")).status_code == 200

    passing: list[dict[str, str]] = [{"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {}]
    for headers in passing:
        created = await browser.request("POST", "/api/v1/projects", headers=headers, json=new_project())
        assert created.status_code == 201, (headers, created.text)
    # Safe methods are guarded by X-CSRF (which forces a preflight) and Origin, not by Sec-Fetch-Site.
    for site in ("cross-site", "same-site"):
        response = await browser.request("GET", "/api/v1/me", headers={"Sec-Fetch-Site": site})
        assert response.status_code == 200
    assert (
        await browser.request("POST", "/bff/logout", headers={"Sec-Fetch-Site": "same-origin"})
    ).status_code == 204


async def test_origin_must_be_the_bffs_own(core: CoreServer, http: httpx.AsyncClient, bff: BffServer) -> None:
    browser = await logged_in(core, http, bff)
    own = f"http://127.0.0.1:{bff.port}"
    foreign = [
        "null",
        "http://evil.example.test",
        f"https://127.0.0.1:{bff.port}",  # another scheme
        "http://127.0.0.1:1",  # another port: same-site, not same-origin
        f"http://localhost:{bff.port}",
        f"{own}.evil.example.test",
        APP,  # not listed on this BFF
    ]
    for origin in foreign:
        headers = {"Origin": origin}
        assert_csrf_refused(
            await browser.request("POST", "/api/v1/projects", headers=headers, json=new_project())
        )
        assert_csrf_refused(await browser.request("POST", "/bff/logout", headers=headers))
        assert_csrf_refused(await browser.request("GET", "/api/v1/me", headers=headers))
        assert_csrf_refused(await browser.request("GET", "/bff/session", headers=headers))
    # X-Forwarded-Host (or Forwarded) never makes a foreign origin the BFF's own.
    for spoof in (
        {"X-Forwarded-Host": "evil.example.test", "X-Forwarded-Proto": "http"},
        {"Forwarded": "host=evil.example.test;proto=http"},
    ):
        headers = {"Origin": "http://evil.example.test", **spoof}
        assert_csrf_refused(await browser.request("POST", "/bff/logout", headers=headers))
        assert_csrf_refused(await browser.request("GET", "/api/v1/me", headers=headers))
    assert (await browser.request("GET", "/api/v1/projects")).json()["items"] == []

    headers = {"Origin": own, "Sec-Fetch-Site": "same-origin"}
    created = await browser.request("POST", "/api/v1/projects", headers=headers, json=new_project())
    assert created.status_code == 201
    assert_no_cors(created)  # same origin: no CORS answer needed
    assert (await browser.request("GET", "/bff/session", headers=headers)).status_code == 200
    # A preflight from the BFF's own origin is not a listed origin's: refused without CORS headers.
    preflight = await browser.request(
        "OPTIONS",
        "/api/v1/projects",
        csrf=False,
        headers={"Origin": own, "Access-Control-Request-Method": "POST"},
    )
    assert_csrf_refused(preflight)
    assert (await browser.request("POST", "/bff/logout", headers=headers)).status_code == 204


async def test_listed_origins_get_cors_and_public_origin_replaces_the_host(
    core: CoreServer, http: httpx.AsyncClient, bff_factory: BffFactory
) -> None:
    server = await bff_factory(LATCHKEY_ALLOWED_ORIGINS=APP, LATCHKEY_PUBLIC_ORIGIN=PUBLIC)
    user = await core.create_user()
    browser = Browser(http, server)
    seen: list[httpx.Response] = []

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await browser.request(method, path, **kwargs)
        seen.append(response)
        return response

    # Preflights from the listed origin: 204 with its own origin, credentials, Vary: Origin.
    for path, method in (("/bff/login", "POST"), ("/api/v1/projects", "POST"), ("/api/v1/me", "GET")):
        preflight = await call(
            "OPTIONS",
            path,
            csrf=False,
            headers={
                "Origin": APP,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "x-csrf, content-type",
            },
        )
        assert preflight.status_code == 204, preflight.text
        assert_cors(preflight, APP)
        assert "x-csrf" in preflight.headers["access-control-allow-headers"].lower()
        assert method in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["cache-control"] == "no-store"
    # From anyone else: 403, and no CORS header at all.
    for origin in ("http://evil.example.test", "null", f"{APP}:8080", "https://app.example.test", PUBLIC):
        preflight = await call(
            "OPTIONS",
            "/bff/login",
            csrf=False,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-csrf",
            },
        )
        assert_csrf_refused(preflight)

    # The listed origin's real requests pass even cross-site, and carry the CORS answer.
    cross = {"Origin": APP, "Sec-Fetch-Site": "cross-site"}
    login = await call(
        "POST", "/bff/login", headers=cross, json={"username": user["email"], "password": user["password"]}
    )
    assert login.status_code == 200, login.text
    assert_cors(login, APP)
    me = await call("GET", "/api/v1/me", headers=cross)
    assert me.status_code == 200
    assert_cors(me, APP)
    created = await call("POST", "/api/v1/projects", headers=cross, json=new_project())
    assert created.status_code == 201
    assert_cors(created, APP)
    # ...but still need X-CSRF.
    assert_csrf_refused(await call("GET", "/api/v1/me", csrf=False, headers=cross))

    # LATCHKEY_PUBLIC_ORIGIN is the BFF's own origin now; the request's Host no longer counts.
    own = {"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin"}
    assert (await call("GET", "/bff/session", headers=own)).status_code == 200
    created = await call("POST", "/api/v1/projects", headers=own, json=new_project())
    assert created.status_code == 201
    assert_no_cors(created)
    host_origin = {"Origin": f"http://127.0.0.1:{server.port}"}
    assert_csrf_refused(await call("POST", "/api/v1/projects", headers=host_origin, json=new_project()))
    assert_csrf_refused(await call("GET", "/api/v1/me", headers=host_origin))
    # Nor does a Host or X-Forwarded-Host naming a foreign origin.
    for spoof in (
        {"Host": "evil.example.test", "Origin": "http://evil.example.test"},
        {"X-Forwarded-Host": "evil.example.test", "Origin": "https://evil.example.test"},
        {"X-Forwarded-Host": "bff.example.test", "Origin": "http://evil.example.test"},
    ):
        assert_csrf_refused(await call("POST", "/bff/logout", headers=spoof))
    # Unlisted foreign origins are refused on real requests too.
    assert_csrf_refused(await call("GET", "/api/v1/me", headers={"Origin": "http://evil.example.test"}))

    listed = await call("GET", "/api/v1/projects", headers=cross)
    assert len(listed.json()["items"]) == 2
    logout = await call("POST", "/bff/logout", headers=cross)
    assert logout.status_code == 204
    assert_cors(logout, APP)
    for response in seen:
        assert_never_wildcard(response)


async def test_the_session_store_holds_no_token_session_id_or_cookie(
    backend: str, core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    browser = await logged_in(core, http, bff)
    for _ in range(3):
        assert (await browser.request("GET", "/api/v1/me")).status_code == 200
    assert (await browser.request("POST", "/api/v1/projects", json=new_project())).status_code == 201
    assert (await browser.request("GET", "/bff/sessions")).status_code == 200
    cookie = browser.cookie
    assert cookie is not None
    sid = unseal(KeyRing(parse_key_ring(bff.env["LATCHKEY_COOKIE_KEYS"])), cookie, name="__Host-latchkey").sid

    db = Database(bff.database_url)
    try:
        async with db.read() as session:
            rows = (await session.execute(text("SELECT * FROM bff_sessions"))).all()
    finally:
        await db.dispose()
    assert rows
    blobs = [repr(rows).encode()]
    if backend == "sqlite":
        path = sqlite_path(bff.database_url)
        assert path is not None
        blobs.append(b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*")))
    for blob in blobs:
        assert b"lka_" not in blob and b"lkr_" not in blob
        assert cookie.encode() not in blob
        for form in (sid, sid.hex().encode(), base64.urlsafe_b64encode(sid).rstrip(b"=")):
            assert form not in blob
    # The session is there (so the scans above saw it), under the hash of its id only.
    for blob in blobs:
        assert hashlib.sha256(sid).hexdigest().encode() in blob


@pytest.mark.parametrize("path", ["/bff/session", "/api/v1/me"])
async def test_a_preflight_without_listed_origins_is_refused(
    http: httpx.AsyncClient, bff: BffServer, path: str
) -> None:
    response = await http.options(
        bff.url + path,
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-csrf",
        },
    )
    assert_csrf_refused(response)
