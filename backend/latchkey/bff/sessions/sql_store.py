"""`SqlSessionStore`: the session store on SQLAlchemy async (SQLite with BEGIN IMMEDIATE, or PostgreSQL).

The session id is stored only as its SHA-256 hash and the tokens only encrypted (`token_box.py`). Every
change to a live session is a locked read-modify-write of its row (`_live_row`: SELECT … FOR UPDATE on
PostgreSQL, the write lock of BEGIN IMMEDIATE on SQLite), so an end, a token change and a refresh claim
serialise; what they change is written once for both stores in `rows.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.bff.models import RevocationRow, SeenLogoutToken, SessionRow
from latchkey.bff.sessions import rows
from latchkey.bff.sessions.token_box import TokenBox
from latchkey.bff.sessions.types import NewSession, PendingRevocation, SessionRecord, Tokens
from latchkey.db import Database
from latchkey.sealing import KeyRing


class SqlSessionStore:
    """SessionStore on SQLAlchemy async (SQLite with BEGIN IMMEDIATE, or PostgreSQL)."""

    def __init__(self, db: Database, ring: KeyRing) -> None:
        self.db = db
        self.box = TokenBox(ring)

    def _record(self, row: SessionRow) -> SessionRecord:
        return rows.session_record(self.box, row)

    @staticmethod
    async def _live_row(session: AsyncSession, id_hash: str) -> SessionRow | None:
        """The session's row, locked for this write transaction, unless it has ended."""
        return await session.scalar(
            select(SessionRow)
            .where(SessionRow.id_hash == id_hash, SessionRow.ended_at.is_(None))
            .with_for_update()
        )

    async def create(self, new: NewSession) -> SessionRecord:
        row = rows.new_session_row(self.box, new)
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
            found = await session.scalars(
                select(SessionRow)
                .where(
                    SessionRow.user_id == user_id,
                    SessionRow.ended_at.is_(None),
                    SessionRow.expires_at > now,
                    SessionRow.last_seen_at > now - timedelta(seconds=idle_timeout),
                )
                .order_by(SessionRow.created_at.desc())
            )
            return [self._record(row) for row in found]

    async def touch(self, id_hash: str, now: datetime) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(SessionRow)
                .where(SessionRow.id_hash == id_hash, SessionRow.last_seen_at < now)
                .values(last_seen_at=now)
            )

    async def end(self, id_hash: str, reason: str, now: datetime) -> SessionRecord | None:
        async with self.db.write() as session:
            row = await self._live_row(session, id_hash)
            if row is None:
                return None
            rows.end_row(row, reason, now)
            return self._record(row)

    async def end_all(self, user_id: int, reason: str, now: datetime) -> list[SessionRecord]:
        async with self.db.write() as session:
            live = list(
                await session.scalars(
                    select(SessionRow)
                    .where(SessionRow.user_id == user_id, SessionRow.ended_at.is_(None))
                    .with_for_update()
                )
            )
            for row in live:
                rows.end_row(row, reason, now)
            return [self._record(row) for row in live]

    async def provider_sessions(self, sid: str | None, sub: str | None) -> list[str]:
        if sid is None and sub is None:
            return []
        query = select(SessionRow).where(SessionRow.ended_at.is_(None))
        if sid is not None:
            query = query.where(SessionRow.provider_sid == sid)
        else:
            query = query.where(SessionRow.provider_sub == sub)
        async with self.db.read() as session:
            found = await session.scalars(query)
            return [row.id_hash for row in found if rows.names_provider_session(row, sid, sub)]

    async def first_logout_token(self, jti_hash: str, expires_at: datetime, now: datetime) -> bool:
        async with self.db.write() as session:
            await session.execute(delete(SeenLogoutToken).where(SeenLogoutToken.expires_at < now))
            if await session.get(SeenLogoutToken, jti_hash) is not None:
                return False
            session.add(SeenLogoutToken(jti_hash=jti_hash, expires_at=expires_at))
            try:
                await session.flush()
            except IntegrityError:
                return False
        return True

    async def claim_refresh(
        self, id_hash: str, version: int, now: datetime, lease: timedelta
    ) -> SessionRecord | None:
        async with self.db.write() as session:
            row = await self._live_row(session, id_hash)
            if row is None or not rows.claimable(row, version, now):
                return None
            rows.claim(row, now, lease)
            return self._record(row)

    async def save_tokens(
        self, id_hash: str, tokens: Tokens, now: datetime, user: dict[str, Any] | None = None
    ) -> SessionRecord | None:
        async with self.db.write() as session:
            row = await self._live_row(session, id_hash)
            if row is None:
                return None
            rows.put_tokens(self.box, row, tokens, user)
            return self._record(row)

    async def release_claim(self, id_hash: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(SessionRow).where(SessionRow.id_hash == id_hash).values(refresh_claimed_until=None)
            )

    async def overdue(self, now: datetime, idle_timeout: int, limit: int) -> list[str]:
        async with self.db.read() as session:
            found = await session.scalars(
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
            return list(found)

    async def purge(self, before: datetime) -> int:
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
        added = [rows.new_revocation_row(self.box, token, now, retry_at) for token in refresh_tokens]
        if added:
            async with self.db.write() as session:
                session.add_all(added)
        return [row.id for row in added]

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
            due = await session.scalars(
                select(RevocationRow)
                .where(RevocationRow.next_attempt_at <= now)
                .order_by(RevocationRow.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            taken = [rows.take_revocation(self.box, row, retry_at) for row in due]
            return taken, int(getattr(dropped, "rowcount", 0) or 0)

    async def next_revocation_at(self) -> datetime | None:
        async with self.db.read() as session:
            value = await session.scalar(select(func.min(RevocationRow.next_attempt_at)))
            return value if isinstance(value, datetime) else None
