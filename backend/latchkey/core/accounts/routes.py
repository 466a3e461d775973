"""The caller's own account: profile, password, and (developers) client secret.

Password and client-secret routes need a session (an access token from /v1/oauth/token, never a PAT) and
a recent password login (`reauth_required` otherwise). Responses that carry a secret are
`Cache-Control: no-store`.
"""

from __future__ import annotations

from litestar import Router, delete, get, post
from litestar.datastructures import CacheControlHeader

from latchkey.core.accounts import service
from latchkey.core.accounts.schemas import (
    ChangePasswordRequest,
    ClientSecretInfoOut,
    ClientSecretOut,
    MeOut,
    client_secret_info_out,
    client_secret_out,
    me_out,
)
from latchkey.core.openapi import problem_responses
from latchkey.core.security.auth import Caller, bearer
from latchkey.core.state import Context
from latchkey.guards import require_json, strict_json_body

NO_STORE = CacheControlHeader(no_store=True)
SECRET_AUTH = bearer(session=True, developer=True, sensitive=True)
# Dates about the secret reveal nothing of it: a session is enough, no recent password login.
SECRET_INFO_AUTH = bearer(session=True, developer=True)


@get("/me", opt=bearer(scope="profile"), responses=problem_responses(400, 401, 403))
async def me(principal: Caller) -> MeOut:
    """The caller's profile (PAT or session, with the `profile` scope)."""
    return me_out(principal)


@post(
    "/me/password",
    opt=bearer(session=True, sensitive=True),
    guards=[require_json, strict_json_body],
    status_code=204,
    responses=problem_responses(
        400,
        401,
        403,
        404,
        409,
        413,
        415,
        422,
        429,
        503,
        s409="`conflict`: the password changed meanwhile; `no_password`: the account signs in through "
        "its identity provider",
        s422="`weak_password` / `password_too_long`: the new password is outside the policy; "
        "`password_unchanged`: it is the current one",
    ),
)
async def change_password(ctx: Context, principal: Caller, data: ChangePasswordRequest) -> None:
    """Change the password → 204, and sign out every other session of the user (their token chains
    are revoked; this one stays, and so do personal access tokens).

    403 `invalid_password` for a wrong current password (5 within 15 minutes → 429 with `Retry-After`);
    422 `weak_password` / `password_too_long` for a new one outside the policy, `password_unchanged` for
    a new one equal to the current one (checked after the current one, so it tells a guesser nothing);
    503 with `Retry-After` when too many password hashes are running.
    """
    await service.change_password(ctx, principal, data, now=ctx.clock.now())


@get(
    "/me/client-secret",
    opt=SECRET_AUTH,
    cache_control=NO_STORE,
    responses=problem_responses(400, 401, 403, 404, s404="`no_client_secret`"),
)
async def view_client_secret(ctx: Context, principal: Caller) -> ClientSecretOut:
    """The developer's current client secret (403 `developer_required` for other accounts; 404
    `no_client_secret` for a developer who has none yet, until they rotate)."""
    return client_secret_out(await service.current_client_secret(ctx, principal, now=ctx.clock.now()))


@get(
    "/me/client-secret/info",
    opt=SECRET_INFO_AUTH,
    cache_control=NO_STORE,
    summary="When the client secret was created and last used",
    responses=problem_responses(400, 401, 403, 404, s404="`no_client_secret`"),
)
async def client_secret_info(ctx: Context, principal: Caller) -> ClientSecretInfoOut:
    """When the developer's current client secret was created and last authenticated a client, and
    whether a rotated-out one is still in its grace (and its last use): for showing a masked secret
    without revealing it. A session is enough (no recent password login): nothing here is secret."""
    return client_secret_info_out(await service.client_secret_info(ctx, principal, now=ctx.clock.now()))


@post(
    "/me/client-secret/rotate",
    opt=SECRET_AUTH,
    cache_control=NO_STORE,
    status_code=200,
    responses=problem_responses(400, 401, 403),
)
async def rotate_client_secret(ctx: Context, principal: Caller) -> ClientSecretOut:
    """Replace the client secret → 200 with the new one (the same resource, replaced, so not 201).

    The previous secret keeps working until `previous_valid_until` (LATCHKEY_SECRET_ROTATION_GRACE), so
    a deployment can switch over without downtime; any older secret stops at once (only the most recent
    previous one keeps a grace). `DELETE /v1/me/client-secret/previous` ends that grace early.
    """
    return client_secret_out(await service.rotate_client_secret(ctx, principal, now=ctx.clock.now()))


@delete(
    "/me/client-secret/previous",
    opt=SECRET_AUTH,
    status_code=204,
    summary="End the rotated-out client secret's grace now",
    responses=problem_responses(400, 401, 403),
)
async def end_previous_client_secret(ctx: Context, principal: Caller) -> None:
    """Stop the previous client secret (kept working for LATCHKEY_SECRET_ROTATION_GRACE after a
    rotation) at once → 204, e.g. when it leaked. The current secret is untouched; with no previous
    secret this is a no-op, still 204. Needs a session within the re-authentication window, like
    rotating."""
    async with ctx.db.write() as session:
        await service.end_previous_client_secrets(session, principal)


router = Router(
    path="/v1",
    route_handlers=[
        me,
        change_password,
        view_client_secret,
        client_secret_info,
        rotate_client_secret,
        end_previous_client_secret,
    ],
    tags=["accounts"],
    security=[{"bearer": []}],
)
