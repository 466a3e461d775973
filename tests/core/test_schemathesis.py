"""Schemathesis against the live core's own OpenAPI document: generated requests never get a 5xx.

It runs its CLI on a core of its own (so generated writes cannot disturb other tests), authenticated as a
fresh admin with a session token so that every authenticated path is exercised, not just its 401.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx

from tests.support import login

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
# Operations with side effects on the caller (a password change or secret rotation would end this run's
# own credentials), the token endpoints (rate limits, revocation), raw file uploads and the endless
# event stream.
EXCLUDED_PATHS = r"^/v1/(oauth/.*|events|me/password|me/client-secret/rotate)$"


async def test_no_generated_request_gets_a_server_error(
    core_factory: Any, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    core = await core_factory()
    admin = await core.create_user(admin=True, developer=True, name="Schemathesis")
    session = await login(http, core, admin["client_secret"], admin["email"])
    schema = await http.get(f"{core.url}/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/v1/admin/users" in paths
    assert "/v1/me" in paths

    junit = tmp_path / "junit.xml"
    result = await _run(
        [
            SCHEMATHESIS,
            "run",
            f"{core.url}/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--phases",
            "examples,coverage,fuzzing",
            "--header",
            f"Authorization: Bearer {session.access_token}",
            "--exclude-path-regex",
            EXCLUDED_PATHS,
            "--exclude-method",
            "PUT",
            # One worker: with two, hypothesis parses lambda sources in two threads at once, and CPython
            # 3.11's AST constructor is not thread-safe (SystemError "recursion depth mismatch").
            "--workers",
            "1",
            "--seed",
            "20240601",
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
            "--suppress-health-check",
            "all",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(junit),
        ],
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "Traceback" not in core.log(), core.log()[-4000:]

    # It really tested the API: the authenticated operations ran and passed.
    cases = {case.get("name", "") for case in ET.parse(junit).getroot().iter("testcase")}
    assert any("/v1/admin/users" in name for name in cases), cases
    assert any("GET /v1/me" in name for name in cases), cases
    assert len(cases) >= 10, cases
    for excluded in ["/v1/oauth/token", "/v1/events", "/v1/me/password", "PUT "]:
        assert not any(excluded in name for name in cases), (excluded, cases)
    # And the session is still good: nothing it ran ended its own credentials.
    me = await http.get(f"{core.url}/v1/me", headers=session.headers)
    assert me.status_code == 200


async def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import asyncio

    env = {**os.environ, "NO_COLOR": "1"}
    return await asyncio.to_thread(
        subprocess.run, args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
