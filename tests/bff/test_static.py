"""The built SPA served by the BFF (`LATCHKEY_BFF_STATIC_DIR`): files, history fallback, the routes it must
never shadow, path traversal, and the security and cache headers on every answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import BffServer, CoreServer, start_bff, stop_bff

pytestmark = pytest.mark.database_agnostic

INDEX = b"<!doctype html><html><head><script type=module src=/assets/app-3f9a1c.js></script></head></html>\n"
SCRIPT = b"console.log('latchkey');\n"
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'"


def build_site(tmp_path: Path) -> Path:
    """A tiny build: index.html, a hashed asset, a root file; and a secret beside (not inside) the site."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "app-3f9a1c.js").write_bytes(SCRIPT)
    (root / "assets" / "app-3f9a1c.css").write_bytes(b"body{margin:0}\n")
    (root / "favicon.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>\n")
    (tmp_path / "secret.txt").write_bytes(b"TOP-SECRET\n")
    (root / "assets" / "escape.js").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A build of the test's own, to add files to."""
    return build_site(tmp_path)


@pytest.fixture(scope="module")
async def spa(
    backend: str, core: CoreServer, service_client: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BffServer]:
    """One BFF serving an unchanging build for the module's read-only tests."""
    workdir = tmp_path_factory.mktemp("spa")
    server = await start_bff(
        backend,
        workdir,
        core,
        service_client["client_secret"],
        LATCHKEY_BFF_STATIC_DIR=str(build_site(workdir)),
    )
    yield server
    await stop_bff(server)


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def raw_get(server: BffServer, target: bytes) -> tuple[int, bytes]:
    """Send a request target exactly as given (httpx would normalise `..` away)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_index_and_history_fallback(spa: BffServer, http: httpx.AsyncClient) -> None:
    for path in ("/", "/login", "/projects", "/profile/developer-settings", "/sessions/", "/bffx", "/apix"):
        response = await http.get(spa.url + path)
        assert response.status_code == 200, path
        assert response.content == INDEX, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert_security_headers(response)


async def test_files_with_their_types_and_cache_lifetimes(spa: BffServer, http: httpx.AsyncClient) -> None:
    script = await http.get(spa.url + "/assets/app-3f9a1c.js")
    assert script.status_code == 200
    assert script.content == SCRIPT
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["content-length"] == str(len(SCRIPT))
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert_security_headers(script)

    style = await http.get(spa.url + "/assets/app-3f9a1c.css")
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    icon = await http.get(spa.url + "/favicon.svg")
    assert icon.headers["content-type"] == "image/svg+xml"
    assert icon.headers["cache-control"] == "no-cache"
    index = await http.get(spa.url + "/index.html")
    assert index.content == INDEX
    assert index.headers["cache-control"] == "no-cache"


async def test_missing_files_are_404_not_index(spa: BffServer, http: httpx.AsyncClient) -> None:
    # A missing script must not come back as HTML (the browser would refuse it under nosniff, confusingly).
    for path in ("/assets/app-000000.js", "/assets/nothing", "/robots.txt", "/projects/report.pdf"):
        response = await http.get(spa.url + path)
        assert response.status_code == 404, path
        assert INDEX not in response.content
        assert_security_headers(response)


async def test_conditional_and_head_requests(spa: BffServer, http: httpx.AsyncClient) -> None:
    first = await http.get(spa.url + "/")
    etag = first.headers["etag"]
    again = await http.get(spa.url + "/projects", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert_security_headers(again)
    head = await http.head(spa.url + "/assets/app-3f9a1c.js")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(SCRIPT))
    assert head.content == b""
    assert_security_headers(head)
    post = await http.post(spa.url + "/projects", content=b"x")
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"
    assert_security_headers(post)


async def test_bff_routes_and_probes_are_never_shadowed(spa: BffServer, http: httpx.AsyncClient) -> None:
    health = await http.get(spa.url + "/healthz")
    assert health.json() == {"status": "ok"}
    assert (await http.get(spa.url + "/readyz")).json() == {"status": "ready", "redis": "off"}
    assert (await http.get(spa.url + "/schema/openapi.json")).json()["info"]["title"] == "Latchkey BFF"
    for path in ("/bff/session", "/bff/nothing-here", "/api/v1/me", "/api", "/bff"):
        response = await http.get(spa.url + path, headers={"X-CSRF": "1"})
        assert response.headers["content-type"].startswith("application/problem+json"), path
        assert response.status_code in (400, 401, 404), path
        without_csrf = await http.get(spa.url + path)
        assert without_csrf.status_code == 403, path
        assert without_csrf.json()["code"] == "csrf_failed"


@pytest.mark.parametrize(
    "target",
    [
        b"/../secret.txt",
        b"/assets/../../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/assets/%2e%2e/%2e%2e/secret.txt",
        b"/assets/..%2f..%2fsecret.txt",
        b"/assets/..%5c..%5csecret.txt",
        b"/assets/escape.js",
        b"/%00/secret.txt",
        b"//etc/passwd",
        b"/./index.html",
    ],
)
async def test_nothing_outside_the_directory_is_reachable(spa: BffServer, target: bytes) -> None:
    status, body = await raw_get(spa, target)
    assert status in (400, 404), (target, status)
    assert b"TOP-SECRET" not in body
    assert b"root:" not in body


async def test_without_a_static_dir_nothing_is_served(bff: BffServer, http: httpx.AsyncClient) -> None:
    response = await http.get(bff.url + "/")
    assert response.status_code == 404
    assert "content-security-policy" not in response.headers


async def test_dotfiles_are_never_served(
    site: Path, bff_factory: Callable[..., Awaitable[BffServer]]
) -> None:
    # A build directory can hold more than the build: none of its dotfiles or dot directories is served,
    # however the path is spelled, and none of them falls back to index.html either.
    (site / ".env").write_bytes(b"TOP-SECRET=1\n")
    (site / ".git").mkdir()
    (site / ".git" / "config").write_bytes(b"[remote] TOP-SECRET\n")
    (site / ".well-known").mkdir()
    (site / ".well-known" / "security.txt").write_bytes(b"TOP-SECRET contact\n")
    (site / "assets" / ".hidden.js").write_bytes(b"TOP-SECRET\n")
    (site / "assets" / "linked.js").symlink_to(site / ".env")
    server = await bff_factory(LATCHKEY_BFF_STATIC_DIR=str(site))
    for target in (
        b"/.env",
        b"/%2eenv",
        b"/.git/config",
        b"/.git/",
        b"/.git",
        b"/.well-known/security.txt",
        b"/assets/.hidden.js",
        b"/assets/%2Ehidden.js",
        b"/assets/linked.js",
        b"/.env/",
    ):
        status, body = await raw_get(server, target)
        assert status in (400, 404), (target, status)
        assert b"TOP-SECRET" not in body, target
        assert b"<!doctype html>" not in body, target
    status, body = await raw_get(server, b"/assets/app-3f9a1c.js")
    assert (status, body) == (200, SCRIPT)


async def test_the_bff_serves_its_openapi_json_but_no_ui(spa: BffServer, http: httpx.AsyncClient) -> None:
    # The browsable UIs load scripts from a CDN; on the SPA's origin such a script could call /api.
    for path in ("/schema/openapi.json", "/schema"):
        document = await http.get(spa.url + path)
        assert document.status_code == 200
        assert document.headers["content-type"].startswith("application/vnd.oai.openapi+json"), path
        assert document.json()["info"]["title"] == "Latchkey BFF"
    for path in ("/schema/redoc", "/schema/swagger", "/schema/elements", "/schema/rapidoc", "/schema/scalar"):
        response = await http.get(spa.url + path)
        assert response.status_code == 404, path
        assert b"<script" not in response.content, path


async def test_the_core_keeps_its_api_docs(core: CoreServer, http: httpx.AsyncClient) -> None:
    assert (await http.get(core.url + "/schema/openapi.json")).json()["info"]["title"] == "Latchkey core API"
    assert (await http.get(core.url + "/schema")).status_code == 200
