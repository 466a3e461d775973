"""`MemorySessionStore`: the session store contract in this process's memory.

It keeps exactly what `SqlSessionStore` keeps — the session id only as its hash, the tokens sealed with the
same `TokenBox` under the key ring (so a ring that lost a key sees no tokens, as the SQL store does) — and
runs the same contract suite. It serves one process only and forgets everything when that process ends:
the unit tests use it to exercise session logic without a database; a deployment uses the SQL store.
Every method runs without an `await` inside, so each is atomic on the event loop, as the SQL store's
transactions are.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from latchkey.bff.store import PendingRevocation, SessionRecord, TokenBox, Tokens
from latchkey.sealing import KeyRing


@dataclass(slots=True)
class _Session:
    id_hash: str
    public_id: str
    user_id: int
    user: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    key_id: str
    tokens_encrypted: bytes
    access_issued_at: datetime
    access_expires_at: datetime
    version: int
    user_agent: str
    ip: str
    refresh_claimed_until: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None


@dataclass(slots=True)
class _Revocation:
    id: str
    key_id: str
    token_encrypted: bytes
    created_at: datetime
    attempts: int
    next_attempt_at: datetime


class MemorySessionStore:
    """SessionStore in memory (one process; nothing survives a restart)."""

    def __init__(self, ring: KeyRing) -> None:
        self.box = TokenBox(ring)
        self._sessions: dict[str, _Session] = {}
        self._revocations: dict[str, _Revocation] = {}

    def _record(self, row: _Session) -> SessionRecord:
        opened = self.box.open(row.id_hash, row.key_id, row.tokens_encrypted)
        tokens = Tokens(opened[0], opened[1], row.access_issued_at, row.access_expires_at) if opened else None
        return SessionRecord(
            id_hash=row.id_hash,
            public_id=row.public_id,
            user_id=row.user_id,
            user=dict(row.user),
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            tokens=tokens,
            version=row.version,
            user_agent=row.user_agent,
            ip=row.ip,
            ended_at=row.ended_at,
            end_reason=row.end_reason,
        )

    async def create(
        self,
        *,
        id_hash: str,
        user: dict[str, Any],
        tokens: Tokens,
        now: datetime,
        expires_at: datetime,
        user_agent: str,
        ip: str,
    ) -> SessionRecord:
        if id_hash in self._sessions:
            raise ValueError("a session with this id exists")  # the SQL store's primary key says the same
        kid, blob = self.box.seal(id_hash, tokens.access_token, tokens.refresh_token)
        row = _Session(
            id_hash=id_hash,
            public_id=secrets.token_urlsafe(16),
            user_id=int(user["id"]),
            user=dict(user),
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            key_id=kid,
            tokens_encrypted=blob,
            access_issued_at=tokens.issued_at,
            access_expires_at=tokens.expires_at,
            version=0,
            user_agent=user_agent[:300],
            ip=ip[:64],
        )
        self._sessions[id_hash] = row
        return self._record(row)

    async def get(self, id_hash: str) -> SessionRecord | None:
        row = self._sessions.get(id_hash)
        return self._record(row) if row is not None else None

    async def get_by_public_id(self, public_id: str) -> SessionRecord | None:
        row = next((row for row in self._sessions.values() if row.public_id == public_id), None)
        return self._record(row) if row is not None else None

    async def list_active(self, user_id: int, now: datetime, idle_timeout: int) -> list[SessionRecord]:
        idle_since = now - timedelta(seconds=idle_timeout)
        rows = [
            row
            for row in self._sessions.values()
            if row.user_id == user_id
            and row.ended_at is None
            and row.expires_at > now
            and row.last_seen_at > idle_since
        ]
        return [self._record(row) for row in sorted(rows, key=lambda row: row.created_at, reverse=True)]

    async def touch(self, id_hash: str, now: datetime) -> None:
        row = self._sessions.get(id_hash)
        if row is not None and row.last_seen_at < now:
            row.last_seen_at = now

    async def end(self, id_hash: str, reason: str, now: datetime) -> SessionRecord | None:
        row = self._sessions.get(id_hash)
        if row is None or row.ended_at is not None:
            return None
        row.ended_at, row.end_reason = now, reason
        return self._record(row)

    async def end_all(self, user_id: int, reason: str, now: datetime) -> list[SessionRecord]:
        ended = []
        for row in self._sessions.values():
            if row.user_id == user_id and row.ended_at is None:
                row.ended_at, row.end_reason = now, reason
                ended.append(self._record(row))
        return ended

    async def claim_refresh(self, id_hash: str, version: int, now: datetime, lease: timedelta) -> bool:
        row = self._sessions.get(id_hash)
        if (
            row is None
            or row.version != version
            or row.ended_at is not None
            or (row.refresh_claimed_until is not None and row.refresh_claimed_until >= now)
        ):
            return False
        row.version, row.refresh_claimed_until = version + 1, now + lease
        return True

    async def save_tokens(
        self, id_hash: str, tokens: Tokens, now: datetime, user: dict[str, Any] | None = None
    ) -> SessionRecord | None:
        row = self._sessions.get(id_hash)
        if row is None or row.ended_at is not None:
            return None
        row.key_id, row.tokens_encrypted = self.box.seal(id_hash, tokens.access_token, tokens.refresh_token)
        row.access_issued_at, row.access_expires_at = tokens.issued_at, tokens.expires_at
        row.version += 1
        row.refresh_claimed_until = None
        if user is not None:
            row.user = dict(user)
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
        ids = []
        for token in refresh_tokens:
            ref = secrets.token_hex(16)
            kid, blob = self.box.seal_one(ref, token)
            self._revocations[ref] = _Revocation(ref, kid, blob, now, 0, retry_at)
            ids.append(ref)
        return ids

    async def revocations_done(self, ids: list[str]) -> None:
        for ref in ids:
            self._revocations.pop(ref, None)

    async def claim_revocations(
        self, now: datetime, retry_at: Callable[[int], datetime], give_up_before: datetime, limit: int
    ) -> tuple[list[PendingRevocation], int]:
        expired = [ref for ref, entry in self._revocations.items() if entry.created_at < give_up_before]
        for ref in expired:
            del self._revocations[ref]
        due = sorted(
            (entry for entry in self._revocations.values() if entry.next_attempt_at <= now),
            key=lambda entry: entry.next_attempt_at,
        )[:limit]
        taken = []
        for entry in due:
            entry.attempts += 1
            entry.next_attempt_at = retry_at(entry.attempts)
            token = self.box.open_one(entry.id, entry.key_id, entry.token_encrypted)
            taken.append(PendingRevocation(entry.id, token, entry.attempts, entry.created_at))
        return taken, len(expired)

    async def next_revocation_at(self) -> datetime | None:
        return min((entry.next_attempt_at for entry in self._revocations.values()), default=None)

    def with_ring(self, ring: KeyRing) -> MemorySessionStore:
        """The same memory seen through another key ring (as another process with other keys would)."""
        other = MemorySessionStore(ring)
        other._sessions, other._revocations = self._sessions, self._revocations
        return other
