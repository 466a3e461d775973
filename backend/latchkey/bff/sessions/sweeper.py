"""The sweeper: ends (and revokes) sessions whose absolute or idle end passed without a request, purges
ended rows once a replayed cookie could no longer unseal anyway, and restarts the revocation retries."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from latchkey.bff.sessions.endings import Endings
from latchkey.bff.sessions.revoker import Revoker
from latchkey.bff.sessions.store import SessionStore
from latchkey.bff.sessions.timeouts import sweep_interval
from latchkey.clock import Clock

log = logging.getLogger("latchkey.bff.sessions")
BATCH = 200


class Sweeper:
    def __init__(
        self,
        store: SessionStore,
        endings: Endings,
        revoker: Revoker,
        clock: Clock,
        *,
        idle: int,
        max_age: int,
    ) -> None:
        self.store = store
        self.endings = endings
        self.revoker = revoker
        self.clock = clock
        self.idle = idle
        self.max_age = timedelta(seconds=max_age)

    async def sweep(self) -> int:
        """One round; returns how many sessions it ended."""
        now = self.clock.now()
        count = 0
        for id_hash in await self.store.overdue(now, self.idle, BATCH):
            record = await self.store.get(id_hash)
            if record is None:
                continue
            reason = "expired" if now >= record.expires_at else "idle"
            count += await self.endings.end(id_hash, reason)
        # Ended rows serve only precise codes to replayed cookies, which expire with the session's max age.
        await self.store.purge(now - self.max_age)
        # Revocations left by a failed attempt here or on another instance, or before a restart.
        self.revoker.kick()
        return count

    async def run(self) -> None:
        """Sweep every min(30 s, idle/2) until cancelled."""
        interval = sweep_interval(self.idle)
        self.revoker.kick()  # what a previous run of this process (or another instance) left pending
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.warning("session sweep failed; retrying later", exc_info=True)
