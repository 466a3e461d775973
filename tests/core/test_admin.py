"""The admin API over real HTTP: listing, creating and changing users, and what disabling a user does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from latchkey.core.security import credentials
from latchkey.core.security.credentials import Kind
from tests.support import PASSWORD, CoreServer, Session, login, password_grant, random_ip, unique_email

USER_KEYS = {"id", "email", "name", "role", "is_developer", "disabled", "created_at"}


@pytest.fixture(scope="module")
async def admin(core: CoreServer) -> dict[str, Any]:
    """One admin (seeded through the CLI, as operators do) shared by this module's tests."""
    return await core.create_user(admin=True, name="Admin")


@pytest.fixture(scope="module")
async def admin_session(core: CoreServer, service_client: dict[str, Any], admin: dict[str, Any]) -> Session:
    async with httpx.AsyncClient(timeout=30) as client:
        return await login(client, core, service_client["client_secret"], admin["email"])


@pytest.fixture
async def person(core: CoreServer, http: httpx.AsyncClient, admin_session: Session) -> dict[str, Any]:
    """A fresh member, created through the admin API (cheaper than a CLI process per test)."""
    response = await create_via_api(http, core, admin_session, name="Person")
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


@pytest.fixture
async def person_session(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], person: dict[str, Any]
) -> Session:
    return await login(http, core, service_client["client_secret"], person["email"])


async def create_via_api(
    http: httpx.AsyncClient, core: CoreServer, session: Session, **fields: Any
) -> httpx.Response:
    body = {"email": unique_email("adm"), "password": PASSWORD, **fields}
    return await http.post(f"{core.url}/v1/admin/users", json=body, headers=session.headers)


async def patch_user(
    http: httpx.AsyncClient, core: CoreServer, session: Session, user_id: int, **changes: Any
) -> httpx.Response:
    return await http.patch(f"{core.url}/v1/admin/users/{user_id}", json=changes, headers=session.headers)


