"""Rules for personal access tokens (PATs): validation, issue, list, refresh, revoke.

A PAT is stored only as its SHA-256 hash plus a short display prefix; the plaintext exists once, in the
response that creates it. Scopes are stored as asked, even beyond the user's role: `scopes.granted` narrows
them to what the role allows on every request, so a member's token with `admin` cannot reach admin routes
(and starts to, without a new token, only if the user is made an admin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.core.models import PersonalAccessToken, User
from latchkey.core.pagination import Page, decode_id_cursor, id_in_range, page_of
from latchkey.core.security import credentials
from latchkey.core.security.auth import Principal
from latchkey.core.security.credentials import Kind
from latchkey.core.security.scopes import check_requested
from latchkey.core.tokens.schemas import MAX_EXPIRES_IN_DAYS, MIN_EXPIRES_IN_DAYS, CreateTokenRequest
from latchkey.core.validation import TOKEN_NAME_MAX, clean_name
from latchkey.problems import ProblemError

# Enough for any real user; a bound so nobody can fill the database with tokens.
MAX_ACTIVE_TOKENS = 100
# Expired tokens stay listed (so the user sees what stopped working) for this long, then are deleted.
EXPIRED_RETENTION = timedelta(days=30)
CURSOR_KIND = "pat"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A stored PAT and its plaintext, which the caller shows once and forgets."""

    row: PersonalAccessToken
    token: str


def check_lifetime(expires_in_days: int) -> timedelta:
    """1 to 366 days (422 `invalid_expiry`)."""
    if not MIN_EXPIRES_IN_DAYS <= expires_in_days <= MAX_EXPIRES_IN_DAYS:
        raise ProblemError(
            422,
            "invalid_expiry",
            f"expires_in_days must be between {MIN_EXPIRES_IN_DAYS} and {MAX_EXPIRES_IN_DAYS}",
        )
    return timedelta(days=expires_in_days)


async def list_tokens(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[PersonalAccessToken]:
    """One page of the caller's tokens that are not revoked, active or expired, newest first."""
    query = (
        select(PersonalAccessToken)
        .where(PersonalAccessToken.user_id == principal.user_id, PersonalAccessToken.revoked_at.is_(None))
        .order_by(PersonalAccessToken.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(PersonalAccessToken.id < decode_id_cursor(CURSOR_KIND, cursor))
    rows = (await session.scalars(query)).all()
    return page_of(rows, limit, CURSOR_KIND, lambda row: row.id)


async def _lock_user(session: AsyncSession, user_id: int) -> None:
    # Serialises token changes per user on PostgreSQL, so two parallel creates cannot both pass the cap
    # (SQLite's BEGIN IMMEDIATE already serialises every writer).
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def _purge(session: AsyncSession, user_id: int, moment: datetime) -> None:
    # Revoked tokens are useless (a deleted row and a revoked row both answer 401), and long-expired ones
    # are noise: deleting them here keeps each user's rows bounded however often they create and revoke.
    await session.execute(
        delete(PersonalAccessToken).where(
            PersonalAccessToken.user_id == user_id,
            or_(
                PersonalAccessToken.revoked_at.is_not(None),
                PersonalAccessToken.expires_at < moment - EXPIRED_RETENTION,
            ),
        )
    )


async def _insert(
    session: AsyncSession,
    user_id: int,
    *,
    name: str,
    scopes: Sequence[str],
    lifetime: timedelta,
    moment: datetime,
) -> IssuedToken:
    token = credentials.generate(Kind.PERSONAL)
    row = PersonalAccessToken(
        user_id=user_id,
        name=name,
        scopes=" ".join(scopes),
        token_hash=credentials.token_hash(token),
        prefix=credentials.display_prefix(token),
        created_at=moment,
        expires_at=moment + lifetime,
    )
    session.add(row)
    await session.flush()
    return IssuedToken(row=row, token=token)


async def create_token(
    session: AsyncSession, principal: Principal, data: CreateTokenRequest, *, now: datetime
) -> IssuedToken:
    """Issue a new PAT. Rule violations are 422 (`invalid_name`, `invalid_scopes`, `invalid_expiry`);
    409 `too_many_tokens` at the cap of active tokens."""
    name = clean_name(data.name, max_length=TOKEN_NAME_MAX, what="token")
    scopes = check_requested(data.scopes)
    lifetime = check_lifetime(data.expires_in_days)
    user_id, moment = principal.user_id, now
    await _lock_user(session, user_id)
    await _purge(session, user_id, moment)
    active = await session.scalar(
        select(func.count())
        .select_from(PersonalAccessToken)
        .where(
            PersonalAccessToken.user_id == user_id,
            PersonalAccessToken.revoked_at.is_(None),
            PersonalAccessToken.expires_at > moment,
        )
    )
    if (active or 0) >= MAX_ACTIVE_TOKENS:
        raise ProblemError(
            409, "too_many_tokens", f"at most {MAX_ACTIVE_TOKENS} active tokens; revoke one first"
        )
    return await _insert(session, user_id, name=name, scopes=scopes, lifetime=lifetime, moment=moment)


async def _owned_unrevoked(session: AsyncSession, user_id: int, token_id: int) -> PersonalAccessToken:
    if not id_in_range(token_id):
        raise ProblemError(404, "not_found", "no such token")
    row = await session.scalar(
        select(PersonalAccessToken)
        .where(
            and_(
                PersonalAccessToken.id == token_id,
                PersonalAccessToken.user_id == user_id,
                PersonalAccessToken.revoked_at.is_(None),
            )
        )
        .with_for_update()
    )
    if row is None:
        # Another user's token answers exactly like a missing one: ids reveal nothing.
        raise ProblemError(404, "not_found", "no such token")
    return row


async def refresh_token(
    session: AsyncSession, principal: Principal, token_id: int, *, now: datetime
) -> IssuedToken:
    """Revoke a token and issue its replacement: same name, scopes and lifetime length.

    An expired (not revoked) token may be refreshed too: that is how a user renews one.
    """
    user_id, moment = principal.user_id, now
    await _lock_user(session, user_id)
    old = await _owned_unrevoked(session, user_id, token_id)
    old.revoked_at = moment
    # The original lifetime, kept within the limits a new token could ask for (rows edited by hand).
    lifetime = min(
        max(old.expires_at - old.created_at, timedelta(days=MIN_EXPIRES_IN_DAYS)),
        timedelta(days=MAX_EXPIRES_IN_DAYS),
    )
    return await _insert(
        session, user_id, name=old.name, scopes=old.scopes.split(), lifetime=lifetime, moment=moment
    )


async def revoke_token(session: AsyncSession, principal: Principal, token_id: int, *, now: datetime) -> None:
    """Revoke one of the caller's tokens; it fails on its next request. 404 if unknown or not theirs."""
    row = await _owned_unrevoked(session, principal.user_id, token_id)
    row.revoked_at = now
