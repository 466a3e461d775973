"""Every way a session ends, and who is told.

An ending marks the row (the store's first end wins), tells every listener on this instance at once (the
validated-session cache drops its entry, the proxy closes the session's streams: `on_end`) and, through
the broadcast (Redis, SPEC §8), the same listeners on every other instance within a second, and revokes
the refresh chain at the core (`revoker.py`). `check` is where a session found over (absolute or idle
end, tokens no key opens) is ended and refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from latchkey.bff.sessions.revoker import Revoker
from latchkey.bff.sessions.store import SessionStore
from latchkey.bff.sessions.timeouts import ending_reason
from latchkey.bff.sessions.types import SessionRecord, end_code
from latchkey.broadcast import Broadcast
from latchkey.clock import Clock
from latchkey.problems import ProblemError

EndListener = Callable[[str], object]
TOPIC = "sessions.ended"


def ended(reason: str | None) -> ProblemError:
    """The 401 a request of an ended session gets: its code says why (idle, expired, or revoked)."""
    return ProblemError(401, end_code(reason), "the session has ended; sign in again")


class Endings:
    def __init__(
        self, store: SessionStore, revoker: Revoker, clock: Clock, idle: int, broadcast: Broadcast
    ) -> None:
        self.store = store
        self.revoker = revoker
        self.clock = clock
        self.idle = idle
        self.broadcast = broadcast
        self._listeners: list[EndListener] = []
        broadcast.subscribe(TOPIC, self._heard)

    def on_end(self, listener: EndListener) -> None:
        """Call `listener(session_key)` whenever a session ends (or is found ended), on this instance or
        (told through the broadcast) on another."""
        self._listeners.append(listener)

    def notify(self, id_hash: str) -> None:
        """Tell this instance's listeners at once, and every other instance's through the broadcast."""
        self._tell(id_hash)
        self.broadcast.publish(TOPIC, {"session": id_hash}, local=False)

    def _heard(self, message: dict[str, Any]) -> None:
        id_hash = message.get("session")
        if isinstance(id_hash, str):
            self._tell(id_hash)

    def _tell(self, id_hash: str) -> None:
        for listener in self._listeners:
            listener(id_hash)

    async def check(
        self, record: SessionRecord | None, now: float, last_seen: float | None = None
    ) -> SessionRecord:
        """The record of a live session, or the right 401 for a missing, ended or overdue one (which is
        ended here: its row, this instance's listeners, its chain)."""
        if record is None:
            raise ProblemError(401, "no_session", "sign in first")
        if record.ended_at is not None:
            raise ended(record.end_reason)
        reason = ending_reason(record, now, self.idle, last_seen)
        if reason is not None:
            await self.end(record.id_hash, reason)
            raise ended(reason)
        return record

    async def end(self, id_hash: str, reason: str, *, revoke: bool = True) -> bool:
        """End a session: in the store, on this instance, and its chain at the core (unless the core
        refused the chain already). False when it had ended already."""
        record = await self.store.end(id_hash, reason, self.clock.now())
        self.notify(id_hash)
        if record is not None and record.tokens is not None and revoke:
            await self.revoker.revoke([record.tokens.refresh_token])
        return record is not None

    async def end_all(self, user_id: int, reason: str) -> int:
        records = await self.store.end_all(user_id, reason, self.clock.now())
        for record in records:
            self.notify(record.id_hash)
        await self.revoker.revoke([r.tokens.refresh_token for r in records if r.tokens is not None])
        return len(records)

    async def end_many(self, id_hashes: list[str], reason: str, *, revoke: bool = True) -> None:
        await asyncio.gather(*(self.end(id_hash, reason, revoke=revoke) for id_hash in id_hashes))

    async def ended_elsewhere(self, id_hash: str) -> ProblemError:
        """A session found ended by a write that needed it live (tokens arriving for it): drop it here
        and answer with the ending's own code."""
        self.notify(id_hash)
        record = await self.store.get(id_hash)
        return ended(record.end_reason if record is not None else None)
