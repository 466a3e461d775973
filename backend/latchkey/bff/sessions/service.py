"""`SessionService`: what the routes and the proxy ask of sessions, composed from parts with one job each.

The proxy's gate (`authorize`, `after_upstream_401`): cookie → cached, validated session → access token,
refreshed when due. The `/bff/*` routes: sign-in (throttled per process, capped per user), the current
session (always read from the store), re-authentication, logout, the session list and ending one of them.
It answers with records and with the headers to send (`Set-Cookie`, `Clear-Site-Data`), so the routes
touch neither the store nor the cookie. Listeners registered with `on_end` (the proxy's stream registry)
hear of every session that ends on this instance.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from latchkey.bff.cookie.policy import CookiePolicy
from latchkey.bff.cookie.session_cookie import SessionCookies
from latchkey.bff.sessions.authorization_server import (
    AuthorizationServer,
    CoreUnavailable,
    GrantRefused,
    refused,
    unavailable,
)
from latchkey.bff.sessions.background import Background
from latchkey.bff.sessions.cache import SessionCache
from latchkey.bff.sessions.endings import Endings, EndListener
from latchkey.bff.sessions.refresher import Refresher
from latchkey.bff.sessions.revoker import Revoker
from latchkey.bff.sessions.store import SessionStore
from latchkey.bff.sessions.sweeper import Sweeper
from latchkey.bff.sessions.timeouts import idle_ends_at
from latchkey.bff.sessions.types import (
    Grant,
    NewSession,
    ProviderSession,
    SessionRecord,
    Tokens,
    hash_session_id,
)
from latchkey.broadcast import Broadcast
from latchkey.clock import SYSTEM_CLOCK, Clock
from latchkey.problems import ProblemError
from latchkey.sealing import KeyRing, new_session_id
from latchkey.settings import BffSettings

log = logging.getLogger("latchkey.bff.sessions")

# Sign-ins in flight per process; beyond, 503 at once (each holds a password grant at the core).
LOGIN_CONCURRENCY = 32
Headers = Iterable[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session and the `Set-Cookie` value that hands it to the browser."""

    record: SessionRecord
    set_cookie: str


