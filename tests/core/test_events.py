"""`GET /v1/events`: Server-Sent Events of the caller's project changes, heartbeats, token re-checks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from latchkey.core.models import PersonalAccessToken, User
from latchkey.db import Database
from tests.support import CoreServer, Session, login

pytestmark = pytest.mark.database_agnostic

WAIT = 10.0  # seconds any single expected message may take


@dataclass
class Message:
    """One SSE block: either comments only (`: connected`, `: heartbeat`) or an event."""

    comments: list[str] = field(default_factory=list)
    event: str | None = None
    data: str | None = None
    id: str | None = None

    @property
    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


class EventStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = WAIT) -> Message | None:
        """The next message, or None when the server ended the stream."""
        message = Message()
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    if message.comments or message.event or message.data is not None:
                        return message
                    continue
                key, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if key == "":
                    message.comments.append(value)
                elif key == "event":
                    message.event = value
                elif key == "data":
                    message.data = value if message.data is None else f"{message.data}\n{value}"
                elif key == "id":
                    message.id = value
            return None

    async def next_event(self, timeout: float = WAIT) -> Message:
        """The next event, skipping heartbeat comments."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.next(max(0.01, deadline - time.monotonic()))
            assert message is not None, "the stream ended"
            if message.event is not None:
                return message

    async def ended(self, timeout: float = WAIT) -> bool:
        """Whether the server closes the stream within `timeout` (comments may arrive before)."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.next(max(0.01, deadline - time.monotonic()))
            if message is None:
                return True
            assert message.event is None, f"unexpected event {message}"


@asynccontextmanager
async def open_stream(http: httpx.AsyncClient, core: CoreServer, token: str) -> AsyncIterator[EventStream]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with http.stream("GET", f"{core.url}/v1/events", headers=headers) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        stream = EventStream(response)
        # The first message says the subscription is live: from here on no change is missed.
        first = await stream.next()
        assert first is not None
        assert first.comments == ["connected"]
        yield stream


async def test_stream_delivers_the_callers_changes(
    core: CoreServer, http: httpx.AsyncClient, member: dict[str, Any], member_session: Session
) -> None:
    headers = member_session.headers
    async with open_stream(http, core, member_session.access_token) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-store"
        assert stream.response.headers["x-accel-buffering"] == "no"

        response = await http.post(f"{core.url}/v1/projects", json={"name": "Live"}, headers=headers)
        assert response.status_code == 201
        project = response.json()
        base = f"{core.url}/v1/projects/{project['id']}"
        assert (await http.patch(base, json={"name": "Live 2"}, headers=headers)).status_code == 200
        response = await http.put(f"{base}/files/notes.txt", content=b"hello", headers=headers)
        assert response.status_code == 201
        file = response.json()
        assert (await http.delete(f"{base}/files/notes.txt", headers=headers)).status_code == 204
        assert (await http.delete(base, headers=headers)).status_code == 204

        events = [await stream.next_event() for _ in range(5)]

    assert [event.event for event in events] == [
        "project.created",
        "project.updated",
        "file.uploaded",
        "file.deleted",
        "project.deleted",
    ]
    ids = [int(event.id or "0") for event in events]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    payloads = [event.json for event in events]
    assert [payload["type"] for payload in payloads] == [event.event for event in events]
    assert payloads[0]["project"] == project
    assert payloads[0]["project"]["owner_id"] == member["id"]
    assert payloads[1]["project"]["name"] == "Live 2"
    assert payloads[2]["file"] == file
    assert payloads[3]["file"]["name"] == "notes.txt"
    assert all(payload["project"]["id"] == project["id"] for payload in payloads)
    assert "file" not in payloads[0]


async def test_other_users_changes_are_not_delivered(
    core: CoreServer,
    http: httpx.AsyncClient,
    service_client: dict[str, Any],
    member: dict[str, Any],
    member_session: Session,
) -> None:
    other_user = await core.create_user()
    other = await login(http, core, service_client["client_secret"], other_user["email"])
    admin_user = await core.create_user(admin=True)
    admin = await login(http, core, service_client["client_secret"], admin_user["email"])
    projects = f"{core.url}/v1/projects"

    async with open_stream(http, core, member_session.access_token) as stream:
        response = await http.post(projects, json={"name": "Not yours"}, headers=other.headers)
        assert response.status_code == 201
        theirs = response.json()["id"]
        assert (
            await http.put(f"{projects}/{theirs}/files/f", content=b"x", headers=other.headers)
        ).status_code == 201
        response = await http.post(projects, json={"name": "Yours"}, headers=member_session.headers)
        mine = response.json()["id"]
        # An admin changing the member's project is a change the member sees.
        assert (
            await http.patch(f"{projects}/{mine}", json={"name": "Renamed"}, headers=admin.headers)
        ).status_code == 200

        first = await stream.next_event()
        second = await stream.next_event()

    assert (first.event, first.json["project"]["id"]) == ("project.created", mine)
    assert (second.event, second.json["project"]["name"]) == ("project.updated", "Renamed")
    assert second.json["project"]["owner_id"] == member["id"]


async def test_stream_needs_a_token_with_projects_read(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    response = await http.get(f"{core.url}/v1/events")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = await http.get(f"{core.url}/v1/events", headers={"Authorization": "Bearer lka_bogus"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"

    response = await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": "profile only", "scopes": ["profile"], "expires_in_days": 1},
        headers=member_session.headers,
    )
    assert response.status_code == 201, response.text
    response = await http.get(
        f"{core.url}/v1/events", headers={"Authorization": f"Bearer {response.json()['token']}"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


async def test_heartbeats_and_token_rechecks(core_factory: Any, http: httpx.AsyncClient) -> None:
    """With a 0.5 s heartbeat: comments keep arriving, and each way a token stops being valid (revoked
    session, revoked PAT, expired PAT, disabled user) closes the stream at the next heartbeat."""
    server: CoreServer = await core_factory(LATCHKEY_EVENTS_HEARTBEAT="0.5")
    developer = await server.create_user(developer=True)
    secret = developer["client_secret"]
    user = await server.create_user()

    async def new_pat(session: Session) -> tuple[int, str]:
        response = await http.post(
            f"{server.url}/v1/me/tokens",
            json={"name": "stream", "scopes": ["projects:read"], "expires_in_days": 1},
            headers=session.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"], response.json()["token"]

    # Heartbeats arrive on schedule, and a live token keeps the stream open through them.
    session = await login(http, server, secret, user["email"])
    async with open_stream(http, server, session.access_token) as stream:
        started = time.monotonic()
        for _ in range(3):
            message = await stream.next(timeout=3)
            assert message is not None
            assert message.comments == ["heartbeat"]
        assert 1.0 <= time.monotonic() - started < 4

        # Revoking the session (RFC 7009, as the BFF does at logout) ends its stream.
        response = await http.post(
            f"{server.url}/v1/oauth/revoke",
            data={"token": session.refresh_token},
            headers={"Authorization": f"Secret {secret}"},
        )
        assert response.status_code == 200, response.text
        revoked = time.monotonic()
        assert await stream.ended(timeout=5)
        assert time.monotonic() - revoked < 2

    # A revoked personal access token.
    session = await login(http, server, secret, user["email"])
    token_id, pat = await new_pat(session)
    async with open_stream(http, server, pat) as stream:
        assert (await stream.next(timeout=3)) is not None  # a heartbeat: the PAT still stands
        response = await http.delete(f"{server.url}/v1/me/tokens/{token_id}", headers=session.headers)
        assert response.status_code == 204
        assert await stream.ended(timeout=5)

    db = Database(server.database_url)
    try:
        # A personal access token that expires while streaming.
        token_id, pat = await new_pat(session)
        async with open_stream(http, server, pat) as stream:
            async with db.write() as s:
                await s.execute(
                    update(PersonalAccessToken)
                    .where(PersonalAccessToken.id == token_id)
                    .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
            assert await stream.ended(timeout=5)

        # A user disabled while streaming.
        async with open_stream(http, server, session.access_token) as stream:
            async with db.write() as s:
                await s.execute(update(User).where(User.id == user["id"]).values(disabled=True))
            assert await stream.ended(timeout=5)
    finally:
        await db.dispose()


async def test_disconnecting_clients_leave_the_stream_working(
    core_factory: Any, http: httpx.AsyncClient
) -> None:
    """Clients that hang up (mid-heartbeat, or right after connecting) end their streams cleanly."""
    server: CoreServer = await core_factory(LATCHKEY_EVENTS_HEARTBEAT="0.2")
    developer = await server.create_user(developer=True)
    user = await server.create_user()
    session = await login(http, server, developer["client_secret"], user["email"])
    for _ in range(10):
        async with open_stream(http, server, session.access_token):
            pass
    async with open_stream(http, server, session.access_token) as stream:
        await stream.next(timeout=3)  # a heartbeat
    await asyncio.sleep(0.5)  # the abandoned streams would have sent heartbeats by now

    async with open_stream(http, server, session.access_token) as stream:
        response = await http.post(
            f"{server.url}/v1/projects", json={"name": "Still"}, headers=session.headers
        )
        assert response.status_code == 201
        event = await stream.next_event()
        assert event.json["project"]["name"] == "Still"
    log = server.log()
    assert "Traceback" not in log, log
    assert "ERROR" not in log, log


async def test_streams_per_user_are_capped(core_factory: Any, http: httpx.AsyncClient) -> None:
    """At most LATCHKEY_MAX_STREAMS_PER_USER streams per user: the next is 429 before it starts; a slot
    frees when a stream ends (its client leaves, or its token is revoked); other users are unaffected."""
    server: CoreServer = await core_factory(
        LATCHKEY_MAX_STREAMS_PER_USER="3", LATCHKEY_EVENTS_HEARTBEAT="0.2"
    )
    developer = await server.create_user(developer=True, forwards_client_ip=True)
    user, other = await server.create_user(), await server.create_user()
    session = await login(http, server, developer["client_secret"], user["email"])
    other_session = await login(http, server, developer["client_secret"], other["email"])
    pat = await http.post(
        f"{server.url}/v1/me/tokens",
        json={"name": "events", "scopes": ["projects:read"], "expires_in_days": 1},
        headers=session.headers,
    )
    assert pat.status_code == 201, pat.text

    async def refused(token: str) -> None:
        response = await http.get(f"{server.url}/v1/events", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 429, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "too_many_streams"
        assert int(response.headers["retry-after"]) >= 1

    async def admitted_within(token: str, seconds: float = 5.0) -> None:
        """A new stream is admitted once the server has noticed a freed slot (at most a moment)."""
        deadline = time.monotonic() + seconds
        while True:
            async with http.stream(
                "GET", f"{server.url}/v1/events", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                if response.status_code == 200:
                    return
                assert response.status_code == 429
            assert time.monotonic() < deadline, "the freed slot was never given back"
            await asyncio.sleep(0.05)

    async with AsyncExitStack() as streams:
        first = await streams.enter_async_context(open_stream(http, server, session.access_token))
        await streams.enter_async_context(open_stream(http, server, session.access_token))
        by_pat = await streams.enter_async_context(open_stream(http, server, pat.json()["token"]))
        # Any token of the same user counts against the same cap.
        await refused(session.access_token)
        await refused(pat.json()["token"])
        # Another user is unaffected.
        async with open_stream(http, server, other_session.access_token) as stream:
            assert stream.response.status_code == 200

        # The client leaves: its slot comes back.
        await first.response.aclose()
        await admitted_within(session.access_token)

        # The token of a stream is revoked: the stream ends at its next check, and its slot comes back.
        async with open_stream(http, server, session.access_token):
            await refused(session.access_token)
            revoked = await http.delete(
                f"{server.url}/v1/me/tokens/{pat.json()['id']}", headers=session.headers
            )
            assert revoked.status_code == 204
            assert await by_pat.ended(timeout=5)
            await admitted_within(session.access_token)

    # Streams opened and dropped at once (before or right after their first byte) leak no slot.
    for _ in range(10):
        async with http.stream(
            "GET", f"{server.url}/v1/events", headers={"Authorization": f"Bearer {session.access_token}"}
        ):
            pass
    async with AsyncExitStack() as streams:
        for _ in range(3):
            deadline = time.monotonic() + 5
            while True:
                try:
                    await streams.enter_async_context(open_stream(http, server, session.access_token))
                    break
                except AssertionError:
                    assert time.monotonic() < deadline, "slots leaked"
                    await asyncio.sleep(0.05)
        await refused(session.access_token)
    log = server.log()
    assert "Traceback" not in log, log


async def test_the_stream_cap_is_documented(core: CoreServer, http: httpx.AsyncClient) -> None:
    document = (await http.get(f"{core.url}/schema/openapi.json")).json()
    responses = document["paths"]["/v1/events"]["get"]["responses"]
    assert "429" in responses
    assert "too_many_streams" in responses["429"]["description"]
