"""The OpenID Provider the tests run (`e2e/oidc/provider.mjs`, driven by `tests/oidc.py`) works on its own:
discovery, a code flow with PKCE and client_secret_basic, signed ID tokens with the claims the BFF needs, its
login page, re-authentication, RP-initiated logout with a back-channel logout token, and key rotation."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from aiohttp import web

from latchkey import devstack
from tests.oidc import (
    LOGIN_ERROR,
    Pkce,
    ProviderAccount,
    ProviderBrowser,
    ProviderClient,
    ProviderConfig,
    ProviderPage,
    Redirect,
    SignInRefused,
    authorize_url,
    discover,
    end_session_url,
    exchange_code,
    new_signing_jwks,
    sign_in_and_exchange,
    start_provider,
    verify_id_token,
)
from tests.support import free_port

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class Receiver:
    """A client's back-channel logout endpoint: remembers every POSTed form."""

    url: str
    received: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Provider:
    config: ProviderConfig
    process: devstack.Process
    receiver: Receiver

    @property
    def issuer(self) -> str:
        return self.config.issuer

    @property
    def client(self) -> ProviderClient:
        return self.config.clients[0]

    @property
    def account(self) -> ProviderAccount:
        return self.config.accounts[0]


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    found = Receiver(devstack.local_url(port, "/bff/backchannel-logout"))

    async def backchannel_logout(request: web.Request) -> web.Response:
        found.received.append(dict(await request.post()))  # type: ignore[arg-type]
        return web.Response(status=200, headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_post("/bff/backchannel-logout", backchannel_logout)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, devstack.HOST, port).start()
    yield found
    await runner.cleanup()


def make_config(port: int, receiver: Receiver, keys: dict[str, Any] | None = None) -> ProviderConfig:
    origin = devstack.local_url(free_port())  # the client's, never contacted (it only receives redirects)
    client = ProviderClient.for_bff(origin, backchannel_logout_uri=receiver.url)
    return ProviderConfig(
        issuer=devstack.local_url(port),
        clients=[client],
        accounts=[
            ProviderAccount(email="ada@example.test", password="correct horse battery staple", name="Ada"),
            ProviderAccount(email="unverified@example.test", password="another pass", email_verified=False),
        ],
        keys=keys,
    )


@pytest.fixture(scope="module")
def provider(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    port = free_port()
    config = make_config(port, receiver)
    process = start_provider(tmp_path_factory.mktemp("oidc"), port, config)
    yield Provider(config, process, receiver)
    process.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture
async def browser(provider: Provider) -> AsyncIterator[ProviderBrowser]:
    async with ProviderBrowser(provider.issuer) as tab:
        yield tab


async def test_discovery_names_the_issuer_and_what_the_bff_relies_on(
    provider: Provider, http: httpx.AsyncClient
) -> None:
    discovery = await discover(http, provider.issuer)
    assert discovery["issuer"] == provider.issuer
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint"):
        assert discovery[endpoint].startswith(provider.issuer + "/"), endpoint
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert discovery["response_types_supported"] == ["code"]
    assert "client_secret_basic" in discovery["token_endpoint_auth_methods_supported"]
    assert discovery["backchannel_logout_supported"] is True
    assert discovery["backchannel_logout_session_supported"] is True
    assert discovery["claims_parameter_supported"] is False
    assert {"sid", "auth_time", "email", "email_verified", "name"} <= set(discovery["claims_supported"])


async def test_a_code_flow_with_pkce_gives_a_signed_id_token_with_the_session_claims(
    provider: Provider, browser: ProviderBrowser, http: httpx.AsyncClient
) -> None:
    discovery = await discover(http, provider.issuer)
    pkce, state, nonce = Pkce(), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    before = int(time.time())
    back = await browser.sign_in(
        authorize_url(discovery, provider.client, pkce, state=state, nonce=nonce),
        provider.account.email,
        provider.account.password,
    )
    assert back.asked_for_password
    assert back.without_query() == provider.client.redirect_uris[0]
    assert back.state == state
    assert back.params["iss"] == provider.issuer  # RFC 9207

    wrong = await exchange_code(http, discovery, provider.client, back.code, Pkce())
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant", wrong.text

    # A wrong verifier spent the code: sign in again (no password: the provider session is alive).
    pkce, state = Pkce(), secrets.token_urlsafe(16)
    back = await browser.sign_in(authorize_url(discovery, provider.client, pkce, state=state, nonce=nonce))
    assert not back.asked_for_password and back.state == state
    unauthenticated = await http.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": back.code,
            "redirect_uri": provider.client.redirect_uris[0],
            "code_verifier": pkce.verifier,
            "client_id": provider.client.client_id,
        },
    )
    assert unauthenticated.status_code == 401, unauthenticated.text
    response = await exchange_code(http, discovery, provider.client, back.code, pkce)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and "refresh_token" not in tokens

    claims = await verify_id_token(http, discovery, provider.client, tokens["id_token"])
    assert claims["sub"] == provider.account.sub
    assert claims["nonce"] == nonce
    assert claims["email"] == provider.account.email and claims["email_verified"] is True
    assert claims["name"] == "Ada"
    assert isinstance(claims["sid"], str) and claims["sid"]
    assert before - 1 <= claims["auth_time"] <= claims["iat"] <= int(time.time()) + 1
    assert claims["aud"] == provider.client.client_id

    # A tampered token fails the signature check.
    head, body, signature = tokens["id_token"].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with pytest.raises(jwt.InvalidSignatureError):
        await verify_id_token(http, discovery, provider.client, f"{head}.{body}.{flipped}")

    replay = await exchange_code(http, discovery, provider.client, back.code, pkce)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


