"""Hostile input at the BFF's own routes: never a 500, always a problem+json with a stable code.

Those that reach the core run on a core and BFF of their own, because generated logins count as failed
password grants from 127.0.0.1 at the core, and schemathesis may end the session it is given.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import PASSWORD, BffServer, Browser, CoreServer, assert_no_token_leak

pytestmark = pytest.mark.database_agnostic

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture
async def stack(core_factory: Any, bff_factory: Any) -> tuple[CoreServer, BffServer]:
    core = await core_factory()
    service = await core.create_user(developer=True, name="BFF service")
    bff = await bff_factory(core_server=core, LATCHKEY_BFF_CLIENT_SECRET=service["client_secret"])
    return core, bff


def assert_problem(response: httpx.Response, status: int | None = None) -> None:
    assert response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"]
    assert "Traceback" not in response.text


# Malformed bodies and oversized headers are refused before anything reaches the core (no login is
# attempted, no state changes): the shared BFF will do for those two.
async def test_malformed_login_bodies(bff: BffServer, http: httpx.AsyncClient) -> None:
    url = f"{bff.url}/bff/login"
    headers = {"X-CSRF": "1", "Content-Type": "application/json"}
    assert_problem(await http.post(url, headers=headers, content=b"{"), 400)
    assert_problem(await http.post(url, headers=headers, content=b'{"username": "\xff"}'), 400)
    assert_problem(await http.post(url, headers=headers, content=b"[" * 5000 + b"]" * 5000), 400)
    assert_problem(await http.post(url, headers=headers, json={"username": "a"}), 400)
    assert_problem(await http.post(url, headers=headers, json={"username": 1, "password": 2}), 400)
    assert_problem(
        await http.post(url, headers=headers, json={"username": "a", "password": "b", "x": 1}), 400
    )
    assert_problem(
        await http.post(url, headers={"X-CSRF": "1", "Content-Type": "text/plain"}, content=b"{}"), 415
    )
    assert_problem(await http.post(url, headers=headers, content=b"{" + b" " * 70_000 + b"}"), 413)


async def test_oversized_headers_are_431(bff: BffServer, http: httpx.AsyncClient) -> None:
    for path in ("/bff/session", "/api/v1/me", "/healthz"):
        response = await http.get(f"{bff.url}{path}", headers={"X-CSRF": "1", "X-Big": "a" * 40_000})
        assert_problem(response, 431)
        assert response.json()["code"] == "headers_too_large"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
_BODIES = st.one_of(st.dictionaries(st.sampled_from(["username", "password", "x"]), _JSON, max_size=3), _JSON)


def test_fuzzed_json_never_breaks_login(stack: tuple[CoreServer, BffServer]) -> None:
    _, bff = stack
    with httpx.Client(timeout=30, headers={"X-CSRF": "1"}) as client:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(path=st.sampled_from(["/bff/login", "/bff/reauthenticate"]), body=_BODIES)
        def check(path: str, body: Any) -> None:
            response = client.post(f"{bff.url}{path}", json=body)
            assert_no_token_leak(path, response.headers, response.content)
            assert_problem(response)

        check()


async def test_schemathesis_finds_no_server_error(
    stack: tuple[CoreServer, BffServer], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    core, bff = stack
    user = await core.create_user()
    browser = Browser(http, bff)
    await browser.login(user["email"], PASSWORD)
    schema = await http.get(f"{bff.url}/schema/openapi.json")
    assert schema.status_code == 200
    assert "/bff/login" in schema.json()["paths"]
    # Every check: no server error, and every answer (status, media type, body, headers) is one the
    # document declares; schema-valid requests accepted, invalid ones refused, unsupported methods 405.
    result = await _run(
        [
            SCHEMATHESIS,
            "run",
            f"{bff.url}/schema/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "10",
            "--header",
            "X-CSRF: 1",
            "--header",
            f"Cookie: {browser.cookie_name}={browser.cookie}",
            # Logging out or ending sessions would end the session this run is given.
            "--exclude-path-regex",
            r"^/bff/(logout|sessions/.*)$",
            "--seed",
            "20261128",
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
            "--suppress-health-check",
            "all",
            "--no-color",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert "Traceback" not in bff.log(), bff.log()[-4000:]


async def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import asyncio

    return await asyncio.to_thread(
        subprocess.run, args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