async def create_pat(http: httpx.AsyncClient, core: CoreServer, session: Session, scopes: list[str]) -> str:
    response = await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": "admin-test", "scopes": scopes, "expires_in_days": 1},
        headers=session.headers,
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def all_users(http: httpx.AsyncClient, core: CoreServer, session: Session) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = await http.get(f"{core.url}/v1/admin/users", params=params, headers=session.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        users.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return users


# --- listing ---------------------------------------------------------------------------------------------


async def test_list_pages_through_every_user(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, admin: dict[str, Any]
) -> None:
    created = []
    for i in range(5):  # with the admin and the service client, at least the 6 paged through below
        response = await create_via_api(http, core, admin_session, name=f"Listed {i}")
        created.append(response.json())
    seen = await all_users(http, core, admin_session)
    ids = [user["id"] for user in seen]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    # Small pages walk the same sequence (the shared core may hold many users: check the first few).
    paged: list[dict[str, Any]] = []
    cursor = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await http.get(f"{core.url}/v1/admin/users", params=params, headers=admin_session.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) == 2
        paged.extend(page["items"])
        cursor = page["next_cursor"]
        assert isinstance(cursor, str)
    assert [user["id"] for user in paged] == ids[:6]
    by_id = {user["id"]: user for user in seen}
    for user in [*created, admin]:
        listed = by_id[user["id"]]
        assert set(listed) == USER_KEYS
        assert listed["email"] == user["email"]
        assert listed["role"] == user["role"]
        assert listed["disabled"] is False
    assert by_id[created[0]["id"]]["name"] == "Listed 0"
    assert "T" in by_id[admin["id"]]["created_at"]  # ISO 8601


@pytest.mark.parametrize("cursor", ["garbage", "dTotMQ", "x" * 150, "dTo5OTk5OTk5OTk5OTk5OQ", "~~"])
async def test_bad_cursor_is_400(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, cursor: str
) -> None:
    response = await http.get(
        f"{core.url}/v1/admin/users", params={"cursor": cursor}, headers=admin_session.headers
    )
    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1e3"])
async def test_bad_limit_is_400(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, limit: str
) -> None:
    response = await http.get(
        f"{core.url}/v1/admin/users", params={"limit": limit}, headers=admin_session.headers
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


# --- who may call it -------------------------------------------------------------------------------------


async def test_member_gets_insufficient_scope(
    core: CoreServer, http: httpx.AsyncClient, person_session: Session, person: dict[str, Any]
) -> None:
    for response in [
        await http.get(f"{core.url}/v1/admin/users", headers=person_session.headers),
        await create_via_api(http, core, person_session),
        await patch_user(http, core, person_session, person["id"], role="admin"),
    ]:
        assert_problem(response, 403, "insufficient_scope")
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_members_pat_asking_for_admin_scope_gets_403(
    core: CoreServer, http: httpx.AsyncClient, person_session: Session, person: dict[str, Any]
) -> None:
    pat = await create_pat(http, core, person_session, ["admin", "profile"])
    headers = {"Authorization": f"Bearer {pat}"}
    assert (await http.get(f"{core.url}/v1/me", headers=headers)).status_code == 200
    assert_problem(await http.get(f"{core.url}/v1/admin/users", headers=headers), 403, "insufficient_scope")
    response = await http.patch(
        f"{core.url}/v1/admin/users/{person['id']}", json={"role": "admin"}, headers=headers
    )
    # Admin writes refuse every PAT before looking at its scopes.
    assert_problem(response, 403, "session_token_required")


async def test_admin_pat_without_admin_scope_gets_403(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session
) -> None:
    pat = await create_pat(http, core, admin_session, ["profile"])
    response = await http.get(f"{core.url}/v1/admin/users", headers={"Authorization": f"Bearer {pat}"})
    assert_problem(response, 403, "insufficient_scope")
    admin_pat = await create_pat(http, core, admin_session, ["admin"])
    response = await http.get(f"{core.url}/v1/admin/users", headers={"Authorization": f"Bearer {admin_pat}"})
    assert response.status_code == 200, response.text


async def test_admin_writes_refuse_an_admin_pat(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, person: dict[str, Any]
) -> None:
    """A leaked admin PAT can read the user list but cannot create or promote anyone."""
    pat = await create_pat(http, core, admin_session, ["admin", "profile"])
    headers = {"Authorization": f"Bearer {pat}"}
    assert (await http.get(f"{core.url}/v1/admin/users", headers=headers)).status_code == 200
    writes = [
        await http.post(
            f"{core.url}/v1/admin/users",
            json={"email": unique_email("pat"), "password": PASSWORD, "role": "admin"},
            headers=headers,
        ),
        await http.patch(
            f"{core.url}/v1/admin/users/{person['id']}", json={"role": "admin"}, headers=headers
        ),
        await http.patch(
            f"{core.url}/v1/admin/users/{person['id']}", json={"is_developer": True}, headers=headers
        ),
        await http.patch(
            f"{core.url}/v1/admin/users/{person['id']}", json={"disabled": True}, headers=headers
        ),
        await http.patch(f"{core.url}/v1/admin/users/{person['id']}", json={}, headers=headers),
    ]
    for response in writes:
        assert_problem(response, 403, "session_token_required")
    # Nothing changed.
    users = {user["id"]: user for user in await all_users(http, core, admin_session)}
    assert (users[person["id"]]["role"], users[person["id"]]["is_developer"]) == ("member", False)
    assert users[person["id"]]["disabled"] is False


async def test_no_token_is_401(core: CoreServer, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{core.url}/v1/admin/users")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


# --- creating --------------------------------------------------------------------------------------------


async def test_create_member_who_can_then_log_in(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, service_client: dict[str, Any]
) -> None:
    email = unique_email("new")
    response = await create_via_api(http, core, admin_session, email=f"  {email.upper()} ", name=" Grace ")
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == USER_KEYS
    assert user["email"] == email
    assert user["name"] == "Grace"
    assert (user["role"], user["is_developer"], user["disabled"]) == ("member", False, False)
    session = await login(http, core, service_client["client_secret"], email)
    me = (await http.get(f"{core.url}/v1/me", headers=session.headers)).json()
    assert me["id"] == user["id"]
    listed = {u["id"]: u for u in await all_users(http, core, admin_session)}
    assert listed[user["id"]] == user


async def test_create_admin_developer_without_showing_the_secret(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, service_client: dict[str, Any]
) -> None:
    response = await create_via_api(http, core, admin_session, role="admin", is_developer=True)
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == USER_KEYS  # no client_secret, no password hash
    assert "lks_" not in response.text
    assert (user["role"], user["is_developer"]) == ("admin", True)
    # The owner sees the secret under Developer Settings, and it works as a client secret.
    session = await login(http, core, service_client["client_secret"], user["email"])
    shown = await http.get(f"{core.url}/v1/me/client-secret", headers=session.headers)
    assert shown.status_code == 200, shown.text
    secret = shown.json()["secret"]
    assert credentials.parse(secret) is Kind.CLIENT_SECRET
    own = await password_grant(http, core, secret, user["email"], ip=random_ip())
    assert own.status_code == 200, own.text


async def test_create_refuses_duplicate_email(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, person: dict[str, Any]
) -> None:
    response = await create_via_api(http, core, admin_session, email=person["email"].upper())
    assert_problem(response, 409, "email_taken")


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"password": "short"}, 422, "weak_password"),
        ({"password": "x" * 1025}, 400, "validation_failed"),
        ({"email": "no-at-sign"}, 422, "invalid_email"),
        ({"email": "nul\u0000@example.test"}, 422, "invalid_email"),
        ({"name": "bell\u0007"}, 422, "invalid_name"),
        ({"name": "n" * 201}, 400, "validation_failed"),
        ({"role": "owner"}, 400, "validation_failed"),
        ({"is_developer": "yes please"}, 400, "validation_failed"),
        ({"admin": True}, 400, "validation_failed"),
        ({"email": None}, 400, "validation_failed"),
    ],
)
async def test_create_refuses_bad_fields(
    core: CoreServer,
    http: httpx.AsyncClient,
    admin_session: Session,
    fields: dict[str, Any],
    status: int,
    code: str,
) -> None:
    assert_problem(await create_via_api(http, core, admin_session, **fields), status, code)


