"""Single-flight refresh (`bff/sessions/refresher.py`): one refresh per session whoever asks, on one or
several instances; a lease a dead claimer left runs out; a refused refresh ends the session; tokens that
arrive for an ended session are revoked at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from latchkey.bff.sessions import refresher
from latchkey.bff.sessions.authorization_server import GrantRefused
from latchkey.clock import ManualClock
from latchkey.problems import ProblemError
from latchkey.settings import BffSettings
from tests.unit.bff.sessions.conftest import (
    CountingStore,
    TokenEndpoint,
    World,
    make_world,
    scope_of,
    settle,
    unavailable,
)

# Tokens live 900 s: a refresh is due 30 s before their end.
DUE = 871


async def test_a_token_is_refreshed_when_due_and_not_before(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    first = await world.service.authorize(scope)
    for _ in range(3):
        world.clock.advance(DUE / 4)
        assert (await world.service.authorize(scope)).access_token == first.access_token
    world.clock.advance(DUE / 4)
    refreshed = await world.service.authorize(scope)
    assert refreshed.access_token != first.access_token
    assert world.core.refreshes == 1
    record = await world.record(signed_in)
    assert record.tokens is not None and record.tokens.access_token == refreshed.access_token
    assert (await world.service.authorize(scope)).access_token == refreshed.access_token
    assert world.core.refreshes == 1


async def test_concurrent_requests_cause_one_refresh(world: World) -> None:
    scope = scope_of(await world.login())
    world.clock.advance(DUE)
    world.core.hold = asyncio.Event()
    calls = [asyncio.ensure_future(world.service.authorize(scope)) for _ in range(16)]
    await settle()
    world.core.hold.set()
    grants = await asyncio.gather(*calls)
    assert world.core.refreshes == 1
    assert len({grant.access_token for grant in grants}) == 1


async def test_two_instances_refresh_once_through_the_row_claim(
    settings: BffSettings, clock: ManualClock, store: CountingStore, core: TokenEndpoint, world: World
) -> None:
    other = await make_world(settings, clock, store, core)
    try:
        scope = scope_of(await world.login())
        clock.advance(DUE)
        core.hold = asyncio.Event()
        calls = [asyncio.ensure_future(w.service.authorize(scope)) for w in (world, other) for _ in range(4)]
        await settle()
        core.hold.set()
        grants = await asyncio.gather(*calls)
        assert core.refreshes == 1
        assert len({grant.access_token for grant in grants}) == 1
    finally:
        await other.service.close()


async def test_a_dead_claimers_lease_runs_out(world: World) -> None:
    signed_in = await world.login()
    world.clock.advance(DUE)
    record = await world.record(signed_in)
    # Another instance claimed the refresh and died before saving.
    assert await world.store.claim_refresh(
        record.id_hash, record.version, world.clock.now(), refresher.REFRESH_LEASE
    )
    pending = asyncio.ensure_future(world.service.authorize(scope_of(signed_in)))
    await asyncio.sleep(refresher.REFRESH_POLL * 2)
    assert not pending.done() and world.core.refreshes == 0
    world.clock.current += refresher.REFRESH_LEASE + timedelta(seconds=1)  # wall time only: the lease is over
    grant = await pending
    assert world.core.refreshes == 1
    assert signed_in.record.tokens is not None and grant.access_token != signed_in.record.tokens.access_token


async def test_a_claim_held_past_the_wait_answers_503(world: World) -> None:
    signed_in = await world.login()
    record = await world.record(signed_in)
    assert await world.store.claim_refresh(
        record.id_hash, record.version, world.clock.now(), timedelta(hours=1)
    )
    world.clock.advance(DUE)
    pending = asyncio.ensure_future(world.service.authorize(scope_of(signed_in)))
    await asyncio.sleep(refresher.REFRESH_POLL * 2)
    world.clock.elapsed += refresher.REFRESH_WAIT  # monotonic only: the waiter's deadline passes
    with pytest.raises(ProblemError) as refused:
        await pending
    assert (refused.value.status, refused.value.code) == (503, "refresh_in_progress")
    assert refused.value.headers == {"Retry-After": "1"}
    assert world.ended == []


async def test_a_refused_refresh_ends_the_session(world: World) -> None:
    signed_in = await world.login()
    assert signed_in.record.tokens is not None
    world.core.live.discard(signed_in.record.tokens.refresh_token)  # the chain was revoked at the core
    world.clock.advance(DUE)
    with pytest.raises(ProblemError) as refused:
        await world.service.authorize(scope_of(signed_in))
    assert (refused.value.status, refused.value.code) == (401, "session_revoked")
    assert (await world.record(signed_in)).end_reason == "revoked"
    assert world.ended == [signed_in.record.id_hash]
    assert world.core.revoked == []  # the core refused the chain already: nothing to revoke


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (unavailable(timeout=False), 502, "upstream_unavailable"),
        (unavailable(timeout=True), 504, "upstream_timeout"),
        (GrantRefused(429, "slow_down", "7"), 429, "rate_limited"),
        (GrantRefused(503, "temporarily_unavailable"), 503, "service_unavailable"),
        (GrantRefused(401, "invalid_client"), 502, "upstream_unavailable"),
    ],
)
async def test_a_failed_refresh_keeps_the_session_and_releases_the_claim(
    world: World, failure: Exception, status: int, code: str
) -> None:
    scope = scope_of(await world.login())
    world.clock.advance(DUE)
    world.core.refresh_failures.append(failure)
    with pytest.raises(ProblemError) as refused:
        await world.service.authorize(scope)
    assert (refused.value.status, refused.value.code) == (status, code)
    if status == 429:
        assert refused.value.headers == {"Retry-After": "7"}
    # At once, without waiting for a lease: the claim was released.
    assert (await world.service.authorize(scope)).access_token
    assert world.core.refreshes == 2 and world.ended == []


async def test_after_an_upstream_401_the_token_is_refreshed_whatever_its_age(world: World) -> None:
    scope = scope_of(await world.login())
    grant = await world.service.authorize(scope)
    again = await world.service.after_upstream_401(grant)
    assert again.access_token != grant.access_token
    assert (again.session_key, again.user_id) == (grant.session_key, grant.user_id)
    assert (await world.service.authorize(scope)).access_token == again.access_token


async def test_tokens_arriving_for_an_ended_session_are_revoked(world: World) -> None:
    signed_in = await world.login()
    world.clock.advance(DUE)
    world.core.hold = asyncio.Event()
    pending = asyncio.ensure_future(world.service.authorize(scope_of(signed_in)))
    await settle()
    await world.store.end(signed_in.record.id_hash, "logout", world.clock.now())  # on another instance
    world.core.hold.set()
    with pytest.raises(ProblemError) as refused:
        await pending
    assert (refused.value.status, refused.value.code) == (401, "session_revoked")
    record = await world.record(signed_in)
    assert record.tokens == signed_in.record.tokens  # the new pair was never stored …
    assert len(world.core.revoked) == 1 and world.core.revoked[0] not in world.core.live  # … and is dead
    assert world.ended == [signed_in.record.id_hash]


async def test_the_claim_and_the_save_each_move_the_version(world: World) -> None:
    signed_in = await world.login()
    before = await world.record(signed_in)
    world.clock.advance(DUE)
    await world.service.authorize(scope_of(signed_in))
    after = await world.record(signed_in)
    assert after.version == before.version + 2
