"""Authentication of core requests: `Bearer` (PATs and access tokens) and `Secret` (client secrets).

Each route declares what it needs in its options — `opt=bearer(scope=…)`, `opt=CLIENT_SECRET` or
`opt=PUBLIC` — and one app-wide middleware (`DeclaredAuthentication`) enforces it before the route's own
guards run and before the body is read; Bearer
routes then receive the authenticated `Principal` as their `principal` argument.
The credential's shape and checksum are checked before any lookup; tokens are found by SHA-256 hash,
client secrets by their keyed hash. Every failure is a ProblemError with the RFC 6750 challenge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias, cast

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import exists, or_, select, update

from latchkey.core.models import (
    AccessToken,
    ClientSecret,
    Identity,
    PersonalAccessToken,
    TokenChain,
    User,
)
from latchkey.core.security import credentials
from latchkey.core.security.credentials import Kind
from latchkey.core.security.reauth import require_recent_login
from latchkey.core.security.scopes import REALM, granted, require_scope
from latchkey.core.state import CoreContext, core_context
from latchkey.problems import ProblemError

LAST_USED_RESOLUTION = timedelta(seconds=60)
# Read with the token's user: whether the account is linked to an identity provider account (SPEC §11).
_LINKED = exists().where(Identity.user_id == User.id).label("linked")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a Bearer route."""

    user_id: int
    email: str
    name: str
    role: str
    is_developer: bool
    created_at: datetime
    kind: Kind  # PERSONAL or ACCESS
    token_id: int
    scopes: frozenset[str]  # effective: the token's scopes ∩ what the role allows now
    chain_id: int | None  # access tokens only
    auth_time: datetime | None  # access tokens only
    has_password: bool = True  # False: the account signs in only through the identity provider
    provider_linked: bool = False  # the account is linked to an identity provider account

    @property
    def is_session(self) -> bool:
        return self.kind is Kind.ACCESS


# A Bearer route's `principal` argument, marked as the app-wide dependency `provide_principal` (not inferred
# from the parameter's name, which Litestar 3 drops).
Caller: TypeAlias = NamedDependency[Principal]


def _unauthorized(code: str, detail: str, error: str | None = "invalid_token") -> ProblemError:
    challenge = f"Bearer {REALM}" + (f', error="{error}"' if error else "")
    return ProblemError(401, code, detail, headers={"WWW-Authenticate": challenge})


def authorization_value(request: ASGIConnection[Any, Any, Any, Any], scheme: str) -> str | None:
    """The credential after `scheme` in the one Authorization header, None if absent; 400 if two."""
    values = request.headers.getall("authorization", [])
    if not values:
        return None
    if len(values) > 1:
        raise ProblemError(400, "invalid_request", "more than one Authorization header")
    presented_scheme, _, value = values[0].strip().partition(" ")
    if presented_scheme.lower() != scheme.lower():
        return ""
    return value.strip()


