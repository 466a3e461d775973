"""Request and response bodies of the admin API, and how a user is shown to administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from latchkey.core.models import User
from latchkey.core.security.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from latchkey.core.validation import USER_NAME_MAX, declared, email_pattern, name_pattern

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
    # Lengths match the columns, so an over-long value is a 400 here rather than a database error; the
    # service's rules (422 `invalid_email`, `weak_password`, `invalid_name`) are stated as patterns.
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320), declared(pattern=email_pattern())]
    password: Annotated[
        str, msgspec.Meta(max_length=MAX_PASSWORD_LENGTH), declared(minLength=MIN_PASSWORD_LENGTH)
    ]
    name: Annotated[
        str,
        msgspec.Meta(max_length=USER_NAME_MAX),
        declared(pattern=name_pattern(USER_NAME_MAX, required=False)),
    ] = ""
    role: Role = "member"
    is_developer: bool = False


class UpdateUserRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields left out (or null) stay unchanged; unknown fields are refused so a typo never passes."""

    disabled: bool | None = None
    role: Role | None = None
    is_developer: bool | None = None


def admin_user(user: User) -> AdminUser:
    return AdminUser(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        is_developer=user.is_developer,
        disabled=user.disabled,
        created_at=user.created_at,
    )