async def test_create_refuses_missing_password_and_non_json(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session
) -> None:
    url = f"{core.url}/v1/admin/users"
    response = await http.post(url, json={"email": unique_email()}, headers=admin_session.headers)
    assert_problem(response, 400, "validation_failed")
    response = await http.post(
        url, data={"email": unique_email(), "password": PASSWORD}, headers=admin_session.headers
    )
    assert_problem(response, 415, "unsupported_media_type")


# --- changing --------------------------------------------------------------------------------------------


async def test_promote_and_demote(
    core: CoreServer,
    http: httpx.AsyncClient,
    admin_session: Session,
    service_client: dict[str, Any],
    person: dict[str, Any],
) -> None:
    response = await patch_user(http, core, admin_session, person["id"], role="admin")
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert set(response.json()) == USER_KEYS
    promoted = await login(http, core, service_client["client_secret"], person["email"])
    assert (await http.get(f"{core.url}/v1/admin/users", headers=promoted.headers)).status_code == 200
    assert "admin" in promoted.raw["scope"].split()

    response = await patch_user(http, core, admin_session, person["id"], role="member")
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "member"
    # The same token loses the admin scope on its next request: scopes are narrowed by the role now.
    response = await http.get(f"{core.url}/v1/admin/users", headers=promoted.headers)
    assert_problem(response, 403, "insufficient_scope")


async def test_an_empty_patch_changes_nothing(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, person: dict[str, Any]
) -> None:
    response = await patch_user(http, core, admin_session, person["id"])
    assert response.status_code == 200, response.text
    user = response.json()
    assert (user["email"], user["role"], user["disabled"]) == (person["email"], "member", False)


