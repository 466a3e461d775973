"""The session cookie over real HTTP (real core + real BFF): its attributes, its name under each cookie
configuration, clearing it, a new session per login, the caching headers of every BFF answer, and the
start-up refusal of contradictory cookie settings."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from latchkey.devstack import LATCHKEY
from latchkey.settings import encode_key
from tests.support import BffServer, Browser, CoreServer, free_port, new_key

pytestmark = pytest.mark.database_agnostic

BffFactory = Callable[..., Awaitable[BffServer]]
DEFAULT_MAX_AGE = 28800


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str]]:
    """`name=value; A=b; Flag` → (name, value, {lower-cased attribute: value or ""})."""
    first, *rest = (part.strip() for part in header.split(";"))
    name, _, value = first.partition("=")
    attributes: dict[str, str] = {}
    for part in rest:
        key, _, val = part.partition("=")
        assert key.lower() not in attributes, f"attribute {key} twice in {header!r}"
        attributes[key.lower()] = val
    return name, value, attributes


def our_set_cookie(response: httpx.Response, name: str) -> tuple[str, dict[str, str]]:
    """The one Set-Cookie of `response` for `name`: (value, attributes)."""
    found = [parse_set_cookie(h) for h in response.headers.get_list("set-cookie")]
    ours = [(value, attrs) for cookie_name, value, attrs in found if cookie_name == name]
    assert len(ours) == 1, response.headers.get_list("set-cookie")
    assert len(found) == 1, "the BFF sets only its own cookie"
    return ours[0]


def assert_session_cookie(
    response: httpx.Response, name: str, *, max_age: int, secure: bool = True, domain: str | None = None
) -> str:
    """Every attribute of SPEC §5 on a login's Set-Cookie; returns the value."""
    value, attrs = our_set_cookie(response, name)
    assert value
    assert len(f"{name}={value}".encode()) < 4096
    assert ("secure" in attrs) is secure
    assert attrs["secure" if secure else "httponly"] == ""
    assert "httponly" in attrs and attrs["httponly"] == ""
    assert attrs["samesite"] == "Strict"
    assert attrs["path"] == "/"
    if domain is None:
        assert "domain" not in attrs
    else:
        assert attrs["domain"] == domain
    # Max-Age and Expires both at the session's absolute end.
    assert abs(int(attrs["max-age"]) - max_age) <= 2
    expires = parsedate_to_datetime(attrs["expires"]).timestamp()
    assert abs(expires - (time.time() + max_age)) <= 5
    return value


def assert_cleared(response: httpx.Response, name: str, *, domain: str | None = None) -> None:
    value, attrs = our_set_cookie(response, name)
    assert value == ""
    assert attrs["max-age"] == "0"
    assert attrs["path"] == "/"
    assert attrs.get("domain") == domain
    assert parsedate_to_datetime(attrs["expires"]).timestamp() < time.time()


