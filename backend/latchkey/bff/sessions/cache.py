"""The in-process cache of validated sessions: the `/api` hot path's answer without a database read.

An entry is re-read from the store once it is `CACHE_TTL` old, so a session ended on another instance is
refused here within that time (and at once on the instance that ended it: `void`). The requests that find
an entry stale together share one store read; a read that began before its session ended here is read
again rather than cached. Activity is recorded in the entry on every request and written to the store in
the background at most every `touch_interval`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from latchkey.bff.sessions.background import Background
from latchkey.bff.sessions.store import SessionStore
from latchkey.bff.sessions.timeouts import refresh_due, touch_interval
from latchkey.bff.sessions.types import Grant, SessionRecord
from latchkey.clock import Clock

# A session ended on another instance is refused here within this many seconds (SPEC §8: 2 s).
CACHE_TTL = 1.0
CACHE_SIZE = 10_000

# Refuses (and ends) a missing, ended or overdue session: `Endings.check`.
Check = Callable[[SessionRecord | None, float, float | None], Awaitable[SessionRecord]]


@dataclass(slots=True)
class CachedSession:
    record: SessionRecord
    grant: Grant
    checked_at: float  # the clock's monotonic reading when the record was last read from the store
    last_seen: float  # wall clock: the latest activity this instance knows of
    last_written: float  # wall clock: the last_seen value written to the store
    expires_at: float
    refresh_due: float


class SessionCache:
    def __init__(
        self, store: SessionStore, clock: Clock, check: Check, background: Background, idle: int
    ) -> None:
        self.store = store
        self.clock = clock
        self.check = check
        self.background = background
        self.idle = idle
        self.touch_interval = touch_interval(idle)
        self._entries: OrderedDict[str, CachedSession] = OrderedDict()
        # One store read per session at a time: the requests that find its entry stale together (every
        # connection of a busy tab, once a second) wait for that read instead of each making its own.
        self._reloads: dict[str, asyncio.Future[CachedSession]] = {}
        # Reads in flight whose session ended on this instance meanwhile: they read again, never cache.
        self._voided: set[asyncio.Future[CachedSession]] = set()
        # Counts `void` calls, for `load`: a read that began before an end here does not cache.
        self._voids = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, id_hash: str, now: float) -> CachedSession:
        """The session's entry, re-read from the store when stale (one read for all who ask together),
        refused when its absolute or idle end has passed."""
        entry = self._entries.get(id_hash)
        if entry is None or self.clock.monotonic() - entry.checked_at >= CACHE_TTL:
            return await self._reload(id_hash, now, entry)
        if now >= entry.expires_at or now >= entry.last_seen + self.idle:
            await self.check(entry.record, now, entry.last_seen)
        return entry

    def seen(self, entry: CachedSession, now: float) -> None:
        """Record a request's activity; written to the store off the request's path, at most every
        min(60 s, idle/4)."""
        entry.last_seen = now
        if now - entry.last_written >= self.touch_interval:
            entry.last_written = now
            self.background.spawn(self.store.touch(entry.record.id_hash, datetime.fromtimestamp(now, UTC)))

    async def load(self, id_hash: str) -> SessionRecord:
        """Read a session from the store (never the cache), check it, record the activity at once, and
        cache it unless it ended here meanwhile. The `/bff/*` routes' read."""
        now = self.clock.now().timestamp()
        voids = self._voids
        record = await self.check(await self.store.get(id_hash), now, None)
        if now - record.last_seen_at.timestamp() >= self.touch_interval:
            seen_at = datetime.fromtimestamp(now, UTC)
            await self.store.touch(id_hash, seen_at)
            record = replace(record, last_seen_at=seen_at)
        if voids == self._voids:  # else a session ended here meanwhile: the next request reads again
            self.remember(record, now)
        return record

    def remember(self, record: SessionRecord, now: float) -> CachedSession:
        assert record.tokens is not None
        cached = self._entries.get(record.id_hash)
        last_seen = max(record.last_seen_at.timestamp(), cached.last_seen if cached else 0.0)
        entry = CachedSession(
            record=record,
            grant=Grant(record.tokens.access_token, record.id_hash, record.user_id),
            checked_at=self.clock.monotonic(),
            last_seen=last_seen,
            last_written=record.last_seen_at.timestamp(),
            expires_at=record.expires_at.timestamp(),
            refresh_due=refresh_due(record.tokens),
        )
        self._entries[record.id_hash] = entry
        self._entries.move_to_end(record.id_hash)
        while len(self._entries) > CACHE_SIZE:
            self._entries.popitem(last=False)
        return entry

    def drop(self, id_hash: str) -> None:
        """Forget an entry whose record changed (new tokens): the next request reads the store."""
        self._entries.pop(id_hash, None)

    def void(self, id_hash: str) -> None:
        """The session ended on this instance: drop its entry, and void any read of it in flight."""
        self._voids += 1
        pending = self._reloads.pop(id_hash, None)
        if pending is not None:
            self._voided.add(pending)
        self._entries.pop(id_hash, None)

    async def _reload(self, id_hash: str, now: float, stale: CachedSession | None) -> CachedSession:
        pending = self._reloads.get(id_hash)
        if pending is None:
            pending = asyncio.ensure_future(self._read_and_check(id_hash, now, stale))
            self._reloads[id_hash] = pending
            pending.add_done_callback(lambda done: self._reloaded(id_hash, done))
        # Shielded: one caller going away (its browser left) must not cancel the read the others await.
        return await asyncio.shield(pending)

    async def _read_and_check(self, id_hash: str, now: float, stale: CachedSession | None) -> CachedSession:
        last_seen = stale.last_seen if stale is not None else None
        this = asyncio.current_task()
        while True:
            record = await self.check(await self.store.get(id_hash), now, last_seen)
            if this not in self._voided:
                return self.remember(record, now)
            # The session ended on this instance during the read, which may have seen it still valid:
            # read again (at most once more: `void` unregistered this read, so nothing voids it again).
            self._voided.discard(this)

    def _reloaded(self, id_hash: str, done: asyncio.Future[CachedSession]) -> None:
        self._voided.discard(done)
        if self._reloads.get(id_hash) is done:
            del self._reloads[id_hash]
        if not done.cancelled():
            done.exception()  # retrieved here, so a read whose callers all left never logs as unhandled
