"""Redis killed mid-run, then restarted on the same port (SPEC §8): the databases hold every fact, so both
apps keep answering, `/readyz` stays 200 and says `"redis": "down"`, caches fall back to trusting
themselves a second (a revocation still stops a token on the other process within about that), nothing made
during the outage is lost, and each process logs the outage in one line, not one per reconnection attempt.
When Redis is back they reconnect by themselves: `/readyz` says `up` and changes reach the other process's
streams again, nothing restarted.

Two core processes and a BFF share a Redis of this module's own, which is the one it kills.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from tests.scale.conftest import (
    CROSS_PROCESS_LIMIT,
    LOCAL_TTL,
    Accounts,
    Launcher,
    PrivateRedis,
    bearer,
    cookie_headers,
    event_about,
    event_stream,
    seconds_until_refused,
    seed,
    sign_in,
    wait_for_redis,
)
from tests.support import BffServer, CoreServer

# How long the outage lasts at least: several reconnection attempts (the backoff is capped at 1 s).
OUTAGE = 3.0
# A revocation during the outage: the other process's cache lets go of the token within LOCAL_TTL.
OUTAGE_LIMIT = LOCAL_TTL + 0.5
BACK_LINE = "Redis is back"
BROADCAST_LOGGER = "latchkey.broadcast"
# How long to keep waiting for an event that is already late, to say by how much.
LATE = 10.0


@dataclass
class Deployment:
    a: CoreServer
    b: CoreServer
    bff: BffServer
    accounts: Accounts

    @property
    def servers(self) -> list[CoreServer | BffServer]:
        return [self.a, self.b, self.bff]

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]


@pytest.fixture(scope="module")
async def deployment(launcher: Launcher, private_redis: PrivateRedis) -> Deployment:
    redis = private_redis.url
    a, b = await launcher.cores(2, LATCHKEY_REDIS_URL=redis)
    accounts = await seed(a)
    (bff,) = await launcher.bffs(a, accounts.client_secret, [a.url], LATCHKEY_REDIS_URL=redis)
    await wait_for_redis([a.url, b.url, bff.url], "up")
    return Deployment(a, b, bff, accounts)


async def create_project(http: httpx.AsyncClient, core: CoreServer, token: str, name: str) -> int:
    response = await http.post(f"{core.url}/v1/projects", json={"name": name}, headers=bearer(token))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def revoke(http: httpx.AsyncClient, through: CoreServer, deployment: Deployment, token: str) -> None:
    """`/v1/oauth/revoke` of a refresh token (its whole chain) through `through`."""
    response = await http.post(
        f"{through.url}/v1/oauth/revoke",
        data={"token": token},
        headers={"Authorization": f"Secret {deployment.accounts.client_secret}"},
    )
    assert response.status_code == 200, response.text


@dataclass
class Outage:
    killed: float  # time.monotonic() when Redis was killed
    offsets: dict[int, int]  # where each process's log stood then, by its port

    def broadcast_lines(self, server: CoreServer | BffServer) -> list[str]:
        """What the process logged about Redis since the kill."""
        text = server.log()[self.offsets[server.port] :]
        return [line for line in text.splitlines() if BROADCAST_LOGGER in line]


@asynccontextmanager
async def outage(deployment: Deployment, redis: PrivateRedis) -> AsyncIterator[Outage]:
    """Kill Redis, wait until every process says it is down, and (on leaving) restart it on the same port
    and wait until every process says it is back."""
    offsets = [len(server.log()) for server in deployment.servers]
    await asyncio.to_thread(redis.kill)
    killed = time.monotonic()
    await wait_for_redis(deployment.urls, "down")  # /readyz answers 200 throughout
    print(f"\nevery process reported Redis down {(time.monotonic() - killed) * 1000:.0f} ms after the kill")
    current = Outage(
        killed, {server.port: offset for server, offset in zip(deployment.servers, offsets, strict=True)}
    )
    try:
        yield current
    finally:
        await asyncio.to_thread(redis.start)  # same port
        restarted = time.monotonic()
        await wait_for_redis(deployment.urls, "up")
        print(
            f"every process reported Redis up {(time.monotonic() - restarted) * 1000:.0f} ms after restarting"
        )


async def test_both_apps_keep_answering_while_redis_is_down(
    deployment: Deployment, private_redis: PrivateRedis, http: httpx.AsyncClient
) -> None:
    a, b, bff = deployment.a, deployment.b, deployment.bff
    member = await deployment.accounts.member(http, a)
    session = await deployment.accounts.login(http, a, member["email"])
    token = bearer(session.access_token)

    async with (
        event_stream(http, f"{a.url}/v1/events", token) as on_a,
        event_stream(http, f"{b.url}/v1/events", token) as on_b,
    ):
        # Before the outage both cores publish, and each's change reaches the other (Redis is in use).
        made = []
        for core, other in ((a, on_b), (b, on_a)):
            made.append(await create_project(http, core, session.access_token, f"before, via {core.port}"))
            assert (await event_about(other, made[-1], CROSS_PROCESS_LIMIT)).event == "project.created"

        async with outage(deployment, private_redis) as current:
            # Both apps keep answering: a sign-in and calls through the BFF, calls straight to either core.
            cookie = await sign_in(http, bff.url, member["email"])
            through_bff = await http.post(
                f"{bff.url}/api/v1/projects", json={"name": "through the BFF"}, headers=cookie_headers(cookie)
            )
            assert through_bff.status_code == 201, through_bff.text
            made.append(int(through_bff.json()["id"]))
            # A process's own streams still get its changes at once; the other's, once Redis is back.
            for core, own in ((a, on_a), (b, on_b)):
                made.append(
                    await create_project(http, core, session.access_token, f"during, via {core.port}")
                )
                assert (await event_about(own, made[-1], CROSS_PROCESS_LIMIT)).event == "project.created"

            # A revocation through A stops the token on B within about a second (B trusts its cache no
            # longer than that while Redis is down).
            doomed = await deployment.accounts.login(http, a, member["email"])
            assert (await http.get(f"{b.url}/v1/me", headers=doomed.headers)).status_code == 200
            await revoke(http, deployment.a, deployment, doomed.refresh_token)
            elapsed, _ = await seconds_until_refused(
                lambda: http.get(f"{b.url}/v1/me", headers=doomed.headers), time.monotonic(), OUTAGE_LIMIT
            )
            print(
                f"during the outage, the other process refused a revoked chain after {elapsed * 1000:.0f} ms"
            )

            # Nothing made during the outage is lost: the other process lists every project.
            listed = await http.get(f"{b.url}/v1/projects", params={"limit": 100}, headers=session.headers)
            assert listed.status_code == 200, listed.text
            assert sorted(item["id"] for item in listed.json()["items"]) == sorted(made)

            # Several reconnection attempts, which must log nothing more.
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - current.killed)))
            for server in deployment.servers:
                assert server.launched is not None and server.launched.running

        # What B published during the outage reaches A's stream once Redis is back (late, not lost).
        assert (await event_about(on_a, made[-1], LATE)).event == "project.created"
        assert (await event_about(on_b, made[-2], LATE)).event == "project.created"

    # Each process logged the outage in one line, however many reconnection attempts and publications it
    # made meanwhile, and its end in one more.
    logged = {
        f"{server.APP} on port {server.port}": current.broadcast_lines(server)
        for server in deployment.servers
    }
    wrong = {
        name: lines
        for name, lines in logged.items()
        if len(lines) != 2 or BACK_LINE in lines[0] or BACK_LINE not in lines[1]
    }
    assert not wrong, "\n".join(f"{name} logged:\n  " + "\n  ".join(lines) for name, lines in wrong.items())


async def test_notifications_cross_processes_within_a_second_once_redis_is_back(
    deployment: Deployment, private_redis: PrivateRedis, http: httpx.AsyncClient
) -> None:
    a, b = deployment.a, deployment.b
    member = await deployment.accounts.member(http, a)
    session = await deployment.accounts.login(http, a, member["email"])
    async with outage(deployment, private_redis):
        # Changes go on during the outage (their notifications wait for Redis).
        for core in (a, b):
            await create_project(http, core, session.access_token, f"during, via {core.port}")

    # Nothing restarted, and every process says Redis is up: A trusts what it caches 30 s again, so a
    # revocation through B must reach it within the second; and so must an event.
    doomed = await deployment.accounts.login(http, a, member["email"])
    async with event_stream(http, f"{a.url}/v1/events", bearer(session.access_token)) as stream:
        assert (await http.get(f"{a.url}/v1/me", headers=doomed.headers)).status_code == 200
        await revoke(http, b, deployment, doomed.refresh_token)
        revoked = time.monotonic()
        project = await create_project(http, b, session.access_token, "after the outage")
        created = time.monotonic()
        refused, _ = await seconds_until_refused(
            lambda: http.get(f"{a.url}/v1/me", headers=doomed.headers), revoked, LATE
        )
        event = await event_about(stream, project, LATE)
        crossed = time.monotonic() - created
        assert event.event == "project.created"
    print(
        f"after the restart, the other process refused a revoked chain after {refused * 1000:.0f} ms "
        f"and an event crossed after at most {crossed * 1000:.0f} ms"
    )
    assert refused < CROSS_PROCESS_LIMIT, f"revoked token accepted {refused:.2f} s, Redis up everywhere"
    assert crossed < CROSS_PROCESS_LIMIT, f"event crossed after {crossed:.2f} s, Redis up everywhere"
