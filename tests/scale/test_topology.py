"""The tested topology of SPEC §8: nginx round-robin in front of two BFF processes, which forward to nginx
round-robin in front of two core processes; one database per app (PostgreSQL when configured) and the
shared Redis. A browser that only ever talks to the front signs in, makes many calls, watches its events
and logs out, and every process agrees about its session throughout.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest

from tests.scale.conftest import (
    CROSS_PROCESS_LIMIT,
    SHARED_REDIS,
    Accounts,
    Launcher,
    cookie_headers,
    event_about,
    event_stream,
    seconds_until_closed,
    seconds_until_refused,
    seed,
    sign_in,
    wait_for_redis,
)
from tests.support import BffServer, CoreServer

CALLS = 120
CONCURRENCY = 8


@dataclass
class Topology:
    front: str  # nginx before the BFFs: all a browser knows
    core_front: str  # nginx before the cores: what the BFFs forward to
    cores: list[CoreServer]
    bffs: list[BffServer]
    accounts: Accounts


@pytest.fixture(scope="module")
async def topology(launcher: Launcher) -> Topology:
    cores = await launcher.cores(2, LATCHKEY_REDIS_URL=SHARED_REDIS)
    core_front, accounts = await asyncio.gather(
        launcher.balancer("nginx-cores", [core.port for core in cores]), seed(cores[0])
    )
    bffs = await launcher.bffs(
        cores[0], accounts.client_secret, [core_front, core_front], LATCHKEY_REDIS_URL=SHARED_REDIS
    )
    front = await launcher.balancer("nginx-bffs", [bff.port for bff in bffs])
    await wait_for_redis([server.url for server in (*cores, *bffs)], "up")
    return Topology(front, core_front, cores, bffs, accounts)


async def signed_in(topology: Topology, http: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    member = await topology.accounts.member(http, topology.core_front)
    return member, await sign_in(http, topology.front, member["email"])


async def test_many_calls_through_the_front_all_succeed(topology: Topology, http: httpx.AsyncClient) -> None:
    member, cookie = await signed_in(topology, http)
    headers = cookie_headers(cookie)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def call(n: int) -> tuple[int, int]:
        async with gate:
            if n % 4 == 0:
                response = await http.post(
                    f"{topology.front}/api/v1/projects", json={"name": f"p{n}"}, headers=headers
                )
                return response.status_code, 201
            path = "/api/v1/me" if n % 2 else "/api/v1/projects"
            response = await http.get(f"{topology.front}{path}", headers=headers)
            if path == "/api/v1/me" and response.status_code == 200:
                assert response.json()["id"] == member["id"]
            return response.status_code, 200

    started = time.monotonic()
    answers = await asyncio.gather(*(call(n) for n in range(CALLS)))
    seconds = time.monotonic() - started
    wrong = [(n, got) for n, (got, wanted) in enumerate(answers) if got != wanted]
    assert wrong == []
    print(f"\n{CALLS} calls through nginx → 2 BFFs → nginx → 2 cores in {seconds:.2f} s, all answered right")

    # Every project made through either BFF and either core is there, whichever pair lists them.
    listed = await http.get(f"{topology.front}/api/v1/projects", params={"limit": 100}, headers=headers)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == CALLS // 4
    session = await http.get(f"{topology.front}/bff/session", headers=headers)
    assert session.status_code == 200
    assert session.json()["user"]["id"] == member["id"]


async def test_a_stream_through_the_front_sees_a_change_made_through_the_front(
    topology: Topology, http: httpx.AsyncClient
) -> None:
    _, cookie = await signed_in(topology, http)
    headers = cookie_headers(cookie)
    async with event_stream(http, f"{topology.front}/api/v1/events", headers) as stream:
        # Round-robin at both tiers: the changes go through other processes than the stream, or the same.
        for n in range(4):
            sent = time.monotonic()
            created = await http.post(
                f"{topology.front}/api/v1/projects", json={"name": f"live {n}"}, headers=headers
            )
            assert created.status_code == 201, created.text
            event = await event_about(stream, created.json()["id"], CROSS_PROCESS_LIMIT)
            elapsed = time.monotonic() - sent
            assert event.event == "project.created"
            assert event.json["project"] == created.json()
            assert elapsed < CROSS_PROCESS_LIMIT
    print(f"\nthe stream through the front saw the last change {elapsed * 1000:.0f} ms after it was sent")


async def test_a_logout_through_the_front_ends_the_session_everywhere(
    topology: Topology, http: httpx.AsyncClient
) -> None:
    _, cookie = await signed_in(topology, http)
    headers = cookie_headers(cookie)
    # Every BFF has validated the session (straight to each, past the front).
    for bff in topology.bffs:
        assert (await http.get(f"{bff.url}/api/v1/me", headers=headers)).status_code == 200

    async with event_stream(http, f"{topology.front}/api/v1/events", headers) as stream:
        sent = time.monotonic()
        logout = await http.post(f"{topology.front}/bff/logout", headers=headers)
        assert logout.status_code == 204
        closed = await seconds_until_closed(stream, sent, CROSS_PROCESS_LIMIT)
    print(f"\nthe stream through the front closed {closed * 1000:.0f} ms after the logout was sent")

    # Each BFF, asked straight, refuses the session within the second too, on /api and /bff alike.
    for bff in topology.bffs:
        elapsed, response = await seconds_until_refused(
            partial(http.get, f"{bff.url}/api/v1/me", headers=headers), sent
        )
        assert response.json()["code"] == "session_revoked"
        assert (await http.get(f"{bff.url}/bff/session", headers=headers)).status_code == 401
        print(f"BFF on port {bff.port} refused the session {elapsed * 1000:.0f} ms after the logout was sent")
    for _ in range(2 * len(topology.bffs)):
        assert (await http.get(f"{topology.front}/api/v1/me", headers=headers)).status_code == 401
