"""Schemathesis against the live core's own OpenAPI document, with every check on: the document is a
complete contract (statuses, content types, headers, schemas, `Allow`; schema-valid requests accepted and
schema-invalid ones refused), and generated requests never get a 5xx.

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

from latchkey.core.admin.service import CURSOR_KIND as USERS_CURSOR
from latchkey.core.pagination import encode_cursor
from latchkey.core.projects.service import FILE_CURSOR_KIND, PROJECT_CURSOR_KIND
from latchkey.core.tokens.service import CURSOR_KIND as TOKENS_CURSOR
from tests.support import login

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
# Operations left out, each because a generated call would end this run's own credentials or cannot
# finish: a password change (signs out every other session, and five wrong current passwords lock the
# account for 15 minutes) and a secret rotation (replaces the run's client secret); the token endpoints
# (generated revocations and refresh-token reuse end the run's session; failed grants lock its account);
# raw file uploads (PUT: any body is a valid file, so the run would only fill the disk); and the event
# stream, which never ends.
EXCLUDED_PATHS = r"^/v1/(oauth/.*|events|me/password|me/client-secret/rotate)$"

# Cursors are opaque: any string the list never handed out is 400 `invalid_cursor`, which no schema can
# tell apart from a real one. Positive cases take a well-formed cursor of each list instead (negative
# ones still mutate it).
CONFIG = f"""
[[operations]]
include-name = "GET /v1/me/tokens"
parameters = {{ "query.cursor" = "{encode_cursor(TOKENS_CURSOR, 1)}" }}

[[operations]]
include-name = "GET /v1/admin/users"
parameters = {{ "query.cursor" = "{encode_cursor(USERS_CURSOR, 1)}" }}

[[operations]]
include-name = "GET /v1/projects"
parameters = {{ "query.cursor" = "{encode_cursor(PROJECT_CURSOR_KIND, 1)}" }}

[[operations]]
include-name = "GET /v1/projects/{{project_id}}/files"
parameters = {{ "query.cursor" = "{encode_cursor(FILE_CURSOR_KIND, "a")}" }}
"""


async def test_the_document_is_a_complete_contract(
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
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    result = await _run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(config),
            "run",
            f"{core.url}/schema/openapi.json",
            "--checks",
            "all",
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
