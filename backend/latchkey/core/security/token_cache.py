"""Validated Bearer tokens of this process: the hot path's answer without a database read (SPEC §8, §9).

An entry maps a token's SHA-256 digest to the Principal it resolved to, and is trusted for as long as the
broadcast says (`Broadcast.cache_ttl`: 30 s while Redis carries invalidations, 1 s otherwise) and never
past the token's own expiry. Whatever can change what a token stands for (its revocation, its chain's, the
user's password, role or disabled flag) ends with `user_changed(user_id)` after its transaction commits:
the user's entries go at once here and, through the broadcast, within a second on every other process.

A lookup that read the database before an invalidation and finishes after it is not cached (`epoch`), so
a slow read cannot put back what an invalidation just removed. The lookups of one token that miss together
share one read (`load`): when a busy token's entry ages out, 32 connections cost one query (and at most
one `last_used_at` write), not 32 queued on the database. An invalidation starts the next ones afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from latchkey.broadcast import Broadcast
from latchkey.clock import Clock

if TYPE_CHECKING:
    from latchkey.core.security.auth import Principal

TOPIC = "principals"
CACHE_SIZE = 20_000

UserListener = Callable[[int], object]
Read = Callable[[], Awaitable[tuple["Principal", datetime, datetime | None]]]


@dataclass(slots=True)
class CachedToken:
    principal: Principal
    checked_at: float  # the clock's monotonic reading when the database said the token was valid
    expires_at: datetime
    last_used_at: datetime | None  # personal access tokens: the last use written to the database


class TokenCache:
    def __init__(self, broadcast: Broadcast, clock: Clock, size: int = CACHE_SIZE) -> None:
        self._broadcast = broadcast
        self._clock = clock
        self._size = size
        self._entries: dict[str, CachedToken] = {}
        self._by_user: dict[int, set[str]] = {}
        self._listeners: list[UserListener] = []
        self._loads: dict[str, asyncio.Future[Principal]] = {}
        self.epoch = 0
        broadcast.subscribe(TOPIC, self._on_message)
        broadcast.on_change(self.clear)

    def __len__(self) -> int:
        return len(self._entries)

    def on_user_changed(self, listener: UserListener) -> None:
        """Call `listener(user_id)` when a user's tokens may have changed, here or on another process
        (open event streams re-check their token at once)."""
        self._listeners.append(listener)

    def get(self, digest: str, now: datetime) -> CachedToken | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if (
            self._clock.monotonic() - entry.checked_at >= self._broadcast.cache_ttl()
            or entry.expires_at <= now
        ):
            self._remove(digest)
            return None
        return entry

    def put(
        self,
        digest: str,
        principal: Principal,
        expires_at: datetime,
        last_used_at: datetime | None,
        epoch: int,
    ) -> None:
        """Remember a token the database just validated, unless an invalidation ran since `epoch`."""
        if epoch != self.epoch:
            return
        if digest not in self._entries and len(self._entries) >= self._size:
            self._remove(next(iter(self._entries)))
        self._entries[digest] = CachedToken(principal, self._clock.monotonic(), expires_at, last_used_at)
        self._by_user.setdefault(principal.user_id, set()).add(digest)

    async def load(self, digest: str, read: Read) -> Principal:
        """The token's Principal from `read()` (the database), cached; callers that ask while a read of
        the same token is under way wait for it instead of reading again."""
        pending = self._loads.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._load(digest, read))
            self._loads[digest] = pending
            pending.add_done_callback(lambda done: self._loaded(digest, done))
        # Shielded: one caller going away must not cancel the read the others wait for.
        return await asyncio.shield(pending)

    async def _load(self, digest: str, read: Read) -> Principal:
        epoch = self.epoch
        principal, expires_at, last_used_at = await read()
        self.put(digest, principal, expires_at, last_used_at, epoch)
        return principal

    def _loaded(self, digest: str, done: asyncio.Future[Principal]) -> None:
        if self._loads.get(digest) is done:
            del self._loads[digest]
        if not done.cancelled():
            done.exception()  # retrieved, so a read whose callers all left never logs as unhandled

    def user_changed(self, user_id: int) -> None:
        """What `user_id`'s tokens stand for changed (committed): forget them here and everywhere."""
        self._broadcast.publish(TOPIC, {"user": user_id})

    def clear(self) -> None:
        self.epoch += 1
        self._loads.clear()
        self._entries.clear()
        self._by_user.clear()

    def _on_message(self, message: dict[str, Any]) -> None:
        user_id = message.get("user")
        if not isinstance(user_id, int):
            return
        self.epoch += 1
        self._loads.clear()  # a read under way may predate the change: later callers read afresh
        for digest in self._by_user.pop(user_id, ()):
            self._entries.pop(digest, None)
        for listener in self._listeners:
            listener(user_id)

    def _remove(self, digest: str) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None:
            digests = self._by_user.get(entry.principal.user_id)
            if digests is not None:
                digests.discard(digest)
                if not digests:
                    del self._by_user[entry.principal.user_id]
