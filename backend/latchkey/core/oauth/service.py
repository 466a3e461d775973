"""The rules of the token endpoint: password and refresh-token grants, rotation with reuse detection
(RFC 9700 §4.14), and revocation (RFC 7009)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from latchkey.core.models import AccessToken, RefreshToken, TokenChain, User
from latchkey.core.oauth import limits
from latchkey.core.security import credentials
from latchkey.core.security.auth import Client
from latchkey.core.security.credentials import Kind
from latchkey.core.security.passwords import MAX_PASSWORD_LENGTH, HasherOverloaded
from latchkey.core.security.scopes import role_scopes
from latchkey.core.state import CoreContext
from latchkey.problems import ProblemError

# A rotated-out refresh token presented again this soon is a lost response or a second tab, not theft.
REUSE_GRACE = timedelta(seconds=5)
_INVALID_GRANT = "the grant is invalid, expired or revoked"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str


def invalid_grant(detail: str = _INVALID_GRANT) -> ProblemError:
    return ProblemError(400, "invalid_grant", detail)


async def password_grant(
    ctx: CoreContext, client: Client, username: str, password: str, *, ip: str, now: datetime
) -> IssuedTokens:
    """Check a user's password, within the brute-force limits counted under `ip` at `now`, and start a new
    token chain."""
    account = limits.account_key(username)
    moment = now
    async with ctx.db.write() as session:
        try:
            attempt = await limits.admit_attempt(session, account, ip, moment)
        except limits.RateLimited as exc:
            raise ProblemError(
                429,
                "rate_limited",
                "too many failed sign-ins; try again later",
                headers={"Retry-After": str(exc.retry_after)},
                extra={"lockout_seconds": exc.retry_after},
            ) from None
        email = limits.normalize_username(username)
        # No stored email holds a control character (and PostgreSQL cannot even compare a NUL byte):
        # such a username is simply unknown, and is answered like any other unknown user below.
        known = email.isprintable()
        user = await session.scalar(select(User).where(User.email == email)) if known else None

    # No transaction is open during the slow check. Unknown users are checked against a dummy hash so
    # they take as long as wrong passwords; an absurdly long password is refused without hashing it.
    try:
        if len(password) > MAX_PASSWORD_LENGTH:
            matched = False
        else:
            matched = await ctx.hasher.verify(password, user.password_hash if user is not None else None)
    except HasherOverloaded:
        async with ctx.db.write() as session:
            await limits.forget_attempt(session, attempt)
        raise ProblemError(
            503,
            "temporarily_unavailable",
            "too many sign-ins at once; retry in a moment",
            headers={"Retry-After": "1"},
        ) from None
    if user is None or not matched or user.disabled:
        # The attempt stays recorded as a failure. A disabled account answers like a wrong password, and
        # an unknown one too: the counters are kept per username, known or not, so the attempts left
        # reveal nothing about which accounts exist.
        async with ctx.db.read() as session:
            remaining, lockout = await limits.attempts_left(session, account, ip, ctx.clock.now())
        extra: dict[str, int] = {"attempts_remaining": remaining}
        if lockout is not None:
            extra["lockout_seconds"] = lockout
        raise ProblemError(400, "invalid_grant", "the username or password is wrong", extra=extra)

    async with ctx.db.write() as session:
        await limits.clear_failures(session, account, ip)
        # The chain starts when the password was verified, after the (possibly queued) Argon2 check: its
        # `auth_time` opens the re-authentication window, which must not be shortened by that wait.
        moment = ctx.clock.now()
        chain = TokenChain(
            user_id=user.id,
            client_id=client.user_id,
            auth_time=moment,
            created_at=moment,
            expires_at=moment + timedelta(seconds=ctx.settings.refresh_token_ttl),
        )
        session.add(chain)
        await session.flush()
        return issue_pair(session, ctx, chain, user.role, moment)


class _Outcome(Enum):
    ISSUED = "issued"
    INVALID = "invalid"
    REUSED = "reused"


async def refresh_grant(
    ctx: CoreContext, client: Client, refresh_token: str, *, now: datetime
) -> IssuedTokens:
    """Rotate a refresh token: a new pair in the same chain, or the end of the chain on reuse."""
    if credentials.parse(refresh_token) is not Kind.REFRESH:
        raise invalid_grant()
    digest = credentials.token_hash(refresh_token)
    async with ctx.db.write() as session:
        outcome, issued, user_id = await _rotate(session, ctx, client, digest, now)
    # Raised only after the write transaction committed, so a reuse's revocation of the chain sticks.
    if outcome is _Outcome.REUSED:
        assert user_id is not None
        ctx.tokens.user_changed(user_id)
        raise invalid_grant("this refresh token was already used; the session has been ended")
    if issued is None:
        raise invalid_grant()
    return issued


async def _rotate(
    session: AsyncSession, ctx: CoreContext, client: Client, digest: str, moment: datetime
) -> tuple[_Outcome, IssuedTokens | None, int | None]:
    """What a refresh token's presentation does, the new pair when issued, and the chain's user."""
    row = (
        await session.execute(
            select(RefreshToken, TokenChain, User)
            .join(TokenChain, TokenChain.id == RefreshToken.chain_id)
            .join(User, User.id == TokenChain.user_id)
            .where(RefreshToken.token_hash == digest)
            # No eager joins: PostgreSQL refuses FOR UPDATE on the nullable side of an outer join.
            .options(raiseload("*"))
            .with_for_update(of=[RefreshToken, TokenChain])
        )
    ).one_or_none()
    if row is None:
        return _Outcome.INVALID, None, None
    token, chain, user = row
    # Another client's token is refused but left alone: client B must not be able to end A's sessions.
    if chain.client_id != client.user_id:
        return _Outcome.INVALID, None, None
    if chain.revoked_at is not None or chain.expires_at <= moment or user.disabled:
        return _Outcome.INVALID, None, None
    if token.rotated_at is None:
        token.rotated_at = moment
    elif moment - token.rotated_at > REUSE_GRACE:
        # Presented again long after its rotation: someone holds a copy (RFC 9700 §4.14.2). End the
        # chain; its access tokens die with it because every Bearer check looks at chain.revoked_at.
        chain.revoked_at = moment
        return _Outcome.REUSED, None, user.id
    # else: within the grace, a sibling pair; rotated_at stays, so the grace does not slide.
    await session.execute(
        delete(AccessToken).where(AccessToken.chain_id == chain.id, AccessToken.expires_at <= moment)
    )
    return _Outcome.ISSUED, issue_pair(session, ctx, chain, user.role, moment), user.id


def issue_pair(
    session: AsyncSession, ctx: CoreContext, chain: TokenChain, role: str, moment: datetime
) -> IssuedTokens:
    """A new refresh token and access token in `chain` (added to the session, flushed at commit)."""
    refresh = credentials.generate(Kind.REFRESH)
    access = credentials.generate(Kind.ACCESS)
    scope = " ".join(role_scopes(role))
    # An access token never outlives its chain.
    expires_at = min(moment + timedelta(seconds=ctx.settings.access_token_ttl), chain.expires_at)
    session.add(
        RefreshToken(chain_id=chain.id, token_hash=credentials.token_hash(refresh), created_at=moment)
    )
    session.add(
        AccessToken(
            chain_id=chain.id,
            token_hash=credentials.token_hash(access),
            scopes=scope,
            created_at=moment,
            expires_at=expires_at,
        )
    )
    return IssuedTokens(
        access_token=access,
        refresh_token=refresh,
        expires_in=max(1, math.ceil((expires_at - moment).total_seconds())),
        scope=scope,
    )


async def revoke(ctx: CoreContext, client: Client, token: str, *, now: datetime) -> None:
    """Revoke a refresh token's chain, or one access token, if the calling client was issued it.

    Anything else (malformed, unknown, another client's, another kind) is silently ignored, so the
    endpoint's answer reveals nothing (RFC 7009 §2.2).
    """
    kind = credentials.parse(token)
    if kind not in (Kind.REFRESH, Kind.ACCESS):
        return
    digest = credentials.token_hash(token)
    moment = now
    changed: int | None = None
    async with ctx.db.write() as session:
        if kind is Kind.REFRESH:
            chain = await session.scalar(
                select(TokenChain)
                .join(RefreshToken, RefreshToken.chain_id == TokenChain.id)
                .where(RefreshToken.token_hash == digest, TokenChain.client_id == client.user_id)
                .with_for_update(of=TokenChain)
            )
            if chain is not None and chain.revoked_at is None:
                chain.revoked_at = moment
                changed = chain.user_id
        else:
            row = (
                await session.execute(
                    select(AccessToken, TokenChain.user_id)
                    .join(TokenChain, TokenChain.id == AccessToken.chain_id)
                    .where(AccessToken.token_hash == digest, TokenChain.client_id == client.user_id)
                    .options(raiseload("*"))
                    .with_for_update(of=AccessToken)
                )
            ).one_or_none()
            if row is not None and row[0].revoked_at is None:
                row[0].revoked_at = moment
                changed = row[1]
    if changed is not None:
        ctx.tokens.user_changed(changed)
