"""The sweeper (`bff/sessions/sweeper.py`): sessions nobody uses end at their idle or absolute end, with
their chains revoked and the listeners told; old rows are purged; pending revocations are restarted."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.bff.sessions.conftest import World, unavailable


async def test_the_sweeper_ends_idle_and_expired_sessions(world: World) -> None:
    idle = await world.login()
    world.clock.advance(world.service.idle - 1)
    busy = await world.login("bob")
    assert await world.service.sweeper.sweep() == 0
    world.clock.advance(1)
    assert await world.service.sweeper.sweep() == 1
    assert (await world.record(idle)).end_reason == "idle"
    assert world.ended == [idle.record.id_hash]
    while world.clock.now() < busy.record.expires_at:  # active to its absolute end
        world.clock.advance(600)
        await world.store.touch(busy.record.id_hash, world.clock.now())
    assert await world.service.sweeper.sweep() == 1
    assert (await world.record(busy)).end_reason == "expired"
    assert len(world.core.revoked) == 2


async def test_ended_rows_are_purged_after_the_max_age(world: World) -> None:
    signed_in = await world.login()
    await world.service.endings.end(signed_in.record.id_hash, "logout")
    world.clock.advance(3600)
    await world.service.sweeper.sweep()
    assert await world.store.get(signed_in.record.id_hash) is not None  # still answers a precise code
    world.clock.advance(1)
    await world.service.sweeper.sweep()
    assert await world.store.get(signed_in.record.id_hash) is None


async def test_a_sweep_restarts_pending_revocations(world: World) -> None:
    world.core.revoke_failures.append(unavailable())
    await world.service.revoker.revoke(["lkr_left_behind"])
    await world.service.background.close()  # as if this process had stopped: no retry loop runs
    world.clock.advance(timedelta(seconds=1).total_seconds())
    await world.service.sweeper.sweep()
    await world.service.background.wait()
    assert world.core.revoked == ["lkr_left_behind"]
