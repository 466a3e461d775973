"""Argon2id password hashing (cryptography) off the event loop, with bounded concurrency.

At most `concurrency` hashes run at once per process, in their own threads, and at most `queue_size`
more wait; anything beyond is refused with `HasherOverloaded` (503 + Retry-After) rather than queueing
without bound, so a login flood cannot exhaust memory or starve the event loop.

The hashing threads also run at a lower CPU priority (`HASH_THREAD_NICE`): Argon2id releases the GIL, so
on a busy machine a login storm could otherwise take whole cores from the event loops serving API calls;
at a lower priority the scheduler runs those loops first and sign-ins wait instead. What a storm costs
proxied calls is measured by `just bench` (docs/performance-tuning.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

# OWASP Password Storage Cheat Sheet: Argon2id, m=19 MiB, t=2, p=1.
MEMORY_COST_KIB = 19 * 1024
ITERATIONS = 2
LANES = 1
HASH_LENGTH = 32
SALT_LENGTH = 16
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
# Linux nice value of the hashing threads (0 is normal, 19 the lowest): CPU goes to the event loop first.
HASH_THREAD_NICE = 10


class HasherOverloaded(Exception):
    """Too many password checks are running or waiting in this process."""


def default_concurrency() -> int:
    return max(1, (os.cpu_count() or 1) - 1)


def _lower_thread_priority() -> None:
    """Thread initializer: on Linux, setpriority on a thread id changes that thread alone. Raising one's
    own nice value needs no privilege; where it is unsupported, hashing simply runs at normal priority."""
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        # Never raised above the process's own priority (a process started with `nice` stays lower).
        nice = max(os.getpriority(os.PRIO_PROCESS, thread), HASH_THREAD_NICE)
        os.setpriority(os.PRIO_PROCESS, thread, nice)


def _kdf() -> Argon2id:
    return Argon2id(
        salt=secrets.token_bytes(SALT_LENGTH),
        length=HASH_LENGTH,
        iterations=ITERATIONS,
        lanes=LANES,
        memory_cost=MEMORY_COST_KIB,
    )


def hash_password_sync(password: str) -> str:
    """PHC-encoded Argon2id hash of `password` (blocking)."""
    return _kdf().derive_phc_encoded(password.encode("utf-8"))


def verify_password_sync(password: str, encoded: str) -> bool:
    """Whether `password` matches the PHC-encoded hash (blocking, constant-time comparison inside)."""
    try:
        Argon2id.verify_phc_encoded(password.encode("utf-8"), encoded)
    except (InvalidKey, ValueError):
        return False
    return True


class PasswordHasher:
    """Runs Argon2id in a small thread pool with an admission limit."""

    def __init__(self, concurrency: int | None = None, queue_size: int | None = None) -> None:
        self.concurrency = concurrency or default_concurrency()
        self.capacity = self.concurrency + (queue_size if queue_size is not None else 4 * self.concurrency)
        self._executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="argon2", initializer=_lower_thread_priority
        )
        self._admitted = 0
        # A hash of a random password: unknown users are verified against it, so they answer in the same
        # time as wrong passwords and nobody can tell which accounts exist.
        self._dummy_hash = hash_password_sync(secrets.token_urlsafe(16))

    async def _run(self, fn: object, *args: str) -> object:
        if self._admitted >= self.capacity:
            raise HasherOverloaded
        self._admitted += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]
        finally:
            self._admitted -= 1

    async def hash(self, password: str) -> str:
        return str(await self._run(hash_password_sync, password))

    async def verify(self, password: str, encoded: str | None) -> bool:
        """Verify; with `encoded=None` (unknown user) burn the same time against a dummy hash and fail."""
        if encoded is None:
            await self._run(verify_password_sync, password, self._dummy_hash)
            return False
        return bool(await self._run(verify_password_sync, password, encoded))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
