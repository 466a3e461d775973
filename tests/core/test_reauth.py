"""Sensitive actions need a recent password login: `auth_time` survives refreshes, a new login renews it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from tests.support import PASSWORD, CoreServer, Session, login, unique_email

REAUTH_WINDOW = 6  # generous: the suite runs in two processes on a shared machine


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def create_pat(http: httpx.AsyncClient, core: CoreServer, session: Session) -> httpx.Response:
    return await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": "reauth", "scopes": ["profile"], "expires_in_days": 30},
        headers=session.headers,
    )


async def refresh_grant(
    http: httpx.AsyncClient, core: CoreServer, client_secret: str, session: Session
) -> Session:
    response = await http.post(
        f"{core.url}/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": session.refresh_token},
        headers={"Authorization": f"Secret {client_secret}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Session(body["access_token"], body["refresh_token"], body)


async def create_user_as_admin(http: httpx.AsyncClient, core: CoreServer, session: Session) -> httpx.Response:
    return await http.post(
        f"{core.url}/v1/admin/users",
        json={"email": unique_email("reauth"), "password": PASSWORD, "role": "admin"},
        headers=session.headers,
    )


async def promote(
    http: httpx.AsyncClient, core: CoreServer, session: Session, user_id: int, role: str
) -> httpx.Response:
    return await http.patch(
        f"{core.url}/v1/admin/users/{user_id}", json={"role": role}, headers=session.headers
    )


async def end_previous_secret(http: httpx.AsyncClient, core: CoreServer, session: Session) -> httpx.Response:
    return await http.delete(f"{core.url}/v1/me/client-secret/previous", headers=session.headers)


async def test_sensitive_actions_need_a_recent_password_login(
    core_factory: Callable[..., Awaitable[CoreServer]], http: httpx.AsyncClient
) -> None:
    core = await core_factory(LATCHKEY_REAUTH_WINDOW=str(REAUTH_WINDOW))
    developer = await core.create_user(developer=True, admin=True)
    secret = developer["client_secret"]
    session = await login(http, core, secret, developer["email"])
    member = await core.create_user()

    # Right after the password grant: allowed, admin writes included.
    created = await create_pat(http, core, session)
    assert created.status_code == 201, created.text
    token_id = created.json()["id"]
    assert (await http.get(f"{core.url}/v1/me/client-secret", headers=session.headers)).status_code == 200
    made = await create_user_as_admin(http, core, session)
    assert made.status_code == 201, made.text
    assert (await promote(http, core, session, member["id"], "member")).status_code == 200
    # Ending the previous client secret is sensitive too (a no-op here: there is none yet).
    assert (await end_previous_secret(http, core, session)).status_code == 204

    await asyncio.sleep(REAUTH_WINDOW + 0.5)

    # The session itself still works, and so do the actions that are not sensitive...
    assert (await http.get(f"{core.url}/v1/me", headers=session.headers)).status_code == 200
    assert (await http.get(f"{core.url}/v1/me/tokens", headers=session.headers)).status_code == 200
    assert (await http.get(f"{core.url}/v1/admin/users", headers=session.headers)).status_code == 200
    # ...but the sensitive ones need the password again.
    assert_problem(await create_user_as_admin(http, core, session), 403, "reauth_required")
    assert_problem(await promote(http, core, session, member["id"], "admin"), 403, "reauth_required")
    assert_problem(await promote(http, core, session, made.json()["id"], "admin"), 403, "reauth_required")
    assert_problem(await end_previous_secret(http, core, session), 403, "reauth_required")
    assert_problem(await create_pat(http, core, session), 403, "reauth_required")
    assert_problem(
        await http.post(f"{core.url}/v1/me/tokens/{token_id}/refresh", headers=session.headers),
        403,
        "reauth_required",
    )
    assert_problem(
        await http.get(f"{core.url}/v1/me/client-secret", headers=session.headers), 403, "reauth_required"
    )
    assert_problem(
        await http.post(f"{core.url}/v1/me/client-secret/rotate", headers=session.headers),
        403,
        "reauth_required",
    )
    assert_problem(
        await http.post(
            f"{core.url}/v1/me/password",
            json={"current_password": developer["password"], "new_password": "a brand new password"},
            headers=session.headers,
        ),
        403,
        "reauth_required",
    )

    # A refresh-token grant carries auth_time unchanged: still too old.
    refreshed = await refresh_grant(http, core, secret, session)
    assert (await http.get(f"{core.url}/v1/me", headers=refreshed.headers)).status_code == 200
    assert_problem(await create_pat(http, core, refreshed), 403, "reauth_required")

    assert_problem(await create_user_as_admin(http, core, refreshed), 403, "reauth_required")
    assert_problem(await promote(http, core, refreshed, member["id"], "admin"), 403, "reauth_required")

    # A new password grant starts a fresh window.
    fresh = await login(http, core, secret, developer["email"])
    assert (await create_user_as_admin(http, core, fresh)).status_code == 201
    promoted = await promote(http, core, fresh, member["id"], "admin")
    assert promoted.status_code == 200, promoted.text
    assert (await end_previous_secret(http, core, fresh)).status_code == 204
    again = await create_pat(http, core, fresh)
    assert again.status_code == 201, again.text
    refreshed_pat = await http.post(f"{core.url}/v1/me/tokens/{token_id}/refresh", headers=fresh.headers)
    assert refreshed_pat.status_code == 201, refreshed_pat.text
    assert (await http.get(f"{core.url}/v1/me/client-secret", headers=fresh.headers)).json()[
        "secret"
    ] == secret
    # Revoking is not sensitive (it only ever takes power away), so the old session may still do it.
    revoked = await http.delete(f"{core.url}/v1/me/tokens/{again.json()['id']}", headers=refreshed.headers)
    assert revoked.status_code == 204, revoked.text
