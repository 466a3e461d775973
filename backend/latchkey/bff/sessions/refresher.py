"""Single-flight token refresh: one refresh per session, whoever asks, in any process.

In a process, an `asyncio.Lock` per session queues the callers; across processes, a claim on the session's
row (`SessionStore.claim_refresh`, leased for `REFRESH_LEASE`) picks the one that calls the core, while
the others re-read the row until the new token appears (or the lease of a claimer that died runs out).
The refresh token is only ever read from the store. A refused refresh (`invalid_grant`: password changed,
user disabled, chain revoked) ends the session; tokens that arrive for a session that ended meanwhile are
revoked at once, never stored.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from latchkey.bff.sessions.authorization_server import (
    AuthorizationServer,
    CoreUnavailable,
    GrantRefused,
    refused,
    unavailable,
)
from latchkey.bff.sessions.cache import SessionCache
from latchkey.bff.sessions.endings import Endings
from latchkey.bff.sessions.revoker import Revoker
from latchkey.bff.sessions.store import SessionStore
from latchkey.bff.sessions.timeouts import refresh_due
from latchkey.bff.sessions.types import SessionRecord
from latchkey.clock import Clock
from latchkey.problems import ProblemError

# How long one instance may hold the refresh claim on a session before another may take over.
REFRESH_LEASE = timedelta(seconds=15)
# How long a caller waits for another's refresh before answering 503 `refresh_in_progress`.
REFRESH_WAIT = 5.0
REFRESH_POLL = 0.05


class Refresher:
    def __init__(
        self,
        store: SessionStore,
        core: AuthorizationServer,
        clock: Clock,
        cache: SessionCache,
        endings: Endings,
        revoker: Revoker,
    ) -> None:
        self.store = store
        self.core = core
        self.clock = clock
        self.cache = cache
        self.endings = endings
        self.revoker = revoker
        self._locks: dict[str, asyncio.Lock] = {}

    async def refresh(self, id_hash: str, stale_access_token: str) -> SessionRecord:
        """Replace the session's access token (once, whoever asks), or end it if the chain is revoked."""
        lock = self._locks.setdefault(id_hash, asyncio.Lock())
        try:
            async with lock:
                return await self._refresh_locked(id_hash, stale_access_token)
        finally:
            if not lock.locked() and self._locks.get(id_hash) is lock:
                del self._locks[id_hash]

    async def _refresh_locked(self, id_hash: str, stale_access_token: str) -> SessionRecord:
        deadline = self.clock.monotonic() + REFRESH_WAIT
        while True:
            now = self.clock.now()
            record = await self.endings.check(await self.store.get(id_hash), now.timestamp())
            assert record.tokens is not None
            if record.tokens.access_token != stale_access_token and now.timestamp() < refresh_due(
                record.tokens
            ):
                self.cache.remember(record, now.timestamp())  # another task or instance refreshed it
                return record
            claimed = await self.store.claim_refresh(id_hash, record.version, now, REFRESH_LEASE)
            if claimed is not None:
                return await self._refresh_claimed(claimed)
            if self.clock.monotonic() >= deadline:
                raise ProblemError(
                    503, "refresh_in_progress", "try again in a moment", headers={"Retry-After": "1"}
                )
            await asyncio.sleep(REFRESH_POLL)

    async def _refresh_claimed(self, record: SessionRecord) -> SessionRecord:
        assert record.tokens is not None
        try:
            tokens = await self.core.refresh(record.tokens.refresh_token)
        except GrantRefused as refusal:
            await self.store.release_claim(record.id_hash)
            if refusal.error == "invalid_grant":
                # The chain was revoked (password change, disabled user, reuse): the session is over.
                await self.endings.end(record.id_hash, "revoked", revoke=False)
                raise ProblemError(401, "session_revoked", "the session was revoked; sign in again") from None
            raise refused(refusal) from None
        except CoreUnavailable as exc:
            await self.store.release_claim(record.id_hash)
            raise unavailable(exc) from None
        refreshed = await self.store.save_tokens(record.id_hash, tokens, self.clock.now())
        if refreshed is None:
            # The session ended while the core refreshed: its new tokens must not outlive it.
            await self.revoker.revoke([tokens.refresh_token])
            raise await self.endings.ended_elsewhere(record.id_hash)
        self.cache.remember(refreshed, self.clock.now().timestamp())
        return refreshed
