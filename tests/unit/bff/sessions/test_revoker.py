"""Revocations retried until the core confirms (`bff/sessions/revoker.py`): recorded before the first
attempt, retried with backoff on the fake clock, claimed once, given up after two days, never logged."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from latchkey.bff.sessions import revoker
from latchkey.bff.sessions.authorization_server import GrantRefused
from latchkey.bff.sessions.background import Background
from latchkey.bff.sessions.revoker import Revoker, revoke_backoff
from latchkey.clock import ManualClock
from latchkey.sealing import KeyRing
from tests.unit.bff.sessions.conftest import CountingStore, TokenEndpoint, World, unavailable


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(0, 1), (1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (30, 60)]
)
def test_backoff_doubles_up_to_a_minute(attempts: int, seconds: int) -> None:
    assert revoke_backoff(attempts) == timedelta(seconds=seconds)


@pytest.fixture
async def quiet(store: CountingStore, core: TokenEndpoint, clock: ManualClock) -> Revoker:
    """A revoker whose retry loop never runs by itself: the test calls `retry_due`."""
    quiet = Revoker(store, core, clock, Background())
    quiet.kick = lambda: None  # type: ignore[method-assign]
    return quiet


async def test_a_confirmed_revocation_leaves_nothing_pending(
    quiet: Revoker, store: CountingStore, core: TokenEndpoint
) -> None:
    await quiet.revoke(["lkr_a", "lkr_b"])
    assert core.revoked == ["lkr_a", "lkr_b"]
    assert await store.next_revocation_at() is None


async def test_a_failed_revocation_is_retried_with_backoff(
    quiet: Revoker, store: CountingStore, core: TokenEndpoint, clock: ManualClock
) -> None:
    core.revoke_failures.extend([unavailable(), GrantRefused(503, "busy"), unavailable(timeout=True)])
    await quiet.revoke(["lkr_a"])
    assert core.revoked == []
    assert await store.next_revocation_at() == clock.now() + timedelta(seconds=1)
    assert await quiet.retry_due() == clock.now() + timedelta(seconds=1)  # not due: nothing sent
    assert core.revoke_failures and len(core.revoke_failures) == 2
    # Attempt 2 comes 1 s after the first, attempt 3 1 s later, attempt 4 2 s after that (then 4, 8 …).
    for wait, next_wait in ((1, 1), (1, 2)):
        clock.advance(wait)
        assert await quiet.retry_due() == clock.now() + timedelta(seconds=next_wait)
    clock.advance(2)
    assert await quiet.retry_due() is None
    assert core.revoked == ["lkr_a"]


async def test_each_due_revocation_is_sent_by_one_instance(
    store: CountingStore, core: TokenEndpoint, clock: ManualClock, quiet: Revoker
) -> None:
    core.revoke_failures.append(unavailable())
    await quiet.revoke(["lkr_a"])
    clock.advance(1)
    other = Revoker(store, core, clock, Background())
    await asyncio.gather(quiet.retry_due(), other.retry_due())
    assert core.revoked == ["lkr_a"]


async def test_revocations_are_given_up_after_two_days(
    quiet: Revoker,
    store: CountingStore,
    core: TokenEndpoint,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    core.revoke_failures.extend([unavailable()] * 10_000)
    await quiet.revoke(["lkr_secret"])
    clock.advance(revoker.REVOKE_GIVE_UP.total_seconds() + 1)
    with caplog.at_level(logging.WARNING, logger="latchkey.bff.sessions"):
        assert await quiet.retry_due() is None
    assert "gave up revoking 1 refresh chain(s)" in caplog.text
    assert "lkr_secret" not in caplog.text


async def test_a_revocation_no_key_opens_is_dropped(
    quiet: Revoker, store: CountingStore, core: TokenEndpoint, clock: ManualClock
) -> None:
    core.revoke_failures.append(unavailable())
    await quiet.revoke(["lkr_a"])
    clock.advance(1)
    rotated = Revoker(store.seen_through(KeyRing([("new", bytes(range(32)))])), core, clock, Background())
    assert await rotated.retry_due() is None
    assert core.revoked == []


async def test_failures_are_logged_without_the_token(
    quiet: Revoker, core: TokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    core.revoke_failures.append(GrantRefused(401, "invalid_client"))
    with caplog.at_level(logging.WARNING, logger="latchkey.bff.sessions"):
        await quiet.revoke(["lkr_topsecret"])
    assert "attempt 1: answered 401" in caplog.text
    assert "lkr_topsecret" not in caplog.text


async def test_the_retry_loop_runs_by_itself_once_due(world: World) -> None:
    signed_in = await world.login()
    world.core.revoke_failures.append(unavailable())
    await world.service.logout([(b"cookie", signed_in.set_cookie.split(";")[0].encode())], everywhere=False)
    assert world.core.revoked == []
    world.clock.advance(1)  # due now: the loop's next turn (at most 50 ms away) sends it
    for _ in range(100):
        if world.core.revoked:
            break
        await asyncio.sleep(0.01)
    assert signed_in.record.tokens is not None
    assert world.core.revoked == [signed_in.record.tokens.refresh_token]
