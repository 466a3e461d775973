"""Request and response bodies of the personal-access-token routes, and how a stored token is shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from latchkey.core.models import PersonalAccessToken
from latchkey.core.security.scopes import SCOPES
from latchkey.core.validation import TokenName, declared

MIN_EXPIRES_IN_DAYS = 1
MAX_EXPIRES_IN_DAYS = 366


class CreateTokenRequest(msgspec.Struct, kw_only=True):
    """`POST /v1/me/tokens`. Types are checked by msgspec (400); the rules by the service (422), and
    stated here so that the document says what the service accepts."""

    name: TokenName
    scopes: Annotated[
        list[str], declared(minItems=1, uniqueItems=True, items={"type": "string", "enum": list(SCOPES)})
    ]
    expires_in_days: Annotated[int, declared(minimum=MIN_EXPIRES_IN_DAYS, maximum=MAX_EXPIRES_IN_DAYS)]


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


def token_out(row: PersonalAccessToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        name=row.name,
        scopes=row.scopes.split(),
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


def new_token_out(row: PersonalAccessToken, token: str) -> NewTokenOut:
    return NewTokenOut(**msgspec.structs.asdict(token_out(row)), token=token)
