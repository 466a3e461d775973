"""Argon2id hashing off the event loop with bounded admission (`latchkey/core/security/passwords.py`)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from latchkey.core.security import passwords
from latchkey.core.security.passwords import HasherOverloaded, PasswordHasher

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def hasher() -> AsyncIterator[PasswordHasher]:
    hasher = PasswordHasher(concurrency=1, queue_size=1)
    yield hasher
    hasher.close()


async def test_hash_and_verify(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash(PASSWORD)
    # PHC string with the OWASP parameters (m=19 MiB, t=2, p=1).
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in encoded
    assert await hasher.verify(PASSWORD, encoded)
    assert not await hasher.verify(PASSWORD + " ", encoded)
    assert not await hasher.verify("", encoded)


async def test_salts_differ_and_unicode_round_trips(hasher: PasswordHasher) -> None:
    password = "pässwörd ✓ 密码"
    first, second = await hasher.hash(password), await hasher.hash(password)
    assert first != second
    assert await hasher.verify(password, first)
    assert await hasher.verify(password, second)
    assert not await hasher.verify("passwort ✓ 密码", first)


async def test_corrupt_hashes_do_not_verify(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash(PASSWORD)
    for broken in ("", "garbage", encoded[:-4], encoded.replace("argon2id", "argon2i")):
        assert not await hasher.verify(PASSWORD, broken)


async def test_unknown_users_burn_as_much_time_as_a_real_check(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash(PASSWORD)

    async def fastest(check: Callable[[], Awaitable[bool]]) -> float:
        # CPU time of this process (the hashing threads included), not wall time: the work done, which a
        # busy machine (CI, parallel test workers) cannot blur.
        times = []
        for _ in range(3):
            started = time.process_time()
            assert not await check()
            times.append(time.process_time() - started)
        return min(times)

    real = await fastest(lambda: hasher.verify("wrong password", encoded))
    dummy = await fastest(lambda: hasher.verify(PASSWORD, None))
    assert dummy > 0.5 * real, (dummy, real)


async def test_overflow_is_refused_not_queued() -> None:
    hasher = PasswordHasher(concurrency=1, queue_size=0)
    try:
        encoded = await hasher.hash(PASSWORD)
        outcomes = await asyncio.gather(
            *(hasher.verify(PASSWORD, encoded) for _ in range(3)), return_exceptions=True
        )
        assert outcomes.count(True) == 1
        assert sum(isinstance(outcome, HasherOverloaded) for outcome in outcomes) == 2
        # Admission is released afterwards, also for the refused calls.
        assert await hasher.verify(PASSWORD, encoded)
        assert await hasher.verify(PASSWORD, None) is False
    finally:
        hasher.close()


async def test_a_short_queue_admits_concurrency_plus_queue(hasher: PasswordHasher) -> None:
    assert hasher.capacity == 2
    outcomes = await asyncio.gather(
        *(hasher.verify(PASSWORD, None) for _ in range(5)), return_exceptions=True
    )
    assert outcomes.count(False) == 2
    assert sum(isinstance(outcome, HasherOverloaded) for outcome in outcomes) == 3


async def test_hashing_does_not_block_the_event_loop(hasher: PasswordHasher) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await hasher.hash(PASSWORD)
    finally:
        ticker.cancel()
    assert ticks >= 3


def test_defaults_leave_a_core_for_the_event_loop() -> None:
    assert passwords.default_concurrency() == max(1, (os.cpu_count() or 1) - 1)
    hasher = PasswordHasher()
    try:
        assert hasher.concurrency == passwords.default_concurrency()
        assert hasher.capacity == 5 * hasher.concurrency
    finally:
        hasher.close()


def _own_nice() -> int:
    import threading

    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_hashing_threads_yield_the_cpu_to_the_event_loop(hasher: PasswordHasher) -> None:
    # Argon2id runs in threads at a lower priority (a login storm must not take the cores the event
    # loops serve API calls with); the event loop's own thread keeps its priority.
    loop_nice = _own_nice()
    await hasher.hash(PASSWORD)  # the pool's thread exists and ran its initializer
    thread_nice = await hasher._run(_own_nice)
    assert thread_nice == max(loop_nice, passwords.HASH_THREAD_NICE)
    assert _own_nice() == loop_nice


def test_the_spa_shows_the_core_s_minimum_length() -> None:
    """My Profile shows the minimum before any submit from its own copy of the policy: keep them equal."""
    page = Path(__file__).parents[3] / "frontend" / "src" / "pages" / "ProfilePage.tsx"
    found = re.search(r"export const MIN_PASSWORD_LENGTH = (\d+);", page.read_text(encoding="utf-8"))
    assert found is not None
    assert int(found.group(1)) == passwords.MIN_PASSWORD_LENGTH
