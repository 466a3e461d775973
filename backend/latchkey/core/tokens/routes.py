"""Personal access tokens of the caller: `/v1/me/tokens`.

Only a session (an access token from /v1/oauth/token) may manage PATs, so a leaked PAT cannot mint more;
creating and refreshing are sensitive (a recent password login). Responses that carry a token are
`Cache-Control: no-store`.
"""

from __future__ import annotations

from litestar import Router, delete, get, post
from litestar.datastructures import CacheControlHeader

from latchkey.core.openapi import problem_responses
from latchkey.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from latchkey.core.security.auth import Caller, bearer
from latchkey.core.state import Context
from latchkey.core.tokens import service
from latchkey.core.tokens.schemas import CreateTokenRequest, NewTokenOut, TokenPage, new_token_out, token_out
from latchkey.guards import require_json, strict_json_body

NO_STORE = CacheControlHeader(no_store=True)


@get(
    "/me/tokens",
    opt=bearer(session=True),
    cache_control=NO_STORE,
    responses=problem_responses(400, 401, 403),
)
async def list_tokens(
    ctx: Context, principal: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> TokenPage:
    """The caller's tokens that are not revoked, newest first: active ones and expired ones (kept listed
    for 30 days after they expire, so the user sees what stopped working). Never the token itself."""
    async with ctx.db.read() as session:
        page = await service.list_tokens(session, principal, limit=limit, cursor=cursor)
    return TokenPage(items=[token_out(row) for row in page.items], next_cursor=page.next_cursor)


@post(
    "/me/tokens",
    opt=bearer(session=True, sensitive=True),
    guards=[require_json, strict_json_body],
    cache_control=NO_STORE,
    status_code=201,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, s409="`too_many_tokens`"),
)
async def create_token(ctx: Context, principal: Caller, data: CreateTokenRequest) -> NewTokenOut:
    """Create a PAT; the plaintext `token` (`lkp_…`) is in this response only.

    Malformed bodies are 400; rule violations 422 (`invalid_name`, `invalid_scopes`, `invalid_expiry`);
    409 `too_many_tokens` at 100 active tokens. Scopes beyond the user's role are stored as asked but
    never grant more than the role allows (they are narrowed on every request).
    """
    async with ctx.db.write() as session:
        issued = await service.create_token(session, principal, data, now=ctx.clock.now())
    return new_token_out(issued.row, issued.token)


@post(
    "/me/tokens/{token_id:int}/refresh",
    opt=bearer(session=True, sensitive=True),
    cache_control=NO_STORE,
    status_code=201,
    responses=problem_responses(400, 401, 403, 404),
)
async def refresh_token(ctx: Context, principal: Caller, token_id: int) -> NewTokenOut:
    """Revoke the token (it fails at once) and issue a replacement with the same name, scopes and
    lifetime length, shown this once. 404 `not_found` if unknown, another user's, or already revoked."""
    async with ctx.db.write() as session:
        issued = await service.refresh_token(session, principal, token_id, now=ctx.clock.now())
    ctx.tokens.user_changed(principal.user_id)
    return new_token_out(issued.row, issued.token)


@delete(
    "/me/tokens/{token_id:int}",
    opt=bearer(session=True),
    status_code=204,
    responses=problem_responses(400, 401, 403, 404),
)
async def revoke_token(ctx: Context, principal: Caller, token_id: int) -> None:
    """Revoke the token; its next request is 401. 404 `not_found` if unknown or another user's."""
    async with ctx.db.write() as session:
        await service.revoke_token(session, principal, token_id, now=ctx.clock.now())
    ctx.tokens.user_changed(principal.user_id)


router = Router(
    path="/v1",
    route_handlers=[list_tokens, create_token, refresh_token, revoke_token],
    tags=["tokens"],
    security=[{"bearer": []}],
)
