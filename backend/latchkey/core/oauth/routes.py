"""`POST /v1/oauth/token` (RFC 6749) and `POST /v1/oauth/revoke` (RFC 7009), for Secret-authenticated
confidential clients such as the BFF. Errors come out as RFC 6749 JSON (see latchkey.problems)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Router, post
from litestar.datastructures import ResponseHeader
from litestar.enums import RequestEncodingType
from litestar.params import Body

from latchkey.core.oauth import exchange, limits, service
from latchkey.core.oauth.forms import MAX_FORM_BYTES, authenticated_form, oauth_client
from latchkey.core.oauth.schemas import RevokeForm, TokenForm, TokenResponse, token_response
from latchkey.core.openapi import oauth_errors
from latchkey.core.security.auth import CLIENT_SECRET
from latchkey.core.state import Context
from latchkey.guards import require_form
from latchkey.problems import ProblemError

_FORM = RequestEncodingType.URL_ENCODED
# Content type (415), then the client's secret (401), then a bounded body (413, 400): see oauth.forms.
_GUARDS = [require_form, authenticated_form]
_TOO_LARGE = f"payload_too_large: the form body is over {MAX_FORM_BYTES} bytes"


def _required(value: str | None, name: str) -> str:
    # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    if not value:
        raise ProblemError(400, "invalid_request", f"the {name} parameter is required")
    return value


@post(
    "/token",
    guards=_GUARDS,
    request_max_body_size=MAX_FORM_BYTES,
    status_code=200,
    summary="Issue tokens (password, refresh_token or token-exchange grant)",
    description=(
        "RFC 6749 token endpoint for confidential clients (`Authorization: Secret lks_…`). Refresh tokens "
        "rotate on every use; a rotated-out one presented again within 5 s gets a sibling pair, later it "
        "ends the whole chain (RFC 9700). Failed password grants are rate-limited per account, IP and "
        "pair; the client IP is the first `X-Forwarded-For` entry when the client is the BFF's service "
        "account (`forwards_client_ip`), else the caller's own address. The client is authenticated "
        "before the body is read; bodies over 16 KiB or with more than 32 parameters are refused. "
        "With an identity provider configured (LATCHKEY_OIDC_ISSUER), the RFC 8693 token exchange trades "
        "the provider's ID token (`subject_token_type=urn:ietf:params:oauth:token-type:id_token`), checked "
        "by the core itself and exchanged at most once, for tokens of the account it names."
    ),
    security=[{"secret": []}],
    response_headers=[
        ResponseHeader(name="Cache-Control", value="no-store"),
        ResponseHeader(name="Pragma", value="no-cache"),
    ],
    responses=oauth_errors(400, 401, 413, 415, 429, 503, s413=_TOO_LARGE),
)
async def token(
    request: Request[Any, Any, Any], ctx: Context, data: Annotated[TokenForm, Body(media_type=_FORM)]
) -> TokenResponse:
    client = oauth_client(request)
    now = ctx.clock.now()
    if data.grant_type == "password":
        username = _required(data.username, "username")
        password = _required(data.password, "password")
        ip = limits.client_ip(request, client)
        issued = await service.password_grant(ctx, client, username, password, ip=ip, now=now)
    elif data.grant_type == "refresh_token":
        refresh_token = _required(data.refresh_token, "refresh_token")
        issued = await service.refresh_grant(ctx, client, refresh_token, now=now)
    elif data.grant_type == exchange.GRANT_TYPE and ctx.provider is not None:
        subject_token = _required(data.subject_token, "subject_token")
        subject_token_type = _required(data.subject_token_type, "subject_token_type")
        issued = await exchange.exchange_id_token(ctx, client, subject_token, subject_token_type, now=now)
        return token_response(issued, exchange.ACCESS_TOKEN_TYPE)
    elif not data.grant_type:
        raise ProblemError(400, "invalid_request", "the grant_type parameter is required")
    else:
        raise ProblemError(
            400, "unsupported_grant_type", "grant_type must be password, refresh_token or token exchange"
        )
    return token_response(issued)


@post(
    "/revoke",
    guards=_GUARDS,
    request_max_body_size=MAX_FORM_BYTES,
    status_code=200,
    media_type=MediaType.TEXT,  # RFC 7009 §2.2: 200 with an empty body
    summary="Revoke a refresh or access token",
    description=(
        "RFC 7009. Revoking a refresh token ends its whole chain, access tokens included; an access token "
        "is revoked alone. Only tokens issued to the calling client are affected; any other token still "
        "answers 200 so nothing can be probed."
    ),
    security=[{"secret": []}],
    response_headers=[ResponseHeader(name="Cache-Control", value="no-store")],
    responses=oauth_errors(400, 401, 413, 415, s413=_TOO_LARGE),
)
async def revoke(
    request: Request[Any, Any, Any], ctx: Context, data: Annotated[RevokeForm, Body(media_type=_FORM)]
) -> None:
    client = oauth_client(request)
    await service.revoke(ctx, client, _required(data.token, "token"), now=ctx.clock.now())


router = Router(path="/v1/oauth", route_handlers=[token, revoke], opt=CLIENT_SECRET, tags=["oauth"])
