"""Personal access tokens of the caller: `/v1/me/tokens`.

Only a session (an access token from /v1/oauth/token) may manage PATs, so a leaked PAT cannot mint more;
creating and refreshing are sensitive (a recent password login). Responses that carry a token are
`Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import Parameter

from latchkey.core.accounts.schemas import problem_responses
from latchkey.core.models import PersonalAccessToken
from latchkey.core.pagination import decode_id_cursor, encode_cursor
from latchkey.core.security.auth import Caller, bearer
from latchkey.core.state import core_context
from latchkey.core.tokens import service
from latchkey.core.tokens.schemas import CreateTokenRequest, NewTokenOut, TokenOut, TokenPage
from latchkey.guards import require_json

NO_STORE = CacheControlHeader(no_store=True)


def _token_out(row: PersonalAccessToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        name=row.name,
        scopes=row.scopes.split(),
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


def _new_token_out(issued: service.IssuedToken) -> NewTokenOut:
    listed = _token_out(issued.row)
    return NewTokenOut(
        id=listed.id,
        name=listed.name,
        scopes=listed.scopes,
        prefix=listed.prefix,
        created_at=listed.created_at,
        expires_at=listed.expires_at,
        last_used_at=listed.last_used_at,
        token=issued.token,
    )


@get(
    "/me/tokens",
    opt=bearer(session=True),
    cache_control=NO_STORE,
    responses=problem_responses(400, 401, 403),
)
async def list_tokens(
    request: Request[Any, Any, Any],
    principal: Caller,
    limit: Annotated[
        int, Parameter(ge=1, le=service.MAX_PAGE_SIZE, description="page size (1–100)")
    ] = service.DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Parameter(description="next_cursor of the previous page")] = None,
) -> TokenPage:
    """The caller's tokens that are not revoked, newest first: active ones and expired ones (kept listed
    for 30 days after they expire, so the user sees what stopped working). Never the token itself."""
    after_id = decode_id_cursor("pat", cursor) if cursor is not None else None
    async with core_context(request).db.read() as session:
        rows, next_id = await service.list_tokens(session, principal.user_id, limit=limit, after_id=after_id)
    return TokenPage(
        items=[_token_out(row) for row in rows],
        next_cursor=encode_cursor("pat", next_id) if next_id is not None else None,
    )


@post(
    "/me/tokens",
    opt=bearer(session=True, sensitive=True),
    guards=[require_json],
    cache_control=NO_STORE,
    status_code=201,
    responses=problem_responses(400, 401, 403, 409, 415, 422),
)
async def create_token(
    request: Request[Any, Any, Any], principal: Caller, data: CreateTokenRequest
) -> NewTokenOut:
    """Create a PAT; the plaintext `token` (`lkp_…`) is in this response only.

    Malformed bodies are 400; rule violations 422 (`invalid_name`, `invalid_scopes`, `invalid_expiry`);
    409 `too_many_tokens` at 100 active tokens. Scopes beyond the user's role are stored as asked but
    never grant more than the role allows (they are narrowed on every request).
    """
    name = service.check_name(data.name)
    scopes = service.check_scopes(data.scopes)
    lifetime = service.check_lifetime(data.expires_in_days)
    ctx = core_context(request)
    async with ctx.db.write() as session:
        issued = await service.create_token(
            session, principal.user_id, name=name, scopes=scopes, lifetime=lifetime, now=ctx.clock.now()
        )
    return _new_token_out(issued)


@post(
    "/me/tokens/{token_id:int}/refresh",
    opt=bearer(session=True, sensitive=True),
    cache_control=NO_STORE,
    status_code=201,
    responses=problem_responses(400, 401, 403, 404),
)
async def refresh_token(request: Request[Any, Any, Any], principal: Caller, token_id: int) -> NewTokenOut:
    """Revoke the token (it fails at once) and issue a replacement with the same name, scopes and
    lifetime length, shown this once. 404 `not_found` if unknown, another user's, or already revoked."""
    ctx = core_context(request)
    async with ctx.db.write() as session:
        issued = await service.refresh_token(session, principal.user_id, token_id, now=ctx.clock.now())
    return _new_token_out(issued)


@delete(
    "/me/tokens/{token_id:int}",
    opt=bearer(session=True),
    status_code=204,
    responses=problem_responses(400, 401, 403, 404),
)
async def revoke_token(request: Request[Any, Any, Any], principal: Caller, token_id: int) -> None:
    """Revoke the token; its next request is 401. 404 `not_found` if unknown or another user's."""
    ctx = core_context(request)
    async with ctx.db.write() as session:
        await service.revoke_token(session, principal.user_id, token_id, now=ctx.clock.now())


router = Router(
    path="/v1",
    route_handlers=[list_tokens, create_token, refresh_token, revoke_token],
    tags=["tokens"],
    security=[{"bearer": []}],
)
