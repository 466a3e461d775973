"""The BFF's session store tables. The session id is stored only as a hash; tokens only encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from latchkey.db import TYPE_ANNOTATIONS, model_metadata


class Base(DeclarativeBase):
    metadata = model_metadata()
    type_annotation_map = TYPE_ANNOTATIONS


class SessionRow(Base):
    """One browser session. `version` is bumped by every token change; a refresh claims the row first."""

    __tablename__ = "bff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's session id
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # shown in /bff/sessions
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    user_json: Mapped[str] = mapped_column(String(2000))  # {id, email, name, role, is_developer}
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)  # absolute end
    key_id: Mapped[str] = mapped_column(String(16))  # which cookie key's subkey encrypts the tokens
    tokens_encrypted: Mapped[bytes] = mapped_column(LargeBinary)  # access and refresh token, AES-GCM
    access_issued_at: Mapped[datetime] = mapped_column()
    access_expires_at: Mapped[datetime] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=0)
    refresh_claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    # A sign-in through the OpenID Provider: its session and account (what a back-channel logout names),
    # and its ID token for `id_token_hint`, encrypted like the tokens (under `provider_key_id`).
    provider_sid: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    provider_sub: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    provider_key_id: Mapped[str | None] = mapped_column(String(16), default=None)
    id_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class RevocationRow(Base):
    """A refresh token whose chain must still be revoked at the core: written before the first attempt
    and deleted once the core confirms, so a failed attempt is retried (with backoff, by any instance,
    also after a restart). Encrypted like a session's tokens, bound to the row's random id."""

    __tablename__ = "bff_revocations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, bound into the encryption
    key_id: Mapped[str] = mapped_column(String(16))
    token_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)  # also a lease while one is under way


class SeenLogoutToken(Base):
    """A back-channel logout token's `jti` (hashed with its issuer) already acted on, kept until it could
    no longer be accepted: each is honoured once."""

    __tablename__ = "bff_seen_logout_tokens"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
