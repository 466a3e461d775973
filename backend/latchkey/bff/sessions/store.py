"""The session store port: what the session parts need from a store. Every implementation (SQL on SQLite
and PostgreSQL, `sql_store.py`; in memory, `memory_store.py`) runs the same contract suite
(tests/bff/test_store.py). A write returns the record as written, so nobody re-reads or computes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from latchkey.bff.sessions.types import NewSession, PendingRevocation, SessionRecord, Tokens


class SessionStore(Protocol):
    """What the BFF needs from a session store; every implementation runs the same contract tests."""

    async def create(self, new: NewSession) -> SessionRecord: ...

    async def get(self, id_hash: str) -> SessionRecord | None: ...

    async def get_by_public_id(self, public_id: str) -> SessionRecord | None: ...

    async def list_active(self, user_id: int, now: datetime, idle_timeout: int) -> list[SessionRecord]:
        """The user's live sessions (not ended, expired or idle), newest first."""
        ...

    async def touch(self, id_hash: str, now: datetime) -> None:
        """Move `last_seen_at` forward to `now` (never back)."""
        ...

    async def end(self, id_hash: str, reason: str, now: datetime) -> SessionRecord | None:
        """End a live session; None when it had ended already (only the first end counts)."""
        ...

    async def end_all(self, user_id: int, reason: str, now: datetime) -> list[SessionRecord]: ...

    async def provider_sessions(self, sid: str | None, sub: str | None) -> list[str]:
        """Ids of the live sessions a back-channel logout naming `sid` and/or `sub` ends
        (`rows.names_provider_session`)."""
        ...

    async def first_logout_token(self, jti_hash: str, expires_at: datetime, now: datetime) -> bool:
        """Record a back-channel logout token until `expires_at`: True the first time, False for a replay
        (forgotten ones past their end are dropped on the way)."""
        ...

    async def claim_refresh(
        self, id_hash: str, version: int, now: datetime, lease: timedelta
    ) -> SessionRecord | None:
        """Claim the session's next refresh for `lease`: the claimed record when the row is live, still at
        `version` and unclaimed (or its lease ran out); else None. Exactly one caller in any process wins."""
        ...

    async def save_tokens(
        self, id_hash: str, tokens: Tokens, now: datetime, user: dict[str, Any] | None = None
    ) -> SessionRecord | None:
        """Store new tokens on a live session (releasing any claim); None (nothing written) when it has
        ended meanwhile, so the caller revokes them instead of parking them on a dead row."""
        ...

    async def release_claim(self, id_hash: str) -> None: ...

    async def overdue(self, now: datetime, idle_timeout: int, limit: int) -> list[str]:
        """Ids of sessions past their absolute or idle end that nobody has ended yet."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete rows that ended (or expired) before `before`; they only served precise error codes."""
        ...

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
