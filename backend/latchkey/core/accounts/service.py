"""Rules for user accounts and client secrets, shared by the routes, the admin API and the CLI.

Operations that need more than one transaction (a password check runs Argon2 outside any) or more than
the database (the secret box) take the `CoreContext` and open their own transactions; the rest take the
session of the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.core.accounts.schemas import ChangePasswordRequest
from latchkey.core.models import ClientSecret, TokenChain, User
from latchkey.core.oauth import limits
from latchkey.core.security import credentials
from latchkey.core.security.auth import Principal
from latchkey.core.security.credentials import Kind
from latchkey.core.security.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    HasherOverloaded,
)
from latchkey.core.security.secret_box import SecretBox
from latchkey.core.state import CoreContext
from latchkey.core.validation import has_control
from latchkey.problems import ProblemError

ROLES = ("member", "admin")
# Deliberately loose: one @, something on each side, no spaces; deliverability is not our business.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}$")


def normalize_email(email: str) -> str:
    """The stored form of an email: trimmed and lower-cased; 422 `invalid_email` if it is none (a control
    character anywhere, even in the surrounding whitespace, included)."""
    if has_control(email):
        raise ProblemError(422, "invalid_email", "that is not an email address")
    value = email.strip().lower()
    if not _EMAIL.match(value):
        raise ProblemError(422, "invalid_email", "that is not an email address")
    return value


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ProblemError(422, "weak_password", f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ProblemError(
            422, "password_too_long", f"passwords have at most {MAX_PASSWORD_LENGTH} characters"
        )


def _secret_aad(user_id: int) -> bytes:
    return f"client-secret:{user_id}".encode("ascii")


@dataclass(frozen=True, slots=True)
class NewUser:
    user: User
    client_secret: str | None


async def create_user(
    session: AsyncSession,
    box: SecretBox,
    *,
    email: str,
    password_hash: str,
    name: str = "",
    role: str = "member",
    is_developer: bool = False,
    forwards_client_ip: bool = False,
) -> NewUser:
    """Insert a user (password already hashed); a developer gets a client secret at once."""
    if role not in ROLES:
        raise ProblemError(422, "invalid_role", "role must be member or admin")
    email = normalize_email(email)
    existing = await session.scalar(select(User.id).where(User.email == email))
    if existing is not None:
        raise ProblemError(409, "email_taken", "a user with that email exists")
    user = User(
        email=email,
        name=name.strip(),
        password_hash=password_hash,
        role=role,
        is_developer=is_developer,
        forwards_client_ip=forwards_client_ip,
    )
    session.add(user)
    await session.flush()
    secret = await issue_client_secret(session, box, user.id) if is_developer else None
    return NewUser(user=user, client_secret=secret)


async def issue_client_secret(session: AsyncSession, box: SecretBox, user_id: int) -> str:
    """Make a new current client secret for `user_id` and return it (the caller decides what to show)."""
    secret = credentials.generate(Kind.CLIENT_SECRET)
    session.add(
        ClientSecret(
            user_id=user_id,
            secret_encrypted=box.encrypt(secret, associated=_secret_aad(user_id)),
            lookup_hash=box.lookup_hash(secret),
        )
    )
    await session.flush()
    return secret


@dataclass(frozen=True, slots=True)
class ClientSecretView:
    secret: str
    created_at: datetime
    previous_valid_until: datetime | None


async def current_client_secret(ctx: CoreContext, principal: Principal, *, now: datetime) -> ClientSecretView:
    """The caller's current secret, decrypted, with when the previous one (if any) stops working; 404
    `no_client_secret` for a developer who has none yet."""
    async with ctx.db.read() as session:
        return await _current_client_secret(session, ctx.box, principal.user_id, now=now)


async def _current_client_secret(
    session: AsyncSession, box: SecretBox, user_id: int, *, now: datetime
) -> ClientSecretView:
    current = await session.scalar(
        select(ClientSecret)
        .where(ClientSecret.user_id == user_id, ClientSecret.valid_until.is_(None))
        .order_by(ClientSecret.id.desc())
        .limit(1)
    )
    if current is None:
        raise ProblemError(404, "no_client_secret", "this account has no client secret")
    previous_until = await session.scalar(
        select(ClientSecret.valid_until)
        .where(ClientSecret.user_id == user_id, ClientSecret.valid_until > now)
        .order_by(ClientSecret.valid_until.desc())
        .limit(1)
    )
    return ClientSecretView(
        secret=box.decrypt(current.secret_encrypted, associated=_secret_aad(user_id)),
        created_at=current.created_at,
        previous_valid_until=previous_until,
    )


@dataclass(frozen=True, slots=True)
class ClientSecretInfo:
    created_at: datetime
    last_used_at: datetime | None
    previous_valid_until: datetime | None
    previous_last_used_at: datetime | None


async def client_secret_info(ctx: CoreContext, principal: Principal, *, now: datetime) -> ClientSecretInfo:
    """When the caller's current secret was made and last used, and the rotated-out one's grace and last
    use, without decrypting anything (the secret itself is never part of this answer); 404
    `no_client_secret` for a developer who has none yet."""
    async with ctx.db.read() as session:
        rows = (
            await session.execute(
                select(ClientSecret.created_at, ClientSecret.last_used_at, ClientSecret.valid_until)
                .where(
                    ClientSecret.user_id == principal.user_id,
                    or_(ClientSecret.valid_until.is_(None), ClientSecret.valid_until > now),
                )
                .order_by(ClientSecret.id.desc())
            )
        ).all()
    current = next((row for row in rows if row.valid_until is None), None)
    if current is None:
        raise ProblemError(404, "no_client_secret", "this account has no client secret")
    previous = max(
        (row for row in rows if row.valid_until is not None), key=lambda row: row.valid_until, default=None
    )
    return ClientSecretInfo(
        created_at=current.created_at,
        last_used_at=current.last_used_at,
        previous_valid_until=previous.valid_until if previous else None,
        previous_last_used_at=previous.last_used_at if previous else None,
    )


async def rotate_client_secret(ctx: CoreContext, principal: Principal, *, now: datetime) -> ClientSecretView:
    """Retire the caller's current secret (it works for LATCHKEY_SECRET_ROTATION_GRACE) and issue a new one.

    Only the one most recent previous secret keeps a grace: every older one (still in its own grace
    from an earlier rotation) ends at once, so rotating twice cuts off a leaked secret for good.
    """
    user_id = principal.user_id
    async with ctx.db.write() as session:
        # Parallel rotations queue on the user row (PostgreSQL; SQLite's BEGIN IMMEDIATE already
        # serialises), so exactly one secret is ever current.
        await session.execute(select(User.id).where(User.id == user_id).with_for_update())
        until = now + timedelta(seconds=ctx.settings.secret_rotation_grace)
        await end_previous_client_secrets(session, principal)
        await session.execute(
            update(ClientSecret)
            .where(ClientSecret.user_id == user_id, ClientSecret.valid_until.is_(None))
            .values(valid_until=until)
        )
        await issue_client_secret(session, ctx.box, user_id)
        return await _current_client_secret(session, ctx.box, user_id, now=now)


async def end_previous_client_secrets(session: AsyncSession, principal: Principal) -> None:
    """End the grace of every rotated-out secret of the caller at once (the current one stays).

    They are deleted, not marked: a secret that is gone can never be revived.
    """
    await session.execute(
        delete(ClientSecret).where(
            ClientSecret.user_id == principal.user_id, ClientSecret.valid_until.is_not(None)
        )
    )


async def retire_all_client_secrets(session: AsyncSession, user_id: int) -> None:
    """Delete every client secret of `user_id`, current and rotated-out (the account stops being a
    developer); a later developer flag issues a fresh one, never one of these."""
    await session.execute(delete(ClientSecret).where(ClientSecret.user_id == user_id))


def service_busy() -> ProblemError:
    return ProblemError(
        503, "service_unavailable", "too many password checks; retry shortly", headers={"Retry-After": "1"}
    )


def password_change_bucket(user_id: int) -> str:
    """The pseudo client address under which wrong current passwords are counted.

    They go through the token endpoint's brute-force limits (5 per 15 minutes here, and the account's
    100 per hour shared with logins), but under a per-user pseudo address rather than a real one: the
    core sees the BFF's address on Bearer requests, which every browser shares.
    """
    return f"password-change:{user_id}"


async def change_password(
    ctx: CoreContext, principal: Principal, data: ChangePasswordRequest, *, now: datetime
) -> None:
    """Check the current password, store the new one's hash, and revoke every other token chain.

    The caller's own chain stays; personal access tokens stay (they are managed on their own page). No
    transaction is open while Argon2 runs.
    """
    db, hasher, user_id, keep_chain_id = ctx.db, ctx.hasher, principal.user_id, principal.chain_id
    current_password, new_password = data.current_password, data.new_password
    check_password_policy(new_password)
    account, bucket = limits.account_key(principal.email), password_change_bucket(user_id)
    async with db.write() as session:
        # Recorded as a failure before the check (and forgotten if right), so parallel guesses cannot
        # all slip past the limit while Argon2 runs.
        try:
            attempt_id = await limits.admit_attempt(session, account, bucket, now)
        except limits.RateLimited as exc:
            raise ProblemError(
                429,
                "rate_limited",
                "too many wrong passwords; try again later",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        found = (await session.execute(select(User.id, User.password_hash).where(User.id == user_id))).first()
        if found is not None and found.password_hash is None:
            # Nothing to compare with: forget the attempt, it was not a guess.
            await limits.forget_attempt(session, attempt_id)
    if found is None:
        raise ProblemError(404, "not_found", "no such user")
    old_hash = found.password_hash
    if old_hash is None:
        raise ProblemError(
            409, "no_password", "this account signs in through its identity provider and has no password"
        )
    try:
        if not await hasher.verify(current_password, old_hash):
            raise ProblemError(403, "invalid_password", "the current password is wrong")
        if new_password == current_password:
            # The current password was right (so this is no guess): forget the attempt, then refuse a
            # "change" that would end the other sessions while leaving the same password in place.
            async with db.write() as session:
                await limits.forget_attempt(session, attempt_id)
            raise ProblemError(422, "password_unchanged", "the new password is the same as the current one")
        new_hash = await hasher.hash(new_password)
    except HasherOverloaded:
        async with db.write() as session:
            await limits.forget_attempt(session, attempt_id)
        raise service_busy() from None
    async with db.write() as session:
        # Compare-and-set on the hash we verified against: of two parallel changes, the second is refused.
        changed = await session.execute(
            update(User)
            .where(User.id == user_id, User.password_hash == old_hash)
            .values(password_hash=new_hash)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise ProblemError(409, "conflict", "the password was changed meanwhile; sign in again")
        revoke = (
            update(TokenChain)
            .where(TokenChain.user_id == user_id, TokenChain.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if keep_chain_id is not None:
            revoke = revoke.where(TokenChain.id != keep_chain_id)
        await session.execute(revoke)
        await limits.clear_failures(session, account, bucket)
    ctx.tokens.user_changed(user_id)