async def test_an_authorization_request_without_pkce_is_refused(
    provider: Provider, browser: ProviderBrowser, http: httpx.AsyncClient
) -> None:
    discovery = await discover(http, provider.issuer)
    url = authorize_url(discovery, provider.client, Pkce(), state="s1", nonce="n1")
    without = "&".join(part for part in url.split("&") if not part.startswith("code_challenge"))
    back = await browser.open(without)
    assert isinstance(back, Redirect), back
    assert back.error == "invalid_request" and back.state == "s1"
    assert "PKCE" in back.params["error_description"]

    plain = await browser.open(url.replace("code_challenge_method=S256", "code_challenge_method=plain"))
    assert isinstance(plain, Redirect) and plain.error == "invalid_request", plain


async def test_an_unverified_email_is_said_so(provider: Provider, browser: ProviderBrowser) -> None:
    signed = await sign_in_and_exchange(browser, provider.client, provider.config.accounts[1])
    assert signed.claims["email"] == "unverified@example.test"
    assert signed.claims["email_verified"] is False


async def test_a_wrong_password_is_refused_at_the_login_page(
    provider: Provider, browser: ProviderBrowser, http: httpx.AsyncClient
) -> None:
    discovery = await discover(http, provider.issuer)
    url = authorize_url(discovery, provider.client, Pkce(), state="s", nonce="n")
    page = await browser.open(url)
    assert isinstance(page, ProviderPage) and page.is_login and page.error is None
    assert 'for="login"' in page.html and 'for="password"' in page.html and ">Sign in</button>" in page.html

    for login, password in (
        (provider.account.email, "not the password"),
        ("nobody@example.test", provider.account.password),
        (provider.account.email, ""),
    ):
        again = await browser.submit(page, page.form("/login"), {"login": login, "password": password})
        assert isinstance(again, ProviderPage) and again.is_login, again
        assert again.error == LOGIN_ERROR
        assert provider.account.password not in again.html

    with pytest.raises(SignInRefused, match=LOGIN_ERROR):
        await browser.sign_in(url, provider.account.email, "still wrong")
    # The same interaction still takes the right password (emails match case-insensitively).
    back = await browser.sign_in(url, provider.account.email.upper(), provider.account.password)
    assert back.asked_for_password and back.code and back.state == "s"


async def test_cancel_at_the_login_page_answers_access_denied(
    provider: Provider, browser: ProviderBrowser, http: httpx.AsyncClient
) -> None:
    discovery = await discover(http, provider.issuer)
    page = await browser.open(authorize_url(discovery, provider.client, Pkce(), state="c", nonce="n"))
    assert isinstance(page, ProviderPage)
    back = await browser.cancel(page)
    assert back.without_query() == provider.client.redirect_uris[0]
    assert back.error == "access_denied" and back.state == "c"


async def test_prompt_login_and_max_age_zero_ask_for_the_password_again(
    provider: Provider, browser: ProviderBrowser, http: httpx.AsyncClient
) -> None:
    account = provider.account
    first = await sign_in_and_exchange(browser, provider.client, account, http=http)
    assert first.redirect.asked_for_password

    quiet = await sign_in_and_exchange(browser, provider.client, account, http=http)
    assert not quiet.redirect.asked_for_password
    assert quiet.claims["sid"] == first.claims["sid"]
    assert quiet.claims["auth_time"] == first.claims["auth_time"]

    await asyncio.sleep(1.1)  # auth_time has a resolution of a second
    for extra in ({"prompt": "login"}, {"max_age": "0"}):
        discovery = await discover(http, provider.issuer)
        url = authorize_url(discovery, provider.client, Pkce(), state="p", nonce="n", **extra)
        with pytest.raises(SignInRefused):  # no password given: the login page is where it stops
            await browser.sign_in(url)
        again = await sign_in_and_exchange(browser, provider.client, account, http=http, **extra)
        assert again.redirect.asked_for_password, extra
        assert again.claims["auth_time"] > first.claims["auth_time"], extra