async def test_becoming_a_developer_issues_a_client_secret_and_leaving_stops_it(
    core: CoreServer,
    http: httpx.AsyncClient,
    admin_session: Session,
    service_client: dict[str, Any],
    person: dict[str, Any],
) -> None:
    session = await login(http, core, service_client["client_secret"], person["email"])
    before = await http.get(f"{core.url}/v1/me/client-secret", headers=session.headers)
    assert_problem(before, 403, "developer_required")

    response = await patch_user(http, core, admin_session, person["id"], is_developer=True)
    assert response.status_code == 200, response.text
    assert response.json()["is_developer"] is True
    assert "lks_" not in response.text
    shown = await http.get(f"{core.url}/v1/me/client-secret", headers=session.headers)
    assert shown.status_code == 200, shown.text
    secret = shown.json()["secret"]
    assert (await password_grant(http, core, secret, person["email"], ip=random_ip())).status_code == 200

    # No longer a developer: the secret stops authenticating at once.
    response = await patch_user(http, core, admin_session, person["id"], is_developer=False)
    assert response.json()["is_developer"] is False
    refused = await password_grant(http, core, secret, person["email"], ip=random_ip())
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"

    # Back again: a fresh secret is issued; the retired one never works again.
    response = await patch_user(http, core, admin_session, person["id"], is_developer=True)
    assert response.status_code == 200
    again = await http.get(f"{core.url}/v1/me/client-secret", headers=session.headers)
    assert again.status_code == 200, again.text
    fresh = again.json()["secret"]
    assert fresh != secret
    assert again.json()["previous_valid_until"] is None
    revived = await password_grant(http, core, secret, person["email"], ip=random_ip())
    assert revived.status_code == 401
    assert revived.json()["error"] == "invalid_client"
    assert (await password_grant(http, core, fresh, person["email"], ip=random_ip())).status_code == 200


async def test_admin_cannot_disable_or_demote_themselves(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, admin: dict[str, Any]
) -> None:
    for changes in [{"disabled": True}, {"role": "member"}, {"role": "member", "disabled": False}]:
        response = await patch_user(http, core, admin_session, admin["id"], **changes)
        assert_problem(response, 409, "cannot_modify_self")
    # Harmless changes to oneself are fine.
    response = await patch_user(http, core, admin_session, admin["id"], disabled=False, role="admin")
    assert response.status_code == 200, response.text
    assert (await http.get(f"{core.url}/v1/admin/users", headers=admin_session.headers)).status_code == 200


@pytest.mark.parametrize("user_id", ["999999999", "0", "-1", "99999999999999999999999"])
async def test_unknown_user_is_404(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, user_id: str
) -> None:
    response = await http.patch(
        f"{core.url}/v1/admin/users/{user_id}", json={"disabled": True}, headers=admin_session.headers
    )
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "body", [{"disabled": "yes"}, {"role": "root"}, {"disable": True}, [], "true", {"is_developer": 1.5}]
)
async def test_patch_refuses_bad_bodies(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, person: dict[str, Any], body: Any
) -> None:
    response = await http.patch(
        f"{core.url}/v1/admin/users/{person['id']}", json=body, headers=admin_session.headers
    )
    assert_problem(response, 400, "validation_failed")


# --- disabling -------------------------------------------------------------------------------------------


