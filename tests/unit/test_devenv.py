"""`just dev`'s files (`latchkey/devenv.py`): var/dev.env gets the OpenID Provider's settings when written and
when an older one lacks them, and the dev provider's config carries the seeded people and the BFF client.
Running it all (bash sourcing the file included) is tests/test_just_dev.py's."""

from __future__ import annotations

import json
from pathlib import Path

from latchkey import devenv

PROVIDER_KEYS = (
    "LATCHKEY_OIDC_ISSUER",
    "LATCHKEY_OIDC_CLIENT_ID",
    "LATCHKEY_OIDC_CLIENT_SECRET",
    "LATCHKEY_OIDC_NAME",
)


def entries(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if "=" in line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_a_new_dev_env_names_the_provider_with_a_random_client_secret(tmp_path: Path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    devenv.init(first)
    devenv.init(second)
    written = entries(first)
    assert written["LATCHKEY_OIDC_ISSUER"] == "http://127.0.0.1:8002"
    assert written["LATCHKEY_OIDC_CLIENT_ID"] == "latchkey-bff"
    assert written["LATCHKEY_OIDC_NAME"] == '"Latchkey Demo ID"'
    assert len(written["LATCHKEY_OIDC_CLIENT_SECRET"]) >= 32
    assert written["LATCHKEY_OIDC_CLIENT_SECRET"] != entries(second)["LATCHKEY_OIDC_CLIENT_SECRET"]
    assert first.stat().st_mode & 0o777 == 0o600


def test_an_older_dev_env_gets_the_missing_provider_settings_once(tmp_path: Path) -> None:
    path = tmp_path / "dev.env"
    path.write_text("LATCHKEY_ENV=dev\nLATCHKEY_OIDC_CLIENT_ID=mine\n")
    devenv.add_provider_settings(path)
    devenv.add_provider_settings(path)
    written = entries(path)
    assert written["LATCHKEY_OIDC_CLIENT_ID"] == "mine"  # what is there stays
    assert all(key in written for key in PROVIDER_KEYS)
    lines = path.read_text().splitlines()
    assert all(sum(line.startswith(f"{key}=") for line in lines) == 1 for key in PROVIDER_KEYS)


def test_the_provider_config_has_the_seeded_people_and_the_bff_client(tmp_path: Path) -> None:
    env = {
        "LATCHKEY_OIDC_ISSUER": "http://127.0.0.1:8002",
        "LATCHKEY_OIDC_CLIENT_ID": "latchkey-bff",
        "LATCHKEY_OIDC_CLIENT_SECRET": "s3cret",
        "LATCHKEY_OIDC_NAME": "Latchkey Demo ID",
        "LATCHKEY_DEMO_EMAIL": "demo@latchkey.test",
        "LATCHKEY_DEMO_PASSWORD": "demo-pass",
        "LATCHKEY_DEV_EMAIL": "dev@latchkey.test",
        "LATCHKEY_DEV_PASSWORD": "dev-pass",
    }
    config_path = tmp_path / "var" / "oidc-provider.json"
    command = devenv.provider_command(env, config_path)
    assert command[-4:] == ["--config", str(config_path), "--port", "8002"]
    assert command[1].endswith("e2e/oidc/provider.mjs")
    assert config_path.stat().st_mode & 0o777 == 0o600
    config = json.loads(config_path.read_text())
    assert config["issuer"] == "http://127.0.0.1:8002" and config["name"] == "Latchkey Demo ID"
    people = {account["email"]: account for account in config["accounts"]}
    assert people["demo@latchkey.test"]["password"] == "demo-pass"
    assert people["dev@latchkey.test"]["password"] == "dev-pass"
    assert all(account["email_verified"] is True for account in people.values())
    # The same person keeps the same `sub` across restarts (the core links accounts by it).
    again = devenv.provider_config(env)
    assert [a["sub"] for a in again["accounts"]] == [a["sub"] for a in config["accounts"]]
    [client] = config["clients"]
    assert client["client_id"] == "latchkey-bff" and client["client_secret"] == "s3cret"
    assert "http://127.0.0.1:8000/bff/callback" in client["redirect_uris"]
    assert "http://127.0.0.1:8000/" in client["post_logout_redirect_uris"]
    assert client["backchannel_logout_uri"] == "http://127.0.0.1:8000/bff/backchannel-logout"
