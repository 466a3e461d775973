"""The BFF's routes for signing in through the OpenID Provider (SPEC §11).

`GET /bff/login/methods` says which logins the login page offers. `GET /bff/login/oidc` and
`GET /bff/callback` are page navigations, not `fetch()` calls: they answer with redirects, and every
failure is a 303 to the SPA's `/login?error=<code>` (`login_cancelled`, `login_expired`,
`provider_unavailable`, `login_failed`), never a problem document and never a 500.
`POST /bff/backchannel-logout` is the provider's server-to-server call (no cookie, no `X-CSRF`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_302_FOUND, HTTP_303_SEE_OTHER

from latchkey.bff.oidc.flow import FlowCookies, FlowExpired
from latchkey.bff.oidc.login import InvalidLogoutToken, LoginFailed, OidcLogin
from latchkey.bff.openapi import problem_responses
from latchkey.bff.sessions.authorization_server import CoreUnavailable, GrantRefused
from latchkey.bff.sessions.service import SessionService
from latchkey.oidc import ProviderUnavailable
from latchkey.problems import ProblemError

log = logging.getLogger("latchkey.bff.oidc")

NO_STORE = {"Cache-Control": "no-store"}
LOGIN_ERROR = ResponseSpec(
    None, description="to the SPA's `/login?error=<code>` when the sign-in cannot start"
)


class OAuthError(msgspec.Struct, kw_only=True):
    error: str


MAX_LOGOUT_FORM = 16 * 1024


@dataclass(frozen=True, slots=True)
class Oidc:
    """What the OIDC routes need, built once by the app: None when no provider is configured."""

    login: OidcLogin
    flows: FlowCookies
    base_path: str
    public_origin: str | None
    password_login: bool

    @property
    def login_url(self) -> str:
        return f"{self.base_path}/bff/login/oidc"

    def origin(self, request: Request[Any, Any, Any]) -> str:
        """The BFF's origin as browsers see it: LATCHKEY_PUBLIC_ORIGIN, else the request's own."""
        if self.public_origin is not None:
            return self.public_origin
        return f"{request.url.scheme}://{request.headers.get('host', '')}"

    def redirect_uri(self, request: Request[Any, Any, Any]) -> str:
        return f"{self.origin(request)}{self.base_path}/bff/callback"


class ProviderMethod(msgspec.Struct, kw_only=True):
    name: str
    login_url: str


class LoginMethods(msgspec.Struct, kw_only=True):
    methods: list[str]
    oidc: ProviderMethod | None


def oidc_of(request: Request[Any, Any, State]) -> Oidc | None:
    oidc: Oidc | None = request.app.state.oidc
    return oidc


def safe_return_to(value: str | None) -> str:
    """A same-origin path to land on after signing in; anything else (another origin, a scheme-relative
    `//host`, a backslash trick, control characters, something too long) becomes `/`."""
    if not value or len(value) > 1024 or not value.startswith("/") or not value.isprintable():
        return "/"
    if value.startswith(("//", "/\\")) or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def redirect(status: int, location: str, *set_cookies: str) -> ASGIResponse:
    """A redirect that is never cached, setting any number of cookies (Litestar's `Response` keeps
    headers in a dict: one `Set-Cookie` at most)."""
    headers = [("Location", location), ("Cache-Control", "no-store")]
    headers += [("Set-Cookie", value) for value in set_cookies]
    return ASGIResponse(status_code=status, headers=headers)


def login_error(code: str, *set_cookies: str) -> ASGIResponse:
    """The 303 every failed provider sign-in answers: the SPA's login page says what happened."""
    return redirect(HTTP_303_SEE_OTHER, f"/login?error={quote(code)}", *set_cookies)


@get(
    "/login/methods",
    summary="Which sign-ins the login page offers",
    sync_to_thread=False,
    responses=problem_responses(403),
)
def login_methods(request: Request[Any, Any, State]) -> LoginMethods:
    """No session needed: `password`, `oidc` or both, and the provider's button."""
    oidc = oidc_of(request)
    methods: list[str] = request.app.state.login_methods
    provider = ProviderMethod(name=oidc.login.name, login_url=oidc.login_url) if oidc is not None else None
    return LoginMethods(methods=list(methods), oidc=provider if "oidc" in methods else None)


@get(
    "/login/oidc",
    summary="Start a sign-in at the provider (a page navigation)",
    status_code=HTTP_302_FOUND,
    responses={
        302: ResponseSpec(None, description="to the provider's authorization endpoint"),
        303: LOGIN_ERROR,
        **problem_responses(404, s404="`not_found`: no identity provider is configured"),
    },
)
async def login_oidc(
    request: Request[Any, Any, State], return_to: str | None = None, prompt: str | None = None
) -> ASGIResponse:
    """302 to the provider's authorization endpoint with a fresh state, nonce and PKCE challenge, carried
    by a sealed flow cookie. `prompt=login` asks the provider for the password again (re-authentication).
    404 without a provider."""
    oidc = oidc_of(request)
    if oidc is None or "oidc" not in request.app.state.login_methods:
        raise ProblemError(404, "not_found", "no identity provider is configured")
    service: SessionService = request.app.state.sessions
    started = oidc.flows.start(safe_return_to(return_to), service.clock.now().timestamp())
    try:
        url = await oidc.login.authorization_url(
            started, oidc.redirect_uri(request), prompt_login=prompt == "login"
        )
    except LoginFailed as failure:
        log.warning("provider sign-in not started: %s", failure)
        return login_error(failure.code)
    return redirect(HTTP_302_FOUND, url, started.set_cookie)


