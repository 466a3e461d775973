"""What the session parts pass between them: a session's record, its tokens, the proxy's grant, a
pending revocation, and why a session ended (with the code a browser sees afterwards)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def hash_session_id(sid: bytes) -> str:
    """The name a session has everywhere but in its cookie: SHA-256 of its id."""
    return hashlib.sha256(sid).hexdigest()


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ProviderSession:
    """Where a session signed in through the OpenID Provider came from (SPEC §11): the provider's session
    (`sid`) and account (`sub`), which a back-channel logout names, and the ID token kept (encrypted) for
    `id_token_hint` at logout."""

    sid: str | None
    sub: str
    id_token: str | None


@dataclass(frozen=True, slots=True)
class NewSession:
    """What a store needs to create a session: its id's hash, the user's profile snapshot, its first
    tokens, when it starts and ends, and the browser it belongs to."""

    id_hash: str
    user: dict[str, Any]
    tokens: Tokens
    created_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str
    provider: ProviderSession | None = None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session as the BFF uses it. `tokens` is None when no key of the ring can open them."""

    id_hash: str
    public_id: str
    user_id: int
    user: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    tokens: Tokens | None
    version: int
    user_agent: str
    ip: str
    ended_at: datetime | None
    end_reason: str | None
    provider: ProviderSession | None = None  # None: a password sign-in


@dataclass(frozen=True, slots=True)
class PendingRevocation:
    """A refresh token still to be revoked at the core; `refresh_token` is None when no key opens it."""

    id: str
    refresh_token: str | None
    attempts: int
    created_at: datetime


@dataclass(slots=True)
class Grant:
    """What the proxy needs from a valid session."""

    access_token: str
    session_key: str
    user_id: int


# Why a session ended → the code a fetch() sees afterwards; every other reason is `session_revoked`.
END_CODES = {
    "idle": "session_idle_expired",
    "expired": "session_expired",
    # The user changed the password in another session: the login page says so.
    "password_changed": "session_password_changed",
}


def end_code(reason: str | None) -> str:
    return END_CODES.get(reason or "", "session_revoked")