async def test_rp_initiated_logout_posts_a_back_channel_logout_token_and_ends_the_session(
    provider: Provider, browser: ProviderBrowser, http: httpx.AsyncClient
) -> None:
    signed = await sign_in_and_exchange(browser, provider.client, provider.account, http=http)
    discovery = await discover(http, provider.issuer)
    provider.receiver.received.clear()

    url = end_session_url(
        discovery,
        provider.client,
        id_token_hint=signed.id_token,
        post_logout_redirect_uri=provider.client.post_logout_redirect_uris[0],
        state="bye",
    )
    confirmation = await browser.open(url)
    assert isinstance(confirmation, ProviderPage)
    assert "Yes, sign me out" in confirmation.html
    assert provider.receiver.received == []  # nothing happens before the user confirms

    back = await browser.logout(url)
    assert isinstance(back, Redirect), back
    assert back.without_query() == provider.client.post_logout_redirect_uris[0]
    assert back.state == "bye"

    # Delivered before the provider redirected the browser.
    assert len(provider.receiver.received) == 1
    logout_token = provider.receiver.received[0]["logout_token"]
    claims = await verify_id_token(http, discovery, provider.client, logout_token)
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["sid"] == signed.claims["sid"]
    assert claims["sub"] == provider.account.sub
    assert "nonce" not in claims and claims["jti"]
    assert jwt.get_unverified_header(logout_token)["typ"] == "logout+jwt"

    # Signing in again asks for the password.
    again = await sign_in_and_exchange(browser, provider.client, provider.account, http=http)
    assert again.redirect.asked_for_password
    assert again.claims["sid"] != signed.claims["sid"]


async def test_no_stay_signed_in_ends_the_clients_session_only(
    provider: Provider, browser: ProviderBrowser, http: httpx.AsyncClient
) -> None:
    """oidc-provider's "No, stay signed in" keeps the provider session but still signs the asking client
    out (a back-channel logout for it, its grant revoked): a new sign-in there asks no password."""
    signed = await sign_in_and_exchange(browser, provider.client, provider.account, http=http)
    discovery = await discover(http, provider.issuer)
    provider.receiver.received.clear()
    url = end_session_url(discovery, provider.client, id_token_hint=signed.id_token)
    back = await browser.logout(url, confirm=False)
    assert isinstance(back, ProviderPage) and "You are signed out" in back.html
    assert len(provider.receiver.received) == 1
    still = await sign_in_and_exchange(browser, provider.client, provider.account, http=http)
    assert not still.redirect.asked_for_password
    assert still.claims["auth_time"] == signed.claims["auth_time"]


async def test_a_restart_with_a_new_jwks_serves_the_new_kid(
    receiver: Receiver, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    port = free_port()
    first_keys = new_signing_jwks("RS256")
    config = make_config(port, receiver, keys=first_keys)
    process = await asyncio.to_thread(start_provider, tmp_path, port, config)
    try:
        served = (await http.get(f"{config.issuer}/jwks")).json()
        assert [key["kid"] for key in served["keys"]] == [first_keys["keys"][0]["kid"]]
        assert not any("d" in key for key in served["keys"])  # only public halves
        async with ProviderBrowser(config.issuer) as tab:
            signed = await sign_in_and_exchange(tab, config.clients[0], config.accounts[0], http=http)
        assert jwt.get_unverified_header(signed.id_token)["kid"] == first_keys["keys"][0]["kid"]

        await asyncio.to_thread(process.stop)
        rotated = new_signing_jwks("ES256", "RS256")
        process = await asyncio.to_thread(start_provider, tmp_path, port, replace(config, keys=rotated))
        served = (await http.get(f"{config.issuer}/jwks")).json()
        assert [key["kid"] for key in served["keys"]] == [key["kid"] for key in rotated["keys"]]
        async with ProviderBrowser(config.issuer) as tab:
            # The restart forgot every session: the password is asked again, and ES256 (first) signs.
            signed = await sign_in_and_exchange(tab, config.clients[0], config.accounts[0], http=http)
        assert signed.redirect.asked_for_password
        header = jwt.get_unverified_header(signed.id_token)
        assert header["kid"] == rotated["keys"][0]["kid"] and header["alg"] == "ES256"
    finally:
        await asyncio.to_thread(process.stop)
