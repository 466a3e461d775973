"""The BFF's own routes: login, the current session, re-authentication, logout, the session list."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_204_NO_CONTENT

from latchkey.bff.downloads import create_download
from latchkey.bff.edge.forwarded import ClientAddress
from latchkey.bff.oidc.routes import backchannel_logout, callback, login_methods, login_oidc, oidc_of
from latchkey.bff.openapi import PASSWORD_ROUTE, problem_responses
from latchkey.bff.schemas import (
    ActiveSession,
    LoginRequest,
    LogoutOut,
    ReauthenticateRequest,
    SessionInfo,
    SessionList,
    SessionOut,
    UserOut,
)
from latchkey.bff.sessions.service import SessionService
from latchkey.bff.sessions.types import SessionRecord
from latchkey.guards import require_json
from latchkey.problems import ProblemError

MAX_FIELD = 1024


def service_of(request: Request[Any, Any, State]) -> SessionService:
    service: SessionService = request.app.state.sessions
    return service


def peer_ip(request: Request[Any, Any, Any]) -> str:
    """The browser's address: the peer, or the client behind LATCHKEY_TRUSTED_PROXIES (edge/forwarded.py)."""
    client_address: ClientAddress = request.app.state.client_address
    return client_address(request.scope)


def session_body(service: SessionService, record: SessionRecord) -> SessionOut:
    user = record.user
    return SessionOut(
        user=UserOut(
            id=int(user["id"]),
            email=str(user["email"]),
            name=str(user["name"]),
            role=str(user["role"]),
            is_developer=bool(user["is_developer"]),
        ),
        session=SessionInfo(
            id=record.public_id,
            created_at=record.created_at,
            expires_at=record.expires_at,
            idle_expires_at=service.idle_ends_at(record),
        ),
    )


async def current_session(request: Request[Any, Any, State]) -> tuple[SessionService, SessionRecord]:
    """The request's session, read from the store (never the cache), or 401 with the reason."""
    service = service_of(request)
    return service, await service.current(request.scope["headers"])


@post("/login", guards=[require_json], status_code=200, responses=problem_responses(*PASSWORD_ROUTE))
async def login(request: Request[Any, Any, State], data: LoginRequest) -> Response[SessionOut]:
    """Exchange a username and password for a session cookie (the tokens stay here). 404 when password
    sign-in is off (LATCHKEY_LOGIN_METHODS=oidc)."""
    if "password" not in request.app.state.login_methods:
        raise ProblemError(404, "not_found", "password sign-in is off; sign in through the provider")
    if (
        not data.username
        or not data.password
        or len(data.username) > MAX_FIELD
        or len(data.password) > MAX_FIELD
    ):
        raise ProblemError(401, "invalid_credentials", "the email or password is wrong")
    service = service_of(request)
    # A login from a browser that still holds a session replaces it (the cookie in `headers`).
    signed_in = await service.login(
        data.username,
        data.password,
        ip=peer_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        headers=request.scope["headers"],
    )
    return Response(session_body(service, signed_in.record), headers={"Set-Cookie": signed_in.set_cookie})


@get("/session", responses=problem_responses(401, 403))
async def session(request: Request[Any, Any, State]) -> SessionOut:
    service, record = await current_session(request)
    return session_body(service, record)


@post(
    "/reauthenticate",
    guards=[require_json],
    status_code=HTTP_204_NO_CONTENT,
    responses=problem_responses(*PASSWORD_ROUTE),
)
async def reauthenticate(request: Request[Any, Any, State], data: ReauthenticateRequest) -> None:
    """A fresh password grant for the session's user: same session, new tokens and auth_time. A session
    from the provider re-authenticates there: 409 `reauth_with_provider` with its `login_url`."""
    service, record = await current_session(request)
    oidc = oidc_of(request)
    if record.provider is not None and oidc is not None:
        raise ProblemError(
            409,
            "reauth_with_provider",
            "this session signed in through the identity provider; confirm there",
            extra={"login_url": oidc.login_url},
        )
    if not data.password or len(data.password) > MAX_FIELD:
        raise ProblemError(401, "invalid_credentials", "the password is wrong")
    await service.reauthenticate(record, data.password, peer_ip(request))


@post(
    "/logout",
    status_code=200,
    responses={
        204: ResponseSpec(None, description="the session ended (or there was none)"),
        **problem_responses(403),
    },
)
async def logout(request: Request[Any, Any, State], everywhere: bool = False) -> Response[LogoutOut | None]:
    """End this session (or all of the user's with `?everywhere=true`); 204 even without a session. A
    session from the provider answers 200 `{"logout_url": …}` when the provider has an end-session
    endpoint (RP-Initiated Logout): the SPA navigates there to end the provider's session too."""
    headers, ended = await service_of(request).logout(request.scope["headers"], everywhere=everywhere)
    oidc = oidc_of(request)
    if ended is not None and ended.provider is not None and oidc is not None:
        url = await oidc.login.logout_url(ended.provider.id_token, f"{oidc.origin(request)}/")
        if url is not None:
            return Response(LogoutOut(logout_url=url), status_code=200, headers=headers)
    return Response(None, status_code=HTTP_204_NO_CONTENT, headers=headers)


@get("/sessions", responses=problem_responses(401, 403))
async def list_sessions(request: Request[Any, Any, State]) -> SessionList:
    service, record = await current_session(request)
    active = await service.list_active(record)
    return SessionList(
        items=[
            ActiveSession(
                id=item.public_id,
                created_at=item.created_at,
                last_seen_at=item.last_seen_at,
                user_agent=item.user_agent,
                ip=item.ip,
                current=item.id_hash == record.id_hash,
            )
            for item in active
        ]
    )


@delete(
    "/sessions/{session_id:str}", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 403, 404)
)
async def end_session(request: Request[Any, Any, State], session_id: str) -> Response[None]:
    """End one of the user's sessions; ending the current one also clears the cookie."""
    service, record = await current_session(request)
    headers = await service.end_one(record, session_id)
    return Response(None, status_code=HTTP_204_NO_CONTENT, headers=headers)


@post(
    "/sessions/end-others",
    status_code=HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403),
)
async def end_other_sessions(request: Request[Any, Any, State]) -> None:
    """End every session of the user but this one, on every instance, revoking their chains at the core
    ("sign out other sessions"); 204 also when there were none."""
    service, record = await current_session(request)
    await service.end_others(record)


def bff_router(base_path: str) -> Router:
    return Router(
        path=f"{base_path}/bff",
        route_handlers=[
            login,
            session,
            reauthenticate,
            logout,
            list_sessions,
            end_session,
            end_other_sessions,
            login_methods,
            login_oidc,
            callback,
            backchannel_logout,
            create_download,
        ],
        tags=["bff"],
    )
