"""`/v1/projects`: CRUD, pagination, visibility between users and for admins, validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from latchkey.core.models import Project
from latchkey.db import Database
from tests.core.test_files import BIDI
from tests.support import CoreServer, Session, login


def url(core: CoreServer, path: str = "") -> str:
    return f"{core.url}/v1/projects{path}"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    return body


async def new_session(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], *, admin: bool = False
) -> tuple[dict[str, Any], Session]:
    user = await core.create_user(admin=admin)
    return user, await login(http, core, service_client["client_secret"], user["email"])


async def create(http: httpx.AsyncClient, core: CoreServer, session: Session, **body: Any) -> dict[str, Any]:
    response = await http.post(url(core), json={"name": "Project", **body}, headers=session.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_read_update_delete(
    core: CoreServer, http: httpx.AsyncClient, member: dict[str, Any], member_session: Session
) -> None:
    headers = member_session.headers
    response = await http.post(
        url(core), json={"name": "  Apollo  ", "description": "to the moon"}, headers=headers
    )
    assert response.status_code == 201, response.text
    project = response.json()
    assert set(project) == {"id", "name", "description", "owner_id", "created_at", "updated_at"}
    assert project["name"] == "Apollo"  # trimmed
    assert project["description"] == "to the moon"
    assert project["owner_id"] == member["id"]
    created_at = datetime.fromisoformat(project["created_at"])
    assert created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - created_at).total_seconds()) < 60

    response = await http.get(url(core, f"/{project['id']}"), headers=headers)
    assert response.status_code == 200
    assert response.json() == project

    response = await http.patch(url(core, f"/{project['id']}"), json={"name": "Artemis"}, headers=headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "Artemis"
    assert updated["description"] == "to the moon"  # left out: unchanged
    assert updated["created_at"] == project["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) >= datetime.fromisoformat(project["updated_at"])

    response = await http.patch(url(core, f"/{project['id']}"), json={"description": ""}, headers=headers)
    assert response.status_code == 200
    assert response.json()["description"] == ""
    assert response.json()["name"] == "Artemis"

    listed = (await http.get(url(core), headers=headers)).json()
    assert [item["id"] for item in listed["items"]] == [project["id"]]
    assert listed["items"][0]["name"] == "Artemis"
    assert listed["next_cursor"] is None

    response = await http.delete(url(core, f"/{project['id']}"), headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await http.get(url(core, f"/{project['id']}"), headers=headers), 404, "not_found")
    assert_problem(await http.delete(url(core, f"/{project['id']}"), headers=headers), 404, "not_found")
    assert (await http.get(url(core), headers=headers)).json()["items"] == []


async def test_pagination_returns_every_project_exactly_once(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    created = [(await create(http, core, member_session, name=f"p{i}"))["id"] for i in range(5)]
    seen: list[int] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await http.get(url(core), params=params, headers=member_session.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        sizes.append(len(page["items"]))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert sizes == [2, 2, 1]
    assert seen == sorted(created, reverse=True)  # newest first, each once

    everything = (await http.get(url(core), headers=member_session.headers)).json()
    assert [item["id"] for item in everything["items"]] == seen
    assert everything["next_cursor"] is None


async def test_bad_pagination_parameters(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    headers = member_session.headers
    for cursor in ["garbage!", "cDpub3RhbnVtYmVy", "eDox", "", "%%%"]:
        response = await http.get(url(core), params={"cursor": cursor}, headers=headers)
        assert_problem(response, 400, "invalid_cursor")
    for limit in ["0", "101", "-1", "many"]:
        response = await http.get(url(core), params={"limit": limit}, headers=headers)
        assert_problem(response, 400, "validation_failed")
    assert (await http.get(url(core), params={"limit": "100"}, headers=headers)).status_code == 200


async def test_another_users_project_is_not_found(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], member_session: Session
) -> None:
    project = await create(http, core, member_session, name="Mine")
    _, stranger = await new_session(core, http, service_client)
    path = url(core, f"/{project['id']}")

    assert_problem(await http.get(path, headers=stranger.headers), 404, "not_found")
    assert_problem(
        await http.patch(path, json={"name": "Theirs"}, headers=stranger.headers), 404, "not_found"
    )
    assert_problem(await http.delete(path, headers=stranger.headers), 404, "not_found")
    assert_problem(await http.get(f"{path}/files", headers=stranger.headers), 404, "not_found")
    assert (await http.get(url(core), headers=stranger.headers)).json()["items"] == []
    # The same answer as for an id that does not exist at all, so ids reveal nothing.
    assert_problem(await http.get(url(core, "/2147483647"), headers=stranger.headers), 404, "not_found")
    assert_problem(
        await http.get(url(core, "/99999999999999999999"), headers=stranger.headers), 404, "not_found"
    )

    # Untouched for its owner.
    response = await http.get(path, headers=member_session.headers)
    assert response.status_code == 200
    assert response.json()["name"] == "Mine"


async def test_admin_sees_and_manages_every_project(
    core: CoreServer,
    http: httpx.AsyncClient,
    service_client: dict[str, Any],
    member: dict[str, Any],
    member_session: Session,
) -> None:
    project = await create(http, core, member_session, name="Member's")
    _, admin = await new_session(core, http, service_client, admin=True)

    ids: list[int] = []
    cursor: str | None = None
    while True:  # every project of every user, so page until the member's appears
        params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = (await http.get(url(core), params=params, headers=admin.headers)).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if project["id"] in ids or cursor is None:
            break
    assert project["id"] in ids

    response = await http.get(url(core, f"/{project['id']}"), headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["owner_id"] == member["id"]
    response = await http.patch(
        url(core, f"/{project['id']}"), json={"name": "Renamed"}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["owner_id"] == member["id"]  # still the member's
    assert (await http.get(url(core, f"/{project['id']}"), headers=member_session.headers)).json()[
        "name"
    ] == ("Renamed")
    # The admin's own list is not the member's: the member still sees only their project.
    member_ids = [
        item["id"] for item in (await http.get(url(core), headers=member_session.headers)).json()["items"]
    ]
    assert member_ids == [project["id"]]


async def test_validation_errors(core: CoreServer, http: httpx.AsyncClient, member_session: Session) -> None:
    headers = member_session.headers
    cases: list[tuple[Any, int, str]] = [
        ({}, 400, "validation_failed"),  # name missing
        ({"name": ""}, 400, "validation_failed"),
        ({"name": "x" * 201}, 400, "validation_failed"),
        ({"name": 42}, 400, "validation_failed"),
        ({"name": "ok", "description": "d" * 2001}, 400, "validation_failed"),
        ({"name": "ok", "owner_id": 1}, 400, "validation_failed"),  # unknown fields are refused
        (["name"], 400, "validation_failed"),
        ({"name": "   "}, 422, "invalid_name"),
        ({"name": "bad\x00name"}, 422, "invalid_name"),
        ({"name": "ok", "description": "nul \x00 here"}, 422, "invalid_description"),
    ]
    for body, status, code in cases:
        assert_problem(await http.post(url(core), json=body, headers=headers), status, code)

    project = await create(http, core, member_session, name="Valid", description="x" * 2000)
    assert project["name"] == "Valid"
    assert len(project["description"]) == 2000
    assert len((await create(http, core, member_session, name="n" * 200))["name"]) == 200
    multiline = await create(http, core, member_session, name="Lines", description="one\ntwo\tthree")
    assert multiline["description"] == "one\ntwo\tthree"

    path = url(core, f"/{project['id']}")
    assert_problem(await http.patch(path, json={"name": " "}, headers=headers), 422, "invalid_name")
    assert_problem(
        await http.patch(path, json={"name": "x" * 201}, headers=headers), 400, "validation_failed"
    )
    assert_problem(await http.patch(path, json={"colour": "red"}, headers=headers), 400, "validation_failed")
    response = await http.patch(path, json={}, headers=headers)  # nothing to change
    assert response.status_code == 200
    assert response.json() == project


async def test_content_type_and_malformed_json(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    headers = member_session.headers
    response = await http.post(
        url(core), content=b"name=x", headers={**headers, "Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")
    response = await http.post(url(core), data={"name": "x"}, headers=headers)  # form-encoded
    assert_problem(response, 415, "unsupported_media_type")
    response = await http.post(url(core), content=b'{"name": "x"}', headers=headers)  # no Content-Type
    assert_problem(response, 415, "unsupported_media_type")

    json_headers = {**headers, "Content-Type": "application/json"}
    # Malformed JSON is a 400 problem (its `code` is the app-wide one for unparseable bodies).
    for raw in [b'{"name": "x"', b"not json", b"[1, 2", b""]:
        response = await http.post(url(core), content=raw, headers=json_headers)
        assert response.status_code == 400, (raw, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert isinstance(response.json()["code"], str)

    project = await create(http, core, member_session)
    path = url(core, f"/{project['id']}")
    response = await http.patch(path, content=b"{", headers=json_headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    response = await http.patch(
        path, content=b'{"name": "y"}', headers={**headers, "Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")
    # A `+json` media type is JSON too.
    response = await http.post(
        url(core),
        content=b'{"name": "vendor"}',
        headers={**headers, "Content-Type": "application/vnd.x+json"},
    )
    assert response.status_code == 201


async def test_authentication_and_scopes(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    response = await http.get(url(core))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = await http.get(url(core), headers={"Authorization": "Bearer lkp_not-a-real-token"})
    assert_problem(response, 401, "invalid_token")

    async def pat(scopes: list[str]) -> dict[str, str]:
        response = await http.post(
            f"{core.url}/v1/me/tokens",
            json={"name": "script", "scopes": scopes, "expires_in_days": 1},
            headers=member_session.headers,
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    reader = await pat(["projects:read"])
    profile_only = await pat(["profile"])
    writer = await pat(["projects:read", "projects:write"])

    project = await create(http, core, member_session)
    assert (await http.get(url(core, f"/{project['id']}"), headers=reader)).status_code == 200
    assert_problem(await http.post(url(core), json={"name": "no"}, headers=reader), 403, "insufficient_scope")
    path = url(core, f"/{project['id']}")
    assert_problem(await http.patch(path, json={"name": "no"}, headers=reader), 403, "insufficient_scope")
    assert_problem(await http.delete(path, headers=reader), 403, "insufficient_scope")
    assert_problem(await http.get(url(core), headers=profile_only), 403, "insufficient_scope")
    response = await http.post(url(core), json={"name": "by script"}, headers=writer)
    assert response.status_code == 201


async def test_project_limit_per_user(
    core: CoreServer, http: httpx.AsyncClient, member: dict[str, Any], member_session: Session
) -> None:
    # Seed 999 projects straight into the database (1000 HTTP requests would only slow the suite).
    db = Database(core.database_url)
    try:
        async with db.write() as session:
            session.add_all(Project(owner_id=member["id"], name=f"seeded {i}") for i in range(999))
    finally:
        await db.dispose()
    await create(http, core, member_session, name="the thousandth")
    response = await http.post(url(core), json={"name": "one too many"}, headers=member_session.headers)
    assert_problem(response, 409, "project_limit_reached")


async def test_bidirectional_controls_in_project_names_are_refused(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    headers = member_session.headers
    project = await create(http, core, member_session, name="Plain")
    path = url(core, f"/{project['id']}")
    for char in BIDI:
        for name in (f"report{char}gpj.exe", f"{char}x", f"x{char}"):
            assert_problem(
                await http.post(url(core), json={"name": name}, headers=headers), 422, "invalid_name"
            )
            assert_problem(await http.patch(path, json={"name": name}, headers=headers), 422, "invalid_name")
    assert (await http.get(path, headers=headers)).json()["name"] == "Plain"
    # Arabic and Hebrew names are fine.
    assert (await create(http, core, member_session, name="\u0645\u0634\u0631\u0648\u0639"))["name"] == (
        "\u0645\u0634\u0631\u0648\u0639"
    )
