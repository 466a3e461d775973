"""The core's validated-token cache (`core/security/token_cache.py`) on a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from latchkey.broadcast import LOCAL_TTL, TRUSTED_TTL, Broadcast
from latchkey.clock import ManualClock
from latchkey.core.security.auth import Principal
from latchkey.core.security.credentials import Kind
from latchkey.core.security.token_cache import TokenCache

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def principal(user_id: int, token_id: int = 1) -> Principal:
    return Principal(
        user_id=user_id,
        email=f"u{user_id}@example.com",
        name="U",
        role="member",
        is_developer=False,
        created_at=NOW,
        kind=Kind.PERSONAL,
        token_id=token_id,
        scopes=frozenset({"profile"}),
        chain_id=None,
        auth_time=None,
    )


def cache(redis: bool = False, size: int = 100) -> tuple[TokenCache, Broadcast, ManualClock]:
    broadcast = Broadcast("redis://127.0.0.1:1/0" if redis else None, app="core", namespace="t")
    clock = ManualClock(current=NOW)
    return TokenCache(broadcast, clock, size=size), broadcast, clock


def test_an_entry_lives_one_second_without_redis() -> None:
    tokens, _, clock = cache()
    tokens.put("d", principal(1), NOW + timedelta(days=1), None, tokens.epoch)
    assert tokens.get("d", clock.now()) is not None
    clock.advance(LOCAL_TTL - 0.01)
    assert tokens.get("d", clock.now()) is not None
    clock.advance(0.01)
    assert tokens.get("d", clock.now()) is None
    assert len(tokens) == 0


def test_with_redis_up_an_entry_lives_longer_and_every_change_of_connectivity_flushes() -> None:
    tokens, broadcast, clock = cache(redis=True)
    broadcast._set_connected(True)
    tokens.put("d", principal(1), NOW + timedelta(days=1), None, tokens.epoch)
    clock.advance(TRUSTED_TTL - 1)
    assert tokens.get("d", clock.now()) is not None
    clock.advance(1)
    assert tokens.get("d", clock.now()) is None

    tokens.put("e", principal(1), NOW + timedelta(days=1), None, tokens.epoch)
    broadcast._set_connected(False)  # Redis lost: what it could not tell us about is forgotten
    assert tokens.get("e", clock.now()) is None
    tokens.put("f", principal(1), NOW + timedelta(days=1), None, tokens.epoch)
    broadcast._set_connected(True)  # back: what was missed meanwhile is forgotten too
    assert tokens.get("f", clock.now()) is None


def test_an_entry_never_outlives_its_token() -> None:
    tokens, _, clock = cache()
    tokens.put("d", principal(1), NOW + timedelta(seconds=0.5), None, tokens.epoch)
    clock.advance(0.5)
    assert tokens.get("d", clock.now()) is None


def test_a_users_change_forgets_only_that_users_tokens_and_wakes_listeners() -> None:
    tokens, _, clock = cache()
    woken: list[int] = []
    tokens.on_user_changed(woken.append)
    tokens.put("a1", principal(1, 1), NOW + timedelta(days=1), None, tokens.epoch)
    tokens.put("a2", principal(1, 2), NOW + timedelta(days=1), None, tokens.epoch)
    tokens.put("b", principal(2, 3), NOW + timedelta(days=1), None, tokens.epoch)
    tokens.user_changed(1)
    assert tokens.get("a1", clock.now()) is None and tokens.get("a2", clock.now()) is None
    assert tokens.get("b", clock.now()) is not None
    assert woken == [1]


def test_a_read_that_began_before_an_invalidation_is_not_cached() -> None:
    tokens, _, clock = cache()
    epoch = tokens.epoch  # the database read starts…
    tokens.user_changed(1)  # …a revocation commits meanwhile…
    tokens.put("d", principal(1), NOW + timedelta(days=1), None, epoch)  # …the read ends
    assert tokens.get("d", clock.now()) is None
    tokens.put("d", principal(1), NOW + timedelta(days=1), None, tokens.epoch)
    assert tokens.get("d", clock.now()) is not None


def test_a_change_heard_from_another_process_forgets_too_and_junk_is_ignored() -> None:
    tokens, broadcast, clock = cache(redis=True)
    tokens.put("d", principal(5), NOW + timedelta(days=1), None, tokens.epoch)
    broadcast._received(b"latchkey:core:t:principals", b'{"origin": "x", "message": {"user": "5"}}')
    assert tokens.get("d", clock.now()) is not None
    broadcast._received(b"latchkey:core:t:principals", b'{"origin": "x", "message": {"user": 5}}')
    assert tokens.get("d", clock.now()) is None


def test_the_cache_is_bounded() -> None:
    tokens, _, clock = cache(size=3)
    for index in range(5):
        tokens.put(f"d{index}", principal(index), NOW + timedelta(days=1), None, tokens.epoch)
    assert len(tokens) == 3
    assert tokens.get("d0", clock.now()) is None and tokens.get("d4", clock.now()) is not None


async def test_callers_that_miss_together_share_one_read_and_a_change_starts_the_next_afresh() -> None:
    import asyncio

    tokens, _, clock = cache()
    reads = 0
    release = asyncio.Event()

    async def read() -> tuple[Principal, datetime, datetime | None]:
        nonlocal reads
        reads += 1
        await release.wait()
        return principal(1), NOW + timedelta(days=1), None

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    first = [asyncio.ensure_future(tokens.load("d", read)) for _ in range(32)]
    await settle()
    assert reads == 1
    tokens.user_changed(2)  # any change may concern the read under way: later callers read afresh
    later = asyncio.ensure_future(tokens.load("d", read))
    await settle()
    assert reads == 2
    release.set()
    results = await asyncio.gather(*first, later)
    assert all(result.user_id == 1 for result in results)
    assert tokens.get("d", clock.now()) is not None  # the fresh read was cached, the stale one not


async def test_a_refused_token_is_refused_to_every_caller_that_waited() -> None:
    import asyncio

    tokens, _, _ = cache()

    async def read() -> tuple[Principal, datetime, datetime | None]:
        await asyncio.sleep(0)
        raise ValueError("revoked")

    outcomes = await asyncio.gather(*(tokens.load("d", read) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(outcome, ValueError) for outcome in outcomes)
    assert len(tokens) == 0