async def test_login_cookie_has_every_attribute_and_host_prefix(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user = await core.create_user()
    browser = Browser(http, bff)
    response = await browser.login(user["email"])
    value = assert_session_cookie(response, "__Host-latchkey", max_age=DEFAULT_MAX_AGE)
    assert value == browser.cookie
    body = response.json()
    assert body["user"]["email"] == user["email"]
    # The cookie's end is the session's absolute end.
    expires_at = body["session"]["expires_at"]
    _, attrs = our_set_cookie(response, "__Host-latchkey")
    from datetime import datetime

    session_end = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    assert abs(parsedate_to_datetime(attrs["expires"]).timestamp() - session_end) <= 1
    assert (await browser.request("GET", "/bff/session")).status_code == 200

    logout = await browser.request("POST", "/bff/logout")
    assert logout.status_code == 204
    assert_cleared(logout, "__Host-latchkey")


async def test_a_domain_makes_it_a_secure_prefixed_cookie_with_domain(
    core: CoreServer, http: httpx.AsyncClient, bff_factory: BffFactory
) -> None:
    server = await bff_factory(LATCHKEY_COOKIE_DOMAIN="localhost", LATCHKEY_SESSION_MAX_AGE="600")
    user = await core.create_user()
    browser = Browser(http, server, cookie_name="__Secure-latchkey")
    response = await browser.login(user["email"])
    assert_session_cookie(response, "__Secure-latchkey", max_age=600, domain="localhost")
    assert (await browser.request("GET", "/bff/session")).status_code == 200
    assert (await browser.request("GET", "/api/v1/me")).status_code == 200
    # The __Host- name means nothing to this BFF.
    host_named = Browser(http, server)
    host_named.cookie = browser.cookie
    assert (await host_named.request("GET", "/bff/session")).status_code == 401

    logout = await browser.request("POST", "/bff/logout")
    assert logout.status_code == 204
    assert_cleared(logout, "__Secure-latchkey", domain="localhost")
    # A shared parent domain: clearing every cookie of the site would log the user out of other apps.
    assert logout.headers.get_list("clear-site-data") == ['"cache", "storage"']


async def test_dev_without_secure_uses_the_plain_name(core: CoreServer, bff_factory: BffFactory) -> None:
    server = await bff_factory(LATCHKEY_ENV="dev", LATCHKEY_COOKIE_SECURE="false")
    user = await core.create_user()
    # Its own client: this cookie is not Secure, so httpx's jar would keep it and send it on its own.
    async with httpx.AsyncClient(timeout=30) as client:
        browser = Browser(client, server, cookie_name="latchkey")
        response = await browser.login(user["email"])
        assert_session_cookie(response, "latchkey", max_age=DEFAULT_MAX_AGE, secure=False)
        client.cookies.clear()
        assert (await browser.request("GET", "/bff/session")).status_code == 200
        logout = await browser.request("POST", "/bff/logout")
        assert_cleared(logout, "latchkey")


async def test_each_login_is_a_new_session_and_a_login_with_a_cookie_replaces_it(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user = await core.create_user()
    first, second = Browser(http, bff), Browser(http, bff)
    await first.login(user["email"])
    await second.login(user["email"])
    assert first.cookie and second.cookie and first.cookie != second.cookie
    first_session = (await first.request("GET", "/bff/session")).json()["session"]
    second_session = (await second.request("GET", "/bff/session")).json()["session"]
    assert first_session["id"] != second_session["id"]
    # Two browsers, two sessions: both work.
    assert (await first.request("GET", "/api/v1/me")).status_code == 200
    assert (await second.request("GET", "/api/v1/me")).status_code == 200

    # A login sent with a cookie gets a new session id (no fixation) and ends the old session.
    old_cookie = first.cookie
    await first.login(user["email"])
    assert first.cookie != old_cookie
    renewed = (await first.request("GET", "/bff/session")).json()["session"]
    assert renewed["id"] not in (first_session["id"], second_session["id"])
    stale = Browser(http, bff)
    stale.cookie = old_cookie
    for path in ("/bff/session", "/api/v1/me"):
        response = await stale.request("GET", path)
        assert response.status_code == 401, path
    # The other browser's session is untouched.
    assert (await second.request("GET", "/bff/session")).status_code == 200
    assert (await first.request("GET", "/api/v1/me")).status_code == 200


async def test_no_store_on_every_bff_and_api_answer_and_vary_cookie_on_api(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    user = await core.create_user()
    browser = Browser(http, bff)
    anonymous = Browser(http, bff)
    answers: list[tuple[str, httpx.Response]] = []

    async def call(who: Browser, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await who.request(method, path, **kwargs)
        answers.append((path, response))
        return response

    login = await call(
        browser, "POST", "/bff/login", json={"username": user["email"], "password": "wrong-pw"}
    )
    assert login.status_code == 401
    assert (
        await call(browser, "POST", "/bff/login", content=b"x", headers={"content-type": "text/plain"})
    ).status_code == 415
    good = {"username": user["email"], "password": user["password"]}
    assert (await call(browser, "POST", "/bff/login", json=good)).status_code == 200
    assert (await call(browser, "GET", "/bff/session")).status_code == 200
    assert (await call(browser, "GET", "/bff/sessions")).status_code == 200
    assert (await call(browser, "GET", "/bff/nowhere")).status_code == 404
    assert (await call(browser, "GET", "/bff/session", csrf=False)).status_code == 403
    assert (await call(browser, "DELETE", "/bff/sessions/unknown")).status_code == 404
    assert (await call(anonymous, "GET", "/bff/session")).status_code == 401
    assert (await call(browser, "GET", "/api/v1/me")).status_code == 200
    assert (await call(browser, "GET", "/api/v1/projects")).status_code == 200
    assert (await call(browser, "GET", "/api/v1/no-such-route")).status_code == 404
    assert (await call(browser, "GET", "/api/v1/%2e%2e/healthz")).status_code == 400
    assert (await call(browser, "GET", "/api/v1/me", csrf=False)).status_code == 403
    assert (await call(anonymous, "GET", "/api/v1/me")).status_code == 401
    assert (await call(browser, "POST", "/bff/logout")).status_code == 204
    assert (await call(browser, "GET", "/api/v1/me")).status_code == 401
    assert (await call(anonymous, "POST", "/bff/logout")).status_code == 204

    for path, response in answers:
        where = f"{response.request.method} {path} → {response.status_code}"
        assert response.headers.get_list("cache-control") == ["no-store"], where
        if path.startswith("/api"):
            vary = [v.strip().lower() for h in response.headers.get_list("vary") for v in h.split(",")]
            assert "cookie" in vary, where


# --- contradictory configuration: `latchkey bff` refuses to start ----------------------------------------


def run_bff(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    return subprocess.run(
        [LATCHKEY, "bff", "--port", str(free_port())],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def valid_env(tmp: str) -> dict[str, str]:
    return {
        "LATCHKEY_BFF_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bff.db",
        "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "a1B2" * 12 + "c",
        "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
    }


CONTRADICTIONS: list[tuple[str, dict[str, str], list[str]]] = [
    (
        "samesite none without secure",
        {"LATCHKEY_ENV": "dev", "LATCHKEY_COOKIE_SECURE": "false", "LATCHKEY_COOKIE_SAMESITE": "none"},
        ["LATCHKEY_COOKIE_SAMESITE", "LATCHKEY_COOKIE_SECURE"],
    ),
    (
        "__Host- name with a domain",
        {"LATCHKEY_COOKIE_NAME": "__Host-latchkey", "LATCHKEY_COOKIE_DOMAIN": "example.test"},
        ["LATCHKEY_COOKIE_NAME", "LATCHKEY_COOKIE_DOMAIN"],
    ),
    (
        "__Host- name with a path",
        {
            "LATCHKEY_COOKIE_NAME": "__Host-latchkey",
            "LATCHKEY_COOKIE_PATH": "/app",
            "LATCHKEY_BFF_BASE_PATH": "/app",
        },
        ["LATCHKEY_COOKIE_NAME", "LATCHKEY_COOKIE_PATH"],
    ),
    (
        "__Secure- name without secure",
        {
            "LATCHKEY_ENV": "dev",
            "LATCHKEY_COOKIE_SECURE": "false",
            "LATCHKEY_COOKIE_NAME": "__Secure-latchkey",
        },
        ["LATCHKEY_COOKIE_NAME", "LATCHKEY_COOKIE_SECURE"],
    ),
    (
        "cookie path outside the base path",
        {"LATCHKEY_COOKIE_PATH": "/other", "LATCHKEY_BFF_BASE_PATH": "/app"},
        ["LATCHKEY_COOKIE_PATH", "LATCHKEY_BFF_BASE_PATH"],
    ),
    (
        "insecure cookie in production",
        {"LATCHKEY_COOKIE_SECURE": "false"},
        ["LATCHKEY_COOKIE_SECURE", "LATCHKEY_ENV"],
    ),
    (
        "a 16-byte key",
        {"LATCHKEY_COOKIE_KEYS": f"k1:{encode_key(secrets.token_bytes(16))}"},
        ["LATCHKEY_COOKIE_KEYS"],
    ),
    (
        "a 33-byte key beside a good one",
        {"LATCHKEY_COOKIE_KEYS": f"k1:{new_key()},k2:{encode_key(secrets.token_bytes(33))}"},
        ["LATCHKEY_COOKIE_KEYS"],
    ),
    (
        "two problems at once",
        {"LATCHKEY_COOKIE_SAMESITE": "sideways", "LATCHKEY_COOKIE_KEYS": "k1:short"},
        ["LATCHKEY_COOKIE_SAMESITE", "LATCHKEY_COOKIE_KEYS"],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "variables"),
    [pytest.param(env, names, id=label) for label, env, names in CONTRADICTIONS],
)
async def test_contradictory_cookie_config_refuses_to_start(
    tmp_path: Any, overrides: dict[str, str], variables: list[str]
) -> None:
    result = await asyncio.to_thread(run_bff, {**valid_env(str(tmp_path)), **overrides})
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    named = set(re.findall(r"LATCHKEY_[A-Z_]+", lines[0]))
    assert named >= set(variables), lines[0]
    assert named <= {*variables, "LATCHKEY_ENV"}, lines[0]  # the baseline itself is valid
    assert result.stdout == ""
