"""`POST /v1/oauth/token` and `POST /v1/oauth/revoke` over HTTP against a real core process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select, update

from latchkey.core.models import RefreshToken, TokenChain
from latchkey.core.security import credentials
from latchkey.core.security.credentials import Kind
from latchkey.db import Database
from tests.support import CoreServer, Session, login, password_grant, random_ip, unique_email

MEMBER_SCOPE = "profile projects:read projects:write"


@pytest.fixture(scope="module")
async def other_client(core: CoreServer) -> dict[str, Any]:
    """A second developer account: a confidential client other than `service_client`."""
    return await core.create_user(developer=True, name="Other client")


@pytest.fixture
async def core_db(core: CoreServer) -> AsyncIterator[Database]:
    db = Database(core.database_url)
    yield db
    await db.dispose()


def secret_auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Secret {secret}"}


async def token_request(
    http: httpx.AsyncClient, core: CoreServer, secret: str, data: dict[str, str]
) -> httpx.Response:
    return await http.post(f"{core.url}/v1/oauth/token", data=data, headers=secret_auth(secret))


async def refresh(
    http: httpx.AsyncClient, core: CoreServer, secret: str, refresh_token: str
) -> httpx.Response:
    return await token_request(
        http, core, secret, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def revoke(
    http: httpx.AsyncClient, core: CoreServer, secret: str, data: dict[str, str]
) -> httpx.Response:
    return await http.post(f"{core.url}/v1/oauth/revoke", data=data, headers=secret_auth(secret))


async def me_status(http: httpx.AsyncClient, core: CoreServer, access_token: str) -> int:
    response = await http.get(f"{core.url}/v1/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error
    assert body["code"] == error
    assert response.headers["cache-control"] == "no-store"


def assert_token_answer(response: httpx.Response, scope: str = MEMBER_SCOPE) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body: dict[str, Any] = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert credentials.parse(body["access_token"]) is Kind.ACCESS
    assert credentials.parse(body["refresh_token"]) is Kind.REFRESH
    assert body["token_type"] == "Bearer"
    assert body["scope"] == scope
    return body


async def test_password_grant_issues_a_bearer_pair(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    user = await core.create_user()
    response = await password_grant(
        http, core, service_client["client_secret"], user["email"], ip=random_ip()
    )
    body = assert_token_answer(response)
    assert body["expires_in"] == 900
    me = await http.get(f"{core.url}/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == user["email"]


async def test_username_is_case_insensitive_and_admins_get_the_admin_scope(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    admin = await core.create_user(admin=True)
    response = await password_grant(
        http, core, service_client["client_secret"], f"  {admin['email'].upper()} ", ip=random_ip()
    )
    assert_token_answer(response, scope=f"{MEMBER_SCOPE} admin")


async def test_wrong_password_and_unknown_user_answer_alike(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    user = await core.create_user()
    secret = service_client["client_secret"]
    wrong: list[httpx.Response] = []
    unknown: list[httpx.Response] = []
    wrong_times: list[float] = []
    unknown_times: list[float] = []
    for _ in range(4):
        started = time.perf_counter()
        wrong.append(
            await password_grant(http, core, secret, user["email"], "not the password", ip=random_ip())
        )
        wrong_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        unknown.append(await password_grant(http, core, secret, unique_email("ghost"), ip=random_ip()))
        unknown_times.append(time.perf_counter() - started)
    for response in wrong + unknown:
        assert_oauth_error(response, 400, "invalid_grant")
        assert "www-authenticate" not in response.headers
    assert {r.text for r in wrong} == {r.text for r in unknown}
    # Unknown users are checked against a dummy hash, so they are not answered measurably faster.
    assert min(unknown_times) > 0.5 * min(wrong_times), (unknown_times, wrong_times)


async def test_secret_is_accepted_only_on_oauth_routes(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    response = await http.get(f"{core.url}/v1/me", headers=secret_auth(service_client["client_secret"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_missing_or_wrong_client_secret_is_invalid_client(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    form = {"grant_type": "password", "username": unique_email(), "password": "whatever1"}
    unregistered = credentials.generate(Kind.CLIENT_SECRET)
    bad_checksum = unregistered[:-1] + ("A" if unregistered[-1] != "A" else "B")
    attempts = [
        {},
        secret_auth(unregistered),
        secret_auth(bad_checksum),
        secret_auth(credentials.generate(Kind.REFRESH)),
        {"Authorization": "Secret"},
        {"Authorization": f"Bearer {member_session.access_token}"},
        {"Authorization": f"Basic {unregistered}"},
    ]
    for headers in attempts:
        for path, data in (("token", form), ("revoke", {"token": member_session.refresh_token})):
            response = await http.post(f"{core.url}/v1/oauth/{path}", data=data, headers=headers)
            assert_oauth_error(response, 401, "invalid_client")
            assert response.headers["www-authenticate"].startswith("Secret")
    # Nothing was revoked by the unauthenticated revocations.
    assert await me_status(http, core, member_session.access_token) == 200


async def test_refresh_rotates_and_the_old_access_token_lives_on(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Session
) -> None:
    secret = service_client["client_secret"]
    first = assert_token_answer(await refresh(http, core, secret, member_session.refresh_token))
    assert first["access_token"] != member_session.access_token
    assert first["refresh_token"] != member_session.refresh_token
    second = assert_token_answer(await refresh(http, core, secret, first["refresh_token"]))
    # Every access token of the chain works until it expires.
    for access_token in (member_session.access_token, first["access_token"], second["access_token"]):
        assert await me_status(http, core, access_token) == 200


async def test_reuse_within_five_seconds_gets_a_working_sibling_pair(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Session
) -> None:
    secret = service_client["client_secret"]
    first = assert_token_answer(await refresh(http, core, secret, member_session.refresh_token))
    sibling = assert_token_answer(await refresh(http, core, secret, member_session.refresh_token))
    assert sibling["refresh_token"] != first["refresh_token"]
    assert sibling["access_token"] != first["access_token"]
    for pair in (first, sibling):
        assert await me_status(http, core, pair["access_token"]) == 200
        assert_token_answer(await refresh(http, core, secret, pair["refresh_token"]))


async def test_parallel_refreshes_with_one_token_all_succeed(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Session
) -> None:
    secret = service_client["client_secret"]
    answers = await asyncio.gather(
        *(refresh(http, core, secret, member_session.refresh_token) for _ in range(4))
    )
    bodies = [assert_token_answer(answer) for answer in answers]
    assert len({body["refresh_token"] for body in bodies}) == 4


async def test_reuse_after_the_grace_revokes_the_whole_chain(
    core: CoreServer,
    http: httpx.AsyncClient,
    service_client: dict[str, Any],
    member: dict[str, Any],
    member_session: Session,
    core_db: Database,
) -> None:
    secret = service_client["client_secret"]
    other_session = await login(http, core, secret, member["email"])
    rotated = assert_token_answer(await refresh(http, core, secret, member_session.refresh_token))
    # Age the rotation past the 5-second grace instead of sleeping.
    async with core_db.write() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == credentials.token_hash(member_session.refresh_token))
            .values(rotated_at=datetime.now(UTC) - timedelta(seconds=6))
        )

    assert_oauth_error(await refresh(http, core, secret, member_session.refresh_token), 400, "invalid_grant")
    # The thief's or the victim's newer tokens die with the chain, access tokens included.
    assert await me_status(http, core, rotated["access_token"]) == 401
    assert await me_status(http, core, member_session.access_token) == 401
    assert_oauth_error(await refresh(http, core, secret, rotated["refresh_token"]), 400, "invalid_grant")
    # The user's other logins are separate chains and keep working.
    assert await me_status(http, core, other_session.access_token) == 200
    assert_token_answer(await refresh(http, core, secret, other_session.refresh_token))


async def test_revoking_a_refresh_token_ends_its_chain(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Session
) -> None:
    secret = service_client["client_secret"]
    rotated = assert_token_answer(await refresh(http, core, secret, member_session.refresh_token))
    response = await revoke(
        http, core, secret, {"token": rotated["refresh_token"], "token_type_hint": "refresh_token"}
    )
    assert response.status_code == 200, response.text
    assert response.content == b""
    for access_token in (member_session.access_token, rotated["access_token"]):
        assert await me_status(http, core, access_token) == 401
    assert_oauth_error(await refresh(http, core, secret, rotated["refresh_token"]), 400, "invalid_grant")
    # Revoking again is still a quiet 200.
    assert (await revoke(http, core, secret, {"token": rotated["refresh_token"]})).status_code == 200


async def test_revoking_an_access_token_leaves_the_chain(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Session
) -> None:
    secret = service_client["client_secret"]
    # A wrong hint does not matter: the prefix says what the token is.
    response = await revoke(
        http, core, secret, {"token": member_session.access_token, "token_type_hint": "refresh_token"}
    )
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert await me_status(http, core, member_session.access_token) == 401
    rotated = assert_token_answer(await refresh(http, core, secret, member_session.refresh_token))
    assert await me_status(http, core, rotated["access_token"]) == 200


async def test_revoke_answers_200_to_tokens_it_will_not_touch(
    core: CoreServer,
    http: httpx.AsyncClient,
    service_client: dict[str, Any],
    other_client: dict[str, Any],
    member_session: Session,
) -> None:
    foreign = other_client["client_secret"]
    for token in (
        "garbage",
        credentials.generate(Kind.REFRESH),
        credentials.generate(Kind.ACCESS),
        credentials.generate(Kind.PERSONAL),
        member_session.refresh_token[:-1],
        member_session.refresh_token,  # issued to service_client, not to this client
        member_session.access_token,
    ):
        response = await revoke(http, core, foreign, {"token": token})
        assert response.status_code == 200, response.text
        assert response.content == b""
    assert await me_status(http, core, member_session.access_token) == 200
    assert_token_answer(
        await refresh(http, core, service_client["client_secret"], member_session.refresh_token)
    )


async def test_a_refresh_token_only_works_for_its_own_client(
    core: CoreServer,
    http: httpx.AsyncClient,
    service_client: dict[str, Any],
    other_client: dict[str, Any],
    member_session: Session,
) -> None:
    stolen = await refresh(http, core, other_client["client_secret"], member_session.refresh_token)
    assert_oauth_error(stolen, 400, "invalid_grant")
    # The failed attempt neither consumed nor revoked the token for its rightful client.
    assert_token_answer(
        await refresh(http, core, service_client["client_secret"], member_session.refresh_token)
    )
    assert await me_status(http, core, member_session.access_token) == 200


async def test_invalid_refresh_tokens_are_invalid_grant(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Session
) -> None:
    secret = service_client["client_secret"]
    for value in (
        "nonsense",
        credentials.generate(Kind.REFRESH),
        member_session.access_token,
        member_session.refresh_token[:-1] + ("0" if member_session.refresh_token[-1] != "0" else "1"),
    ):
        assert_oauth_error(await refresh(http, core, secret, value), 400, "invalid_grant")


async def test_form_errors(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    url = f"{core.url}/v1/oauth/token"
    auth = secret_auth(secret)
    password = {"grant_type": "password", "username": member["email"], "password": member["password"]}

    as_json = await http.post(url, json=password, headers=auth)
    assert_oauth_error(as_json, 415, "unsupported_media_type")
    assert (
        await http.post(f"{core.url}/v1/oauth/revoke", json={"token": "x"}, headers=auth)
    ).status_code == 415

    cases: list[tuple[Any, str]] = [
        ({}, "invalid_request"),
        ({"grant_type": ""}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": member["email"]}, "invalid_request"),
        ({"grant_type": "password", "password": member["password"]}, "invalid_request"),
        ({**password, "password": ""}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ([*password.items(), ("password", "other password")], "invalid_request"),
        ([*password.items(), ("grant_type", "password")], "invalid_request"),
        ([*password.items(), ("scope", "a"), ("scope", "b")], "invalid_request"),
        ({**password, "client_secret": secret}, "invalid_request"),
        ({**password, "client_id": "bff"}, "invalid_request"),
    ]
    for data, error in cases:
        response = await http.post(
            url,
            content=urlencode(data).encode(),
            headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert_oauth_error(response, 400, error)

    missing_token = await revoke(http, core, secret, {"token_type_hint": "refresh_token"})
    assert_oauth_error(missing_token, 400, "invalid_request")


async def test_openapi_documents_the_form_bodies(core: CoreServer, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{core.url}/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    for path, field in (("/v1/oauth/token", "grant_type"), ("/v1/oauth/revoke", "token")):
        operation = document["paths"][path]["post"]
        content = operation["requestBody"]["content"]
        assert set(content) == {"application/x-www-form-urlencoded"}
        reference = content["application/x-www-form-urlencoded"]["schema"]["$ref"]
        schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
        assert schema["required"] == [field]
        assert {"200", "400", "401", "415"} <= set(operation["responses"])
        assert operation["security"] == [{"secret": []}]


async def test_access_tokens_never_outlive_their_chain(
    core: CoreServer,
    http: httpx.AsyncClient,
    service_client: dict[str, Any],
    member_session: Session,
    core_db: Database,
) -> None:
    secret = service_client["client_secret"]

    async def set_chain_expiry(refresh_token: str, expires_at: datetime) -> None:
        async with core_db.write() as session:
            chain_id = await session.scalar(
                select(RefreshToken.chain_id).where(
                    RefreshToken.token_hash == credentials.token_hash(refresh_token)
                )
            )
            await session.execute(
                update(TokenChain).where(TokenChain.id == chain_id).values(expires_at=expires_at)
            )

    await set_chain_expiry(member_session.refresh_token, datetime.now(UTC) + timedelta(seconds=30))
    rotated = assert_token_answer(await refresh(http, core, secret, member_session.refresh_token))
    assert 1 <= rotated["expires_in"] <= 30

    await set_chain_expiry(rotated["refresh_token"], datetime.now(UTC) - timedelta(seconds=1))
    assert_oauth_error(await refresh(http, core, secret, rotated["refresh_token"]), 400, "invalid_grant")
