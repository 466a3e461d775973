"""Request and response bodies of the admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from latchkey.core.security.passwords import MAX_PASSWORD_LENGTH

Role = Literal["member", "admin"]


class AdminUser(msgspec.Struct, kw_only=True):
    """A user as administrators see it (never a password hash or a client secret)."""

    id: int
    email: str
    name: str
    role: str
    is_developer: bool
    disabled: bool
    created_at: datetime


class AdminUserPage(msgspec.Struct, kw_only=True):
    items: list[AdminUser]
    next_cursor: str | None


class CreateUserRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Lengths match the columns, so an over-long value is a 400 here rather than a database error.
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    password: Annotated[str, msgspec.Meta(max_length=MAX_PASSWORD_LENGTH)]
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    role: Role = "member"
    is_developer: bool = False


class UpdateUserRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields left out (or null) stay unchanged; unknown fields are refused so a typo never passes."""

    disabled: bool | None = None
    role: Role | None = None
    is_developer: bool | None = None
