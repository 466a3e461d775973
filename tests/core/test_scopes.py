"""What a token may reach: scopes, the role behind them, session-only routes, and bad credentials."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from latchkey.core.security import credentials
from latchkey.core.security.credentials import Kind
from tests.support import CoreServer, Session, login

pytestmark = pytest.mark.database_agnostic


async def new_pat(http: httpx.AsyncClient, core: CoreServer, session: Session, scopes: list[str]) -> str:
    response = await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": "scoped", "scopes": scopes, "expires_in_days": 7},
        headers=session.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_read_scope_cannot_write(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    token = await new_pat(http, core, member_session, ["projects:read"])
    listed = await http.get(f"{core.url}/v1/projects", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    created = await http.post(f"{core.url}/v1/projects", json={"name": "nope"}, headers=bearer(token))
    assert_problem(created, 403, "insufficient_scope")
    assert 'error="insufficient_scope"' in created.headers["www-authenticate"]
    # Nor does it carry the profile scope it was not given.
    assert_problem(await http.get(f"{core.url}/v1/me", headers=bearer(token)), 403, "insufficient_scope")
    assert (await http.get(f"{core.url}/v1/projects", headers=bearer(token))).json()["items"] == []


async def test_profile_scope_cannot_read_projects(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    token = await new_pat(http, core, member_session, ["profile"])
    assert (await http.get(f"{core.url}/v1/me", headers=bearer(token))).status_code == 200
    assert_problem(
        await http.get(f"{core.url}/v1/projects", headers=bearer(token)), 403, "insufficient_scope"
    )


async def test_admin_scope_on_a_members_token_grants_nothing(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    # Stored as asked (201), but narrowed to the member role on every request.
    token = await new_pat(http, core, member_session, ["admin", "profile"])
    response = await http.get(f"{core.url}/v1/admin/users", headers=bearer(token))
    assert_problem(response, 403, "insufficient_scope")
    assert (await http.get(f"{core.url}/v1/me", headers=bearer(token))).status_code == 200


async def test_admins_token_with_admin_scope_reaches_admin_routes(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    admin = await core.create_user(admin=True)
    session = await login(http, core, service_client["client_secret"], admin["email"])
    with_admin = await new_pat(http, core, session, ["admin"])
    without = await new_pat(http, core, session, ["profile"])
    assert (await http.get(f"{core.url}/v1/admin/users", headers=bearer(with_admin))).status_code == 200
    assert_problem(
        await http.get(f"{core.url}/v1/admin/users", headers=bearer(without)), 403, "insufficient_scope"
    )


async def test_pat_cannot_manage_tokens_secrets_or_password(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    developer = await core.create_user(developer=True)
    session = await login(http, core, service_client["client_secret"], developer["email"])
    token = await new_pat(http, core, session, ["profile", "projects:read", "projects:write"])
    token_id = (await http.get(f"{core.url}/v1/me/tokens", headers=session.headers)).json()["items"][0]["id"]
    headers = bearer(token)
    attempts = [
        await http.get(f"{core.url}/v1/me/tokens", headers=headers),
        await http.post(
            f"{core.url}/v1/me/tokens",
            json={"name": "more", "scopes": ["profile"], "expires_in_days": 366},
            headers=headers,
        ),
        await http.post(f"{core.url}/v1/me/tokens/{token_id}/refresh", headers=headers),
        await http.delete(f"{core.url}/v1/me/tokens/{token_id}", headers=headers),
        await http.get(f"{core.url}/v1/me/client-secret", headers=headers),
        await http.post(f"{core.url}/v1/me/client-secret/rotate", headers=headers),
        await http.post(
            f"{core.url}/v1/me/password",
            json={"current_password": developer["password"], "new_password": "another long password"},
            headers=headers,
        ),
    ]
    for response in attempts:
        assert_problem(response, 403, "session_token_required")
        assert developer["client_secret"] not in response.text
    # Nothing changed: the token still works, it is still the only one, and so is the secret.
    assert (await http.get(f"{core.url}/v1/me", headers=headers)).status_code == 200
    assert len((await http.get(f"{core.url}/v1/me/tokens", headers=session.headers)).json()["items"]) == 1
    secret = await http.get(f"{core.url}/v1/me/client-secret", headers=session.headers)
    assert secret.json()["secret"] == developer["client_secret"]


async def test_missing_token_is_a_challenge(core: CoreServer, http: httpx.AsyncClient) -> None:
    for response in (
        await http.get(f"{core.url}/v1/me"),
        await http.get(f"{core.url}/v1/me/tokens"),
        await http.get(f"{core.url}/v1/me", headers={"Authorization": "Bearer"}),
    ):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith('Bearer realm="')
        assert response.headers["content-type"].startswith("application/problem+json")
    missing = await http.get(f"{core.url}/v1/me")
    assert 'error="' not in missing.headers["www-authenticate"]  # RFC 6750 §3.1: no error without a token


async def test_bad_tokens_are_invalid_token(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    well_formed_unknown = credentials.generate(Kind.PERSONAL)
    mistyped = well_formed_unknown[:-1] + ("A" if well_formed_unknown[-1] != "A" else "B")
    for value in (
        "garbage",
        well_formed_unknown,
        mistyped,
        credentials.generate(Kind.ACCESS),
        credentials.generate(Kind.REFRESH),
        service_client["client_secret"],  # a client secret is not a bearer token
        "lkp_" + "A" * 49,
    ):
        response = await http.get(f"{core.url}/v1/me", headers=bearer(value))
        assert_problem(response, 401, "invalid_token")
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="')
        assert 'error="invalid_token"' in challenge
    other_scheme = await http.get(f"{core.url}/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert other_scheme.status_code == 401


async def test_two_authorization_headers_are_refused(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    response = await http.get(
        f"{core.url}/v1/me",
        headers=[
            ("Authorization", f"Bearer {member_session.access_token}"),
            ("Authorization", f"Bearer {member_session.access_token}"),
        ],
    )
    assert_problem(response, 400, "invalid_request")
    assert (await http.get(f"{core.url}/v1/me", headers=member_session.headers)).status_code == 200


async def test_session_token_has_every_scope_of_its_role(
    core: CoreServer, http: httpx.AsyncClient, member: dict[str, Any], member_session: Session
) -> None:
    me = await http.get(f"{core.url}/v1/me", headers=member_session.headers)
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": member["id"],
        "email": member["email"],
        "name": "Test User",
        "role": "member",
        "is_developer": False,
        "created_at": me.json()["created_at"],
        # What the role allows, in catalogue order (the SPA offers these when creating a PAT).
        "scopes": ["profile", "projects:read", "projects:write"],
        "has_password": True,
        "provider_linked": False,
    }
    assert (await http.get(f"{core.url}/v1/projects", headers=member_session.headers)).status_code == 200
    assert_problem(
        await http.get(f"{core.url}/v1/admin/users", headers=member_session.headers),
        403,
        "insufficient_scope",
    )
