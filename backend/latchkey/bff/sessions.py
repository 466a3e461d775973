"""Browser sessions: from the sealed cookie to a valid access token, and every way a session ends.

The `/api` hot path (`authorize`) answers from a small in-process cache of validated sessions, so a
proxied request costs no database round trip; an entry is re-read from the store after
`CACHE_TTL` seconds, so a session ended on another instance is refused here within that time (and at
once on the instance that ended it). `/bff/*` routes always read the store. The refresh token is only
ever read from the store, and a refresh is claimed on the session row first, so parallel tabs or several
BFF instances cause one refresh, never a broken session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from latchkey.bff.cookies import CookiePolicy
from latchkey.bff.core_client import CoreClient, CoreUnavailable, GrantRefused
from latchkey.bff.proxy import StreamRegistry
from latchkey.bff.store import SessionRecord, SessionStore, Tokens, hash_session_id
from latchkey.clock import utcnow
from latchkey.problems import ProblemError
from latchkey.sealing import (
    InvalidSeal,
    KeyRing,
    SealExpired,
    SessionCookie,
    new_session_id,
    seal,
    unseal,
)
from latchkey.settings import BffSettings

log = logging.getLogger("latchkey.bff.sessions")

# A session ended on another instance is refused here within this many seconds (SPEC §8: 2 s).
CACHE_TTL = 1.0
CACHE_SIZE = 10_000
# How long one instance may hold the refresh claim on a session before another may take over.
REFRESH_LEASE = timedelta(seconds=15)
REFRESH_WAIT = 5.0
LOGIN_CONCURRENCY = 32
# A chain whose revocation failed is retried after 1, 2, 4 … seconds, at most a minute apart, and given up
# after two days (twice the core's default chain lifetime, so it has died at the core by then anyway).
REVOKE_MAX_DELAY = timedelta(seconds=60)
REVOKE_GIVE_UP = timedelta(days=2)


def _revoke_backoff(attempts: int) -> timedelta:
    """The wait before the next attempt, after `attempts` failed ones (the first comes at once)."""
    return min(REVOKE_MAX_DELAY, timedelta(seconds=2 ** max(0, attempts - 1)))


# Why a session ended → the code a fetch() sees afterwards.
END_CODES = {"idle": "session_idle_expired", "expired": "session_expired"}


def end_code(reason: str | None) -> str:
    return END_CODES.get(reason or "", "session_revoked")


@dataclass(slots=True)
class Grant:
    """What the proxy needs from a valid session."""

    access_token: str
    session_key: str
    user_id: int


@dataclass(slots=True)
class _Cached:
    record: SessionRecord
    grant: Grant
    checked_at: float  # monotonic: when the record was last read from the store
    last_seen: float  # wall clock: the latest activity this instance knows of
    last_written: float  # wall clock: the last_seen value written to the store
    expires_at: float
    refresh_due: float


def _refresh_due(tokens: Tokens) -> float:
    """Refresh shortly before expiry: a quarter of the token's life before it, at most 30 s before."""
    issued, expires = tokens.issued_at.timestamp(), tokens.expires_at.timestamp()
    return expires - min(30.0, (expires - issued) / 4)


