"""Routes of the admin domain: `GET/POST /v1/admin/users`, `PATCH /v1/admin/users/{id}` (scope `admin`).

The `admin` scope exists only for users with the admin role (auth narrows every token's scopes to what
the role allows at the time of the request), so a member's token, even a PAT asking for `admin`, gets 403.

Reading the user list takes any token with the `admin` scope. Writing (creating users, changing roles,
developer flags or disabling) is a sensitive action: it needs a session token (403
`session_token_required` for a PAT) from a password login within LATCHKEY_REAUTH_WINDOW (403
`reauth_required`), so a leaked admin PAT or a stale admin session cannot create or promote admins.
"""

from __future__ import annotations

from litestar import Router, get, patch, post

from latchkey.core.admin import service
from latchkey.core.admin.schemas import (
    AdminUser,
    AdminUserPage,
    CreateUserRequest,
    UpdateUserRequest,
    admin_user,
)
from latchkey.core.openapi import problem_responses
from latchkey.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from latchkey.core.security.auth import Caller, bearer
from latchkey.core.state import Context
from latchkey.guards import require_json, strict_json_body

READ = bearer(scope="admin")
WRITE = bearer(scope="admin", session=True, sensitive=True)


@get("/users", summary="List users", opt=READ, responses=problem_responses(400, 401, 403))
async def list_users(
    ctx: Context, principal: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> AdminUserPage:
    """Every user, in creation order, `limit` at a time; pass `next_cursor` back as `cursor`."""
    async with ctx.db.read() as session:
        page = await service.list_users(session, principal, limit=limit, cursor=cursor)
    return AdminUserPage(items=[admin_user(user) for user in page.items], next_cursor=page.next_cursor)


@post(
    "/users",
    guards=[require_json, strict_json_body],
    opt=WRITE,
    summary="Create a user",
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, 503, s409="`email_taken`"),
)
async def create_user(ctx: Context, principal: Caller, data: CreateUserRequest) -> AdminUser:
    """Create a user → 201 (a session token within the re-authentication window: 403
    `session_token_required` for a PAT, `reauth_required` for a stale login). A developer account gets
    its client secret at once, but it is not in this answer: only its owner sees it, under Developer
    Settings (`GET /v1/me/client-secret`)."""
    return admin_user(await service.create_user(ctx, principal, data))


@patch(
    "/users/{user_id:int}",
    guards=[require_json, strict_json_body],
    opt=WRITE,
    summary="Change a user",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, s409="`cannot_modify_self`"),
)
async def update_user(ctx: Context, principal: Caller, user_id: int, data: UpdateUserRequest) -> AdminUser:
    """Set `disabled`, `role` or `is_developer` (a session token within the re-authentication window,
    as for creating). Turning `is_developer` off retires every client secret of the account at once;
    turning it on again issues a fresh one. Disabling stops all the user's tokens on their next
    request and revokes their login chains for good; you cannot disable or demote yourself (409)."""
    return admin_user(await service.update_user(ctx, principal, user_id, data, now=ctx.clock.now()))


router = Router(
    path="/v1/admin",
    route_handlers=[list_users, create_user, update_user],
    tags=["admin"],
    security=[{"bearer": []}],
)
