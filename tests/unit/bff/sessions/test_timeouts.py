"""Idle and absolute ends (`bff/sessions/timeouts.py`, `endings.py`), moved by a `ManualClock`: each ends
the session with its reason, tells the `on_end` listeners, revokes the chain, and answers its own code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from latchkey.bff.sessions import timeouts
from latchkey.bff.sessions.types import SessionRecord, Tokens, end_code
from latchkey.clock import ManualClock
from latchkey.problems import ProblemError
from latchkey.sealing import KeyRing
from latchkey.settings import BffSettings
from tests.unit.bff.sessions.conftest import TokenEndpoint, World, make_world, scope_of

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def record_at(last_seen: datetime, expires: datetime, tokens: bool = True) -> SessionRecord:
    pair = Tokens("lka_x", "lkr_x", T0, T0 + timedelta(minutes=15)) if tokens else None
    return SessionRecord(
        "h", "p", 7, {}, T0, last_seen, expires, pair, 0, "ua", "ip", ended_at=None, end_reason=None
    )


@pytest.mark.parametrize(
    ("seconds", "last_seen", "tokens", "reason"),
    [
        (0, None, True, None),
        (599, None, True, None),
        (600, None, True, "idle"),
        (600, 10.0, True, None),  # activity this instance knows of keeps it alive
        (3600, 3599.0, True, "expired"),  # the absolute end wins over any activity
        (10, None, False, "key_removed"),
    ],
)
def test_ending_reason(seconds: int, last_seen: float | None, tokens: bool, reason: str | None) -> None:
    record = record_at(T0, T0 + timedelta(hours=1), tokens)
    now = (T0 + timedelta(seconds=seconds)).timestamp()
    seen = None if last_seen is None else T0.timestamp() + last_seen
    assert timeouts.ending_reason(record, now, 600, seen) == reason


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("idle", "session_idle_expired"),
        ("expired", "session_expired"),
        ("logout", "session_revoked"),
        (None, "session_revoked"),
    ],
)
def test_end_codes(reason: str | None, code: str) -> None:
    assert end_code(reason) == code


def test_intervals_follow_the_idle_timeout() -> None:
    assert (timeouts.touch_interval(1800), timeouts.touch_interval(40)) == (60.0, 10.0)
    assert (timeouts.sweep_interval(1800), timeouts.sweep_interval(20), timeouts.sweep_interval(1)) == (
        30.0,
        10.0,
        0.5,
    )
    # A 15-minute token is refreshed 30 s before its end, a 60-second one 15 s before.
    assert timeouts.refresh_due(Tokens("a", "r", T0, T0 + timedelta(minutes=15))) == T0.timestamp() + 870
    assert timeouts.refresh_due(Tokens("a", "r", T0, T0 + timedelta(seconds=60))) == T0.timestamp() + 45


async def test_an_idle_session_ends_with_its_code(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    await world.service.authorize(scope)
    world.clock.advance(world.service.idle)
    with pytest.raises(ProblemError) as refused:
        await world.service.authorize(scope)
    assert (refused.value.status, refused.value.code) == (401, "session_idle_expired")
    record = await world.record(signed_in)
    assert record.end_reason == "idle"
    assert world.ended == [signed_in.record.id_hash]
    assert signed_in.record.tokens is not None
    assert world.core.revoked == [signed_in.record.tokens.refresh_token]
    with pytest.raises(ProblemError) as again:  # and stays ended, with the same code
        await world.service.authorize(scope)
    assert again.value.code == "session_idle_expired"


async def test_an_idle_end_is_seen_on_a_cache_hit_too(world: World) -> None:
    scope = scope_of(await world.login())
    await world.service.authorize(scope)
    world.clock.current += timedelta(seconds=world.service.idle)  # wall time only: the entry is not TTL-old
    reads = world.store.reads
    with pytest.raises(ProblemError) as refused:
        await world.service.authorize(scope)
    assert refused.value.code == "session_idle_expired"
    assert world.store.reads == reads  # decided from the cached entry


async def test_activity_keeps_a_session_alive_past_the_idle_timeout(world: World) -> None:
    scope = scope_of(await world.login())
    for _ in range(8):
        world.clock.advance(300)
        await world.service.authorize(scope)
        await world.service.background.wait()
    assert world.ended == []


async def test_the_absolute_end_is_refused_from_the_cookie_alone(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    for _ in range(11):  # active all along: only the absolute end applies
        world.clock.advance(300)
        await world.service.authorize(scope)
    world.clock.advance(300)
    reads = world.store.reads
    with pytest.raises(ProblemError) as refused:
        await world.service.authorize(scope)
    assert (refused.value.status, refused.value.code) == (401, "session_expired")
    assert world.store.reads == reads  # the sealed cookie carries its end: no store read
    assert world.ended == []  # the sweeper ends the row (test_sweeper.py)


async def test_an_expired_row_behind_a_valid_cookie_ends_as_expired(
    settings: BffSettings, clock: ManualClock, core: TokenEndpoint, world: World
) -> None:
    signed_in = await world.login()
    # The row's end comes before the cookie's (a shorter max age configured since, say).
    row = world.store._sessions[signed_in.record.id_hash]
    row.expires_at = clock.now() + timedelta(seconds=30)
    clock.advance(30)
    with pytest.raises(ProblemError) as refused:
        await world.service.authorize(scope_of(signed_in))
    assert refused.value.code == "session_expired"
    assert (await world.record(signed_in)).end_reason == "expired"


async def test_a_session_no_key_opens_is_ended_as_key_removed(
    settings: BffSettings, clock: ManualClock, core: TokenEndpoint, world: World
) -> None:
    signed_in = await world.login()
    # Another instance whose ring lost the key that sealed the row's tokens (its cookie key is the same).
    other_ring = world.store.seen_through(KeyRing([("other", b"\x07" * 16 + b"\x08" * 16)]))
    other = await make_world(settings, clock, other_ring, core)
    try:
        with pytest.raises(ProblemError) as refused:
            await other.service.authorize(scope_of(signed_in))
        assert refused.value.code == "session_revoked"
        assert (await world.record(signed_in)).end_reason == "key_removed"
        assert core.revoked == []  # no key opens the refresh token: nothing to revoke
    finally:
        await other.service.close()
