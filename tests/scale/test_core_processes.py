"""Two core processes on one database with the shared Redis (SPEC §8): what happens through one reaches the
other within a second — project events on its open streams, and every change to what a token stands for
(a revoked personal access token or chain, a disabled user, a changed password).

Each revocation test first has the other process validate the token (one successful call: it is now in
that process's cache, which trusts it for 30 s while Redis is up), changes it through the first process,
then polls the other until it refuses: only the broadcast can make that happen within the second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.scale.conftest import (
    CROSS_PROCESS_LIMIT,
    SHARED_REDIS,
    Accounts,
    Launcher,
    bearer,
    event_stream,
    next_event_within,
    seconds_until_closed,
    seconds_until_refused,
    seed,
    wait_for_redis,
)
from tests.support import PASSWORD, CoreServer


@dataclass
class Pair:
    a: CoreServer
    b: CoreServer
    accounts: Accounts


@pytest.fixture(scope="module")
async def pair(launcher: Launcher) -> Pair:
    a, b = await launcher.cores(2, LATCHKEY_REDIS_URL=SHARED_REDIS)
    accounts = await seed(a)
    await wait_for_redis([a.url, b.url], "up")
    return Pair(a, b, accounts)


async def me(http: httpx.AsyncClient, core: CoreServer, token: str) -> httpx.Response:
    return await http.get(f"{core.url}/v1/me", headers=bearer(token))


async def warmed(http: httpx.AsyncClient, core: CoreServer, *tokens: str) -> None:
    """One successful call per token on `core`: its cache now holds them."""
    for token in tokens:
        response = await me(http, core, token)
        assert response.status_code == 200, response.text


async def refused_on_the_other(
    http: httpx.AsyncClient, pair: Pair, token: str, since: float, what: str
) -> None:
    """The token is refused on A (which made the change) at once, and on B within the second."""
    assert (await me(http, pair.a, token)).status_code == 401, "not refused at once where it changed"
    elapsed, response = await seconds_until_refused(lambda: me(http, pair.b, token), since)
    assert response.json()["code"] == "invalid_token"
    print(f"\n{what}: refused on the other process {elapsed * 1000:.0f} ms after the change")
    assert elapsed < CROSS_PROCESS_LIMIT


async def test_events_reach_streams_on_the_other_process_within_a_second(
    pair: Pair, http: httpx.AsyncClient
) -> None:
    member = await pair.accounts.member(http, pair.a)
    session = await pair.accounts.login(http, pair.a, member["email"])
    async with (
        event_stream(http, f"{pair.a.url}/v1/events", bearer(session.access_token)) as on_a,
        event_stream(http, f"{pair.b.url}/v1/events", bearer(session.access_token)) as on_b,
    ):
        for through, near, far in ((pair.b, on_b, on_a), (pair.a, on_a, on_b)):
            sent = time.monotonic()
            created = await http.post(
                f"{through.url}/v1/projects", json={"name": f"via {through.port}"}, headers=session.headers
            )
            assert created.status_code == 201, created.text
            project = created.json()
            event = await next_event_within(far, CROSS_PROCESS_LIMIT)
            elapsed = time.monotonic() - sent
            assert event.event == "project.created"
            assert event.json["project"] == project
            print(
                f"\nan event made through one process reached the other's stream in {elapsed * 1000:.0f} ms"
            )
            assert elapsed < CROSS_PROCESS_LIMIT
            # The process that made the change delivered it to its own stream too.
            assert (await near.next_event()).json["project"] == project


async def test_a_revoked_personal_access_token_stops_on_the_other_process(
    pair: Pair, http: httpx.AsyncClient
) -> None:
    member = await pair.accounts.member(http, pair.a)
    session = await pair.accounts.login(http, pair.a, member["email"])
    created = await http.post(
        f"{pair.a.url}/v1/me/tokens",
        json={"name": "ci", "scopes": ["profile"], "expires_in_days": 1},
        headers=session.headers,
    )
    assert created.status_code == 201, created.text
    pat = created.json()
    await warmed(http, pair.b, pat["token"])

    revoked = await http.delete(f"{pair.a.url}/v1/me/tokens/{pat['id']}", headers=session.headers)
    assert revoked.status_code == 204
    await refused_on_the_other(http, pair, pat["token"], time.monotonic(), "revoked PAT")
    # Only that token: the session that revoked it works on both.
    await warmed(http, pair.b, session.access_token)


async def test_a_chain_revoked_through_oauth_revoke_stops_on_the_other_process(
    pair: Pair, http: httpx.AsyncClient
) -> None:
    member = await pair.accounts.member(http, pair.a)
    session = await pair.accounts.login(http, pair.a, member["email"])
    await warmed(http, pair.b, session.access_token)

    revoked = await http.post(
        f"{pair.a.url}/v1/oauth/revoke",
        data={"token": session.refresh_token},
        headers={"Authorization": f"Secret {pair.accounts.client_secret}"},
    )
    assert revoked.status_code == 200, revoked.text
    await refused_on_the_other(http, pair, session.access_token, time.monotonic(), "revoked chain")


async def test_a_disabled_user_is_refused_on_the_other_process(pair: Pair, http: httpx.AsyncClient) -> None:
    member = await pair.accounts.member(http, pair.a)
    session = await pair.accounts.login(http, pair.a, member["email"])
    created = await http.post(
        f"{pair.a.url}/v1/me/tokens",
        json={"name": "ci", "scopes": ["profile"], "expires_in_days": 1},
        headers=session.headers,
    )
    assert created.status_code == 201, created.text
    pat = created.json()["token"]
    await warmed(http, pair.b, session.access_token, pat)

    disabled = await http.patch(
        f"{pair.a.url}/v1/admin/users/{member['id']}",
        json={"disabled": True},
        headers=pair.accounts.admin_session.headers,
    )
    assert disabled.status_code == 200, disabled.text
    since = time.monotonic()
    await refused_on_the_other(http, pair, session.access_token, since, "disabled user's session")
    await refused_on_the_other(http, pair, pat, since, "disabled user's PAT")


async def test_a_password_change_ends_the_other_sessions_on_the_other_process(
    pair: Pair, http: httpx.AsyncClient
) -> None:
    member = await pair.accounts.member(http, pair.a)
    changing, other = await asyncio.gather(
        pair.accounts.login(http, pair.a, member["email"]), pair.accounts.login(http, pair.a, member["email"])
    )
    await warmed(http, pair.b, changing.access_token, other.access_token)

    changed = await http.post(
        f"{pair.a.url}/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a new and longer passphrase"},
        headers=changing.headers,
    )
    assert changed.status_code == 204, changed.text
    await refused_on_the_other(http, pair, other.access_token, time.monotonic(), "other session")
    # The session that changed the password stays signed in, on both processes.
    await warmed(http, pair.a, changing.access_token)
    await warmed(http, pair.b, changing.access_token)


async def test_a_stream_on_the_other_process_closes_when_its_chain_is_revoked(
    pair: Pair, http: httpx.AsyncClient
) -> None:
    member = await pair.accounts.member(http, pair.a)
    session = await pair.accounts.login(http, pair.a, member["email"])
    async with event_stream(http, f"{pair.b.url}/v1/events", bearer(session.access_token)) as stream:
        revoked = await http.post(
            f"{pair.a.url}/v1/oauth/revoke",
            data={"token": session.refresh_token},
            headers={"Authorization": f"Secret {pair.accounts.client_secret}"},
        )
        assert revoked.status_code == 200, revoked.text
        # The heartbeat (and its token check) is 15 s away: only the broadcast's wake closes it this soon.
        elapsed = await seconds_until_closed(stream, time.monotonic(), CROSS_PROCESS_LIMIT)
    print(f"\nthe revoked chain's stream on the other process closed {elapsed * 1000:.0f} ms after")
    assert elapsed < CROSS_PROCESS_LIMIT
