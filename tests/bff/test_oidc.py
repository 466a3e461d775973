"""Sign-in through a real OpenID Provider (SPEC §11): `oidc-provider` (tests/oidc.py) in front of a core and
a BFF configured for it. The browser's side is played by httpx (cookies sent by hand, as Secure cookies are
never sent over http by httpx) and by `ProviderBrowser` at the provider's own pages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from latchkey import devstack
from tests.oidc import (
    ProviderAccount,
    ProviderBrowser,
    ProviderClient,
    ProviderConfig,
    Redirect,
    new_signing_jwks,
    sign_in_and_exchange,
    start_provider,
)
from tests.support import (
    BffServer,
    CoreServer,
    bff_env,
    free_port,
    migrated_database_url,
    start_core,
    stop_bff,
    stop_core,
    unique_email,
)

PASSWORD = "correct horse battery staple"
SESSION_COOKIE = "__Host-latchkey"
CSRF = {"X-CSRF": "1"}


class Recorder:
    """The provider's back-channel calls pass through here on their way to the BFF, so a test can replay
    a real logout token."""

    def __init__(self) -> None:
        self.port = free_port()
        self.target = ""
        self.bodies: list[bytes] = []
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/backchannel", self.forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        async with httpx.AsyncClient(trust_env=False) as http:
            answer = await http.post(
                self.target, content=body, headers={"Content-Type": request.headers["Content-Type"]}
            )
        return web.Response(status=answer.status_code, body=answer.content)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class Stack:
    provider: devstack.Process | None
    config: ProviderConfig
    client: ProviderClient
    core: CoreServer
    bff: BffServer
    recorder: Recorder
    workdir: Path
    port: int
    people: list[ProviderAccount] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.bff.url

    def person(self) -> ProviderAccount:
        account = self.config.accounts[len(self.people)]
        self.people.append(account)
        return account

    async def stop_provider(self) -> None:
        if self.provider is not None:
            await asyncio.to_thread(self.provider.stop)
            self.provider = None

    async def start_provider(self, config: ProviderConfig | None = None) -> None:
        self.config = config or self.config
        self.provider = await asyncio.to_thread(start_provider, self.workdir / "oidc", self.port, self.config)


async def start_stack(
    backend: str, workdir: Path, *, provider_up: bool = True, **bff_overrides: str
) -> Stack:
    port, bff_port = free_port(), free_port()
    recorder = Recorder()
    await recorder.start()
    bff_url = devstack.local_url(bff_port)
    client = ProviderClient.for_bff(
        bff_url, backchannel_logout_uri=f"http://127.0.0.1:{recorder.port}/backchannel"
    )
    accounts = [ProviderAccount(email=unique_email("oidc"), password=PASSWORD) for _ in range(12)]
    config = ProviderConfig(issuer=devstack.local_url(port), clients=[client], accounts=accounts)
    provider = (
        await asyncio.to_thread(start_provider, workdir / "oidc", port, config) if provider_up else None
    )
    oidc = {"LATCHKEY_OIDC_ISSUER": config.issuer, "LATCHKEY_OIDC_CLIENT_ID": client.client_id}
    core = await start_core(backend, workdir / "core", **oidc)
    service = await core.create_user(developer=True, forwards_client_ip=True, name="BFF")
    database = await migrated_database_url(backend, workdir / "bff", "bff")
    env = bff_env(
        core,
        database,
        service["client_secret"],
        **oidc,
        LATCHKEY_OIDC_CLIENT_SECRET=client.client_secret,
        LATCHKEY_OIDC_NAME="Test ID",
        **bff_overrides,
    )
    bff = BffServer(env=env, workdir=workdir / "bff", port=bff_port)
    (workdir / "bff").mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(bff.migrate)
    await asyncio.to_thread(bff.start)
    recorder.target = f"{bff.url}/bff/backchannel-logout"
    return Stack(provider, config, client, core, bff, recorder, workdir, port)


async def stop_stack(stack: Stack) -> None:
    await stop_bff(stack.bff)
    await stop_core(stack.core)
    await stack.stop_provider()
    await stack.recorder.stop()


@pytest.fixture(scope="module")
async def stack(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    created = await start_stack(backend, tmp_path_factory.mktemp("oidc"))
    yield created
    await stop_stack(created)


def set_cookie(response: httpx.Response, prefix: str) -> tuple[str, str, dict[str, str]]:
    """(name, value, attributes) of the one Set-Cookie whose name starts with `prefix`."""
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(prefix)]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    first, *rest = [part.strip() for part in found[0].split(";")]
    name, _, value = first.partition("=")
    attributes = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.lower()] = val
    return name, value, attributes


@dataclass
class Started:
    location: str
    cookie: str  # `name=value` of the flow cookie

    @property
    def query(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(urlsplit(self.location).query).items()}


async def start_login(http: httpx.AsyncClient, stack: Stack, **params: str) -> Started:
    response = await http.get(f"{stack.url}/bff/login/oidc", params=params)
    assert response.status_code == 302, response.text
    assert response.headers["cache-control"] == "no-store"
    name, value, _ = set_cookie(response, "__Secure-latchkey-flow-")
    return Started(response.headers["location"], f"{name}={value}")


async def finish_login(
    http: httpx.AsyncClient, stack: Stack, back: Redirect, cookie: str | None
) -> httpx.Response:
    assert back.without_query() == f"{stack.url}/bff/callback", back.url
    headers = {"Cookie": cookie} if cookie else {}
    return await http.get(back.url, headers=headers)


def session_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    _, value, _ = set_cookie(response, SESSION_COOKIE + "=")
    return f"{SESSION_COOKIE}={value}"


async def sign_in(
    http: httpx.AsyncClient,
    stack: Stack,
    account: ProviderAccount,
    browser: ProviderBrowser | None = None,
    **params: str,
) -> tuple[str, httpx.Response, Redirect]:
    own = browser is None
    browser = browser or ProviderBrowser(stack.config.issuer)
    try:
        started = await start_login(http, stack, **params)
        back = await browser.sign_in(started.location, account.email, account.password)
        response = await finish_login(http, stack, back, started.cookie)
        return session_of(response), response, back
    finally:
        if own:
            await browser.aclose()


async def whoami(http: httpx.AsyncClient, stack: Stack, cookie: str) -> httpx.Response:
    return await http.get(f"{stack.url}/api/v1/me", headers={"Cookie": cookie, **CSRF})


def login_error(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/login?error="), location
    assert not any(
        h.startswith(SESSION_COOKIE + "=") and "Max-Age=0" not in h
        for h in response.headers.get_list("set-cookie")
    )
    return location.removeprefix("/login?error=")


# --- the routes ---------------------------------------------------------------------------------------------


async def test_the_login_page_learns_both_ways_in(stack: Stack, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{stack.url}/bff/login/methods", headers=CSRF)
    assert response.status_code == 200
    assert response.json() == {
        "methods": ["password", "oidc"],
        "oidc": {"name": "Test ID", "login_url": "/bff/login/oidc"},
    }


async def test_the_authorization_request_and_the_flow_cookie(stack: Stack, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{stack.url}/bff/login/oidc", params={"return_to": "/projects"})
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{stack.config.issuer}/")
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == stack.client.client_id
    assert query["redirect_uri"] == f"{stack.url}/bff/callback"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 22 and len(query["nonce"]) >= 22  # ≥ 128 bits each, base64url
    assert query["state"] != query["nonce"]
    assert "prompt" not in query and "max_age" not in query
    name, value, attributes = set_cookie(response, "__Secure-latchkey-flow-")
    assert "httponly" in attributes and "secure" in attributes
    assert attributes["samesite"] == "Lax" and attributes["path"] == "/bff/callback"
    assert attributes["max-age"] == "600" and "domain" not in attributes
    assert query["state"] not in value and query["nonce"] not in value  # sealed, not readable
    again = await start_login(http, stack)
    assert again.query["state"] != query["state"] and again.cookie.split("=")[0] != name  # one per flow
    asked = await start_login(http, stack, prompt="login")
    assert asked.query["prompt"] == "login" and asked.query["max_age"] == "0"


async def test_sign_in_lands_on_the_page_asked_for_with_a_session(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    account = stack.person()
    cookie, response, back = await sign_in(http, stack, account, return_to="/projects?tab=files")
    assert back.asked_for_password
    assert response.headers["location"] == "/projects?tab=files"
    assert response.headers["cache-control"] == "no-store"
    cleared = [h for h in response.headers.get_list("set-cookie") if h.startswith("__Secure-latchkey-flow-")]
    assert len(cleared) == 1 and "Max-Age=0" in cleared[0]
    me = await whoami(http, stack, cookie)
    assert me.status_code == 200 and me.json()["email"] == account.email.lower()
    session = await http.get(f"{stack.url}/bff/session", headers={"Cookie": cookie, **CSRF})
    assert session.status_code == 200 and session.json()["user"]["email"] == account.email.lower()
    assert "id_token" not in response.text and "lka_" not in session.text


async def test_two_tabs_signing_in_at_once_both_succeed(stack: Stack, http: httpx.AsyncClient) -> None:
    account = stack.person()
    async with ProviderBrowser(stack.config.issuer) as browser:
        first = await start_login(http, stack, return_to="/one")
        second = await start_login(http, stack, return_to="/two")
        back_second = await browser.sign_in(second.location, account.email, account.password)
        back_first = await browser.sign_in(first.location, account.email, account.password)
    # The browser sends both flow cookies with each callback.
    both = f"{first.cookie}; {second.cookie}"
    answer_first = await finish_login(http, stack, back_first, both)
    answer_second = await finish_login(http, stack, back_second, both)
    assert answer_first.headers["location"] == "/one" and answer_second.headers["location"] == "/two"
    for answer in (answer_first, answer_second):
        assert (await whoami(http, stack, session_of(answer))).status_code == 200


@pytest.mark.parametrize(
    "return_to",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "\t/x", "evil"],
)
async def test_return_to_elsewhere_lands_at_the_root(
    stack: Stack, http: httpx.AsyncClient, return_to: str
) -> None:
    started = await start_login(http, stack, return_to=return_to)
    account = stack.config.accounts[-1]
    async with ProviderBrowser(stack.config.issuer) as browser:
        back = await browser.sign_in(started.location, account.email, account.password)
    response = await finish_login(http, stack, back, started.cookie)
    assert response.headers["location"] == "/"


async def test_every_callback_failure_is_a_303_to_the_login_page(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    account = stack.person()
    async with ProviderBrowser(stack.config.issuer) as browser:
        started = await start_login(http, stack)
        back = await browser.sign_in(started.location, account.email, account.password)
        # No flow cookie (another browser, or the cookie expired): login_expired.
        assert login_error(await finish_login(http, stack, back, None)) == "login_expired"
        # Another flow's cookie: login_expired.
        other = await start_login(http, stack)
        assert login_error(await finish_login(http, stack, back, other.cookie)) == "login_expired"
        # A tampered cookie value: login_expired.
        name, value = started.cookie.split("=", 1)
        tampered = f"{name}={value[:-4]}AAAA"
        assert login_error(await finish_login(http, stack, back, tampered)) == "login_expired"
        # The right cookie, but a code the provider never issued: login_failed.
        forged = Redirect(back.url.replace(f"code={back.code}", "code=forged"))
        assert login_error(await finish_login(http, stack, forged, started.cookie)) == "login_failed"
        # The user cancels at the provider: login_cancelled.
        cancelled_flow = await start_login(http, stack, prompt="login")
        page = await browser.open(cancelled_flow.location)
        assert not isinstance(page, Redirect) and page.is_login
        cancelled = await browser.cancel(page)
        assert (
            login_error(await finish_login(http, stack, cancelled, cancelled_flow.cookie))
            == "login_cancelled"
        )
    # A callback without anything, or with garbage: never a 500.
    for query in ("", "?state=x", "?code=x&state=" + "y" * 600, "?error=server_error&state=x"):
        response = await http.get(f"{stack.url}/bff/callback{query}")
        assert response.status_code == 303, (query, response.text)


async def test_a_reused_callback_signs_nobody_in(stack: Stack, http: httpx.AsyncClient) -> None:
    account = stack.person()
    async with ProviderBrowser(stack.config.issuer) as browser:
        started = await start_login(http, stack)
        back = await browser.sign_in(started.location, account.email, account.password)
    first = await finish_login(http, stack, back, started.cookie)
    session_of(first)
    # The browser dropped the flow cookie: login_expired. Whoever kept a copy: the code is spent.
    assert login_error(await finish_login(http, stack, back, None)) == "login_expired"
    assert login_error(await finish_login(http, stack, back, started.cookie)) == "login_failed"


# --- logout -------------------------------------------------------------------------------------------------


async def test_logout_ends_the_provider_session_too(stack: Stack, http: httpx.AsyncClient) -> None:
    account = stack.person()
    async with ProviderBrowser(stack.config.issuer) as browser:
        cookie, _, _ = await sign_in(http, stack, account, browser)
        response = await http.post(f"{stack.url}/bff/logout", headers={"Cookie": cookie, **CSRF})
        assert response.status_code == 200, response.text
        assert "Max-Age=0" in response.headers["set-cookie"]
        url = response.json()["logout_url"]
        query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
        assert query["post_logout_redirect_uri"] == f"{stack.url}/"
        assert query["client_id"] == stack.client.client_id and query["id_token_hint"].count(".") == 2
        assert (await whoami(http, stack, cookie)).status_code == 401
        back = await browser.logout(url)
        assert isinstance(back, Redirect) and back.url == f"{stack.url}/"
        # Signing in again asks for the password at the provider.
        _, _, again = await sign_in(http, stack, account, browser)
        assert again.asked_for_password


async def test_a_password_session_logs_out_with_204(stack: Stack, http: httpx.AsyncClient) -> None:
    user = await stack.core.create_user(password=PASSWORD)
    login = await http.post(
        f"{stack.url}/bff/login", json={"username": user["email"], "password": PASSWORD}, headers=CSRF
    )
    assert login.status_code == 200
    _, value, _ = set_cookie(login, SESSION_COOKIE + "=")
    response = await http.post(
        f"{stack.url}/bff/logout", headers={"Cookie": f"{SESSION_COOKIE}={value}", **CSRF}
    )
    assert response.status_code == 204


async def test_a_back_channel_logout_ends_the_session_and_is_honoured_once(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    account, bystander = stack.person(), stack.person()
    async with ProviderBrowser(stack.config.issuer) as browser, ProviderBrowser(stack.config.issuer) as other:
        cookie, _, _ = await sign_in(http, stack, account, browser)
        untouched, _, _ = await sign_in(http, stack, bystander, other)
        discovery = (await http.get(f"{stack.config.issuer}/.well-known/openid-configuration")).json()
        before = len(stack.recorder.bodies)
        # The user signs out at the provider (not through the BFF): the provider tells the BFF.
        page_url = f"{discovery['end_session_endpoint']}?client_id={stack.client.client_id}"
        await browser.logout(page_url)
    assert len(stack.recorder.bodies) == before + 1
    refused = await whoami(http, stack, cookie)
    assert refused.status_code == 401 and refused.json()["code"] == "session_revoked"
    assert (await whoami(http, stack, untouched)).status_code == 200
    # The same logout token again: refused.
    replay = await http.post(
        f"{stack.url}/bff/backchannel-logout",
        content=stack.recorder.bodies[-1],
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert replay.status_code == 400 and replay.json() == {"error": "invalid_request"}
    assert replay.headers["cache-control"] == "no-store"


async def test_a_back_channel_logout_for_an_unknown_sid_ends_nothing(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    account, bystander = stack.person(), stack.person()
    async with ProviderBrowser(stack.config.issuer) as theirs, ProviderBrowser(stack.config.issuer) as mine:
        untouched, _, _ = await sign_in(http, stack, bystander, mine)
        # A provider session the BFF never saw (the sign-in went to another app of the same client).
        signed_in = await sign_in_and_exchange(theirs, stack.client, account)
        discovery = (await http.get(f"{stack.config.issuer}/.well-known/openid-configuration")).json()
        before = len(stack.recorder.bodies)
        await theirs.logout(
            f"{discovery['end_session_endpoint']}?client_id={stack.client.client_id}&id_token_hint={signed_in.id_token}"
        )
    assert len(stack.recorder.bodies) == before + 1
    assert (await whoami(http, stack, untouched)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"logout_token=",
        b"logout_token=a.b.c",
        b"logout_token=x&logout_token=y",
        b"other=1",
        b"\xff\xfe",
    ],
)
async def test_hostile_back_channel_calls_are_400(stack: Stack, http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.post(
        f"{stack.url}/bff/backchannel-logout",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400 and response.json() == {"error": "invalid_request"}


async def test_a_forged_logout_token_is_400_and_ends_nothing(stack: Stack, http: httpx.AsyncClient) -> None:
    account = stack.person()
    cookie, _, _ = await sign_in(http, stack, account)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = (await http.get(f"{stack.config.issuer}/jwks")).json()["keys"][0]["kid"]
    claims = {
        "iss": stack.config.issuer,
        "aud": stack.client.client_id,
        "iat": int(time.time()),
        "jti": "forged",
        "sub": account.sub,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    for token in (
        jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid}),
        jwt.encode({**claims, "jti": "forged-2"}, "s" * 32, algorithm="HS256", headers={"kid": kid}),
    ):
        response = await http.post(
            f"{stack.url}/bff/backchannel-logout",
            data={"logout_token": token},
        )
        assert response.status_code == 400
    wrong_type = await http.post(f"{stack.url}/bff/backchannel-logout", json={"logout_token": "x"})
    assert wrong_type.status_code == 400
    assert (await whoami(http, stack, cookie)).status_code == 200


# --- re-authentication --------------------------------------------------------------------------------------


async def test_a_provider_session_re_authenticates_at_the_provider(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    account = stack.person()
    async with ProviderBrowser(stack.config.issuer) as browser:
        cookie, _, _ = await sign_in(http, stack, account, browser)
        reauth = await http.post(
            f"{stack.url}/bff/reauthenticate", json={"password": "x"}, headers={"Cookie": cookie, **CSRF}
        )
        assert reauth.status_code == 409
        assert reauth.json()["code"] == "reauth_with_provider"
        assert reauth.json()["login_url"] == "/bff/login/oidc"
        # prompt=login: the provider asks for the password although its session is alive.
        renewed, _, back = await sign_in(http, stack, account, browser, prompt="login", return_to="/profile")
        assert back.asked_for_password
        token = await http.post(
            f"{stack.url}/api/v1/me/tokens",
            json={"name": "ci", "scopes": ["profile"], "expires_in_days": 1},
            headers={"Cookie": renewed, **CSRF},
        )
        assert token.status_code == 201, token.text


# --- the provider's keys and availability -------------------------------------------------------------------


async def test_a_rotated_signing_key_is_picked_up_without_a_restart(
    backend: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    stack = await start_stack(backend, tmp_path)
    try:
        first = stack.person()
        await sign_in(http, stack, first)
        await stack.stop_provider()
        await stack.start_provider(replace(stack.config, keys=new_signing_jwks("ES256")))
        cookie, _, _ = await sign_in(http, stack, stack.person())
        assert (await whoami(http, stack, cookie)).status_code == 200
        assert "Traceback" not in stack.bff.log() and "Traceback" not in stack.core.log()
    finally:
        await stop_stack(stack)


async def test_the_provider_down_at_start_up_and_at_login(
    backend: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    stack = await start_stack(backend, tmp_path, provider_up=False)
    try:
        # The BFF started without its provider; a sign-in says so, and password sign-in still works.
        response = await http.get(f"{stack.url}/bff/login/oidc")
        assert login_error(response) == "provider_unavailable"
        assert (await http.get(f"{stack.url}/readyz")).status_code == 200
        await stack.start_provider()
        account = stack.person()
        async with ProviderBrowser(stack.config.issuer) as browser:
            started = await start_login(http, stack)
            back = await browser.sign_in(started.location, account.email, account.password)
            # The provider goes away between its login page and the callback's code exchange.
            await stack.stop_provider()
            assert (
                login_error(await finish_login(http, stack, back, started.cookie)) == "provider_unavailable"
            )
        assert "Traceback" not in stack.bff.log()
    finally:
        await stop_stack(stack)


async def test_password_sign_in_can_be_turned_off(
    backend: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    stack = await start_stack(backend, tmp_path, LATCHKEY_LOGIN_METHODS="oidc")
    try:
        methods = await http.get(f"{stack.url}/bff/login/methods", headers=CSRF)
        assert methods.json()["methods"] == ["oidc"]
        login = await http.post(
            f"{stack.url}/bff/login", json={"username": "a@b.c", "password": "x"}, headers=CSRF
        )
        assert login.status_code == 404
        cookie, _, _ = await sign_in(http, stack, stack.person())
        assert (await whoami(http, stack, cookie)).status_code == 200
    finally:
        await stop_stack(stack)


async def test_without_a_provider_the_routes_are_404(bff: BffServer, http: httpx.AsyncClient) -> None:
    assert (await http.get(f"{bff.url}/bff/login/oidc")).status_code == 404
    assert (await http.get(f"{bff.url}/bff/callback?code=x&state=y")).status_code == 404
    assert (
        await http.post(f"{bff.url}/bff/backchannel-logout", data={"logout_token": "x"})
    ).status_code == 404
    methods = await http.get(f"{bff.url}/bff/login/methods", headers=CSRF)
    assert methods.json() == {"methods": ["password"], "oidc": None}


async def test_a_fetch_without_a_session_gets_a_401_never_a_redirect_to_the_provider(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """With a provider configured, the SPA's fetch() calls still get problem+json 401s it can act on;
    only the page navigation `/bff/login/oidc` ever redirects to the provider."""
    for method, path in (("GET", "/api/v1/me"), ("GET", "/bff/session"), ("GET", "/api/v1/projects")):
        response = await http.request(method, f"{stack.url}{path}", headers=CSRF)
        assert response.status_code == 401, (path, response.status_code)
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "no_session"
    ended = await http.get(f"{stack.url}/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}=garbage", **CSRF})
    assert ended.status_code == 401 and "location" not in ended.headers
