"""Routes of the admin domain: `GET/POST /v1/admin/users`, `PATCH /v1/admin/users/{id}` (scope `admin`).

The `admin` scope exists only for users with the admin role (auth narrows every token's scopes to what
the role allows at the time of the request), so a member's token, even a PAT asking for `admin`, gets 403.

Reading the user list takes any token with the `admin` scope. Writing (creating users, changing roles,
developer flags or disabling) is a sensitive action: it needs a session token (403
`session_token_required` for a PAT) from a password login within LATCHKEY_REAUTH_WINDOW (403
`reauth_required`), so a leaked admin PAT or a stale admin session cannot create or promote admins.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter

from latchkey.core.accounts.schemas import problem_responses
from latchkey.core.accounts.service import check_password_policy, service_busy
from latchkey.core.admin import service
from latchkey.core.admin.schemas import AdminUser, AdminUserPage, CreateUserRequest, UpdateUserRequest
from latchkey.core.security.auth import Caller, bearer
from latchkey.core.security.passwords import HasherOverloaded
from latchkey.core.state import core_context
from latchkey.guards import require_json

READ = bearer(scope="admin")
WRITE = bearer(scope="admin", session=True, sensitive=True)


@get("/users", summary="List users", opt=READ, responses=problem_responses(400, 401, 403))
async def list_users(
    request: Request[Any, Any, State],
    principal: Caller,
    limit: Annotated[int, Parameter(ge=1, le=100, description="page size (1–100)")] = 50,
    cursor: Annotated[
        str | None, Parameter(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> AdminUserPage:
    """Every user, in creation order, `limit` at a time; pass `next_cursor` back as `cursor`."""
    async with core_context(request).db.read() as session:
        return await service.list_users(session, limit=limit, cursor=cursor)


@post(
    "/users",
    guards=[require_json],
    opt=WRITE,
    summary="Create a user",
    responses=problem_responses(400, 401, 403, 409, 415, 422, 503),
)
async def create_user(
    request: Request[Any, Any, State], principal: Caller, data: CreateUserRequest
) -> AdminUser:
    """Create a user → 201 (a session token within the re-authentication window: 403
    `session_token_required` for a PAT, `reauth_required` for a stale login). A developer account gets
    its client secret at once, but it is not in this answer: only its owner sees it, under Developer
    Settings (`GET /v1/me/client-secret`)."""
    ctx = core_context(request)
    email = service.check_new_user_fields(data.email, data.name)
    check_password_policy(data.password)
    # Hash before opening the write transaction: an Argon2id hash must not hold SQLite's write lock.
    try:
        password_hash = await ctx.hasher.hash(data.password)
    except HasherOverloaded:
        raise service_busy() from None
    async with ctx.db.write() as session:
        return await service.add_user(
            session,
            ctx.box,
            email=email,
            password_hash=password_hash,
            name=data.name,
            role=data.role,
            is_developer=data.is_developer,
        )


@patch(
    "/users/{user_id:int}",
    guards=[require_json],
    opt=WRITE,
    summary="Change a user",
    responses=problem_responses(400, 401, 403, 404, 409, 415),
)
async def update_user(
    request: Request[Any, Any, State], principal: Caller, user_id: int, data: UpdateUserRequest
) -> AdminUser:
    """Set `disabled`, `role` or `is_developer` (a session token within the re-authentication window,
    as for creating). Turning `is_developer` off retires every client secret of the account at once;
    turning it on again issues a fresh one. Disabling stops all the user's tokens on their next
    request and revokes their login chains for good; you cannot disable or demote yourself (409)."""
    ctx = core_context(request)
    async with ctx.db.write() as session:
        return await service.update_user(
            session, ctx.box, actor_id=principal.user_id, user_id=user_id, changes=data, now=ctx.clock.now()
        )


router = Router(
    path="/v1/admin",
    route_handlers=[list_users, create_user, update_user],
    tags=["admin"],
    security=[{"bearer": []}],
)
