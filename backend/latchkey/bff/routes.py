"""The BFF's own routes: login, the current session, re-authentication, logout, the session list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.datastructures import State
from litestar.status_codes import HTTP_204_NO_CONTENT

from latchkey.bff.forwarded import ClientAddress
from latchkey.bff.schemas import (
    ActiveSession,
    LoginRequest,
    ReauthenticateRequest,
    SessionInfo,
    SessionList,
    SessionOut,
    UserOut,
)
from latchkey.bff.sessions import SessionManager
from latchkey.bff.store import SessionRecord
from latchkey.clock import utcnow
from latchkey.guards import require_json
from latchkey.problems import ProblemError

MAX_FIELD = 1024


def manager_of(request: Request[Any, Any, State]) -> SessionManager:
    manager: SessionManager = request.app.state.sessions
    return manager


def peer_ip(request: Request[Any, Any, Any]) -> str:
    """The browser's address: the peer, or the client behind LATCHKEY_TRUSTED_PROXIES (bff/forwarded.py)."""
    client_address: ClientAddress = request.app.state.client_address
    return client_address(request.scope)


def cookie_session(manager: SessionManager, request: Request[Any, Any, State]) -> str | None:
    """The id hash named by a valid cookie, or None (no cookie, or one that does not unseal)."""
    try:
        return manager.session_hash(request.scope["headers"])
    except ProblemError:
        return None


def clear_site_data(manager: SessionManager) -> str:
    """SPEC §10: a logout also clears the browser's cache and storage for this origin, and its cookies
    unless the cookie lives on a shared parent domain (clearing would log the user out of its other
    sites). The SPA keeps nothing in storage it would miss; BroadcastChannel is not storage."""
    if manager.settings.cookie_domain is None:
        return '"cache", "storage", "cookies"'
    return '"cache", "storage"'


def cleared(manager: SessionManager) -> dict[str, str]:
    """The headers of every answer that ends the browser's session by the user's hand."""
    return {"Set-Cookie": manager.cookies.clear_header(), "Clear-Site-Data": clear_site_data(manager)}


def session_body(manager: SessionManager, record: SessionRecord) -> SessionOut:
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
            idle_expires_at=record.last_seen_at + timedelta(seconds=manager.idle),
        ),
    )


async def current_session(request: Request[Any, Any, State]) -> tuple[SessionManager, SessionRecord]:
    """The request's session, read from the store (never the cache), or 401 with the reason."""
    manager = manager_of(request)
    return manager, await manager.load(manager.session_hash(request.scope["headers"]))


@post("/login", guards=[require_json], status_code=200)
async def login(request: Request[Any, Any, State], data: LoginRequest) -> Response[SessionOut]:
    """Exchange a username and password for a session cookie (the tokens stay here)."""
    if (
        not data.username
        or not data.password
        or len(data.username) > MAX_FIELD
        or len(data.password) > MAX_FIELD
    ):
        raise ProblemError(401, "invalid_credentials", "the email or password is wrong")
    manager = manager_of(request)
    user_agent = request.headers.get("user-agent", "")
    # A login from a browser that still holds a session replaces it, so nothing lingers behind.
    previous = cookie_session(manager, request)
    record, cookie = await manager.login(
        data.username, data.password, peer_ip(request), user_agent, previous=previous
    )
    now = record.created_at.timestamp()
    return Response(
        session_body(manager, record),
        headers={
            "Set-Cookie": manager.cookies.set_header(
                cookie, expires_at=record.expires_at.timestamp(), now=now
            )
        },
    )


@get("/session")
async def session(request: Request[Any, Any, State]) -> SessionOut:
    manager, record = await current_session(request)
    return session_body(manager, record)


@post("/reauthenticate", guards=[require_json], status_code=HTTP_204_NO_CONTENT)
async def reauthenticate(request: Request[Any, Any, State], data: ReauthenticateRequest) -> None:
    """A fresh password grant for the session's user: same session, new tokens and auth_time."""
    manager, record = await current_session(request)
    if not data.password or len(data.password) > MAX_FIELD:
        raise ProblemError(401, "invalid_credentials", "the password is wrong")
    await manager.reauthenticate(record, data.password, peer_ip(request))


@post("/logout", status_code=HTTP_204_NO_CONTENT)
async def logout(request: Request[Any, Any, State], everywhere: bool = False) -> Response[None]:
    """End this session (or all of the user's with `?everywhere=true`); 204 even without a session."""
    manager = manager_of(request)
    # Only a live session's cookie ends anything: an ended, expired or idle session's cannot end the
    # user's other sessions.
    await manager.logout(cookie_session(manager, request), everywhere)
    return Response(None, status_code=HTTP_204_NO_CONTENT, headers=cleared(manager))


@get("/sessions")
async def list_sessions(request: Request[Any, Any, State]) -> SessionList:
    manager, record = await current_session(request)
    active = await manager.store.list_active(record.user_id, utcnow(), manager.idle)
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


@delete("/sessions/{session_id:str}", status_code=HTTP_204_NO_CONTENT)
async def end_session(request: Request[Any, Any, State], session_id: str) -> Response[None]:
    """End one of the user's sessions; ending the current one also clears the cookie."""
    manager, record = await current_session(request)
    target = await manager.store.get_by_public_id(session_id) if len(session_id) <= 64 else None
    if target is None or target.user_id != record.user_id or target.ended_at is not None:
        raise ProblemError(404, "not_found", "no such session")
    await manager.end(target.id_hash, "ended")
    # Ending the current session is a logout: clear the cookie and the site's data. Ending another
    # session leaves this browser's alone.
    headers = cleared(manager) if target.id_hash == record.id_hash else {}
    return Response(None, status_code=HTTP_204_NO_CONTENT, headers=headers)


def bff_router(base_path: str) -> Router:
    return Router(
        path=f"{base_path}/bff",
        route_handlers=[login, session, reauthenticate, logout, list_sessions, end_session],
        tags=["bff"],
    )