def bearer_token(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The raw Bearer token of a request; 401 challenge when missing, 400 when two are sent."""
    value = authorization_value(request, "Bearer")
    if value is None:
        raise _unauthorized("missing_token", "a Bearer token is required", error=None)
    return value


# Kept in the ASGI scope itself: `request.state` builds a new State object at every access.
_SCOPE_KEY = "latchkey.principal"


async def authenticate_bearer(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Resolve the Bearer token of a request to its Principal (once per request), or raise 400/401."""
    scope = cast(dict[str, Any], request.scope)
    cached: Principal | None = scope.get(_SCOPE_KEY)
    if cached is None:
        cached = await resolve_token(core_context(request), bearer_token(request))
        scope[_SCOPE_KEY] = cached
    return cached


# --- authentication declared on each route -----------------------------------------------------------

AUTH_OPT = "latchkey_auth"


@dataclass(frozen=True, slots=True)
class Bearer:
    """A Bearer route and what its Principal must have.

    `session`: only an access token from /v1/oauth/token (a PAT cannot manage tokens, secrets or
    passwords, so a leaked PAT cannot mint more). `sensitive`: also a password grant within the
    re-authentication window. `developer`: the user must be a developer account.
    """

    scope: str | None = None
    session: bool = False
    developer: bool = False
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class ClientSecretAuth:
    """`Authorization: Secret …`, checked by the route's own guard before its body is read
    (`oauth/forms.py`), so that its content-type check still comes first."""


@dataclass(frozen=True, slots=True)
class Public:
    """No credentials: probes and the API documentation."""


AuthRule = Bearer | ClientSecretAuth | Public


def bearer(
    *, scope: str | None = None, session: bool = False, developer: bool = False, sensitive: bool = False
) -> dict[str, AuthRule]:
    """Route options declaring Bearer authentication (`@get(..., opt=bearer(scope="profile"))`)."""
    return {AUTH_OPT: Bearer(scope=scope, session=session, developer=developer, sensitive=sensitive)}


CLIENT_SECRET: dict[str, AuthRule] = {AUTH_OPT: ClientSecretAuth()}
PUBLIC: dict[str, AuthRule] = {AUTH_OPT: Public()}


def declared_auth(handler: BaseRouteHandler) -> AuthRule | None:
    """What a route handler declares; Litestar's own `OPTIONS` answers (an `Allow` header, no data)
    count as public."""
    rule = handler.opt.get(AUTH_OPT)
    if isinstance(rule, Bearer | ClientSecretAuth | Public):
        return rule
    if (
        isinstance(handler, HTTPRouteHandler)
        and handler.http_methods == {"OPTIONS"}
        and getattr(handler.fn, "__name__", "") == "options_handler"
        and not handler.include_in_schema
    ):
        return Public()
    return None


async def authenticate_declared(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Authenticate and authorize what the route declares, before Litestar reads its body.

    It runs before a handler's guards and arguments, so an anonymous or under-privileged caller gets its
    401/403 without making the server buffer and decode a body first. A route that declares nothing is
    refused here (and `undeclared_routes` keeps such an app from starting at all).
    """
    rule = declared_auth(handler)
    if isinstance(rule, Bearer):
        check_principal(connection, await authenticate_bearer(connection), rule)
    elif rule is None:
        raise ProblemError(500, "internal_error", "this route declares no authentication")


class DeclaredAuthentication:
    """App-wide middleware running `authenticate_declared` for the routed handler.

    Routing has put the handler in the scope by the time a route's middleware runs. A middleware rather
    than an app-wide guard: Litestar copies the route handler for every guard call, a cost on every
    request that this avoids, and it still runs before the route's own guards (content-type checks).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            await authenticate_declared(ASGIConnection(scope, receive, send), scope["route_handler"])
        await self.app(scope, receive, send)


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The `principal` argument of Bearer routes: the caller the guard authenticated."""
    principal: Principal | None = cast(dict[str, Any], request.scope).get(_SCOPE_KEY)
    if principal is None:
        raise RuntimeError(f"{request.url.path}: a route taking `principal` must declare opt=bearer(...)")
    return principal


def undeclared_routes(app: Litestar) -> list[str]:
    """`METHOD path` of every HTTP route handler that declares no authentication (should be none)."""
    missing: list[str] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler) and declared_auth(handler) is None:
                missing.extend(f"{method} {route.path}" for method in sorted(handler.http_methods))
    return sorted(set(missing))


async def resolve_token(ctx: CoreContext, value: str) -> Principal:
    """Resolve a PAT or access token to its Principal, or raise 401 invalid_token.

    A token validated recently is answered from this process's cache (`token_cache.py`), which every
    change to what it stands for invalidates; else the database decides. Also used by long-lived
    streams to re-check their token.
    """
    kind = credentials.parse(value) if value else None
    if kind is None or kind not in (Kind.PERSONAL, Kind.ACCESS):
        raise _unauthorized("invalid_token", "the token is malformed, expired or revoked")
    digest = credentials.token_hash(value)
    moment = ctx.clock.now()
    cached = ctx.tokens.get(digest, moment)
    if cached is not None:
        if cached.principal.kind is Kind.PERSONAL and _use_unrecorded(cached.last_used_at, moment):
            cached.last_used_at = moment
            await _record_use(ctx, PersonalAccessToken, cached.principal.token_id, moment)
        return cached.principal
    # The requests that miss together (a busy token whose entry just aged out) share one database read.
    return await ctx.tokens.load(digest, lambda: _load_token(ctx, kind, digest, moment))


async def _load_token(
    ctx: CoreContext, kind: Kind, digest: str, moment: datetime
) -> tuple[Principal, datetime, datetime | None]:
    principal, expires_at, last_used_at = await _read_token(ctx, kind, digest, moment)
    if kind is Kind.PERSONAL and _use_unrecorded(last_used_at, moment):
        await _record_use(ctx, PersonalAccessToken, principal.token_id, moment)
        last_used_at = moment
    return principal, expires_at, last_used_at


async def _read_token(
    ctx: CoreContext, kind: Kind, digest: str, moment: datetime
) -> tuple[Principal, datetime, datetime | None]:
    """The database's answer for a token: its Principal, when it expires, and (PATs) its last use."""
    async with ctx.db.read() as session:
        if kind is Kind.PERSONAL:
            pat_row = (
                await session.execute(
                    select(PersonalAccessToken, User, _LINKED)
                    .join(User, User.id == PersonalAccessToken.user_id)
                    .where(PersonalAccessToken.token_hash == digest)
                )
            ).one_or_none()
            if pat_row is None:
                raise _unauthorized("invalid_token", "the token is malformed, expired or revoked")
            pat, user, linked = pat_row
            if pat.revoked_at is not None or pat.expires_at <= moment or user.disabled:
                raise _unauthorized("invalid_token", "the token is malformed, expired or revoked")
            principal = _principal(user, kind, pat.id, pat.scopes, None, None, linked)
            return principal, pat.expires_at, pat.last_used_at
        at_row = (
            await session.execute(
                select(AccessToken, TokenChain, User, _LINKED)
                .join(TokenChain, TokenChain.id == AccessToken.chain_id)
                .join(User, User.id == TokenChain.user_id)
                .where(AccessToken.token_hash == digest)
            )
        ).one_or_none()
        if at_row is None:
            raise _unauthorized("invalid_token", "the token is malformed, expired or revoked")
        access, chain, user, linked = at_row
        if (
            access.revoked_at is not None
            or access.expires_at <= moment
            or chain.revoked_at is not None
            or user.disabled
        ):
            raise _unauthorized("invalid_token", "the token is malformed, expired or revoked")
        principal = _principal(user, kind, access.id, access.scopes, chain.id, chain.auth_time, linked)
        return principal, min(access.expires_at, chain.expires_at), None


def _use_unrecorded(last_used_at: datetime | None, moment: datetime) -> bool:
    return last_used_at is None or moment - last_used_at >= LAST_USED_RESOLUTION


async def _record_use(
    ctx: CoreContext, model: type[PersonalAccessToken] | type[ClientSecret], row_id: int, moment: datetime
) -> None:
    """Write a PAT's or a client secret's last use. It has a one-minute resolution, so a busy credential
    costs one write a minute (a PAT's cached principal skips it per process; a secret's row is read on
    every authentication anyway), not one write per request."""
    async with ctx.db.write() as session:
        await session.execute(
            update(model)
            .where(
                model.id == row_id,
                or_(model.last_used_at.is_(None), model.last_used_at < moment - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=moment)
        )


def _principal(
    user: User,
    kind: Kind,
    token_id: int,
    scopes: str,
    chain_id: int | None,
    auth_time: datetime | None,
    linked: bool,
) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        is_developer=user.is_developer,
        created_at=user.created_at,
        kind=kind,
        token_id=token_id,
        scopes=granted(scopes, user.role),
        chain_id=chain_id,
        auth_time=auth_time,
        has_password=user.password_hash is not None,
        provider_linked=bool(linked),
    )


def check_principal(
    connection: ASGIConnection[Any, Any, Any, Any], principal: Principal, rule: Bearer
) -> None:
    """403 with the reason when `principal` lacks what the route's `rule` asks for."""
    scope, session, developer, sensitive = rule.scope, rule.session, rule.developer, rule.sensitive
    if session and not principal.is_session:
        raise ProblemError(
            403, "session_token_required", "personal access tokens cannot manage tokens, secrets or passwords"
        )
    if scope is not None:
        require_scope(principal.scopes, scope)
    if developer and not principal.is_developer:
        raise ProblemError(403, "developer_required", "this needs a developer account")
    if sensitive:
        ctx = core_context(connection)
        require_recent_login(principal.auth_time, ctx.clock.now(), ctx.settings.reauth_window)


@dataclass(frozen=True, slots=True)
class Client:
    """A confidential client authenticated with `Authorization: Secret …` (a developer account).

    `forwards_client_ip`: the account is the BFF's service account, whose `X-Forwarded-For` (the
    browser's address) the brute-force limits believe; any other client is counted by its peer address.
    """

    user_id: int
    secret_id: int
    forwards_client_ip: bool = False


def invalid_client(detail: str = "client authentication failed") -> ProblemError:
    return ProblemError(401, "invalid_client", detail, headers={"WWW-Authenticate": f"Secret {REALM}"})


async def authenticate_client(request: ASGIConnection[Any, Any, Any, Any]) -> Client:
    """Resolve `Authorization: Secret <lks_…>` to its developer account, or raise 401 invalid_client."""
    value = authorization_value(request, "Secret")
    if not value or credentials.parse(value) is not Kind.CLIENT_SECRET:
        raise invalid_client()
    ctx = core_context(request)
    moment = ctx.clock.now()
    async with ctx.db.read() as session:
        row = (
            await session.execute(
                select(ClientSecret, User)
                .join(User, User.id == ClientSecret.user_id)
                .where(ClientSecret.lookup_hash == ctx.box.lookup_hash(value))
            )
        ).one_or_none()
    if row is None:
        raise invalid_client()
    secret, user = row
    if (
        (secret.valid_until is not None and secret.valid_until <= moment)
        or user.disabled
        or not user.is_developer
    ):
        raise invalid_client()
    if _use_unrecorded(secret.last_used_at, moment):
        await _record_use(ctx, ClientSecret, secret.id, moment)
    return Client(user_id=user.id, secret_id=secret.id, forwards_client_ip=user.forwards_client_ip)
