"""A developer's client secret: view, rotate, and the grace period of the rotated-out one."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support import CoreServer, login, password_grant, random_ip

SECRET_FORMAT = re.compile(r"^lks_[A-Za-z0-9]{49}$")
GRACE = 3  # LATCHKEY_SECRET_ROTATION_GRACE of the shared core (tests/conftest.py)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def grant_with(
    http: httpx.AsyncClient, core: CoreServer, secret: str, user: dict[str, Any]
) -> httpx.Response:
    """A password grant with `secret` as the client: the client secret's real use."""
    return await password_grant(http, core, secret, user["email"], user["password"], ip=random_ip())


async def test_view_and_rotate_with_grace(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    developer = await core.create_user(developer=True)
    session = await login(http, core, service_client["client_secret"], developer["email"])
    url = f"{core.url}/v1/me/client-secret"

    viewed = await http.get(url, headers=session.headers)
    assert viewed.status_code == 200, viewed.text
    assert viewed.headers["cache-control"] == "no-store"
    view = viewed.json()
    assert view["secret"] == developer["client_secret"]  # the one the CLI printed
    assert view["previous_valid_until"] is None
    assert abs(datetime.now(UTC) - parse_time(view["created_at"])) < timedelta(minutes=5)
    assert set(view) == {"secret", "created_at", "previous_valid_until"}

    old = view["secret"]
    before = datetime.now(UTC)
    rotated = await http.post(f"{url}/rotate", headers=session.headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new = rotated.json()
    assert SECRET_FORMAT.match(new["secret"])
    assert new["secret"] != old
    assert new["previous_valid_until"] is not None
    until = parse_time(new["previous_valid_until"])
    assert before + timedelta(seconds=GRACE - 1) <= until <= datetime.now(UTC) + timedelta(seconds=GRACE + 1)

    # Viewing now shows the new secret and the same grace end.
    assert (await http.get(url, headers=session.headers)).json() == new

    # Both work during the grace period...
    assert (await grant_with(http, core, old, developer)).status_code == 200
    assert (await grant_with(http, core, new["secret"], developer)).status_code == 200

    # ...and after it, only the new one.
    await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.5)
    expired = await grant_with(http, core, old, developer)
    assert expired.status_code == 401, expired.text
    assert expired.json()["error"] == "invalid_client"
    assert expired.headers["www-authenticate"].startswith("Secret")
    assert (await grant_with(http, core, new["secret"], developer)).status_code == 200
    # Once the grace has passed, the view no longer mentions the previous secret.
    assert (await http.get(url, headers=session.headers)).json()["previous_valid_until"] is None


async def test_rotating_twice_keeps_one_current_secret(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    developer = await core.create_user(developer=True)
    session = await login(http, core, service_client["client_secret"], developer["email"])
    url = f"{core.url}/v1/me/client-secret"
    first, second = await asyncio.gather(
        http.post(f"{url}/rotate", headers=session.headers),
        http.post(f"{url}/rotate", headers=session.headers),
    )
    assert first.status_code == second.status_code == 200
    current = (await http.get(url, headers=session.headers)).json()["secret"]
    assert current in {first.json()["secret"], second.json()["secret"]}
    assert (await grant_with(http, core, current, developer)).status_code == 200


async def test_non_developer_has_no_client_secret(
    core: CoreServer, http: httpx.AsyncClient, member_session: Any
) -> None:
    url = f"{core.url}/v1/me/client-secret"
    assert_problem(await http.get(url, headers=member_session.headers), 403, "developer_required")
    assert_problem(
        await http.post(f"{url}/rotate", headers=member_session.headers), 403, "developer_required"
    )


async def test_only_the_latest_previous_secret_keeps_a_grace(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    """Rotating twice cuts the first secret off at once, however long its own grace would have run."""
    developer = await core.create_user(developer=True)
    session = await login(http, core, service_client["client_secret"], developer["email"])
    url = f"{core.url}/v1/me/client-secret"
    first = developer["client_secret"]
    second = (await http.post(f"{url}/rotate", headers=session.headers)).json()["secret"]
    assert (await grant_with(http, core, first, developer)).status_code == 200  # in its grace
    third = (await http.post(f"{url}/rotate", headers=session.headers)).json()["secret"]

    cut_off = await grant_with(http, core, first, developer)
    assert cut_off.status_code == 401, cut_off.text
    assert cut_off.json()["error"] == "invalid_client"
    assert (await grant_with(http, core, second, developer)).status_code == 200  # the previous one
    assert (await grant_with(http, core, third, developer)).status_code == 200  # the current one

    # A third rotation ends the second at once too; the first never comes back.
    fourth = (await http.post(f"{url}/rotate", headers=session.headers)).json()["secret"]
    for retired in (first, second):
        assert (await grant_with(http, core, retired, developer)).status_code == 401
    for live in (third, fourth):
        assert (await grant_with(http, core, live, developer)).status_code == 200


async def test_the_owner_can_end_the_previous_secrets_grace_at_once(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    developer = await core.create_user(developer=True)
    session = await login(http, core, service_client["client_secret"], developer["email"])
    url = f"{core.url}/v1/me/client-secret"
    old = developer["client_secret"]
    rotated = (await http.post(f"{url}/rotate", headers=session.headers)).json()
    assert rotated["previous_valid_until"] is not None
    assert (await grant_with(http, core, old, developer)).status_code == 200

    ended = await http.delete(f"{url}/previous", headers=session.headers)
    assert ended.status_code == 204, ended.text
    assert ended.content == b""
    refused = await grant_with(http, core, old, developer)
    assert refused.status_code == 401, refused.text
    assert refused.headers["www-authenticate"].startswith("Secret")
    # The current secret is untouched, and the view no longer mentions a previous one.
    assert (await grant_with(http, core, rotated["secret"], developer)).status_code == 200
    view = (await http.get(url, headers=session.headers)).json()
    assert (view["secret"], view["previous_valid_until"]) == (rotated["secret"], None)
    # With no previous secret left it is a no-op, still 204.
    assert (await http.delete(f"{url}/previous", headers=session.headers)).status_code == 204
    assert (await grant_with(http, core, rotated["secret"], developer)).status_code == 200


async def test_ending_the_previous_secret_needs_a_developer_session(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Any
) -> None:
    developer = await core.create_user(developer=True)
    session = await login(http, core, service_client["client_secret"], developer["email"])
    url = f"{core.url}/v1/me/client-secret/previous"
    pat = await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": "ci", "scopes": ["profile", "projects:read", "projects:write"], "expires_in_days": 1},
        headers=session.headers,
    )
    assert pat.status_code == 201, pat.text
    pat_headers = {"Authorization": f"Bearer {pat.json()['token']}"}
    assert_problem(await http.delete(url, headers=pat_headers), 403, "session_token_required")
    assert_problem(await http.delete(url, headers=member_session.headers), 403, "developer_required")
    anonymous = await http.delete(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    # Another developer's DELETE never touches this one's previous secret. (The other developer is made
    # before the rotation: the previous secret's grace is 3 s here, and making an account takes a while.)
    other = await core.create_user(developer=True)
    other_session = await login(http, core, service_client["client_secret"], other["email"])
    rotated = (await http.post(f"{core.url}/v1/me/client-secret/rotate", headers=session.headers)).json()
    assert (await http.delete(url, headers=other_session.headers)).status_code == 204
    assert (await grant_with(http, core, developer["client_secret"], developer)).status_code == 200
    assert (await grant_with(http, core, rotated["secret"], developer)).status_code == 200


async def test_the_route_is_documented(core: CoreServer, http: httpx.AsyncClient) -> None:
    document = (await http.get(f"{core.url}/schema/openapi.json")).json()
    operation = document["paths"]["/v1/me/client-secret/previous"]["delete"]
    assert {"204", "400", "401", "403"} <= set(operation["responses"])
    assert operation["security"] == [{"bearer": []}]


async def test_info_tells_when_the_secret_was_made_and_last_used_without_revealing_it(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    developer = await core.create_user(developer=True)
    session = await login(http, core, service_client["client_secret"], developer["email"])
    url = f"{core.url}/v1/me/client-secret/info"

    fresh = await http.get(url, headers=session.headers)
    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["cache-control"] == "no-store"
    info = fresh.json()
    assert set(info) == {"created_at", "last_used_at", "previous_valid_until", "previous_last_used_at"}
    assert developer["client_secret"] not in fresh.text
    assert info["last_used_at"] is None  # never used yet
    assert info["previous_valid_until"] is None
    assert abs(datetime.now(UTC) - parse_time(info["created_at"])) < timedelta(minutes=5)

    # A use is recorded; a second use within the minute writes nothing new (one-minute resolution).
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert (await grant_with(http, core, developer["client_secret"], developer)).status_code == 200
    used = (await http.get(url, headers=session.headers)).json()
    assert used["last_used_at"] is not None
    first_use = parse_time(used["last_used_at"])
    assert before <= first_use <= datetime.now(UTC) + timedelta(seconds=1)
    assert (await grant_with(http, core, developer["client_secret"], developer)).status_code == 200
    assert parse_time((await http.get(url, headers=session.headers)).json()["last_used_at"]) == first_use

    # After a rotation: the new secret is unused, the previous one keeps its last use and its grace end.
    rotated = (await http.post(f"{core.url}/v1/me/client-secret/rotate", headers=session.headers)).json()
    after = (await http.get(url, headers=session.headers)).json()
    assert after["last_used_at"] is None
    assert after["previous_valid_until"] == rotated["previous_valid_until"]
    assert parse_time(after["previous_last_used_at"]) == first_use
    assert rotated["secret"] not in str(after)


async def test_info_needs_a_developer_session(
    core: CoreServer, http: httpx.AsyncClient, member_session: Any, service_client: dict[str, Any]
) -> None:
    url = f"{core.url}/v1/me/client-secret/info"
    assert_problem(await http.get(url, headers=member_session.headers), 403, "developer_required")
    assert_problem(await http.get(url), 401, "missing_token")
    developer = await core.create_user(developer=True)
    session = await login(http, core, service_client["client_secret"], developer["email"])
    pat = await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": "script", "scopes": ["profile"], "expires_in_days": 1},
        headers=session.headers,
    )
    assert pat.status_code == 201, pat.text
    refused = await http.get(url, headers={"Authorization": f"Bearer {pat.json()['token']}"})
    assert_problem(refused, 403, "session_token_required")
