"""The validated-session cache (`bff/sessions/cache.py`) through the proxy's gate: hits, misses, one shared
read per stale entry, voiding on an end here, the TTL and size bounds, and the background last-seen writes."""

from __future__ import annotations

import asyncio

import pytest

from latchkey.bff.sessions import cache
from latchkey.problems import ProblemError
from tests.unit.bff.sessions.conftest import World, scope_of, settle


async def test_a_miss_reads_the_store_once_and_hits_need_no_read(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    reads = world.store.reads
    grant = await world.service.authorize(scope)
    assert world.store.reads == reads + 1
    assert (grant.session_key, grant.user_id) == (signed_in.record.id_hash, 7)
    for _ in range(20):
        assert (await world.service.authorize(scope)).access_token == grant.access_token
    assert world.store.reads == reads + 1


async def test_an_entry_is_read_again_once_it_is_ttl_old(world: World) -> None:
    scope = scope_of(await world.login())
    await world.service.authorize(scope)
    reads = world.store.reads
    world.clock.advance(cache.CACHE_TTL - 0.01)
    await world.service.authorize(scope)
    assert world.store.reads == reads
    world.clock.advance(0.01)
    await world.service.authorize(scope)
    assert world.store.reads == reads + 1


async def test_a_session_ended_elsewhere_is_refused_within_the_ttl(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    await world.service.authorize(scope)
    await world.store.end(signed_in.record.id_hash, "logout", world.clock.now())  # another instance
    await world.service.authorize(scope)  # still cached here, for at most the TTL
    world.clock.advance(cache.CACHE_TTL)
    with pytest.raises(ProblemError) as refused:
        await world.service.authorize(scope)
    assert (refused.value.status, refused.value.code) == (401, "session_revoked")


async def test_concurrent_misses_share_one_store_read(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    reads = world.store.reads
    world.store.gate = asyncio.Event()
    calls = [asyncio.ensure_future(world.service.authorize(scope)) for _ in range(32)]
    await settle()
    world.store.gate.set()
    grants = await asyncio.gather(*calls)
    assert world.store.reads == reads + 1
    assert {grant.access_token for grant in grants} == {grants[0].access_token}


async def test_a_caller_leaving_does_not_cancel_the_shared_read(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    world.store.gate = asyncio.Event()
    first = asyncio.ensure_future(world.service.authorize(scope))
    second = asyncio.ensure_future(world.service.authorize(scope))
    await settle()
    first.cancel()
    world.store.gate.set()
    assert (await second).session_key == signed_in.record.id_hash
    assert first.cancelled()


async def test_a_read_that_began_before_an_end_here_is_read_again(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    held = world.store.gate = asyncio.Event()
    reads = world.store.reads
    pending = asyncio.ensure_future(world.service.authorize(scope))
    await settle()
    world.store.gate = None
    assert await world.service.endings.end(signed_in.record.id_hash, "logout")
    held.set()
    with pytest.raises(ProblemError) as refused:
        await pending
    assert refused.value.code == "session_revoked"
    assert world.store.reads == reads + 2
    assert len(world.service.cache) == 0


async def test_another_session_ending_does_not_void_a_read(world: World) -> None:
    mine, other = await world.login(), await world.login("bob")
    scope = scope_of(mine)
    held = world.store.gate = asyncio.Event()
    reads = world.store.reads
    pending = asyncio.ensure_future(world.service.authorize(scope))
    await settle()
    world.store.gate = None
    await world.service.endings.end(other.record.id_hash, "logout")
    held.set()
    assert (await pending).session_key == mine.record.id_hash
    assert world.store.reads == reads + 1
    await world.service.authorize(scope)
    assert world.store.reads == reads + 1  # cached


async def test_the_cache_keeps_at_most_its_size(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "CACHE_SIZE", 2)
    scopes = [scope_of(await world.login()) for _ in range(3)]
    for scope in scopes:
        await world.service.authorize(scope)
    assert len(world.service.cache) == 2
    reads = world.store.reads
    await world.service.authorize(scopes[0])  # the least recently used went first
    assert world.store.reads == reads + 1


async def test_activity_is_written_in_the_background_at_most_every_touch_interval(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    interval = world.service.cache.touch_interval
    assert interval == 60.0  # min(60 s, idle/4) with a 30-minute idle timeout
    await world.service.authorize(scope)
    touches = world.store.touches
    world.clock.advance(interval / 2)
    await world.service.authorize(scope)
    await world.service.background.wait()
    assert world.store.touches == touches
    world.clock.advance(interval / 2)
    await world.service.authorize(scope)
    await world.service.background.wait()
    assert world.store.touches == touches + 1
    record = await world.record(signed_in)
    assert record.last_seen_at == world.clock.now().replace(microsecond=record.last_seen_at.microsecond)


async def test_the_routes_read_the_store_every_time_and_refresh_the_cache(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    reads = world.store.reads
    for _ in range(3):
        record = await world.service.current(scope["headers"])
        assert record.id_hash == signed_in.record.id_hash
    assert world.store.reads == reads + 3
    await world.service.authorize(scope)  # cached by the last read
    assert world.store.reads == reads + 3


async def test_the_routes_write_activity_at_once_when_due(world: World) -> None:
    signed_in = await world.login()
    world.clock.advance(world.service.cache.touch_interval)
    record = await world.service.current(scope_of(signed_in)["headers"])
    assert record.last_seen_at > signed_in.record.last_seen_at
    stored = await world.record(signed_in)
    assert stored.last_seen_at == record.last_seen_at