class SessionManager:
    """Creates, validates, refreshes and ends sessions; the proxy's SessionGate."""

    def __init__(
        self,
        settings: BffSettings,
        store: SessionStore,
        ring: KeyRing,
        core: CoreClient,
        streams: StreamRegistry,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ring = ring
        self.core = core
        self.streams = streams
        self.cookies = CookiePolicy(settings)
        self.idle = settings.session_idle_timeout
        self.touch_interval = min(60.0, self.idle / 4)
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._refresh_locks: dict[str, asyncio.Lock] = {}
        # One store read per session at a time: the requests that find its entry stale together (every
        # connection of a busy tab, once a second) wait for that read instead of each making its own.
        self._reloads: dict[str, asyncio.Future[_Cached]] = {}
        # Reads in flight whose session ended on this instance meanwhile: they read again, never cache.
        self._voided: set[asyncio.Future[_Cached]] = set()
        # Counts `forget` calls, for `load`: a read that began before an end here does not cache.
        self._forgets = 0
        self._background: set[asyncio.Future[Any]] = set()
        self._revoker: asyncio.Future[None] | None = None
        self._logins = 0

    # --- the cookie ---------------------------------------------------------------------------------

    def session_hash(self, headers: Iterable[tuple[bytes, bytes]], now: float | None = None) -> str:
        """The id hash of the session named by a valid cookie, or 401 `no_session` / `session_expired`."""
        values = self.cookies.values_in([value for name, value in headers if name == b"cookie"])
        expired = False
        for value in values:
            try:
                cookie = unseal(self.ring, value, name=self.cookies.name, now=now)
            except SealExpired:
                expired = True
                continue
            except InvalidSeal:
                continue
            return hash_session_id(cookie.sid)
        if expired:
            raise ProblemError(401, "session_expired", "the session has expired; sign in again")
        raise ProblemError(401, "no_session", "sign in first")

    def seal_cookie(self, sid: bytes, expires_at: datetime) -> str:
        now = int(time.time())
        return seal(
            self.ring,
            SessionCookie(sid=sid, issued_at=now, expires_at=int(expires_at.timestamp())),
            name=self.cookies.name,
        )

    # --- validation ---------------------------------------------------------------------------------

    async def _check(
        self, record: SessionRecord | None, now: float, last_seen: float | None = None
    ) -> SessionRecord:
        """Raise the right 401 for an ended, expired, idle or unreadable session; end it if needed."""
        if record is None:
            raise ProblemError(401, "no_session", "sign in first")
        if record.ended_at is not None:
            raise ProblemError(401, end_code(record.end_reason), "the session has ended; sign in again")
        seen = max(record.last_seen_at.timestamp(), last_seen or 0.0)
        reason = (
            "expired"
            if now >= record.expires_at.timestamp()
            else "idle"
            if now >= seen + self.idle
            else "key_removed"
            if record.tokens is None
            else None
        )
        if reason is not None:
            await self.end(record.id_hash, reason)
            raise ProblemError(401, end_code(reason), "the session has ended; sign in again")
        return record

    async def load(self, id_hash: str) -> SessionRecord:
        """Read a session from the store (never the cache), validate it, and record the activity."""
        now = time.time()
        forgets = self._forgets
        record = await self._check(await self.store.get(id_hash), now)
        if now - record.last_seen_at.timestamp() >= self.touch_interval:
            await self.store.touch(id_hash, datetime.fromtimestamp(now, UTC))
            record = replace(record, last_seen_at=datetime.fromtimestamp(now, UTC))
        if forgets == self._forgets:  # else a session ended here meanwhile: the next request reads again
            self._remember(record, now)
        return record

    def _remember(self, record: SessionRecord, now: float) -> _Cached:
        assert record.tokens is not None
        cached = self._cache.get(record.id_hash)
        last_seen = max(record.last_seen_at.timestamp(), cached.last_seen if cached else 0.0)
        entry = _Cached(
            record=record,
            grant=Grant(record.tokens.access_token, record.id_hash, record.user_id),
            checked_at=time.monotonic(),
            last_seen=last_seen,
            last_written=record.last_seen_at.timestamp(),
            expires_at=record.expires_at.timestamp(),
            refresh_due=_refresh_due(record.tokens),
        )
        self._cache[record.id_hash] = entry
        self._cache.move_to_end(record.id_hash)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return entry

    def forget(self, id_hash: str) -> None:
        """Drop a session from this instance at once: its cache entry and its open streams."""
        self._forgets += 1
        pending = self._reloads.pop(id_hash, None)
        if pending is not None:
            self._voided.add(pending)
        self._cache.pop(id_hash, None)
        self.streams.close_session(id_hash)

    # --- the /api hot path (SessionGate) -----------------------------------------------------------

    async def authorize(self, scope: Any) -> Grant:
        now = time.time()
        id_hash = self.session_hash(scope["headers"], now)
        entry = self._cache.get(id_hash)
        if entry is None or time.monotonic() - entry.checked_at >= CACHE_TTL:
            entry = await self._reload(id_hash, now, entry)
        elif now >= entry.expires_at or now >= entry.last_seen + self.idle:
            await self._check(entry.record, now, entry.last_seen)
        entry.last_seen = now
        if now - entry.last_written >= self.touch_interval:
            # Activity is written at most every min(60 s, idle/4), off the request's path.
            entry.last_written = now
            self._spawn(self.store.touch(id_hash, datetime.fromtimestamp(now, UTC)))
        if now >= entry.refresh_due:
            record = await self.refresh(id_hash, entry.grant.access_token)
            return Grant(record.tokens.access_token if record.tokens else "", id_hash, record.user_id)
        return entry.grant

    async def _reload(self, id_hash: str, now: float, stale: _Cached | None) -> _Cached:
        """Re-read and re-check a session from the store, sharing one read among concurrent callers."""
        pending = self._reloads.get(id_hash)
        if pending is None:
            pending = asyncio.ensure_future(self._read_and_check(id_hash, now, stale))
            self._reloads[id_hash] = pending
            pending.add_done_callback(lambda done: self._reloaded(id_hash, done))
        # Shielded: one caller going away (its browser left) must not cancel the read the others await.
        return await asyncio.shield(pending)

    async def _read_and_check(self, id_hash: str, now: float, stale: _Cached | None) -> _Cached:
        last_seen = stale.last_seen if stale is not None else None
        this = asyncio.current_task()
        while True:
            record = await self._check(await self.store.get(id_hash), now, last_seen)
            if this not in self._voided:
                return self._remember(record, now)
            # The session ended on this instance during the read, which may have seen it still valid:
            # read again (at most once more: `forget` unregistered this read, so nothing voids it again).
            self._voided.discard(this)

    def _reloaded(self, id_hash: str, done: asyncio.Future[_Cached]) -> None:
        self._voided.discard(done)
        if self._reloads.get(id_hash) is done:
            del self._reloads[id_hash]
        if not done.cancelled():
            done.exception()  # retrieved here, so a read whose callers all left never logs as unhandled

    async def after_upstream_401(self, grant: Grant) -> Grant:
        record = await self.refresh(grant.session_key, grant.access_token)
        assert record.tokens is not None
        return Grant(record.tokens.access_token, grant.session_key, grant.user_id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- refresh ------------------------------------------------------------------------------------

    async def refresh(self, id_hash: str, stale_access_token: str) -> SessionRecord:
        """Replace the session's access token (once, whoever asks), or end it if the chain is revoked."""
        lock = self._refresh_locks.setdefault(id_hash, asyncio.Lock())
        try:
            async with lock:
                return await self._refresh_locked(id_hash, stale_access_token)
        finally:
            if not lock.locked() and self._refresh_locks.get(id_hash) is lock:
                del self._refresh_locks[id_hash]

    async def _refresh_locked(self, id_hash: str, stale_access_token: str) -> SessionRecord:
        deadline = time.monotonic() + REFRESH_WAIT
        while True:
            now = time.time()
            record = await self._check(await self.store.get(id_hash), now)
            assert record.tokens is not None
            if record.tokens.access_token != stale_access_token and now < _refresh_due(record.tokens):
                self._remember(record, now)  # another task or instance refreshed it already
                return record
            if await self.store.claim_refresh(id_hash, record.version, utcnow(), REFRESH_LEASE):
                return await self._refresh_claimed(record)
            if time.monotonic() >= deadline:
                raise ProblemError(
                    503, "refresh_in_progress", "try again in a moment", headers={"Retry-After": "1"}
                )
            await asyncio.sleep(0.05)

    async def _refresh_claimed(self, record: SessionRecord) -> SessionRecord:
        assert record.tokens is not None
        try:
            tokens = await self.core.refresh(record.tokens.refresh_token)
        except GrantRefused as refused:
            await self.store.release_claim(record.id_hash)
            if refused.error == "invalid_grant":
                # The chain was revoked (password change, disabled user, reuse): the session is over.
                await self.end(record.id_hash, "revoked", revoke=False)
                raise ProblemError(401, "session_revoked", "the session was revoked; sign in again") from None
            raise _upstream_problem(refused) from None
        except CoreUnavailable as exc:
            await self.store.release_claim(record.id_hash)
            raise _unavailable(exc) from None
        refreshed = await self.store.save_tokens(record.id_hash, tokens, utcnow())
        if refreshed is None:
            # The session ended while the core refreshed: its new tokens must not outlive it.
            await self.revoke([tokens.refresh_token])
            raise await self._ended_problem(record.id_hash)
        self._remember(refreshed, time.time())
        return refreshed

    # --- login, re-authentication -------------------------------------------------------------------

    async def login(
        self, username: str, password: str, ip: str, user_agent: str, previous: str | None = None
    ) -> tuple[SessionRecord, str]:
        """Password grant at the core, then a new session with a new id (no fixation): (record, cookie).
        The browser's `previous` session (its id hash) ends, and so do the user's oldest sessions beyond
        LATCHKEY_MAX_SESSIONS_PER_USER."""
        if self._logins >= LOGIN_CONCURRENCY:
            raise ProblemError(
                503, "service_unavailable", "too many sign-ins at once", headers={"Retry-After": "1"}
            )
        self._logins += 1
        try:
            tokens = await self._password_grant(username, password, ip)
            try:
                user = await self.core.me(tokens.access_token)
            except CoreUnavailable as exc:
                raise _unavailable(exc) from None
            except GrantRefused as refused:
                raise _upstream_problem(refused) from None
        finally:
            self._logins -= 1
        sid = new_session_id()
        now = utcnow()
        expires_at = now + timedelta(seconds=self.settings.session_max_age)
        record = await self.store.create(
            id_hash=hash_session_id(sid),
            user=user,
            tokens=tokens,
            now=now,
            expires_at=expires_at,
            user_agent=user_agent,
            ip=ip,
        )
        if previous is not None and previous != record.id_hash:
            # A login from a browser that still holds a session replaces it, so nothing lingers behind.
            await self.end(previous, "replaced")
        await self._evict_beyond_cap(record)
        return record, self.seal_cookie(sid, expires_at)

    async def _evict_beyond_cap(self, record: SessionRecord) -> None:
        """End the user's oldest live sessions beyond the cap, keeping the one just made."""
        cap = self.settings.max_sessions_per_user
        active = await self.store.list_active(record.user_id, utcnow(), self.idle)
        others = [item for item in active if item.id_hash != record.id_hash]  # newest first
        evicted = others[max(0, cap - 1) :]
        if evicted:
            log.info("login of user %s ends %d older session(s) beyond the cap", record.user_id, len(evicted))
            await asyncio.gather(*(self.end(item.id_hash, "evicted") for item in evicted))

    async def _password_grant(self, username: str, password: str, ip: str) -> Tokens:
        try:
            return await self.core.password_grant(username, password, ip)
        except CoreUnavailable as exc:
            raise _unavailable(exc) from None
        except GrantRefused as refused:
            if refused.error == "invalid_grant":
                raise ProblemError(401, "invalid_credentials", "the email or password is wrong") from None
            raise _upstream_problem(refused) from None

    async def reauthenticate(self, record: SessionRecord, password: str, ip: str) -> None:
        """A fresh password grant for the session's user: same session id, new tokens and auth_time."""
        tokens = await self._password_grant(str(record.user["email"]), password, ip)
        old = record.tokens
        saved = await self.store.save_tokens(record.id_hash, tokens, utcnow())
        self._cache.pop(record.id_hash, None)
        if saved is None:
            # The session ended (a logout) during the password grant: the new chain dies at once.
            await self.revoke([tokens.refresh_token])
            raise await self._ended_problem(record.id_hash)
        if old is not None:
            self._spawn(self.revoke([old.refresh_token]))

    async def _ended_problem(self, id_hash: str) -> ProblemError:
        self.forget(id_hash)
        ended = await self.store.get(id_hash)
        reason = ended.end_reason if ended is not None else None
        return ProblemError(401, end_code(reason), "the session has ended; sign in again")

    # --- ending sessions ----------------------------------------------------------------------------

    async def end(self, id_hash: str, reason: str, *, revoke: bool = True) -> bool:
        """End a session: in the store, in this instance's cache and streams, and its chain at the core."""
        ended = await self.store.end(id_hash, reason, utcnow())
        self.forget(id_hash)
        if ended is not None and ended.tokens is not None and revoke:
            await self.revoke([ended.tokens.refresh_token])
        return ended is not None

    async def end_all(self, user_id: int, reason: str) -> int:
        ended = await self.store.end_all(user_id, reason, utcnow())
        for record in ended:
            self.forget(record.id_hash)
        await self.revoke([r.tokens.refresh_token for r in ended if r.tokens is not None])
        return len(ended)

    async def logout(self, id_hash: str | None, everywhere: bool) -> None:
        """`/bff/logout`: only a live session's cookie ends anything; an ended, expired or idle
        session's cookie cannot end the user's other sessions (`everywhere`)."""
        if id_hash is None:
            return
        try:
            record = await self._check(await self.store.get(id_hash), time.time())
        except ProblemError:
            self.forget(id_hash)  # ended (or just ended by the check): nothing more to do here
            return
        if everywhere:
            await self.end_all(record.user_id, "logout_everywhere")
        else:
            await self.end(id_hash, "logout")

    # --- revoking chains at the core ------------------------------------------------------------------

    async def revoke(self, refresh_tokens: list[str]) -> None:
        """Revoke chains at the core now; any attempt that fails stays recorded in the store and is
        retried with backoff (by this process at once, by the sweeper of any instance after a restart)."""
        if not refresh_tokens:
            return
        now = utcnow()
        try:
            ids = await self.store.add_revocations(refresh_tokens, now, now + _revoke_backoff(0))
        except Exception:
            log.warning("could not record pending revocations; trying them once", exc_info=True)
            ids = []
        results = await asyncio.gather(*(self._revoke_one(token) for token in refresh_tokens))
        done = [ref for ref, ok in zip(ids, results, strict=False) if ok]
        if done:
            try:
                await self.store.revocations_done(done)
            except Exception:
                log.warning("could not clear confirmed revocations; they will be sent again", exc_info=True)
        if not all(results):
            self._kick_revoker()

    async def _revoke_one(self, refresh_token: str, attempt: int = 1) -> bool:
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

    async def retry_revocations(self) -> datetime | None:
        """Retry the revocations that are due; returns when the next one is due (None: none left)."""
        now = utcnow()
        due = await self.store.next_revocation_at()  # a read: nothing is written while nothing is due
        if due is None or due > now:
            return due
        while True:
            taken, dropped = await self.store.claim_revocations(
                now, lambda attempts: utcnow() + _revoke_backoff(attempts), now - REVOKE_GIVE_UP, 50
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
                *(self._revoke_one(item.refresh_token or "", item.attempts + 1) for item in pending)
            )
            await self.store.revocations_done(
                unreadable + [item.id for item, ok in zip(pending, results, strict=True) if ok]
            )
            if len(taken) < 50:
                break
        return await self.store.next_revocation_at()

    def _kick_revoker(self) -> None:
        """Run the retry loop in this process unless it runs already."""
        if self._revoker is None or self._revoker.done():
            self._revoker = asyncio.ensure_future(self._run_revoker())
            self._background.add(self._revoker)
            self._revoker.add_done_callback(self._background.discard)

    async def _run_revoker(self) -> None:
        while True:
            try:
                due = await self.retry_revocations()
            except Exception:
                log.warning("retrying revocations failed; trying again later", exc_info=True)
                due = utcnow() + REVOKE_MAX_DELAY
            if due is None:
                return
            delay = (due - utcnow()).total_seconds()
            await asyncio.sleep(min(REVOKE_MAX_DELAY.total_seconds(), max(0.05, delay)))

    async def sweep(self) -> int:
        """End (and revoke) sessions whose absolute or idle end passed without a request."""
        now = utcnow()
        count = 0
        for id_hash in await self.store.overdue(now, self.idle, 200):
            record = await self.store.get(id_hash)
            if record is None:
                continue
            reason = "expired" if now >= record.expires_at else "idle"
            count += await self.end(id_hash, reason)
        await self.store.purge(now - timedelta(seconds=self.settings.session_max_age))
        # Revocations left by a failed attempt here or on another instance, or before a restart.
        self._kick_revoker()
        return count

    async def run_sweeper(self) -> None:
        interval = max(0.5, min(30.0, self.idle / 2))
        self._kick_revoker()  # what a previous run of this process (or another instance) left pending
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.warning("session sweep failed; retrying later", exc_info=True)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._background, return_exceptions=True)


def _unavailable(exc: CoreUnavailable) -> ProblemError:
    if exc.timeout:
        return ProblemError(504, "upstream_timeout", "the API did not answer in time")
    return ProblemError(502, "upstream_unavailable", "the API is unreachable")


def _upstream_problem(refused: GrantRefused) -> ProblemError:
    headers = {"Retry-After": refused.retry_after} if refused.retry_after else None
    if refused.status == 429:
        return ProblemError(429, "rate_limited", "too many attempts; try again later", headers=headers)
    if refused.status == 503:
        return ProblemError(503, "service_unavailable", "the API is busy; retry shortly", headers=headers)
    log.error("the core refused the BFF: %s %s", refused.status, refused.error)
    return ProblemError(502, "upstream_unavailable", "the API refused the request")
