"""Request and response bodies of the BFF's own routes (`/bff/*`)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class LoginRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: str = msgspec.field()
    password: str


class ReauthenticateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    password: str


class UserOut(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    role: str
    is_developer: bool


class SessionInfo(msgspec.Struct, kw_only=True):
    id: str
    created_at: datetime
    expires_at: datetime
    idle_expires_at: datetime


class SessionOut(msgspec.Struct, kw_only=True):
    user: UserOut
    session: SessionInfo


class ActiveSession(msgspec.Struct, kw_only=True):
    id: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    ip: str
    current: bool


class SessionList(msgspec.Struct, kw_only=True):
    items: list[ActiveSession]
    next_cursor: str | None = None


class LogoutOut(msgspec.Struct, kw_only=True):
    """A provider session's logout: where the browser goes to end the provider's session too."""

    logout_url: str
