"""Two BFF instances on one session database with the shared Redis (SPEC §8): a session ended through one
is refused by the other, and its streams there close, within a second.

BFF A forwards to core A and BFF B to core B, and the two cores share no Redis (with their events
heartbeat a minute away): so nothing but the BFFs' own broadcast can tell B of a logout through A that
soon. B's session cache re-reads the store after a second at most, and core B's token cache trusts a
token for a second without Redis — so a refusal on B sooner than a second after B last validated the
session can only be the broadcast's doing, and the tests check exactly that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest

from tests.scale.conftest import (
    CROSS_PROCESS_LIMIT,
    LOCAL_TTL,
    SHARED_REDIS,
    Accounts,
    Launcher,
    cookie_headers,
    event_stream,
    seconds_until_closed,
    seconds_until_refused,
    seed,
    sign_in,
    wait_for_redis,
)
from tests.support import BffServer, CoreServer


@dataclass
class Instances:
    cores: list[CoreServer]
    a: BffServer
    b: BffServer
    accounts: Accounts


@pytest.fixture(scope="module")
async def instances(launcher: Launcher) -> Instances:
    cores = await launcher.cores(2, LATCHKEY_EVENTS_HEARTBEAT="60")
    accounts = await seed(cores[0])
    a, b = await launcher.bffs(
        cores[0], accounts.client_secret, [core.url for core in cores], LATCHKEY_REDIS_URL=SHARED_REDIS
    )
    await wait_for_redis([a.url, b.url], "up")
    await wait_for_redis([core.url for core in cores], "off")
    return Instances(cores, a, b, accounts)


async def api_me(http: httpx.AsyncClient, bff: BffServer, cookie: str) -> httpx.Response:
    return await http.get(f"{bff.url}/api/v1/me", headers=cookie_headers(cookie))


async def test_a_logout_through_one_instance_is_refused_on_the_other_within_a_second(
    instances: Instances, http: httpx.AsyncClient
) -> None:
    member = await instances.accounts.member(http, instances.cores[0])
    cookie = await sign_in(http, instances.a.url, member["email"])
    # B validates the session (its first request: B caches it now, and core B the access token).
    warmed_at = time.monotonic()
    assert (await api_me(http, instances.b, cookie)).status_code == 200

    logout = await http.post(f"{instances.a.url}/bff/logout", headers=cookie_headers(cookie))
    assert logout.status_code == 204
    since = time.monotonic()
    assert (await api_me(http, instances.a, cookie)).status_code == 401, "not refused at once where it ended"
    elapsed, response = await seconds_until_refused(lambda: api_me(http, instances.b, cookie), since)
    refused_at = since + elapsed

    print(f"\nthe other instance refused the ended session {elapsed * 1000:.0f} ms after the logout")
    assert response.json()["code"] == "session_revoked"
    assert elapsed < CROSS_PROCESS_LIMIT
    # Sooner than either cache could have let go of the session by itself: the broadcast told B.
    assert refused_at - warmed_at < LOCAL_TTL, f"refused {refused_at - warmed_at:.2f} s after B validated it"
    session = await http.get(f"{instances.b.url}/bff/session", headers=cookie_headers(cookie))
    assert session.status_code == 401


async def test_a_stream_of_an_ended_session_closes_on_the_other_instance(
    instances: Instances, http: httpx.AsyncClient
) -> None:
    member = await instances.accounts.member(http, instances.cores[0])
    cookie = await sign_in(http, instances.a.url, member["email"])
    async with event_stream(http, f"{instances.b.url}/api/v1/events", cookie_headers(cookie)) as stream:
        sent = time.monotonic()
        logout = await http.post(f"{instances.a.url}/bff/logout", headers=cookie_headers(cookie))
        assert logout.status_code == 204
        elapsed = await seconds_until_closed(stream, sent, CROSS_PROCESS_LIMIT)
    print(
        f"\nthe ended session's stream through the other instance closed {elapsed * 1000:.0f} ms after "
        "the logout was sent"
    )
    assert elapsed < CROSS_PROCESS_LIMIT


def test_one_worker_without_redis_gives_no_warning(instances: Instances) -> None:
    """`latchkey core` without `--workers` and without Redis is the supported single process: no warning."""
    for core in instances.cores:
        assert core.log_path.exists()
        assert "LATCHKEY_REDIS_URL" not in core.log()
