"""Rules of the admin API: listing users, creating them, and changing their role, developer flag or state.

The caller (`principal`) is an administrator; the guard checked that before any of these run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.core.accounts import service as accounts
from latchkey.core.admin.schemas import CreateUserRequest, UpdateUserRequest
from latchkey.core.models import ClientSecret, TokenChain, User
from latchkey.core.pagination import Page, decode_id_cursor, id_in_range, page_of
from latchkey.core.security.auth import Principal
from latchkey.core.security.passwords import HasherOverloaded
from latchkey.core.state import CoreContext
from latchkey.core.validation import USER_NAME_MAX, clean_name
from latchkey.problems import ProblemError

CURSOR_KIND = "users"


async def list_users(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[User]:
    """One page of users in id order."""
    query = select(User).order_by(User.id).limit(limit + 1)
    if cursor is not None:
        query = query.where(User.id > decode_id_cursor(CURSOR_KIND, cursor))
    return page_of((await session.scalars(query)).all(), limit, CURSOR_KIND, lambda user: user.id)


async def create_user(ctx: CoreContext, principal: Principal, data: CreateUserRequest) -> User:
    """Create a user; a developer's client secret is generated but not returned (only its owner sees it).

    The password is hashed before the write transaction opens: an Argon2id hash must not hold SQLite's
    write lock.
    """
    email = accounts.normalize_email(data.email)
    name = clean_name(data.name, max_length=USER_NAME_MAX, what="user", required=False)
    accounts.check_password_policy(data.password)
    try:
        password_hash = await ctx.hasher.hash(data.password)
    except HasherOverloaded:
        raise accounts.service_busy() from None
    try:
        async with ctx.db.write() as session:
            new = await accounts.create_user(
                session,
                ctx.box,
                email=email,
                password_hash=password_hash,
                name=name,
                role=data.role,
                is_developer=data.is_developer,
            )
    except IntegrityError:
        # Two admins creating the same email at once on PostgreSQL: the unique index decides.
        raise ProblemError(409, "email_taken", "a user with that email exists") from None
    return new.user


async def update_user(
    ctx: CoreContext, principal: Principal, user_id: int, changes: UpdateUserRequest, *, now: datetime
) -> User:
    """Apply `{disabled, role, is_developer}` to a user.

    An admin cannot disable or demote themselves: the system must never lose its last admin by accident
    (another admin has to do it). Disabling also revokes every token chain of the user, so their access
    and refresh tokens stay dead if they are enabled again (they log in afresh); their personal access
    tokens are refused while disabled and work again after re-enabling, since they are deliberate,
    long-lived credentials the user manages themselves.
    """
    async with ctx.db.write() as session:
        user = await _user_for_update(session, user_id)
        if user.id == principal.user_id and (changes.disabled is True or changes.role == "member"):
            raise ProblemError(409, "cannot_modify_self", "you cannot disable or demote yourself")
        if changes.role is not None:
            user.role = changes.role
        if changes.is_developer is not None:
            if not changes.is_developer:
                # Every secret ends now, current and in grace: turning the flag on again must not revive
                # them.
                await accounts.retire_all_client_secrets(session, user.id)
            elif not await _has_client_secret(session, user.id):
                await accounts.issue_client_secret(session, ctx.box, user.id)
            user.is_developer = changes.is_developer
        if changes.disabled is not None:
            if changes.disabled and not user.disabled:
                await session.execute(
                    update(TokenChain)
                    .where(TokenChain.user_id == user.id, TokenChain.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            user.disabled = changes.disabled
        await session.flush()
    # Committed: every process forgets what the user's tokens stood for (role, disabled, developer).
    ctx.tokens.user_changed(user.id)
    return user


async def _user_for_update(session: AsyncSession, user_id: int) -> User:
    user = None
    if id_in_range(user_id):
        user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise ProblemError(404, "not_found", "no such user")
    return user


async def _has_client_secret(session: AsyncSession, user_id: int) -> bool:
    current = await session.scalar(
        select(ClientSecret.id).where(ClientSecret.user_id == user_id, ClientSecret.valid_until.is_(None))
    )
    return current is not None
