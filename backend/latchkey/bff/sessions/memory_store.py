"""`MemorySessionStore`: the session store contract in this process's memory.

It keeps exactly what `SqlSessionStore` keeps — the same row objects (`SessionRow`, `RevocationRow`), the
session id only as its hash, the tokens sealed with the same `TokenBox` under the key ring (so a ring that
lost a key sees no tokens, as the SQL store does) — changed by the same functions (`rows.py`), and runs
the same contract suite. It serves one process only and forgets everything when that process ends: the
unit tests use it to exercise session logic without a database; a deployment uses the SQL store. Every
method runs without an `await` inside, so each is atomic on the event loop, as the SQL store's
transactions are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from latchkey.bff.models import RevocationRow, SessionRow
from latchkey.bff.sessions import rows
from latchkey.bff.sessions.token_box import TokenBox
from latchkey.bff.sessions.types import NewSession, PendingRevocation, SessionRecord, Tokens
from latchkey.sealing import KeyRing


class MemorySessionStore:
    """SessionStore in memory (one process; nothing survives a restart)."""

    def __init__(self, ring: KeyRing) -> None:
        self.box = TokenBox(ring)
        self._sessions: dict[str, SessionRow] = {}
        self._revocations: dict[str, RevocationRow] = {}
        self._logout_tokens: dict[str, datetime] = {}

    def _record(self, row: SessionRow) -> SessionRecord:
        return rows.session_record(self.box, row)

    def _live_row(self, id_hash: str) -> SessionRow | None:
        row = self._sessions.get(id_hash)
        return row if row is not None and row.ended_at is None else None

    async def create(self, new: NewSession) -> SessionRecord:
        if new.id_hash in self._sessions:
            raise ValueError("a session with this id exists")  # the SQL store's primary key says the same
        row = rows.new_session_row(self.box, new)
        self._sessions[new.id_hash] = row
        return self._record(row)

    async def get(self, id_hash: str) -> SessionRecord | None:
        row = self._sessions.get(id_hash)
        return self._record(row) if row is not None else None

    async def get_by_public_id(self, public_id: str) -> SessionRecord | None:
        row = next((row for row in self._sessions.values() if row.public_id == public_id), None)
        return self._record(row) if row is not None else None

    async def list_active(self, user_id: int, now: datetime, idle_timeout: int) -> list[SessionRecord]:
        idle_since = now - timedelta(seconds=idle_timeout)
        live = [
            row
            for row in self._sessions.values()
            if row.user_id == user_id
            and row.ended_at is None
            and row.expires_at > now
            and row.last_seen_at > idle_since
        ]
        return [self._record(row) for row in sorted(live, key=lambda row: row.created_at, reverse=True)]

    async def touch(self, id_hash: str, now: datetime) -> None:
        row = self._sessions.get(id_hash)
        if row is not None and row.last_seen_at < now:
            row.last_seen_at = now

    async def end(self, id_hash: str, reason: str, now: datetime) -> SessionRecord | None:
        row = self._live_row(id_hash)
        if row is None:
            return None
        rows.end_row(row, reason, now)
        return self._record(row)

    async def end_all(self, user_id: int, reason: str, now: datetime) -> list[SessionRecord]:
        live = [row for row in self._sessions.values() if row.user_id == user_id and row.ended_at is None]
        for row in live:
            rows.end_row(row, reason, now)
        return [self._record(row) for row in live]

    async def provider_sessions(self, sid: str | None, sub: str | None) -> list[str]:
        return [row.id_hash for row in self._sessions.values() if rows.names_provider_session(row, sid, sub)]

    async def first_logout_token(self, jti_hash: str, expires_at: datetime, now: datetime) -> bool:
        for seen, until in list(self._logout_tokens.items()):
            if until < now:
                del self._logout_tokens[seen]
        if jti_hash in self._logout_tokens:
            return False
        self._logout_tokens[jti_hash] = expires_at
        return True

    async def claim_refresh(
        self, id_hash: str, version: int, now: datetime, lease: timedelta
    ) -> SessionRecord | None:
        row = self._live_row(id_hash)
        if row is None or not rows.claimable(row, version, now):
            return None
        rows.claim(row, now, lease)
        return self._record(row)

    async def save_tokens(
        self, id_hash: str, tokens: Tokens, now: datetime, user: dict[str, Any] | None = None
    ) -> SessionRecord | None:
        row = self._live_row(id_hash)
        if row is None:
            return None
        rows.put_tokens(self.box, row, tokens, user)
        return self._record(row)

    async def release_claim(self, id_hash: str) -> None:
        row = self._sessions.get(id_hash)
        if row is not None:
            row.refresh_claimed_until = None

    async def overdue(self, now: datetime, idle_timeout: int, limit: int) -> list[str]:
        idle_since = now - timedelta(seconds=idle_timeout)
        return [
            row.id_hash
            for row in self._sessions.values()
            if row.ended_at is None and (row.expires_at <= now or row.last_seen_at <= idle_since)
        ][:limit]

    async def purge(self, before: datetime) -> int:
        gone = [
            row.id_hash
            for row in self._sessions.values()
            if (row.ended_at is not None and row.ended_at < before) or row.expires_at < before
        ]
        for id_hash in gone:
            del self._sessions[id_hash]
        return len(gone)

    # --- pending revocations at the core ------------------------------------------------------------

    async def add_revocations(
        self, refresh_tokens: list[str], now: datetime, retry_at: datetime
    ) -> list[str]:
        added = [rows.new_revocation_row(self.box, token, now, retry_at) for token in refresh_tokens]
        self._revocations.update((row.id, row) for row in added)
        return [row.id for row in added]

    async def revocations_done(self, ids: list[str]) -> None:
        for ref in ids:
            self._revocations.pop(ref, None)

    async def claim_revocations(
        self, now: datetime, retry_at: Callable[[int], datetime], give_up_before: datetime, limit: int
    ) -> tuple[list[PendingRevocation], int]:
        expired = [ref for ref, row in self._revocations.items() if row.created_at < give_up_before]
        for ref in expired:
            del self._revocations[ref]
        due = sorted(
            (row for row in self._revocations.values() if row.next_attempt_at <= now),
            key=lambda row: row.next_attempt_at,
        )[:limit]
        return [rows.take_revocation(self.box, row, retry_at) for row in due], len(expired)

    async def next_revocation_at(self) -> datetime | None:
        return min((row.next_attempt_at for row in self._revocations.values()), default=None)

    def with_ring(self, ring: KeyRing) -> MemorySessionStore:
        """The same memory seen through another key ring (as another process with other keys would)."""
        other = MemorySessionStore(ring)
        other._sessions, other._revocations = self._sessions, self._revocations
        other._logout_tokens = self._logout_tokens
        return other
