"""Revoking refresh chains at the core, retried until the core confirms.

Every revocation is recorded in the store before its first attempt and deleted once the core answers
200; a failed one is retried after 1, 2, 4 … seconds, at most a minute apart, by this process's retry
loop (and by the loop of any instance the sweeper restarts, so a crash or restart loses nothing). Each
retry first claims its entry in the store, so several instances do not send it together. Logs say why an
attempt failed, never the token.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from latchkey.bff.sessions.authorization_server import AuthorizationServer, CoreUnavailable, GrantRefused
from latchkey.bff.sessions.background import Background
from latchkey.bff.sessions.store import SessionStore
from latchkey.clock import Clock

log = logging.getLogger("latchkey.bff.sessions")

# A chain whose revocation failed is retried after 1, 2, 4 … seconds, at most a minute apart, and given up
# after two days (twice the core's default chain lifetime, so it has died at the core by then anyway).
REVOKE_MAX_DELAY = timedelta(seconds=60)
REVOKE_GIVE_UP = timedelta(days=2)
BATCH = 50


def revoke_backoff(attempts: int) -> timedelta:
    """The wait before the next attempt, after `attempts` failed ones (the first comes at once)."""
    return min(REVOKE_MAX_DELAY, timedelta(seconds=2 ** max(0, attempts - 1)))


class Revoker:
    def __init__(
        self, store: SessionStore, core: AuthorizationServer, clock: Clock, background: Background
    ) -> None:
        self.store = store
        self.core = core
        self.clock = clock
        self.background = background
        self._loop: asyncio.Future[None] | None = None

    async def revoke(self, refresh_tokens: list[str]) -> None:
        """Revoke chains at the core now; any attempt that fails stays recorded in the store and is
        retried with backoff (by this process at once, by the sweeper of any instance after a restart)."""
        if not refresh_tokens:
            return
        now = self.clock.now()
        try:
            ids = await self.store.add_revocations(refresh_tokens, now, now + revoke_backoff(0))
        except Exception:
            log.warning("could not record pending revocations; trying them once", exc_info=True)
            ids = []
        results = await asyncio.gather(*(self._attempt(token) for token in refresh_tokens))
        done = [ref for ref, ok in zip(ids, results, strict=False) if ok]
        if done:
            try:
                await self.store.revocations_done(done)
            except Exception:
                log.warning("could not clear confirmed revocations; they will be sent again", exc_info=True)
        if not all(results):
            self.kick()

    async def _attempt(self, refresh_token: str, attempt: int = 1) -> bool:
        try:
            await self.core.revoke(refresh_token)
        except (CoreUnavailable, GrantRefused) as failed:
            # Never the token: only why, and that it will be retried.
            why = f"answered {failed.status}" if isinstance(failed, GrantRefused) else str(failed)
            log.warning(
                "revoking a refresh chain at the core failed (attempt %d: %s); retrying", attempt, why
            )
            return False
        return True

    async def retry_due(self) -> datetime | None:
        """Retry the revocations that are due; returns when the next one is due (None: none left)."""
        now = self.clock.now()
        due = await self.store.next_revocation_at()  # a read: nothing is written while nothing is due
        if due is None or due > now:
            return due
        while True:
            taken, dropped = await self.store.claim_revocations(
                now,
                lambda attempts: self.clock.now() + revoke_backoff(attempts),
                now - REVOKE_GIVE_UP,
                BATCH,
            )
            if dropped:
                log.error(
                    "gave up revoking %d refresh chain(s) at the core after %s", dropped, REVOKE_GIVE_UP
                )
            if not taken:
                break
            unreadable = [item.id for item in taken if item.refresh_token is None]
            if unreadable:
                log.error("dropping %d pending revocation(s) no cookie key opens", len(unreadable))
            pending = [item for item in taken if item.refresh_token is not None]
            results = await asyncio.gather(
                *(self._attempt(item.refresh_token or "", item.attempts + 1) for item in pending)
            )
            await self.store.revocations_done(
                unreadable + [item.id for item, ok in zip(pending, results, strict=True) if ok]
            )
            if len(taken) < BATCH:
                break
        return await self.store.next_revocation_at()

    def kick(self) -> None:
        """Run the retry loop in this process unless it runs already."""
        if self._loop is None or self._loop.done():
            self._loop = self.background.spawn(self._run())

    async def _run(self) -> None:
        while True:
            try:
                due = await self.retry_due()
            except Exception:
                log.warning("retrying revocations failed; trying again later", exc_info=True)
                due = self.clock.now() + REVOKE_MAX_DELAY
            if due is None:
                return
            delay = (due - self.clock.now()).total_seconds()
            await asyncio.sleep(min(REVOKE_MAX_DELAY.total_seconds(), max(0.05, delay)))
