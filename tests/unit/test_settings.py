"""Settings: declared once, read by one loader that names every bad variable in one line, documented from
the same declarations (`latchkey settings`, docs/configuration.md)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import msgspec
import pytest

from latchkey.settings import (
    BffSettings,
    CoreSettings,
    SettingsError,
    declarations,
    load_bff_settings,
    load_core_settings,
    load_one,
    settings_markdown,
)
from tests.support import new_key

GOOD = {"LATCHKEY_CORE_SECRET_KEY": new_key()}


def problems_of(env: dict[str, str]) -> tuple[list[str], str]:
    with pytest.raises(SettingsError) as info:
        load_core_settings(env)
    return [name for name, _ in info.value.problems], str(info.value)


def test_defaults_with_only_a_key() -> None:
    settings = load_core_settings(GOOD)
    assert isinstance(settings, CoreSettings)
    assert settings.env == "production"
    assert settings.database_url == "sqlite+aiosqlite:///var/core.db"
    assert len(settings.secret_key) == 32
    assert (settings.access_token_ttl, settings.refresh_token_ttl) == (900, 86400)
    assert settings.secret_rotation_grace == 86400
    assert settings.reauth_window == 900
    assert settings.max_body_bytes == 104_857_600
    assert settings.max_streams_per_user == 16
    assert settings.redis_url is None
    assert load_core_settings({**GOOD, "LATCHKEY_MAX_STREAMS_PER_USER": "1"}).max_streams_per_user == 1


def test_reads_every_variable() -> None:
    settings = load_core_settings(
        {
            **GOOD,
            "LATCHKEY_ENV": "dev",
            "LATCHKEY_CORE_DATABASE_URL": "postgresql+asyncpg://u@db/latchkey",
            "LATCHKEY_CORE_FILES_DIR": "/srv/files",
            "LATCHKEY_ACCESS_TOKEN_TTL": "60",
            "LATCHKEY_REFRESH_TOKEN_TTL": "120",
            "LATCHKEY_SECRET_ROTATION_GRACE": "0",
            "LATCHKEY_REAUTH_WINDOW": "30",
            "LATCHKEY_MAX_BODY_BYTES": "4096",
            "LATCHKEY_REDIS_URL": "rediss://user:pw@cache.internal:6380/2",
        }
    )
    assert settings.redis_url == "rediss://user:pw@cache.internal:6380/2"
    assert settings.env == "dev"
    assert settings.database_url == "postgresql+asyncpg://u@db/latchkey"
    assert settings.files_dir == Path("/srv/files")
    assert (settings.access_token_ttl, settings.refresh_token_ttl) == (60, 120)
    assert (settings.secret_rotation_grace, settings.reauth_window, settings.max_body_bytes) == (0, 30, 4096)


@pytest.mark.parametrize("env", [{}, {"LATCHKEY_CORE_SECRET_KEY": "   "}])
def test_missing_key_is_refused(env: dict[str, str]) -> None:
    names, message = problems_of(env)
    assert names == ["LATCHKEY_CORE_SECRET_KEY"]
    assert "latchkey keys generate" in message


@pytest.mark.parametrize(
    "value",
    [
        base64.urlsafe_b64encode(b"k" * 16).decode(),  # too short
        base64.urlsafe_b64encode(bytes(range(33))).decode(),  # too long
        base64.urlsafe_b64encode(b"\0" * 32).decode(),  # placeholder: all zeros
        base64.urlsafe_b64encode((b"abcdefg" * 5)[:32]).decode(),  # placeholder: few distinct bytes
        "changethis",
        "not base64 at all!",
    ],
)
def test_bad_or_placeholder_key_is_refused(value: str) -> None:
    names, _ = problems_of({"LATCHKEY_CORE_SECRET_KEY": value})
    assert names == ["LATCHKEY_CORE_SECRET_KEY"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LATCHKEY_ACCESS_TOKEN_TTL", "ten"),
        ("LATCHKEY_ACCESS_TOKEN_TTL", "0"),
        ("LATCHKEY_REFRESH_TOKEN_TTL", "1.5"),
        ("LATCHKEY_SECRET_ROTATION_GRACE", "-1"),
        ("LATCHKEY_REAUTH_WINDOW", "0x10"),
        ("LATCHKEY_MAX_BODY_BYTES", "12"),
        ("LATCHKEY_MAX_STREAMS_PER_USER", "0"),
        ("LATCHKEY_MAX_STREAMS_PER_USER", "many"),
        ("LATCHKEY_ENV", "staging"),
        ("LATCHKEY_CORE_DATABASE_URL", "mysql://root@localhost/latchkey"),
        ("LATCHKEY_CORE_DATABASE_URL", "sqlite:///var/core.db"),
        ("LATCHKEY_REDIS_URL", "http://127.0.0.1:6379"),
        ("LATCHKEY_REDIS_URL", "redis://"),
        ("LATCHKEY_REDIS_URL", "redis://cache:port/0"),
        ("LATCHKEY_REDIS_URL", "127.0.0.1:6379"),
        ("LATCHKEY_OIDC_ISSUER", "ftp://id.example.com"),
        ("LATCHKEY_OIDC_ISSUER", "https://id.example.com?x=1"),
        ("LATCHKEY_OIDC_ISSUER", "https://user:pw@id.example.com"),
    ],
)
def test_bad_value_is_named(name: str, value: str) -> None:
    names, message = problems_of({**GOOD, name: value})
    assert names == [name]
    assert name in message


def test_every_bad_variable_is_named_in_one_line() -> None:
    bad = {
        "LATCHKEY_ENV": "staging",
        "LATCHKEY_CORE_DATABASE_URL": "mysql://x",
        "LATCHKEY_CORE_SECRET_KEY": "short",
        "LATCHKEY_ACCESS_TOKEN_TTL": "soon",
        "LATCHKEY_REFRESH_TOKEN_TTL": "-5",
        "LATCHKEY_SECRET_ROTATION_GRACE": "a day",
        "LATCHKEY_REAUTH_WINDOW": "",  # empty means default, not an error
        "LATCHKEY_MAX_BODY_BYTES": "1e9",
    }
    names, message = problems_of(bad)
    expected = {name for name, value in bad.items() if value}
    assert set(names) == expected
    assert "\n" not in message
    for name in expected:
        assert name in message


def test_configuration_doc_is_generated_from_the_declarations() -> None:
    # docs/configuration.md ends with exactly what `latchkey settings` prints (`just configuration`).
    doc = (Path(__file__).parent.parent.parent / "docs" / "configuration.md").read_text()
    marker = "<!-- generated by `latchkey settings` (`just configuration`): do not edit below this line -->\n"
    assert marker in doc
    assert doc.split(marker, 1)[1] == settings_markdown(), "run `just configuration`"


def test_every_settings_field_is_declared_with_a_variable() -> None:
    for cls in (CoreSettings, BffSettings):
        fields = [info.name for info in msgspec.structs.fields(cls)]
        assert [d.field for d in declarations(cls)] == fields
        for declared in declarations(cls):
            assert declared.env.variable.startswith("LATCHKEY_")
            assert declared.env.doc and "\n" not in declared.env.doc


def test_a_default_is_what_an_unset_or_empty_variable_gives() -> None:
    # The declared default is the only one: an empty variable reads as unset.
    settings = load_core_settings({**GOOD, "LATCHKEY_ACCESS_TOKEN_TTL": "  ", "LATCHKEY_LOG_LEVEL": ""})
    assert settings.access_token_ttl == 900
    assert settings.log_level == "info"
    bff = load_bff_settings(
        {"LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "a" * 49, "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}"}
    )
    assert (bff.cookie_name, bff.cookie_samesite, bff.max_sessions_per_user) == (
        "__Host-latchkey",
        "strict",
        20,
    )
    assert load_one(CoreSettings, "database_url", {}) == "sqlite+aiosqlite:///var/core.db"
    with pytest.raises(SettingsError, match="LATCHKEY_BFF_DATABASE_URL"):
        load_one(BffSettings, "database_url", {"LATCHKEY_BFF_DATABASE_URL": "mysql://x"})


def test_the_table_names_every_declared_variable_once() -> None:
    printed = re.findall(r"^\| `(LATCHKEY_[A-Z_]+)` \|", settings_markdown(), flags=re.MULTILINE)
    declared = [d.env.variable for cls in (CoreSettings, BffSettings) for d in declarations(cls)]
    assert sorted(printed) == sorted(set(declared))
    assert len(printed) == len(set(printed))  # variables both apps read appear once


def test_an_issuer_needs_a_client_id_and_http_only_on_loopback_or_in_dev() -> None:
    names, _ = problems_of({**GOOD, "LATCHKEY_OIDC_ISSUER": "https://id.example.com"})
    assert names == ["LATCHKEY_OIDC_CLIENT_ID"]
    with_client = {**GOOD, "LATCHKEY_OIDC_CLIENT_ID": "latchkey"}
    names, _ = problems_of({**with_client, "LATCHKEY_OIDC_ISSUER": "http://id.example.com"})
    assert names == ["LATCHKEY_OIDC_ISSUER"]
    for loopback in (
        "http://127.0.0.1:8002",
        "http://localhost:8002",
        "http://[::1]:8002",
        "http://127.9.9.9",
    ):
        settings = load_core_settings({**with_client, "LATCHKEY_OIDC_ISSUER": loopback})
        assert settings.oidc_issuer == loopback and settings.oidc_create_users is True
    dev = load_core_settings(
        {**with_client, "LATCHKEY_ENV": "dev", "LATCHKEY_OIDC_ISSUER": "http://idp.test"}
    )
    assert dev.oidc_issuer == "http://idp.test"
    closed = load_core_settings({**with_client, "LATCHKEY_OIDC_CREATE_USERS": "false"})
    assert closed.oidc_create_users is False


BFF = {"LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}", "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "a" * 49}
PROVIDER = {
    "LATCHKEY_OIDC_ISSUER": "https://id.example.com",
    "LATCHKEY_OIDC_CLIENT_ID": "latchkey",
    "LATCHKEY_OIDC_CLIENT_SECRET": "s3cret",
}


def bff_problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_bff_settings(env)
    return [name for name, _ in info.value.problems]


def test_the_bffs_login_methods_follow_the_provider() -> None:
    assert load_bff_settings(BFF).login_methods == ("password",)
    with_provider = load_bff_settings({**BFF, **PROVIDER})
    assert with_provider.login_methods == ("password", "oidc")
    assert with_provider.oidc_scopes == ("openid", "email", "profile")
    assert with_provider.oidc_name == "your identity provider"
    only = load_bff_settings({**BFF, **PROVIDER, "LATCHKEY_LOGIN_METHODS": "oidc"})
    assert only.login_methods == ("oidc",)
    assert bff_problems({**BFF, "LATCHKEY_LOGIN_METHODS": "oidc"}) == ["LATCHKEY_LOGIN_METHODS"]
    assert bff_problems({**BFF, "LATCHKEY_LOGIN_METHODS": "password,magic"}) == ["LATCHKEY_LOGIN_METHODS"]
    secretless = {key: value for key, value in PROVIDER.items() if key != "LATCHKEY_OIDC_CLIENT_SECRET"}
    assert bff_problems({**BFF, **secretless}) == ["LATCHKEY_OIDC_CLIENT_SECRET"]
    no_openid = {**BFF, **PROVIDER, "LATCHKEY_OIDC_SCOPES": "email profile"}
    assert bff_problems(no_openid) == ["LATCHKEY_OIDC_SCOPES"]
    scoped = load_bff_settings({**BFF, **PROVIDER, "LATCHKEY_OIDC_SCOPES": "openid  email openid"})
    assert scoped.oidc_scopes == ("openid", "email")
