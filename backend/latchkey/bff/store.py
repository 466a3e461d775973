"""The server-side session store: a small Protocol and its SQLAlchemy implementation (SQLite, PostgreSQL).

The session id is stored only as its SHA-256 hash. The access and refresh tokens are stored encrypted
(AES-256-GCM) under a subkey of a cookie key; the row records which key, so rotating the ring never
strands a session, and the next token change re-encrypts under the current sealing key. A copy of the
database therefore lets nobody call the API.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import and_, delete, func, or_, select, update

from latchkey.bff.models import RevocationRow, SessionRow
from latchkey.db import Database
from latchkey.sealing import KeyRing

TOKENS_PURPOSE = b"latchkey bff session tokens v1"
_NONCE = 12


def hash_session_id(sid: bytes) -> str:
    return hashlib.sha256(sid).hexdigest()


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session as the BFF uses it. `tokens` is None when no key of the ring can open them."""

    id_hash: str
    public_id: str
    user_id: int
    user: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    tokens: Tokens | None
    version: int
    user_agent: str
    ip: str
    ended_at: datetime | None
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class PendingRevocation:
    """A refresh token still to be revoked at the core; `refresh_token` is None when no key opens it."""

    id: str
    refresh_token: str | None
    attempts: int
    created_at: datetime


class SessionStore(Protocol):
    """What the BFF needs from a session store; every implementation runs the same contract tests."""

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
    ) -> SessionRecord: ...

    async def get(self, id_hash: str) -> SessionRecord | None: ...

    async def get_by_public_id(self, public_id: str) -> SessionRecord | None: ...

    async def list_active(self, user_id: int, now: datetime, idle_timeout: int) -> list[SessionRecord]: ...

    async def touch(self, id_hash: str, now: datetime) -> None: ...

    async def end(self, id_hash: str, reason: str, now: datetime) -> SessionRecord | None: ...

    async def end_all(self, user_id: int, reason: str, now: datetime) -> list[SessionRecord]: ...

    async def claim_refresh(self, id_hash: str, version: int, now: datetime, lease: timedelta) -> bool: ...

    async def save_tokens(
        self, id_hash: str, tokens: Tokens, now: datetime, user: dict[str, Any] | None = None
    ) -> SessionRecord | None:
        """Store new tokens on a live session; None (nothing written) when it has ended meanwhile."""
        ...

    async def release_claim(self, id_hash: str) -> None: ...

    async def overdue(self, now: datetime, idle_timeout: int, limit: int) -> list[str]: ...

    async def purge(self, before: datetime) -> int: ...

    async def add_revocations(
        self, refresh_tokens: list[str], now: datetime, retry_at: datetime
    ) -> list[str]:
        """Record chains to revoke (before the first attempt); returns their ids."""
        ...

    async def revocations_done(self, ids: list[str]) -> None: ...

    async def claim_revocations(
        self, now: datetime, retry_at: Callable[[int], datetime], give_up_before: datetime, limit: int
    ) -> tuple[list[PendingRevocation], int]:
        """Take the revocations due now (each moved to `retry_at(attempts)`, so one instance tries it);
        drops those recorded before `give_up_before`. Returns (taken, dropped count)."""
        ...

    async def next_revocation_at(self) -> datetime | None: ...


