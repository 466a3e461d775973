"""Request forms and JSON answers of the OAuth endpoints (RFC 6749 §4.3, §5, §6; RFC 7009).

Their errors (`OAuthError`) are documented with every other error answer, in `latchkey.core.openapi`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec

if TYPE_CHECKING:
    from latchkey.core.oauth.service import IssuedTokens


class TokenForm(msgspec.Struct, kw_only=True):
    """The form of `POST /v1/oauth/token`; which fields are needed depends on `grant_type`."""

    grant_type: Annotated[
        str,
        msgspec.Meta(
            description="`password`, `refresh_token`, or `urn:ietf:params:oauth:grant-type:token-exchange`"
        ),
    ]
    username: Annotated[str | None, msgspec.Meta(description="the user's email (password grant)")] = None
    password: Annotated[str | None, msgspec.Meta(description="the user's password (password grant)")] = None
    refresh_token: Annotated[
        str | None, msgspec.Meta(description="an `lkr_…` refresh token (refresh_token grant)")
    ] = None
    scope: Annotated[
        str | None,
        msgspec.Meta(description="ignored: tokens get every scope the user's role allows (see `scope`)"),
    ] = None
    subject_token: Annotated[
        str | None, msgspec.Meta(description="the provider's ID token (token exchange, RFC 8693)")
    ] = None
    subject_token_type: Annotated[
        str | None,
        msgspec.Meta(description="`urn:ietf:params:oauth:token-type:id_token` (token exchange)"),
    ] = None


class RevokeForm(msgspec.Struct, kw_only=True):
    """The form of `POST /v1/oauth/revoke` (RFC 7009 §2.1)."""

    token: Annotated[str, msgspec.Meta(description="an `lkr_…` refresh token or `lka_…` access token")]
    token_type_hint: Annotated[
        str | None,
        msgspec.Meta(description="`refresh_token` or `access_token`; optional, the token's prefix decides"),
    ] = None


class TokenResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A successful token answer (RFC 6749 §5.1; a token exchange adds `issued_token_type`, RFC 8693)."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    scope: str
    issued_token_type: str | None = None


def token_response(issued: IssuedTokens, issued_token_type: str | None = None) -> TokenResponse:
    return TokenResponse(
        access_token=issued.access_token,
        token_type="Bearer",
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        scope=issued.scope,
        issued_token_type=issued_token_type,
    )
