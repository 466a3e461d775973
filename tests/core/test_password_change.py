"""Changing the password: other sessions end, this one and the PATs stay, the new password logs in."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import CoreServer, Session, login, password_grant, random_ip

NEW_PASSWORD = "a completely different passphrase"


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def change(
    http: httpx.AsyncClient, core: CoreServer, session: Session, current: str, new: str
) -> httpx.Response:
    return await http.post(
        f"{core.url}/v1/me/password",
        json={"current_password": current, "new_password": new},
        headers=session.headers,
    )


async def refresh(
    http: httpx.AsyncClient, core: CoreServer, client_secret: str, session: Session
) -> httpx.Response:
    return await http.post(
        f"{core.url}/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": session.refresh_token},
        headers={"Authorization": f"Secret {client_secret}"},
    )


async def me(http: httpx.AsyncClient, core: CoreServer, headers: dict[str, str]) -> httpx.Response:
    return await http.get(f"{core.url}/v1/me", headers=headers)


async def test_password_change_ends_other_sessions_only(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    caller = await login(http, core, secret, user["email"])
    other = await login(http, core, secret, user["email"])
    another = await login(http, core, secret, user["email"])
    pat = await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": "script", "scopes": ["profile"], "expires_in_days": 30},
        headers=caller.headers,
    )
    assert pat.status_code == 201, pat.text
    pat_headers = {"Authorization": f"Bearer {pat.json()['token']}"}
    # Someone else's session is not touched either.
    bystander_user = await core.create_user()
    bystander = await login(http, core, secret, bystander_user["email"])

    changed = await change(http, core, caller, user["password"], NEW_PASSWORD)
    assert changed.status_code == 204, changed.text
    assert changed.content == b""

    # Other chains: their access tokens fail on the next request, their refresh tokens fail too.
    for ended in (other, another):
        response = await me(http, core, ended.headers)
        assert_problem(response, 401, "invalid_token")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        refused = await refresh(http, core, secret, ended)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"

    # The caller's chain keeps working, through a refresh too; PATs stay; the bystander is untouched.
    assert (await me(http, core, caller.headers)).status_code == 200
    renewed = await refresh(http, core, secret, caller)
    assert renewed.status_code == 200, renewed.text
    renewed_headers = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert (await me(http, core, renewed_headers)).status_code == 200
    assert (await me(http, core, pat_headers)).status_code == 200
    assert (await me(http, core, bystander.headers)).status_code == 200

    # The old password no longer logs in; the new one does.
    old = await password_grant(http, core, secret, user["email"], user["password"], ip=random_ip())
    assert old.status_code == 400, old.text
    assert old.json()["error"] == "invalid_grant"
    fresh = await login(http, core, secret, user["email"], NEW_PASSWORD)
    assert (await me(http, core, fresh.headers)).status_code == 200


async def test_wrong_current_password_is_refused(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    caller = await login(http, core, secret, user["email"])
    other = await login(http, core, secret, user["email"])

    assert_problem(await change(http, core, caller, "not my password", NEW_PASSWORD), 403, "invalid_password")
    # Nothing happened: other sessions live on, the old password still logs in, the new one does not.
    assert (await me(http, core, other.headers)).status_code == 200
    still = await password_grant(http, core, secret, user["email"], user["password"], ip=random_ip())
    assert still.status_code == 200, still.text
    new = await password_grant(http, core, secret, user["email"], NEW_PASSWORD, ip=random_ip())
    assert new.status_code == 400, new.text


async def test_new_password_must_meet_the_policy(
    core: CoreServer,
    http: httpx.AsyncClient,
    service_client: dict[str, Any],
    member: dict[str, Any],
    member_session: Session,
) -> None:
    assert_problem(
        await change(http, core, member_session, member["password"], "short"), 422, "weak_password"
    )
    assert_problem(
        await change(http, core, member_session, member["password"], "x" * 1025), 422, "password_too_long"
    )
    missing = await http.post(
        f"{core.url}/v1/me/password", json={"new_password": NEW_PASSWORD}, headers=member_session.headers
    )
    assert_problem(missing, 400, "validation_failed")
    as_form = await http.post(
        f"{core.url}/v1/me/password",
        data={"current_password": member["password"], "new_password": NEW_PASSWORD},
        headers=member_session.headers,
    )
    assert_problem(as_form, 415, "unsupported_media_type")
    # The password is unchanged.
    still = await password_grant(
        http, core, service_client["client_secret"], member["email"], member["password"], ip=random_ip()
    )
    assert still.status_code == 200, still.text


async def test_repeated_wrong_current_passwords_are_throttled(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    user = await core.create_user()
    caller = await login(http, core, service_client["client_secret"], user["email"])
    for _ in range(5):
        assert_problem(
            await change(http, core, caller, "guess guess guess", NEW_PASSWORD), 403, "invalid_password"
        )
    # The sixth attempt is refused before any check, right password or not.
    for current in ("guess guess guess", user["password"]):
        limited = await change(http, core, caller, current, NEW_PASSWORD)
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) > 0
    # The password did not change.
    assert (
        await password_grant(
            http, core, service_client["client_secret"], user["email"], user["password"], ip=random_ip()
        )
    ).status_code == 200


async def test_new_password_equal_to_the_current_one_is_refused(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    caller = await login(http, core, secret, user["email"])
    other = await login(http, core, secret, user["email"])

    assert_problem(
        await change(http, core, caller, user["password"], user["password"]), 422, "password_unchanged"
    )
    # Nothing happened: the other session lives on.
    assert (await me(http, core, other.headers)).status_code == 200
    # A wrong current password is still the answer when both are the same wrong one (no oracle).
    assert_problem(
        await change(http, core, caller, "not my password", "not my password"), 403, "invalid_password"
    )
    # And a real change still works afterwards.
    assert (await change(http, core, caller, user["password"], NEW_PASSWORD)).status_code == 204