class TokenBox:
    """AES-256-GCM of a session's token pair under a per-key subkey, bound to the session's id hash."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._aeads: dict[str, AESGCM] = {}

    def _aead(self, kid: str) -> AESGCM:
        aead = self._aeads.get(kid)
        if aead is None:
            aead = self._aeads[kid] = AESGCM(self.ring.subkey(kid, TOKENS_PURPOSE))
        return aead

    def seal(self, id_hash: str, access: str, refresh: str) -> tuple[str, bytes]:
        kid = self.ring.sealing_kid
        nonce = os.urandom(_NONCE)
        plain = json.dumps([access, refresh]).encode()
        return kid, nonce + self._aead(kid).encrypt(nonce, plain, id_hash.encode())

    def seal_one(self, ref: str, token: str) -> tuple[str, bytes]:
        """One token (a pending revocation's), bound to the reference that names it."""
        kid = self.ring.sealing_kid
        nonce = os.urandom(_NONCE)
        return kid, nonce + self._aead(kid).encrypt(nonce, token.encode(), b"revocation:" + ref.encode())

    def open_one(self, ref: str, kid: str, blob: bytes) -> str | None:
        try:
            plain = self._aead(kid).decrypt(blob[:_NONCE], blob[_NONCE:], b"revocation:" + ref.encode())
        except (KeyError, InvalidTag, ValueError):
            return None
        return plain.decode()

    def open(self, id_hash: str, kid: str, blob: bytes) -> tuple[str, str] | None:
        try:
            aead = self._aead(kid)
            plain = aead.decrypt(blob[:_NONCE], blob[_NONCE:], id_hash.encode())
        except (KeyError, InvalidTag, ValueError):
            return None
        access, refresh = json.loads(plain)
        return str(access), str(refresh)


class SqlSessionStore:
    """SessionStore on SQLAlchemy async (SQLite with BEGIN IMMEDIATE, or PostgreSQL)."""

    def __init__(self, db: Database, ring: KeyRing) -> None:
        self.db = db
        self.box = TokenBox(ring)

    def _record(self, row: SessionRow) -> SessionRecord:
        opened = self.box.open(row.id_hash, row.key_id, row.tokens_encrypted)
        tokens = Tokens(opened[0], opened[1], row.access_issued_at, row.access_expires_at) if opened else None
        return SessionRecord(
            id_hash=row.id_hash,
            public_id=row.public_id,
            user_id=row.user_id,
            user=json.loads(row.user_json),
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
        kid, blob = self.box.seal(id_hash, tokens.access_token, tokens.refresh_token)
        row = SessionRow(
            id_hash=id_hash,
            public_id=secrets.token_urlsafe(16),
            user_id=int(user["id"]),
            user_json=json.dumps(user),
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
        async with self.db.write() as session:
            session.add(row)
        return self._record(row)

    async def get(self, id_hash: str) -> SessionRecord | None:
        async with self.db.read() as session:
            row = await session.get(SessionRow, id_hash)
            return self._record(row) if row is not None else None

    async def get_by_public_id(self, public_id: str) -> SessionRecord | None:
        async with self.db.read() as session:
            row = await session.scalar(select(SessionRow).where(SessionRow.public_id == public_id))
            return self._record(row) if row is not None else None

    async def list_active(self, user_id: int, now: datetime, idle_timeout: int) -> list[SessionRecord]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(SessionRow)
                .where(
                    SessionRow.user_id == user_id,
                    SessionRow.ended_at.is_(None),
                    SessionRow.expires_at > now,
                    SessionRow.last_seen_at > now - timedelta(seconds=idle_timeout),
                )
                .order_by(SessionRow.created_at.desc())
            )
            return [self._record(row) for row in rows]

    async def touch(self, id_hash: str, now: datetime) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(SessionRow)
                .where(SessionRow.id_hash == id_hash, SessionRow.last_seen_at < now)
                .values(last_seen_at=now)
            )

    async def end(self, id_hash: str, reason: str, now: datetime) -> SessionRecord | None:
        async with self.db.write() as session:
            row = await session.scalar(
                select(SessionRow)
                .where(SessionRow.id_hash == id_hash, SessionRow.ended_at.is_(None))
                .with_for_update()
            )
            if row is None:
                return None
            row.ended_at = now
            row.end_reason = reason
            return self._record(row)

    async def end_all(self, user_id: int, reason: str, now: datetime) -> list[SessionRecord]:
        async with self.db.write() as session:
            rows = list(
                await session.scalars(
                    select(SessionRow)
                    .where(SessionRow.user_id == user_id, SessionRow.ended_at.is_(None))
                    .with_for_update()
                )
            )
            for row in rows:
                row.ended_at = now
                row.end_reason = reason
            return [self._record(row) for row in rows]

    async def claim_refresh(self, id_hash: str, version: int, now: datetime, lease: timedelta) -> bool:
        """Conditional update on the version column: exactly one caller (in any process) wins."""
        async with self.db.write() as session:
            result = await session.execute(
                update(SessionRow)
                .where(
                    SessionRow.id_hash == id_hash,
                    SessionRow.version == version,
                    SessionRow.ended_at.is_(None),
                    or_(SessionRow.refresh_claimed_until.is_(None), SessionRow.refresh_claimed_until < now),
                )
                .values(version=version + 1, refresh_claimed_until=now + lease)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def save_tokens(
        self, id_hash: str, tokens: Tokens, now: datetime, user: dict[str, Any] | None = None
    ) -> SessionRecord | None:
        """New tokens on a live session only, in one locked read-modify-write: a session ended meanwhile
        (or ending now, on another connection) is left alone and None returned, so the caller revokes
        the tokens instead of parking them on a dead row."""
        kid, blob = self.box.seal(id_hash, tokens.access_token, tokens.refresh_token)
        async with self.db.write() as session:
            row = await session.scalar(
                select(SessionRow)
                .where(SessionRow.id_hash == id_hash, SessionRow.ended_at.is_(None))
                .with_for_update()
            )
            if row is None:
                return None
            row.key_id = kid
            row.tokens_encrypted = blob
            row.access_issued_at = tokens.issued_at
            row.access_expires_at = tokens.expires_at
            row.version = row.version + 1
            row.refresh_claimed_until = None
            if user is not None:
                row.user_json = json.dumps(user)
            return self._record(row)

    async def release_claim(self, id_hash: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(SessionRow).where(SessionRow.id_hash == id_hash).values(refresh_claimed_until=None)
            )

    async def overdue(self, now: datetime, idle_timeout: int, limit: int) -> list[str]:
        """Ids of sessions past their absolute or idle end that nobody has ended yet."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(SessionRow.id_hash)
                .where(
                    SessionRow.ended_at.is_(None),
                    or_(
                        SessionRow.expires_at <= now,
                        SessionRow.last_seen_at <= now - timedelta(seconds=idle_timeout),
                    ),
                )
                .limit(limit)
            )
            return list(rows)

    async def purge(self, before: datetime) -> int:
        """Delete rows that ended (or expired) before `before`; they only served precise error codes."""
        async with self.db.write() as session:
            result = await session.execute(
                delete(SessionRow).where(
                    or_(
                        and_(SessionRow.ended_at.is_not(None), SessionRow.ended_at < before),
                        SessionRow.expires_at < before,
                    )
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # --- pending revocations at the core ------------------------------------------------------------

    async def add_revocations(
        self, refresh_tokens: list[str], now: datetime, retry_at: datetime
    ) -> list[str]:
        rows = []
        for token in refresh_tokens:
            ref = secrets.token_hex(16)
            kid, blob = self.box.seal_one(ref, token)
            rows.append(
                RevocationRow(
                    id=ref,
                    key_id=kid,
                    token_encrypted=blob,
                    created_at=now,
                    attempts=0,
                    next_attempt_at=retry_at,
                )
            )
        if rows:
            async with self.db.write() as session:
                session.add_all(rows)
        return [row.id for row in rows]

    async def revocations_done(self, ids: list[str]) -> None:
        if ids:
            async with self.db.write() as session:
                await session.execute(delete(RevocationRow).where(RevocationRow.id.in_(ids)))

    async def claim_revocations(
        self, now: datetime, retry_at: Callable[[int], datetime], give_up_before: datetime, limit: int
    ) -> tuple[list[PendingRevocation], int]:
        async with self.db.write() as session:
            dropped = await session.execute(
                delete(RevocationRow).where(RevocationRow.created_at < give_up_before)
            )
            rows = list(
                await session.scalars(
                    select(RevocationRow)
                    .where(RevocationRow.next_attempt_at <= now)
                    .order_by(RevocationRow.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            taken = []
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = retry_at(row.attempts)
                token = self.box.open_one(row.id, row.key_id, row.token_encrypted)
                taken.append(PendingRevocation(row.id, token, row.attempts, row.created_at))
            return taken, int(getattr(dropped, "rowcount", 0) or 0)

    async def next_revocation_at(self) -> datetime | None:
        async with self.db.read() as session:
            value = await session.scalar(select(func.min(RevocationRow.next_attempt_at)))
            return value if isinstance(value, datetime) else None


def with_tokens(record: SessionRecord, tokens: Tokens) -> SessionRecord:
    return replace(record, tokens=tokens)
