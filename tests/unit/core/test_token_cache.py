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
