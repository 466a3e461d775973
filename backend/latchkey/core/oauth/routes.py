"""`POST /v1/oauth/token` (RFC 6749) and `POST /v1/oauth/revoke` (RFC 7009), for Secret-authenticated
confidential clients such as the BFF. Errors come out as RFC 6749 JSON (see latchkey.problems)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Router, post
from litestar.datastructures import ResponseHeader
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body

from latchkey.core.oauth import limits, service
from latchkey.core.oauth.schemas import OAuthError, RevokeForm, TokenForm, TokenResponse
from latchkey.core.security.auth import Client, authenticate_client
from latchkey.core.state import core_context
from latchkey.guards import require_form
from latchkey.problems import ProblemError

_FORM = RequestEncodingType.URL_ENCODED
# Credentials in the body as well as the Authorization header would be two ways to authenticate.
_BODY_CREDENTIALS = ("client_id", "client_secret")


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    descriptions = {
        400: "invalid_request, invalid_grant or unsupported_grant_type",
        401: "invalid_client (with `WWW-Authenticate: Secret`)",
        415: "the body is not application/x-www-form-urlencoded",
        429: "rate_limited (with `Retry-After`)",
        503: "temporarily_unavailable (with `Retry-After`)",
    }
    return {
        status: ResponseSpec(OAuthError, description=descriptions[status], generate_examples=False)
        for status in statuses
    }


async def _authenticate(request: Request[Any, Any, Any]) -> Client:
    """Refuse repeated parameters and body credentials (RFC 6749 §3.2), then authenticate the client."""
    form = await request.form()
    names = [name for name, _ in form.multi_items()]
    if len(names) != len(set(names)):
        raise ProblemError(400, "invalid_request", "a parameter is repeated")
    if request.headers.get("authorization") and any(name in _BODY_CREDENTIALS for name in names):
        raise ProblemError(
            400, "invalid_request", "authenticate with the Authorization header only, not the body too"
        )
    return await authenticate_client(request)


def _required(value: str | None, name: str) -> str:
    # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    if not value:
        raise ProblemError(400, "invalid_request", f"the {name} parameter is required")
    return value


@post(
    "/token",
    guards=[require_form],
    status_code=200,
    summary="Issue tokens (password or refresh_token grant)",
    description=(
        "RFC 6749 token endpoint for confidential clients (`Authorization: Secret lks_…`). Refresh tokens "
        "rotate on every use; a rotated-out one presented again within 5 s gets a sibling pair, later it "
        "ends the whole chain (RFC 9700). Failed password grants are rate-limited per account, IP and "
        "pair; the client IP is the first `X-Forwarded-For` entry."
    ),
    security=[{"secret": []}],
    response_headers=[
        ResponseHeader(name="Cache-Control", value="no-store"),
        ResponseHeader(name="Pragma", value="no-cache"),
    ],
    responses=_errors(400, 401, 415, 429, 503),
)
async def token(
    request: Request[Any, Any, Any], data: Annotated[TokenForm, Body(media_type=_FORM)]
) -> TokenResponse:
    client = await _authenticate(request)
    ctx = core_context(request)
    if data.grant_type == "password":
        username = _required(data.username, "username")
        password = _required(data.password, "password")
        issued = await service.password_grant(ctx, client, username, password, limits.client_ip(request))
    elif data.grant_type == "refresh_token":
        refresh_token = _required(data.refresh_token, "refresh_token")
        issued = await service.refresh_grant(ctx, client, refresh_token)
    elif not data.grant_type:
        raise ProblemError(400, "invalid_request", "the grant_type parameter is required")
    else:
        raise ProblemError(400, "unsupported_grant_type", "grant_type must be password or refresh_token")
    return TokenResponse(
        access_token=issued.access_token,
        token_type="Bearer",
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        scope=issued.scope,
    )


@post(
    "/revoke",
    guards=[require_form],
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
    responses=_errors(400, 401, 415),
)
async def revoke(
    request: Request[Any, Any, Any], data: Annotated[RevokeForm, Body(media_type=_FORM)]
) -> None:
    client = await _authenticate(request)
    await service.revoke(core_context(request), client, _required(data.token, "token"))


router = Router(path="/v1/oauth", route_handlers=[token, revoke], tags=["oauth"])
