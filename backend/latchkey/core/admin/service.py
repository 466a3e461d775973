"""Rules of the admin API: listing users, creating them, and changing their role, developer flag or state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.core.accounts.service import (
    create_user,
    issue_client_secret,
    normalize_email,
    retire_all_client_secrets,
)
from latchkey.core.admin.schemas import AdminUser, AdminUserPage, UpdateUserRequest
from latchkey.core.models import ClientSecret, TokenChain, User
from latchkey.core.pagination import decode_id_cursor, encode_cursor, id_in_range
from latchkey.core.security.secret_box import SecretBox
from latchkey.problems import ProblemError


def admin_view(user: User) -> AdminUser:
    return AdminUser(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        is_developer=user.is_developer,
        disabled=user.disabled,
        created_at=user.created_at,
    )


async def list_users(session: AsyncSession, *, limit: int, cursor: str | None) -> AdminUserPage:
    """One page of users in id order."""
    query = select(User).order_by(User.id).limit(limit + 1)
    if cursor is not None:
        query = query.where(User.id > decode_id_cursor("users", cursor))
    users = list((await session.scalars(query)).all())
    more = len(users) > limit
    users = users[:limit]
    return AdminUserPage(
        items=[admin_view(user) for user in users],
        next_cursor=encode_cursor("users", users[-1].id) if more else None,
    )


def check_new_user_fields(email: str, name: str) -> str:
    """The normalised email, after refusing control characters (PostgreSQL cannot store NUL in text)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in email):
        raise ProblemError(422, "invalid_email", "that is not an email address")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ProblemError(422, "invalid_name", "names cannot contain control characters")
    return normalize_email(email)


async def add_user(
    session: AsyncSession,
    box: SecretBox,
    *,
    email: str,
    password_hash: str,
    name: str,
    role: str,
    is_developer: bool,
) -> AdminUser:
    """Create a user; a developer's client secret is generated but not returned (see the route)."""
    try:
        new = await create_user(
            session,
            box,
            email=email,
            password_hash=password_hash,
            name=name,
            role=role,
            is_developer=is_developer,
        )
    except IntegrityError:
        # Two admins creating the same email at once on PostgreSQL: the unique index decides.
        raise ProblemError(409, "email_taken", "a user with that email exists") from None
    return admin_view(new.user)


async def update_user(
    session: AsyncSession,
    box: SecretBox,
    *,
    actor_id: int,
    user_id: int,
    changes: UpdateUserRequest,
    now: datetime,
) -> AdminUser:
    """Apply `{disabled, role, is_developer}` to a user.

    An admin cannot disable or demote themselves: the system must never lose its last admin by accident
    (another admin has to do it). Disabling also revokes every token chain of the user, so their access
    and refresh tokens stay dead if they are enabled again (they log in afresh); their personal access
    tokens are refused while disabled and work again after re-enabling, since they are deliberate,
    long-lived credentials the user manages themselves.
    """
    user = None
    if id_in_range(user_id):
        user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise ProblemError(404, "not_found", "no such user")
    if user.id == actor_id and (changes.disabled is True or changes.role == "member"):
        raise ProblemError(409, "cannot_modify_self", "you cannot disable or demote yourself")
    if changes.role is not None:
        user.role = changes.role
    if changes.is_developer is not None:
        if not changes.is_developer:
            # Every secret ends now, current and in grace: turning the flag on again must not revive them.
            await retire_all_client_secrets(session, user.id)
        elif not await _has_client_secret(session, user.id):
            await issue_client_secret(session, box, user.id)
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
    return admin_view(user)


async def _has_client_secret(session: AsyncSession, user_id: int) -> bool:
    current = await session.scalar(
        select(ClientSecret.id).where(ClientSecret.user_id == user_id, ClientSecret.valid_until.is_(None))
    )
    return current is not None
