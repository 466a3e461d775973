"""RFC 8693 token exchange of an OpenID Provider's ID token for core tokens (SPEC §4, §11).

The core trusts no one's word for who signed in: it checks the ID token itself against
LATCHKEY_OIDC_ISSUER's keys (`iss`, `aud` containing LATCHKEY_OIDC_CLIENT_ID, `exp`, `iat` within
`MAX_ID_TOKEN_AGE`), exchanges each ID token at most once, and maps `(iss, sub)` to an account: an existing
link; else the account whose email equals a verified `email` claim (`email_verified`, or Entra ID's
`xms_edov`), linked now; else a new `member`
account without a password when LATCHKEY_OIDC_CREATE_USERS. The new chain's `auth_time` is the ID token's
`auth_time` (else its `iat`), so the re-authentication window follows the provider's sign-in.

Every unacceptable subject token — bad, replayed, too old, for a disabled or unknown account — is 400
`invalid_request` (RFC 8693 §2.2.2), its reason in `error_description`; the provider's keys out of reach
is 503 `temporarily_unavailable`.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.core.models import ExchangedIdToken, Identity, TokenChain, User
from latchkey.core.oauth.service import IssuedTokens, issue_pair
from latchkey.core.security.auth import Client
from latchkey.core.state import CoreContext
from latchkey.oidc import InvalidToken, ProviderUnavailable
from latchkey.problems import ProblemError

log = logging.getLogger("latchkey.oauth.exchange")

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
MAX_ID_TOKEN_AGE = timedelta(minutes=10)
MAX_ID_TOKEN_BYTES = 16 * 1024


def unacceptable(reason: str) -> ProblemError:
    # Logged here, where the reason is known: the BFF only learns that the exchange was refused.
    log.info("refused a token exchange: %s", reason)
    return ProblemError(400, "invalid_request", f"the subject token is not acceptable: {reason}")


def email_verified(claims: dict[str, Any]) -> bool:
    """Whether the provider vouches for the `email` claim: OIDC's `email_verified`, or Microsoft Entra ID's
    optional `xms_edov` ("email domain owner verified"), which Entra sends instead for work accounts."""
    return claims.get("email_verified") is True or claims.get("xms_edov") is True


async def exchange_id_token(
    ctx: CoreContext, client: Client, subject_token: str, subject_token_type: str, *, now: datetime
) -> IssuedTokens:
    """Core tokens for the account an ID token names, in a new chain bound to `client`."""
    provider, audience = ctx.provider, ctx.settings.oidc_client_id
    if provider is None or audience is None:
        raise ProblemError(400, "unsupported_grant_type", "no identity provider is configured")
    if subject_token_type != ID_TOKEN_TYPE:
        raise ProblemError(400, "invalid_request", f"subject_token_type must be {ID_TOKEN_TYPE}")
    if len(subject_token) > MAX_ID_TOKEN_BYTES:
        raise unacceptable("too long")
    try:
        claims = await provider.verify(subject_token, audience=audience)
    except InvalidToken as exc:
        raise unacceptable(str(exc)) from None
    except ProviderUnavailable as exc:
        log.warning("cannot check an ID token: %s", exc)
        raise ProblemError(
            503,
            "temporarily_unavailable",
            "the identity provider's keys are out of reach",
            headers={"Retry-After": "5"},
        ) from None
    issued_at = datetime.fromtimestamp(claims["iat"], UTC)
    if now - issued_at > MAX_ID_TOKEN_AGE:
        raise unacceptable("issued more than 10 minutes ago")
    auth_time = claims.get("auth_time")
    signed_in = datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int | float) else issued_at
    signed_in = min(signed_in, now)
    digest = hashlib.sha256(subject_token.encode()).hexdigest()
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)

    async with ctx.db.write() as session:
        # Each ID token once: a second presentation finds its row (or loses the race on the key).
        await session.execute(delete(ExchangedIdToken).where(ExchangedIdToken.expires_at < now))
        if await session.get(ExchangedIdToken, digest) is not None:
            raise unacceptable("already exchanged")
        session.add(ExchangedIdToken(token_hash=digest, expires_at=max(expires_at, now)))
        try:
            await session.flush()
        except IntegrityError:
            raise unacceptable("already exchanged") from None
        user = await _account(session, ctx, provider.issuer, claims, now)
        if user.disabled:
            raise unacceptable("the account is disabled")
        chain = TokenChain(
            user_id=user.id,
            client_id=client.user_id,
            auth_time=signed_in,
            created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.refresh_token_ttl),
        )
        session.add(chain)
        await session.flush()
        return issue_pair(session, ctx, chain, user.role, now)


async def _account(
    session: AsyncSession, ctx: CoreContext, issuer: str, claims: dict[str, Any], now: datetime
) -> User:
    """The account `(iss, sub)` signs in as: linked, linked now by a verified email, or created."""
    subject = claims["sub"]
    if not subject or len(subject) > 255:
        raise unacceptable("sub is empty or too long")
    user = await session.scalar(
        select(User)
        .join(Identity, Identity.user_id == User.id)
        .where(Identity.issuer == issuer, Identity.subject == subject)
    )
    if user is not None:
        return user
    email = claims.get("email")
    verified = email_verified(claims)
    if isinstance(email, str) and email.isprintable() and 3 <= len(email) <= 320 and "@" in email:
        email = email.strip().lower()
    else:
        email = None
    if email is not None and verified:
        user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        if not ctx.settings.oidc_create_users:
            raise unacceptable("no account is linked to this provider account")
        if email is None or not verified:
            raise unacceptable("a new account needs a verified email")
        name = claims.get("name")
        user = User(
            email=email,
            name=name[:200] if isinstance(name, str) and name.isprintable() else "",
            password_hash=None,
            role="member",
            is_developer=False,
            disabled=False,
            created_at=now,
        )
        session.add(user)
        try:
            await session.flush()
        except IntegrityError:
            raise unacceptable("an account with that email was created meanwhile; sign in again") from None
    session.add(Identity(user_id=user.id, issuer=issuer, subject=subject, created_at=now))
    try:
        await session.flush()
    except IntegrityError:
        raise unacceptable("this provider account was linked meanwhile; sign in again") from None
    log.info("linked a provider account to user %s", user.id)
    return user