class SessionService:
    """Creates, validates, refreshes and ends sessions; the proxy's SessionGate."""

    def __init__(
        self,
        settings: BffSettings,
        store: SessionStore,
        ring: KeyRing,
        core: AuthorizationServer,
        clock: Clock = SYSTEM_CLOCK,
        broadcast: Broadcast | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.idle = settings.session_idle_timeout
        self._store = store
        self._core = core
        self._policy = CookiePolicy(settings)
        self.cookies = SessionCookies(self._policy, ring)
        self.background = Background()
        self.revoker = Revoker(store, core, clock, self.background)
        # Without one given: this instance alone (tests of one process).
        self.broadcast = broadcast or Broadcast(None, app="bff", namespace="local")
        self.endings = Endings(store, self.revoker, clock, self.idle, self.broadcast)
        self.cache = SessionCache(store, clock, self.endings.check, self.background, self.idle)
        self.endings.on_end(self.cache.void)
        self.refresher = Refresher(store, core, clock, self.cache, self.endings, self.revoker)
        self.sweeper = Sweeper(
            store, self.endings, self.revoker, clock, idle=self.idle, max_age=settings.session_max_age
        )
        self._logins = 0

    def on_end(self, listener: EndListener) -> None:
        """Call `listener(session_key)` whenever a session ends, on this instance or another (after the
        cache's own)."""
        self.endings.on_end(listener)

    # --- the proxy's gate (the /api hot path) ------------------------------------------------------

    async def authorize(self, scope: Any) -> Grant:
        """The grant of the request's session, from the cache when fresh; refreshed when due."""
        now = self.clock.now().timestamp()
        id_hash = hash_session_id(self.cookies.session_id(scope["headers"], now))
        entry = await self.cache.get(id_hash, now)
        self.cache.seen(entry, now)
        if now >= entry.refresh_due:
            record = await self.refresher.refresh(id_hash, entry.grant.access_token)
            return Grant(record.tokens.access_token if record.tokens else "", id_hash, record.user_id)
        return entry.grant

    async def after_upstream_401(self, grant: Grant) -> Grant:
        """The core refused the access token: refresh once, whatever the token's age."""
        record = await self.refresher.refresh(grant.session_key, grant.access_token)
        assert record.tokens is not None
        return Grant(record.tokens.access_token, grant.session_key, grant.user_id)

    # --- the /bff routes ---------------------------------------------------------------------------

    def session_key(self, headers: Headers) -> str:
        """The id hash named by a valid cookie, or 401 `no_session` / `session_expired`."""
        return hash_session_id(self.cookies.session_id(headers, self.clock.now().timestamp()))

    def _cookie_session(self, headers: Headers) -> str | None:
        """The id hash named by a valid cookie, or None (no cookie, or one that does not unseal)."""
        try:
            return self.session_key(headers)
        except ProblemError:
            return None

    async def current(self, headers: Headers) -> SessionRecord:
        """The request's session, read from the store (never the cache), or 401 with the reason."""
        return await self.cache.load(self.session_key(headers))

    def idle_ends_at(self, record: SessionRecord) -> datetime:
        return idle_ends_at(record, self.idle)

    async def login(
        self, username: str, password: str, *, ip: str, user_agent: str, headers: Headers = ()
    ) -> SignedIn:
        """Password grant at the core, then a new session with a new id (no fixation). The browser's
        previous session (named by its cookie in `headers`) ends, and so do the user's oldest sessions
        beyond LATCHKEY_MAX_SESSIONS_PER_USER."""
        previous = self._cookie_session(headers)
        if self._logins >= LOGIN_CONCURRENCY:
            raise ProblemError(
                503, "service_unavailable", "too many sign-ins at once", headers={"Retry-After": "1"}
            )
        self._logins += 1
        try:
            tokens = await self._password_grant(username, password, ip)
            user = await self._profile(tokens)
        finally:
            self._logins -= 1
        return await self._open(tokens, user, ip=ip, user_agent=user_agent, previous=previous)

    async def login_with_provider(
        self,
        id_token: str,
        claims: dict[str, Any],
        *,
        ip: str,
        user_agent: str,
        headers: Headers = (),
    ) -> SignedIn:
        """A sign-in through the OpenID Provider (SPEC §11): the core exchanges the ID token (RFC 8693)
        and checks it itself; then a new session exactly as a password login makes one, remembering the
        provider's `sid` and `sub` (for a back-channel logout) and the ID token (for `id_token_hint`).
        CoreUnavailable and GrantRefused pass through for the callback to turn into its codes."""
        previous = self._cookie_session(headers)
        tokens = await self._core.exchange_id_token(id_token, ip)
        user = await self._profile(tokens)
        sid = claims.get("sid")
        provider = ProviderSession(sid if isinstance(sid, str) else None, str(claims["sub"]), id_token)
        return await self._open(
            tokens, user, ip=ip, user_agent=user_agent, previous=previous, provider=provider
        )

    async def _profile(self, tokens: Tokens) -> dict[str, Any]:
        try:
            return await self._core.me(tokens.access_token)
        except CoreUnavailable as exc:
            raise unavailable(exc) from None
        except GrantRefused as refusal:
            raise refused(refusal) from None

    async def _open(
        self,
        tokens: Tokens,
        user: dict[str, Any],
        *,
        ip: str,
        user_agent: str,
        previous: str | None,
        provider: ProviderSession | None = None,
    ) -> SignedIn:
        sid = new_session_id()
        now = self.clock.now()
        expires_at = now + timedelta(seconds=self.settings.session_max_age)
        record = await self._store.create(
            NewSession(hash_session_id(sid), user, tokens, now, expires_at, user_agent, ip, provider)
        )
        if previous is not None and previous != record.id_hash:
            # A login from a browser that still holds a session replaces it, so nothing lingers behind.
            await self.endings.end(previous, "replaced")
        await self._evict_beyond_cap(record)
        return SignedIn(record, self.cookies.issue(sid, now=now, expires_at=expires_at))

    async def _evict_beyond_cap(self, record: SessionRecord) -> None:
        """End the user's oldest live sessions beyond the cap, keeping the one just made."""
        cap = self.settings.max_sessions_per_user
        active = await self._store.list_active(record.user_id, self.clock.now(), self.idle)
        others = [item for item in active if item.id_hash != record.id_hash]  # newest first
        evicted = others[max(0, cap - 1) :]
        if evicted:
            log.info("login of user %s ends %d older session(s) beyond the cap", record.user_id, len(evicted))
            await self.endings.end_many([item.id_hash for item in evicted], "evicted")

    async def _password_grant(self, username: str, password: str, ip: str) -> Tokens:
        try:
            return await self._core.password_grant(username, password, ip)
        except CoreUnavailable as exc:
            raise unavailable(exc) from None
        except GrantRefused as refusal:
            if refusal.error == "invalid_grant":
                # The attempts left before the lockout (and its length once it starts) pass through, so
                # the login page can warn before the last attempt and count the lockout down.
                raise ProblemError(
                    401, "invalid_credentials", "the email or password is wrong", extra=refusal.limits
                ) from None
            raise refused(refusal) from None

    async def reauthenticate(self, record: SessionRecord, password: str, ip: str) -> None:
        """A fresh password grant for the session's user: same session id, new tokens and auth_time."""
        tokens = await self._password_grant(str(record.user["email"]), password, ip)
        old = record.tokens
        saved = await self._store.save_tokens(record.id_hash, tokens, self.clock.now())
        self.cache.drop(record.id_hash)
        if saved is None:
            # The session ended (a logout) during the password grant: the new chain dies at once.
            await self.revoker.revoke([tokens.refresh_token])
            raise await self.endings.ended_elsewhere(record.id_hash)
        if old is not None:
            self.background.spawn(self.revoker.revoke([old.refresh_token]))

    async def logout(
        self, headers: Headers, *, everywhere: bool
    ) -> tuple[dict[str, str], SessionRecord | None]:
        """`/bff/logout`: end this session (or all of the user's); the headers that clear the browser, and
        the record of the live session that ended (None when none did). Only a live session's cookie
        ends anything: an ended, expired or idle session's cookie cannot end the user's other sessions
        (`everywhere`)."""
        id_hash = self._cookie_session(headers)
        record = await self._logout(id_hash, everywhere) if id_hash is not None else None
        return self._policy.logout_headers(), record

    async def _logout(self, id_hash: str, everywhere: bool) -> SessionRecord | None:
        try:
            record = await self.endings.check(await self._store.get(id_hash), self.clock.now().timestamp())
        except ProblemError:
            self.endings.notify(id_hash)  # ended (or just ended by the check): nothing more to do here
            return None
        if everywhere:
            await self.endings.end_all(record.user_id, "logout_everywhere")
        else:
            await self.endings.end(id_hash, "logout")
        return record

    async def end_provider_sessions(self, sid: str | None, sub: str | None) -> int:
        """A back-channel logout: end the sessions the provider names (by `sid`, else every session of
        `sub` from the provider) here and, through the broadcast, everywhere; their chains are revoked."""
        found = await self._store.provider_sessions(sid, sub)
        if found:
            await self.endings.end_many(found, "provider_logout")
        return len(found)

    async def first_logout_token(self, replay_key: str) -> bool:
        """Whether a back-channel logout token is new (remembered until it could no longer be accepted)."""
        now = self.clock.now()
        return await self._store.first_logout_token(replay_key, now + timedelta(minutes=11), now)

    async def list_active(self, record: SessionRecord) -> list[SessionRecord]:
        """The live sessions of `record`'s user, newest first."""
        return await self._store.list_active(record.user_id, self.clock.now(), self.idle)

    async def end_one(self, record: SessionRecord, public_id: str) -> dict[str, str]:
        """End one of the user's sessions (404 for another user's or an ended one); the headers to send:
        ending the current session is a logout, ending another leaves this browser's cookie alone."""
        target = await self._store.get_by_public_id(public_id) if len(public_id) <= 64 else None
        if target is None or target.user_id != record.user_id or target.ended_at is not None:
            raise ProblemError(404, "not_found", "no such session")
        await self.endings.end(target.id_hash, "ended")
        return self._policy.logout_headers() if target.id_hash == record.id_hash else {}

    async def end_others(self, record: SessionRecord) -> int:
        """`/bff/sessions/end-others`: end every other live session of the user (on every instance, their
        chains revoked at the core), keeping this one; how many ended."""
        return await self._end_others(record.user_id, record.id_hash, "ended_others", revoke=True)

    async def after_password_change(self, grant: Grant) -> None:
        """The core accepted a password change made through this session (204): it has revoked the
        user's other chains; end their sessions here at once, so their cookies are dead now and the
        list no longer shows them, instead of each ending at its next refresh."""
        try:
            ended = await self._end_others(grant.user_id, grant.session_key, "password_changed", revoke=False)
        except Exception:
            # The password did change: the browser must hear 204, not this failure (the store being down).
            # The other sessions still end, at their next refresh, which meets the revoked chain.
            log.exception("password change of user %s: other sessions not ended now", grant.user_id)
            return
        if ended:
            log.info("password change of user %s ends %d other session(s)", grant.user_id, ended)

    async def _end_others(self, user_id: int, keep: str, reason: str, *, revoke: bool) -> int:
        active = await self._store.list_active(user_id, self.clock.now(), self.idle)
        others = [item.id_hash for item in active if item.id_hash != keep]
        await self.endings.end_many(others, reason, revoke=revoke)
        return len(others)

    # --- the process's lifetime --------------------------------------------------------------------

    async def run_sweeper(self) -> None:
        await self.sweeper.run()

    async def close(self) -> None:
        await self.background.close()
