"""The `latchkey` command line, run as operators run it: a subprocess, from any working directory."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from latchkey.cli import build_parser
from latchkey.core.security import credentials
from latchkey.core.security.credentials import Kind
from latchkey.devstack import LATCHKEY
from latchkey.settings import BffSettings, CoreSettings, declarations, settings_markdown
from tests.support import (
    PASSWORD,
    drop_database,
    migrated_database_url,
    new_database_url,
    new_key,
    unique_email,
)


def run(
    args: list[str], env: dict[str, str] | None = None, *, stdin: str | None = None, cwd: Path | str = "/"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LATCHKEY, *args],
        input=stdin,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand the parser knows, e.g. ("db",), ("db", "upgrade")."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from command_paths(sub, (*prefix, name))


def settings_for(url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "LATCHKEY_CORE_DATABASE_URL": url,
        "LATCHKEY_CORE_SECRET_KEY": new_key(),
        "LATCHKEY_CORE_FILES_DIR": str(tmp_path / "files"),
    }


@pytest.fixture
async def cli_env(backend: str, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """Settings for a fresh, unmigrated core database (absolute SQLite path, or a new PostgreSQL DB)."""
    url = await new_database_url(backend, tmp_path)
    yield settings_for(url, tmp_path)
    await drop_database(url)


@pytest.fixture
async def migrated(backend: str, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """Settings for a new core database at head: a copy of one `latchkey db upgrade core` migrated (the
    command itself is tested above, on a fresh database)."""
    url = await migrated_database_url(backend, tmp_path, "core")
    yield settings_for(url, tmp_path)
    await drop_database(url)


def assert_one_clean_error_line(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


def test_every_command_has_help() -> None:
    paths = list(command_paths(build_parser()))
    for expected in [("core",), ("db", "upgrade"), ("users", "create"), ("keys", "generate")]:
        assert expected in paths
    for path in [(), *paths]:
        result = run([*path, "--help"])
        assert result.returncode == 0, (path, result.stderr)
        assert result.stdout.startswith("usage: latchkey"), path
        assert result.stderr == ""


def test_no_command_is_a_usage_error() -> None:
    result = run([])
    assert result.returncode == 2
    assert "usage: latchkey" in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_generate_prints_a_kid_and_32_bytes() -> None:
    outputs = set()
    for _ in range(2):
        result = run(["keys", "generate"], {"LATCHKEY_CORE_SECRET_KEY": ""})
        assert result.returncode == 0, result.stderr
        line = result.stdout.strip()
        assert "\n" not in line
        kid, _, key = line.partition(":")
        assert kid
        assert ":" not in key
        assert set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 32
        outputs.add(line)
    assert len(outputs) == 2


@pytest.mark.parametrize("cwd", ["/", "tmp"])
def test_db_upgrade_from_any_directory_is_idempotent(
    cli_env: dict[str, str], tmp_path: Path, cwd: str
) -> None:
    workdir = Path("/") if cwd == "/" else tmp_path / "elsewhere"
    workdir.mkdir(exist_ok=True)
    for _ in range(2):
        result = run(["db", "upgrade", "core"], cli_env, cwd=workdir)
        assert result.returncode == 0, result.stderr
        assert "core: database at head" in result.stdout
    if cwd == "tmp":
        assert list(workdir.iterdir()) == []  # nothing (no alembic.ini, no var/) written to the cwd


def test_db_upgrade_with_bad_settings_fails_cleanly(tmp_path: Path) -> None:
    # Migrating needs only the database URLs, never a key.
    for target, variable in (("core", "LATCHKEY_CORE_DATABASE_URL"), ("bff", "LATCHKEY_BFF_DATABASE_URL")):
        result = run(["db", "upgrade", target], {variable: "mysql://nope"}, cwd=tmp_path)
        assert result.returncode == 2
        assert_one_clean_error_line(result)
        assert variable in result.stderr


def test_users_create_prints_the_spec_keys(migrated: dict[str, str], tmp_path: Path) -> None:
    email = unique_email("cli")
    result = run(
        ["users", "create", "--email", email.upper(), "--password-stdin", "--name", "Ada"],
        migrated,
        stdin=PASSWORD + "\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    member = json.loads(result.stdout)
    assert set(member) == {"id", "email", "role", "is_developer"}
    assert member["email"] == email
    assert member["role"] == "member"
    assert member["is_developer"] is False
    assert isinstance(member["id"], int)

    result = run(
        ["users", "create", "--email", unique_email("dev"), "--password-stdin", "--admin", "--developer"],
        migrated,
        stdin=PASSWORD + "\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    developer = json.loads(result.stdout)
    assert set(developer) == {"id", "email", "role", "is_developer", "client_secret"}
    assert developer["role"] == "admin"
    assert developer["is_developer"] is True
    assert credentials.parse(developer["client_secret"]) is Kind.CLIENT_SECRET
    assert developer["id"] != member["id"]


def test_users_create_refuses_a_duplicate_email(migrated: dict[str, str], tmp_path: Path) -> None:
    email = unique_email("dup")
    first = run(["users", "create", "--email", email, "--password-stdin"], migrated, stdin=PASSWORD)
    assert first.returncode == 0, first.stderr
    again = run(
        ["users", "create", "--email", email.upper(), "--password-stdin", "--developer"],
        migrated,
        stdin=PASSWORD + "\n",
    )
    assert_one_clean_error_line(again)
    assert "exists" in again.stderr


@pytest.mark.parametrize("password", ["short", ""])
def test_users_create_refuses_a_short_password(migrated: dict[str, str], password: str) -> None:
    result = run(
        ["users", "create", "--email", unique_email(), "--password-stdin"], migrated, stdin=password + "\n"
    )
    assert_one_clean_error_line(result)
    assert "8" in result.stderr  # the policy names its minimum


def test_users_create_refuses_a_bad_email(migrated: dict[str, str]) -> None:
    result = run(["users", "create", "--email", "not-an-email", "--password-stdin"], migrated, stdin=PASSWORD)
    assert_one_clean_error_line(result)


def test_users_create_marks_the_bffs_service_account(migrated: dict[str, str]) -> None:
    """`--forwards-client-ip` marks the one client whose X-Forwarded-For the core believes."""
    helped = run(["users", "create", "--help"])
    assert helped.returncode == 0
    flat = " ".join(helped.stdout.split())
    assert "--forwards-client-ip" in flat
    assert "the BFF's service account: its X-Forwarded-For is believed" in flat

    args = ["users", "create", "--email", unique_email("bff"), "--password-stdin", "--developer"]
    service = run([*args, "--forwards-client-ip"], migrated, stdin=PASSWORD + "\n")
    assert service.returncode == 0, service.stderr
    created = json.loads(service.stdout)
    assert created["forwards_client_ip"] is True
    assert credentials.parse(created["client_secret"]) is Kind.CLIENT_SECRET

    # Without the flag nothing changes in the printed object.
    args[3] = unique_email("dev")
    plain = json.loads(run(args, migrated, stdin=PASSWORD + "\n").stdout)
    assert set(plain) == {"id", "email", "role", "is_developer", "client_secret"}

    # Only a client can forward: the flag without --developer is refused in one line.
    refused = run(
        ["users", "create", "--email", unique_email(), "--password-stdin", "--forwards-client-ip"],
        migrated,
        stdin=PASSWORD + "\n",
    )
    assert_one_clean_error_line(refused)
    assert "--developer" in refused.stderr


def test_an_existing_developer_can_be_marked_and_unmarked(migrated: dict[str, str]) -> None:
    """Upgrading installs mark their BFF's existing service account once."""
    email = unique_email("bff")
    created = run(
        ["users", "create", "--email", email, "--password-stdin", "--developer"], migrated, stdin=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    marked = run(["users", "forwards-client-ip", "--email", email.upper()], migrated)
    assert marked.returncode == 0, marked.stderr
    assert json.loads(marked.stdout) == {
        "id": json.loads(created.stdout)["id"],
        "email": email,
        "forwards_client_ip": True,
    }
    unmarked = run(["users", "forwards-client-ip", "--email", email, "--off"], migrated)
    assert json.loads(unmarked.stdout)["forwards_client_ip"] is False

    member = unique_email("member")
    assert (
        run(["users", "create", "--email", member, "--password-stdin"], migrated, stdin=PASSWORD).returncode
        == 0
    )
    for args in (["--email", member], ["--email", unique_email("nobody")], ["--email", "not an email"]):
        assert_one_clean_error_line(run(["users", "forwards-client-ip", *args], migrated))


def test_latchkey_core_with_bad_env_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": str(Path(sys.executable).parent),
        "LATCHKEY_CORE_SECRET_KEY": "changethis",
        "LATCHKEY_ACCESS_TOKEN_TTL": "forever",
        "LATCHKEY_CORE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'core.db'}",
    }
    result = subprocess.run(
        [LATCHKEY, "core", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "LATCHKEY_CORE_SECRET_KEY" in lines[0]
    assert "LATCHKEY_ACCESS_TOKEN_TTL" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    # It never got as far as opening the database.
    assert not (tmp_path / "core.db").exists()


def test_latchkey_settings_prints_every_declared_variable() -> None:
    result = subprocess.run([LATCHKEY, "settings"], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == settings_markdown()
    printed = re.findall(r"^\| `(LATCHKEY_[A-Z_]+)` \|", result.stdout, flags=re.MULTILINE)
    declared = [d.env.variable for cls in (CoreSettings, BffSettings) for d in declarations(cls)]
    assert sorted(printed) == sorted(set(declared))
    assert len(printed) == len(set(printed))  # shared variables once
    # Every variable the SPEC's table names that these apps read today is declared.
    for variable in (
        "LATCHKEY_COOKIE_SAMESITE",
        "LATCHKEY_TRUSTED_PROXIES",
        "LATCHKEY_MAX_SESSIONS_PER_USER",
    ):
        assert variable in printed


def test_latchkey_openapi_prints_the_cores_document_deterministically() -> None:
    runs = [
        subprocess.run(
            [LATCHKEY, "openapi"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1]  # frontend/src/lib/core-api.ts is generated from it and checked for drift
    document = json.loads(runs[0])
    assert document["info"]["title"] == "Latchkey core API"
    assert "/v1/me" in document["paths"]
    assert "MeOut" in document["components"]["schemas"]
