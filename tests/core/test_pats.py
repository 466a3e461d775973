"""Personal access tokens over HTTP: create, use, list, refresh, revoke, expiry, validation, paging."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from latchkey.broadcast import LOCAL_TTL
from latchkey.core.models import PersonalAccessToken
from latchkey.db import Database
from tests.support import CoreServer, Session, login

PAT_FORMAT = re.compile(r"^lkp_[A-Za-z0-9]{49}$")


async def create_pat(
    http: httpx.AsyncClient,
    core: CoreServer,
    session: Session,
    *,
    name: str = "ci",
    scopes: list[str] | None = None,
    days: int = 30,
) -> httpx.Response:
    return await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": name, "scopes": scopes if scopes is not None else ["profile"], "expires_in_days": days},
        headers=session.headers,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def list_pats(
    http: httpx.AsyncClient, core: CoreServer, session: Session, **params: Any
) -> httpx.Response:
    response = await http.get(f"{core.url}/v1/me/tokens", headers=session.headers, params=params)
    return response


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
async def owner(core: CoreServer, service_client: dict[str, Any]) -> AsyncIterator[Session]:
    """One logged-in member shared by the validation tests of this module (they create nothing that lasts)."""
    user = await core.create_user()
    async with httpx.AsyncClient(timeout=30) as client:
        yield await login(client, core, service_client["client_secret"], user["email"])


async def test_pat_lifecycle(
    core: CoreServer, http: httpx.AsyncClient, member: dict[str, Any], member_session: Session
) -> None:
    created = await create_pat(
        http, core, member_session, name="deploy bot", scopes=["profile", "projects:read"]
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    token = body["token"]
    assert PAT_FORMAT.match(token)
    assert body["prefix"] == token[:12]
    assert body["name"] == "deploy bot"
    assert body["scopes"] == ["profile", "projects:read"]
    assert body["last_used_at"] is None
    assert parse_time(body["expires_at"]) - parse_time(body["created_at"]) == timedelta(days=30)
    assert set(body) == {
        "id",
        "name",
        "scopes",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "token",
    }

    me = await http.get(f"{core.url}/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == member["email"]
    assert me.json()["id"] == member["id"]

    listed = await list_pats(http, core, member_session)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["next_cursor"] is None
    assert [item["id"] for item in page["items"]] == [body["id"]]
    item = page["items"][0]
    assert "token" not in item
    assert "token_hash" not in item
    assert item["prefix"] == body["prefix"]
    # The plaintext never comes back: no `lkp_` text in the list is longer than the display prefix.
    assert token not in listed.text
    assert all(len(found) <= len(body["prefix"]) for found in re.findall(r"lkp_[A-Za-z0-9]*", listed.text))

    refreshed = await http.post(
        f"{core.url}/v1/me/tokens/{body['id']}/refresh", headers=member_session.headers
    )
    assert refreshed.status_code == 201, refreshed.text
    assert refreshed.headers["cache-control"] == "no-store"
    new = refreshed.json()
    assert PAT_FORMAT.match(new["token"])
    assert new["token"] != token
    assert new["id"] != body["id"]
    assert (new["name"], new["scopes"]) == (body["name"], body["scopes"])
    assert parse_time(new["expires_at"]) - parse_time(new["created_at"]) == timedelta(days=30)

    old_use = await http.get(f"{core.url}/v1/me", headers=bearer(token))
    assert_problem(old_use, 401, "invalid_token")
    assert 'error="invalid_token"' in old_use.headers["www-authenticate"]
    assert (await http.get(f"{core.url}/v1/me", headers=bearer(new["token"]))).status_code == 200

    # The revoked one is gone from the list; refreshing it again is 404.
    listed = await list_pats(http, core, member_session)
    assert [item["id"] for item in listed.json()["items"]] == [new["id"]]
    again = await http.post(f"{core.url}/v1/me/tokens/{body['id']}/refresh", headers=member_session.headers)
    assert_problem(again, 404, "not_found")

    revoked = await http.delete(f"{core.url}/v1/me/tokens/{new['id']}", headers=member_session.headers)
    assert revoked.status_code == 204, revoked.text
    assert_problem(await http.get(f"{core.url}/v1/me", headers=bearer(new["token"])), 401, "invalid_token")
    assert_problem(
        await http.delete(f"{core.url}/v1/me/tokens/{new['id']}", headers=member_session.headers),
        404,
        "not_found",
    )
    assert (await list_pats(http, core, member_session)).json()["items"] == []


async def test_expired_pat_is_rejected_but_still_listed(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    created = (await create_pat(http, core, member_session, days=1)).json()
    assert (await http.get(f"{core.url}/v1/me", headers=bearer(created["token"]))).status_code == 200

    db = Database(core.database_url)
    try:
        async with db.write() as session:
            await session.execute(
                update(PersonalAccessToken)
                .where(PersonalAccessToken.id == created["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        await db.dispose()

    # A hand edit of the database tells no process: the validated-token cache (no Redis here) trusts
    # its entry at most LOCAL_TTL, so the token is refused within that.
    deadline = time.monotonic() + LOCAL_TTL + 0.5
    while True:
        response = await http.get(f"{core.url}/v1/me", headers=bearer(created["token"]))
        if response.status_code != 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert_problem(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    # Expired (not revoked) tokens stay listed so the owner can see what stopped working, and renew it.
    listed = (await list_pats(http, core, member_session)).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    renewed = await http.post(
        f"{core.url}/v1/me/tokens/{created['id']}/refresh", headers=member_session.headers
    )
    assert renewed.status_code == 201, renewed.text
    lifetime = parse_time(renewed.json()["expires_at"]) - parse_time(renewed.json()["created_at"])
    assert lifetime == timedelta(days=1)
    assert (await http.get(f"{core.url}/v1/me", headers=bearer(renewed.json()["token"]))).status_code == 200


async def test_last_used_at_is_set_once_per_resolution(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    token = (await create_pat(http, core, member_session)).json()["token"]
    assert (await list_pats(http, core, member_session)).json()["items"][0]["last_used_at"] is None

    assert (await http.get(f"{core.url}/v1/me", headers=bearer(token))).status_code == 200
    first = (await list_pats(http, core, member_session)).json()["items"][0]["last_used_at"]
    assert first is not None
    assert abs(datetime.now(UTC) - parse_time(first)) < timedelta(seconds=30)

    await asyncio.sleep(0.05)
    assert (await http.get(f"{core.url}/v1/me", headers=bearer(token))).status_code == 200
    # Not rewritten on every request: one write per token per minute at most.
    second = (await list_pats(http, core, member_session)).json()["items"][0]["last_used_at"]
    assert second == first


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x", "scopes": ["nope"], "expires_in_days": 30}, 422, "invalid_scopes"),
        ({"name": "x", "scopes": [], "expires_in_days": 30}, 422, "invalid_scopes"),
        ({"name": "x", "scopes": ["profile", "profile"], "expires_in_days": 30}, 422, "invalid_scopes"),
        ({"name": "x", "scopes": ["profile"], "expires_in_days": 0}, 422, "invalid_expiry"),
        ({"name": "x", "scopes": ["profile"], "expires_in_days": 367}, 422, "invalid_expiry"),
        ({"name": "x", "scopes": ["profile"], "expires_in_days": -5}, 422, "invalid_expiry"),
        ({"name": "", "scopes": ["profile"], "expires_in_days": 30}, 422, "invalid_name"),
        ({"name": "   ", "scopes": ["profile"], "expires_in_days": 30}, 422, "invalid_name"),
        ({"name": "x" * 101, "scopes": ["profile"], "expires_in_days": 30}, 422, "invalid_name"),
        ({"name": "a\nb", "scopes": ["profile"], "expires_in_days": 30}, 422, "invalid_name"),
        ({"name": "x", "scopes": "profile", "expires_in_days": 30}, 400, "validation_failed"),
        ({"name": "x", "scopes": ["profile"], "expires_in_days": None}, 400, "validation_failed"),
        ({"name": 5, "scopes": ["profile"], "expires_in_days": 30}, 400, "validation_failed"),
        ({"name": "x", "scopes": ["profile"], "expires_in_days": 1.5}, 400, "validation_failed"),
        ({"name": "x", "scopes": ["profile"]}, 400, "validation_failed"),
        ([], 400, "validation_failed"),
    ],
)
async def test_create_validation(
    core: CoreServer, http: httpx.AsyncClient, owner: Session, body: Any, status: int, code: str
) -> None:
    response = await http.post(f"{core.url}/v1/me/tokens", json=body, headers=owner.headers)
    assert_problem(response, status, code)
    assert (await list_pats(http, core, owner)).json()["items"] == []


async def test_create_limits_are_inclusive(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    for days in (1, 366):
        response = await create_pat(http, core, member_session, name="x" * 100, days=days)
        assert response.status_code == 201, response.text
        body = response.json()
        assert parse_time(body["expires_at"]) - parse_time(body["created_at"]) == timedelta(days=days)
    everything = await create_pat(
        http, core, member_session, scopes=["profile", "projects:read", "projects:write", "admin"]
    )
    assert everything.status_code == 201, everything.text


async def test_wrong_content_type_and_malformed_json(
    core: CoreServer, http: httpx.AsyncClient, owner: Session
) -> None:
    url = f"{core.url}/v1/me/tokens"
    as_text = await http.post(
        url,
        content=b'{"name": "x", "scopes": ["profile"], "expires_in_days": 30}',
        headers={**owner.headers, "Content-Type": "text/plain"},
    )
    assert_problem(as_text, 415, "unsupported_media_type")
    as_form = await http.post(
        url, data={"name": "x", "scopes": "profile", "expires_in_days": "30"}, headers=owner.headers
    )
    assert_problem(as_form, 415, "unsupported_media_type")
    malformed = await http.post(
        url,
        content=b'{"name": "x", "scopes": [',
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400, malformed.text
    assert malformed.headers["content-type"].startswith("application/problem+json")
    assert (await list_pats(http, core, owner)).json()["items"] == []


async def test_other_users_tokens_are_not_found(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Session
) -> None:
    victim = (await create_pat(http, core, member_session)).json()
    other = await core.create_user()
    intruder = await login(http, core, service_client["client_secret"], other["email"])

    for response in (
        await http.post(f"{core.url}/v1/me/tokens/{victim['id']}/refresh", headers=intruder.headers),
        await http.delete(f"{core.url}/v1/me/tokens/{victim['id']}", headers=intruder.headers),
        await http.delete(f"{core.url}/v1/me/tokens/999999999", headers=intruder.headers),
    ):
        assert_problem(response, 404, "not_found")
    assert (await list_pats(http, core, intruder)).json()["items"] == []
    # The victim's token is untouched.
    assert (await http.get(f"{core.url}/v1/me", headers=bearer(victim["token"]))).status_code == 200


async def test_cursor_pagination(core: CoreServer, http: httpx.AsyncClient, member_session: Session) -> None:
    ids = []
    for index in range(5):
        response = await create_pat(http, core, member_session, name=f"t{index}")
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = (await list_pats(http, core, member_session, **params)).json()
        pages += 1
        assert len(page["items"]) <= 2
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(ids, reverse=True)  # newest first, each exactly once

    default = (await list_pats(http, core, member_session)).json()
    assert len(default["items"]) == 5
    assert default["next_cursor"] is None

    for bad in ("garbage!!", "cGF0Og", "bm90LWEtY3Vyc29y", ""):
        assert_problem(await list_pats(http, core, member_session, cursor=bad), 400, "invalid_cursor")
    for limit in (0, 101, -1):
        response = await list_pats(http, core, member_session, limit=limit)
        assert response.status_code == 400, response.text


async def test_active_token_cap(core: CoreServer, http: httpx.AsyncClient, member_session: Session) -> None:
    async def create(index: int) -> httpx.Response:
        return await create_pat(http, core, member_session, name=f"bulk {index}")

    first = await create(0)
    assert first.status_code == 201, first.text
    for index in range(1, 100):
        response = await create(index)
        assert response.status_code == 201, response.text
    assert_problem(await create(100), 409, "too_many_tokens")

    # Revoking one makes room for one more.
    revoked = await http.delete(
        f"{core.url}/v1/me/tokens/{first.json()['id']}", headers=member_session.headers
    )
    assert revoked.status_code == 204
    assert (await create(101)).status_code == 201
    assert_problem(await create(102), 409, "too_many_tokens")
