"""The core's RFC 8693 token exchange of a real OpenID Provider's ID token (SPEC §4, §11).

The provider is `oidc-provider` (tests/oidc.py) with two clients: the BFF's, whose ID tokens the core
accepts, and another one's, whose tokens it must refuse. ID tokens come from complete code flows.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from latchkey import devstack
from tests.oidc import (
    ProviderAccount,
    ProviderBrowser,
    ProviderClient,
    ProviderConfig,
    sign_in_and_exchange,
    start_provider,
)
from tests.support import CoreServer, free_port, start_core, stop_core, unique_email

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
PASSWORD = "correct horse battery staple"


@dataclass
class World:
    core: CoreServer
    config: ProviderConfig
    bff: ProviderClient
    other: ProviderClient
    secret: str

    async def id_token(self, account: ProviderAccount, client: ProviderClient | None = None) -> str:
        async with ProviderBrowser(self.config.issuer) as browser:
            signed_in = await sign_in_and_exchange(browser, client or self.bff, account)
        return signed_in.id_token

    async def exchange(self, http: httpx.AsyncClient, id_token: str, **overrides: str) -> httpx.Response:
        form = {"grant_type": GRANT, "subject_token": id_token, "subject_token_type": ID_TOKEN, **overrides}
        return await http.post(
            f"{self.core.url}/v1/oauth/token", data=form, headers={"Authorization": f"Secret {self.secret}"}
        )


async def me_of(world: World, http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await http.get(f"{world.core.url}/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    me: dict[str, Any] = response.json()
    return me


def account(email: str | None = None, verified: bool = True) -> ProviderAccount:
    return ProviderAccount(email=email or unique_email("oidc"), password=PASSWORD, email_verified=verified)


ACCOUNTS = [account() for _ in range(8)] + [account(verified=False)]
UNVERIFIED = ACCOUNTS[8]


async def start_world(backend: str, workdir: Path, **core_env: str) -> tuple[World, devstack.Process]:
    port = free_port()
    bff = ProviderClient.for_bff("http://127.0.0.1:9")
    other = ProviderClient.for_bff("http://127.0.0.1:9")
    config = ProviderConfig(issuer=devstack.local_url(port), clients=[bff, other], accounts=ACCOUNTS)
    provider = await asyncio.to_thread(start_provider, workdir / "oidc", port, config)
    core = await start_core(
        backend,
        workdir / "core",
        LATCHKEY_OIDC_ISSUER=config.issuer,
        LATCHKEY_OIDC_CLIENT_ID=bff.client_id,
        **core_env,
    )
    client = await core.create_user(developer=True, forwards_client_ip=True, name="BFF")
    return World(core, config, bff, other, client["client_secret"]), provider


@pytest.fixture(scope="module")
async def world(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    created, provider = await start_world(backend, tmp_path_factory.mktemp("exchange"))
    yield created
    await stop_core(created.core)
    await asyncio.to_thread(provider.stop)


async def test_an_id_token_becomes_core_tokens_of_a_new_account_once(
    world: World, http: httpx.AsyncClient
) -> None:
    person = ACCOUNTS[0]
    id_token = await world.id_token(person)
    answer = await world.exchange(http, id_token)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and body["refresh_token"].startswith("lkr_")
    assert answer.headers["cache-control"] == "no-store"
    me = (
        await http.get(f"{world.core.url}/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    ).json()
    assert me["email"] == person.email.lower() and me["role"] == "member" and me["name"] == person.name
    assert me["has_password"] is False and me["provider_linked"] is True
    # No password to change: a clear refusal, not a guess counted against the account.
    change = await http.post(
        f"{world.core.url}/v1/me/password",
        json={"current_password": "anything at all", "new_password": "a brand new passphrase"},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert change.status_code == 409 and change.json()["code"] == "no_password"
    # Replayed: every unacceptable subject token is invalid_request (RFC 8693 §2.2.2).
    replay = await world.exchange(http, id_token)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_request"
    assert "already exchanged" in replay.json()["error_description"]
    # A second sign-in of the same provider account is the same core account.
    again = await world.exchange(http, await world.id_token(person))
    token = again.json()["access_token"]
    assert (await http.get(f"{world.core.url}/v1/me", headers={"Authorization": f"Bearer {token}"})).json()[
        "id"
    ] == me["id"]
    # It has no password: a password grant fails like a wrong password.
    grant = await http.post(
        f"{world.core.url}/v1/oauth/token",
        data={"grant_type": "password", "username": person.email, "password": ""},
        headers={"Authorization": f"Secret {world.secret}"},
    )
    assert grant.status_code == 400


async def test_the_chains_auth_time_is_the_providers_sign_in(world: World, http: httpx.AsyncClient) -> None:
    """A fresh provider sign-in opens the re-authentication window: a PAT can be created at once."""
    answer = await world.exchange(http, await world.id_token(ACCOUNTS[1]))
    token = answer.json()["access_token"]
    created = await http.post(
        f"{world.core.url}/v1/me/tokens",
        json={"name": "ci", "scopes": ["profile"], "expires_in_days": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text


async def test_an_existing_account_is_linked_by_its_verified_email(
    world: World, http: httpx.AsyncClient
) -> None:
    existing = await world.core.create_user(email=ACCOUNTS[2].email)
    answer = await world.exchange(http, await world.id_token(ACCOUNTS[2]))
    assert answer.status_code == 200, answer.text
    me = (
        await http.get(
            f"{world.core.url}/v1/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"}
        )
    ).json()
    assert me["id"] == existing["id"]
    assert me["has_password"] is True and me["provider_linked"] is True


async def test_an_unverified_email_never_links_nor_creates(world: World, http: httpx.AsyncClient) -> None:
    new = await world.exchange(http, await world.id_token(UNVERIFIED))
    assert new.status_code == 400 and "verified email" in new.json()["error_description"]
    await world.core.create_user(email=UNVERIFIED.email)  # same address, but the provider vouches for nothing
    existing = await world.exchange(http, await world.id_token(UNVERIFIED))
    assert existing.status_code == 400 and "verified email" in existing.json()["error_description"]


async def test_another_clients_id_token_is_refused(world: World, http: httpx.AsyncClient) -> None:
    answer = await world.exchange(http, await world.id_token(ACCOUNTS[4], world.other))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert "audience" in answer.json()["error_description"].lower()


async def test_a_disabled_account_is_refused(world: World, http: httpx.AsyncClient) -> None:
    person = ACCOUNTS[5]
    user = await world.core.create_user(email=person.email)
    admin = await world.core.create_user(admin=True)
    session = await admin_session(world, http, admin)
    patched = await http.patch(
        f"{world.core.url}/v1/admin/users/{user['id']}", json={"disabled": True}, headers=session
    )
    assert patched.status_code == 200, patched.text
    answer = await world.exchange(http, await world.id_token(person))
    assert answer.status_code == 400 and "disabled" in answer.json()["error_description"]


async def admin_session(world: World, http: httpx.AsyncClient, admin: dict[str, Any]) -> dict[str, str]:
    grant = await http.post(
        f"{world.core.url}/v1/oauth/token",
        data={"grant_type": "password", "username": admin["email"], "password": admin["password"]},
        headers={"Authorization": f"Secret {world.secret}"},
    )
    assert grant.status_code == 200, grant.text
    return {"Authorization": f"Bearer {grant.json()['access_token']}"}


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request"),
        ({"subject_token": "not-a-jwt"}, "invalid_request"),
        ({"subject_token": ""}, "invalid_request"),
        ({"subject_token": "e" * 20_000}, "invalid_request"),
    ],
)
async def test_malformed_exchanges_are_refused(
    world: World, http: httpx.AsyncClient, form: dict[str, str], error: str
) -> None:
    answer = await world.exchange(http, "placeholder", **form)
    assert answer.status_code in (400, 413)
    assert answer.json()["error"] in (error, "payload_too_large")


async def test_a_forged_id_token_is_refused(world: World, http: httpx.AsyncClient) -> None:
    real = await world.id_token(ACCOUNTS[6])
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    claims["sub"] = "someone-else"
    forged = jwt.encode(
        claims,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": header["kid"]},
    )
    answer = await world.exchange(http, forged)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


async def test_without_account_creation_only_existing_accounts_sign_in(
    backend: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    created, provider = await start_world(backend, tmp_path, LATCHKEY_OIDC_CREATE_USERS="false")
    try:
        unknown = await created.exchange(http, await created.id_token(ACCOUNTS[7]))
        assert unknown.status_code == 400 and "no account" in unknown.json()["error_description"]
        await created.core.create_user(email=ACCOUNTS[7].email)
        known = await created.exchange(http, await created.id_token(ACCOUNTS[7]))
        assert known.status_code == 200, known.text
    finally:
        await stop_core(created.core)
        await asyncio.to_thread(provider.stop)


async def test_without_a_provider_the_grant_is_unsupported(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    answer = await http.post(
        f"{core.url}/v1/oauth/token",
        data={"grant_type": GRANT, "subject_token": secrets.token_urlsafe(8), "subject_token_type": ID_TOKEN},
        headers={"Authorization": f"Secret {service_client['client_secret']}"},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"