@get(
    "/callback",
    summary="The provider's redirect back (a page navigation)",
    status_code=HTTP_303_SEE_OTHER,
    responses={
        303: ResponseSpec(None, description="to `return_to` signed in, or to `/login?error=<code>`"),
        **problem_responses(404, s404="`not_found`: no identity provider is configured"),
    },
)
async def callback(
    request: Request[Any, Any, State],
    code: str | None = None,
    flow_state: Annotated[str | None, QueryParameter(name="state")] = None,
    error: str | None = None,
    iss: str | None = None,
) -> ASGIResponse:
    """Check the flow, redeem the code, check the ID token, get core tokens by token exchange and start
    the session; 303 to `return_to`. Every failure is a 303 to `/login?error=<code>`."""
    oidc = oidc_of(request)
    if oidc is None:
        raise ProblemError(404, "not_found", "no identity provider is configured")
    service: SessionService = request.app.state.sessions
    cookies = [value for name, value in request.scope["headers"] if name == b"cookie"]
    try:
        flow, clear = oidc.flows.finish(cookies, flow_state or "", service.clock.now().timestamp())
    except FlowExpired:
        # An unknown, reused or expired flow; the provider's own error (a cancel) says more when given.
        return login_error("login_cancelled" if error == "access_denied" else "login_expired")
    if error is not None:
        log.info("the provider answered error=%r", error[:64])
        return login_error("login_cancelled" if error == "access_denied" else "login_failed", clear)
    if iss is not None and iss != oidc.login.provider.issuer:
        log.warning("a callback named another issuer (RFC 9207)")
        return login_error("login_failed", clear)
    if not code or len(code) > 2048:
        return login_error("login_failed", clear)
    try:
        id_token, claims = await oidc.login.redeem(code, flow, oidc.redirect_uri(request))
        signed_in = await service.login_with_provider(
            id_token,
            claims,
            ip=request.app.state.client_address(request.scope),
            user_agent=request.headers.get("user-agent", ""),
            headers=request.scope["headers"],
        )
    except LoginFailed as failure:
        log.warning("provider sign-in failed: %s", failure)
        return login_error(failure.code, clear)
    except CoreUnavailable:
        return login_error("provider_unavailable", clear)
    except GrantRefused as refusal:
        log.warning("the core refused a provider sign-in: %s %s", refusal.status, refusal.error)
        code_ = "provider_unavailable" if refusal.status >= 500 else "login_failed"
        return login_error(code_, clear)
    except ProblemError as problem:
        log.warning("provider sign-in failed: %s", problem.code)
        return login_error("provider_unavailable" if problem.status >= 500 else "login_failed", clear)
    # Two cookies in one answer: the flow's removal and the new session.
    return redirect(HTTP_303_SEE_OTHER, flow.return_to, clear, signed_in.set_cookie)


@post(
    "/backchannel-logout",
    summary="OIDC Back-Channel Logout (called by the provider)",
    status_code=200,
    responses={
        200: ResponseSpec(None, description="the provider session's BFF sessions are ended"),
        400: ResponseSpec(OAuthError, description="`invalid_request`: not an acceptable logout token"),
        503: ResponseSpec(
            OAuthError, description="`temporarily_unavailable`: the provider's keys are out of reach"
        ),
        **problem_responses(404, s404="`not_found`: no identity provider is configured"),
    },
)
async def backchannel_logout(request: Request[Any, Any, State]) -> Response[Any]:
    """Form `logout_token=<JWT>`: end the provider session's BFF sessions on every instance. 200 with
    `Cache-Control: no-store`; 400 `{"error": "invalid_request"}` for anything not acceptable."""
    oidc = oidc_of(request)
    if oidc is None:
        raise ProblemError(404, "not_found", "no identity provider is configured")
    refused = Response({"error": "invalid_request"}, status_code=400, headers=NO_STORE)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return refused
    body = await request.body()
    if len(body) > MAX_LOGOUT_FORM:
        return refused
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return refused
    tokens = form.get("logout_token", [])
    if len(tokens) != 1:
        return refused
    service: SessionService = request.app.state.sessions
    try:
        claims, replay_key = await oidc.login.check_logout_token(tokens[0])
    except InvalidLogoutToken as exc:
        log.warning("refused a back-channel logout: %s", exc)
        return refused
    except ProviderUnavailable as exc:
        log.warning("cannot check a back-channel logout now: %s", exc)
        return Response({"error": "temporarily_unavailable"}, status_code=503, headers=NO_STORE)
    if not await service.first_logout_token(replay_key):
        log.warning("refused a replayed back-channel logout")
        return refused
    ended = await service.end_provider_sessions(claims.get("sid"), claims.get("sub"))
    log.info("back-channel logout ended %d session(s)", ended)
    return Response(None, status_code=200, headers=NO_STORE)
