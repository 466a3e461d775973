"""Request and response bodies of the personal-access-token routes."""

from __future__ import annotations

from datetime import datetime

import msgspec


class CreateTokenRequest(msgspec.Struct, kw_only=True):
    """`POST /v1/me/tokens`. Types are checked by msgspec (400); the rules by the service (422)."""

    name: str
    scopes: list[str]
    expires_in_days: int


class TokenOut(msgspec.Struct, kw_only=True):
    """A personal access token as listed: never the token itself, only its display prefix."""

    id: int
    name: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


class NewTokenOut(TokenOut, kw_only=True):
    """A token just created or refreshed: the listed fields plus the plaintext, shown this once."""

    token: str


class TokenPage(msgspec.Struct, kw_only=True):
    items: list[TokenOut]
    next_cursor: str | None
