"""Request and response bodies of the caller's own account routes (`/v1/me…`), and how they are built."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import msgspec

from latchkey.core.security.auth import Principal
from latchkey.core.security.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from latchkey.core.security.scopes import SCOPES, role_scopes
from latchkey.core.validation import declared

if TYPE_CHECKING:
    from latchkey.core.accounts.service import ClientSecretInfo, ClientSecretView

# A new password within the policy (`check_password_policy` answers 422 `weak_password` or
# `password_too_long` otherwise), stated for the document.
NewPassword = Annotated[str, declared(minLength=MIN_PASSWORD_LENGTH, maxLength=MAX_PASSWORD_LENGTH)]


class MeOut(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    role: str
    is_developer: bool
    created_at: datetime
    # Every scope the user's role allows, in catalogue order: what a PAT of this user may be given.
    scopes: Annotated[list[str], declared(uniqueItems=True, items={"type": "string", "enum": list(SCOPES)})]
    # How the account signs in (SPEC §11): with a password, through the identity provider, or both.
    has_password: bool
    provider_linked: bool


class ChangePasswordRequest(msgspec.Struct, kw_only=True):
    current_password: str
    new_password: NewPassword


class ClientSecretOut(msgspec.Struct, kw_only=True):
    """The developer's current client secret, and when the rotated-out one (if any) stops working."""

    secret: str
    created_at: datetime
    previous_valid_until: datetime | None


class ClientSecretInfoOut(msgspec.Struct, kw_only=True):
    """When the developer's current client secret was made and last used (never the secret itself), and
    the rotated-out one's grace end and last use, if one is still in its grace. Last uses have a
    one-minute resolution."""

    created_at: datetime
    last_used_at: datetime | None
    previous_valid_until: datetime | None
    previous_last_used_at: datetime | None


def me_out(principal: Principal) -> MeOut:
    return MeOut(
        id=principal.user_id,
        email=principal.email,
        name=principal.name,
        role=principal.role,
        is_developer=principal.is_developer,
        created_at=principal.created_at,
        scopes=role_scopes(principal.role),
        has_password=principal.has_password,
        provider_linked=principal.provider_linked,
    )


def client_secret_out(view: ClientSecretView) -> ClientSecretOut:
    return ClientSecretOut(
        secret=view.secret, created_at=view.created_at, previous_valid_until=view.previous_valid_until
    )


def client_secret_info_out(info: ClientSecretInfo) -> ClientSecretInfoOut:
    return ClientSecretInfoOut(
        created_at=info.created_at,
        last_used_at=info.last_used_at,
        previous_valid_until=info.previous_valid_until,
        previous_last_used_at=info.previous_last_used_at,
    )