async def test_disabling_stops_every_token_at_once(
    core: CoreServer,
    http: httpx.AsyncClient,
    admin_session: Session,
    service_client: dict[str, Any],
    person: dict[str, Any],
) -> None:
    secret = service_client["client_secret"]
    session = await login(http, core, secret, person["email"])
    pat = await create_pat(http, core, session, ["profile", "projects:read"])
    pat_headers = {"Authorization": f"Bearer {pat}"}
    for headers in [session.headers, pat_headers]:
        assert (await http.get(f"{core.url}/v1/me", headers=headers)).status_code == 200

    response = await patch_user(http, core, admin_session, person["id"], disabled=True)
    assert response.status_code == 200, response.text
    assert response.json()["disabled"] is True

    for headers in [session.headers, pat_headers]:
        refused = await http.get(f"{core.url}/v1/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid_token"
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    refresh = await http.post(
        f"{core.url}/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": session.refresh_token},
        headers={"Authorization": f"Secret {secret}"},
    )
    assert refresh.status_code == 400, refresh.text
    assert refresh.json()["error"] == "invalid_grant"
    grant = await password_grant(http, core, secret, person["email"], ip=random_ip())
    assert grant.status_code == 400, grant.text
    assert grant.json()["error"] == "invalid_grant"
    listed = {u["id"]: u for u in await all_users(http, core, admin_session)}
    assert listed[person["id"]]["disabled"] is True

    # Re-enabled: the old login stays dead (its chain was revoked), the PAT works again, and the user
    # can log in afresh.
    response = await patch_user(http, core, admin_session, person["id"], disabled=False)
    assert response.status_code == 200
    assert response.json()["disabled"] is False
    assert (await http.get(f"{core.url}/v1/me", headers=session.headers)).status_code == 401
    refresh = await http.post(
        f"{core.url}/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": session.refresh_token},
        headers={"Authorization": f"Secret {secret}"},
    )
    assert refresh.status_code == 400, refresh.text
    assert (await http.get(f"{core.url}/v1/me", headers=pat_headers)).status_code == 200
    fresh = await login(http, core, secret, person["email"])
    assert (await http.get(f"{core.url}/v1/me", headers=fresh.headers)).status_code == 200


async def test_disabled_developers_client_secret_stops_working(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, person: dict[str, Any]
) -> None:
    developer = await core.create_user(developer=True)
    grant = await password_grant(http, core, developer["client_secret"], person["email"], ip=random_ip())
    assert grant.status_code == 200, grant.text
    response = await patch_user(http, core, admin_session, developer["id"], disabled=True)
    assert response.status_code == 200
    grant = await password_grant(http, core, developer["client_secret"], person["email"], ip=random_ip())
    assert grant.status_code == 401
    assert grant.json()["error"] == "invalid_client"


async def test_another_admin_can_disable_an_admin(
    core: CoreServer,
    http: httpx.AsyncClient,
    admin_session: Session,
    service_client: dict[str, Any],
) -> None:
    other = (await create_via_api(http, core, admin_session, role="admin")).json()
    other_session = await login(http, core, service_client["client_secret"], other["email"])
    response = await patch_user(http, core, admin_session, other["id"], disabled=True)
    assert response.status_code == 200, response.text
    refused = await http.get(f"{core.url}/v1/admin/users", headers=other_session.headers)
    assert refused.status_code == 401


async def test_leaving_developer_retires_every_secret_even_one_in_grace(
    core: CoreServer,
    http: httpx.AsyncClient,
    admin_session: Session,
    service_client: dict[str, Any],
    person: dict[str, Any],
) -> None:
    assert (await patch_user(http, core, admin_session, person["id"], is_developer=True)).status_code == 200
    session = await login(http, core, service_client["client_secret"], person["email"])
    url = f"{core.url}/v1/me/client-secret"
    first = (await http.get(url, headers=session.headers)).json()["secret"]
    second = (await http.post(f"{url}/rotate", headers=session.headers)).json()["secret"]
    assert (await password_grant(http, core, first, person["email"], ip=random_ip())).status_code == 200

    assert (await patch_user(http, core, admin_session, person["id"], is_developer=False)).status_code == 200
    # Turning it off twice, then on: neither the current nor the in-grace secret comes back.
    assert (await patch_user(http, core, admin_session, person["id"], is_developer=False)).status_code == 200
    assert (await patch_user(http, core, admin_session, person["id"], is_developer=True)).status_code == 200
    for retired in (first, second):
        response = await password_grant(http, core, retired, person["email"], ip=random_ip())
        assert response.status_code == 401, response.text
    view = (await http.get(url, headers=session.headers)).json()
    assert view["secret"] not in (first, second)
    assert view["previous_valid_until"] is None
    assert (
        await password_grant(http, core, view["secret"], person["email"], ip=random_ip())
    ).status_code == 200
