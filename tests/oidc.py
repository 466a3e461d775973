"""A real OpenID Provider for the tests (SPEC §11): the npm package `oidc-provider` run by
`e2e/oidc/provider.mjs`, and a browser that signs in and out of it the way a person does.

    config = ProviderConfig(
        issuer=local_url(port),
        clients=[ProviderClient.for_bff(bff_url)],
        accounts=[ProviderAccount(email="ada@example.test", password="correct horse")],
    )
    provider = start_provider(workdir, port, config)        # a devstack.Process, ready when it returns
    async with ProviderBrowser(config.issuer) as browser:
        back = await browser.sign_in(authorize_url, "ada@example.test", "correct horse")
        back.code, back.state                                 # the redirect to the client's redirect_uri
        await browser.logout(end_session_url(...))           # the provider POSTs the back-channel logout

The provider keeps its sessions in memory: a restart (e.g. with `replace(config, keys=new_signing_jwks())`
to rotate the signing key) signs everybody out. `oidc-provider` is looked up on NODE_PATH: the repository's
`node_modules`, or LATCHKEY_TEST_NODE_PATH when set.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import secrets
import shutil
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from latchkey import devstack

REPO = Path(__file__).resolve().parent.parent
PROVIDER_SCRIPT = REPO / "e2e" / "oidc" / "provider.mjs"
SCOPES = "openid email profile"
LOGIN_ERROR = "Wrong email or password."


def node_path() -> str:
    """Where `provider.mjs` finds the `oidc-provider` package."""
    return os.environ.get("LATCHKEY_TEST_NODE_PATH") or str(REPO / "node_modules")


# --- configuration ----------------------------------------------------------------------------------------


def new_signing_jwks(*algorithms: str) -> dict[str, Any]:
    """A private JWKS with a fresh key per algorithm (`RS256`, `ES256`; RS256 alone by default), each with a
    new `kid`. The first key signs the provider's tokens."""
    keys = []
    for algorithm in algorithms or ("RS256",):
        if algorithm == "RS256":
            private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private, as_dict=True)
        elif algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(private, as_dict=True)
        else:
            raise ValueError(f"unsupported signing algorithm {algorithm}")
        keys.append(
            {**jwk, "kid": f"{algorithm.lower()}-{secrets.token_hex(6)}", "alg": algorithm, "use": "sig"}
        )
    return {"keys": keys}


def public_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    """The public half of a private JWKS (what the provider's jwks_uri serves)."""
    private_members = {"d", "p", "q", "dp", "dq", "qi", "oth"}
    return {"keys": [{k: v for k, v in key.items() if k not in private_members} for key in jwks["keys"]]}


@dataclass
class ProviderClient:
    """A confidential web client of the provider (client_secret_basic, code flow, PKCE, back-channel logout
    with `sid`). `metadata` is passed to oidc-provider as is, over these."""

    client_id: str = field(default_factory=lambda: f"client-{uuid.uuid4().hex[:12]}")
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    client_name: str = "Latchkey"
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_bff(cls, origin: str, base: str = "", **overrides: Any) -> ProviderClient:
        """The BFF at `origin` (e.g. `http://127.0.0.1:8000`) under `base`, as SPEC §11 registers it."""
        root = origin.rstrip("/") + base
        registered: dict[str, Any] = {
            "redirect_uris": [f"{root}/bff/callback"],
            "post_logout_redirect_uris": [f"{origin.rstrip('/')}/"],
            "backchannel_logout_uri": f"{root}/bff/backchannel-logout",
        }
        return cls(**{**registered, **overrides})

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "client_name": self.client_name,
            "redirect_uris": self.redirect_uris,
            "post_logout_redirect_uris": self.post_logout_redirect_uris,
        }
        if self.backchannel_logout_uri is not None:
            entry["backchannel_logout_uri"] = self.backchannel_logout_uri
        return {**entry, **self.metadata}


@dataclass
class ProviderAccount:
    """Someone who can sign in at the provider with email and password."""

    email: str
    password: str
    name: str = "Provider User"
    email_verified: bool = True
    sub: str = field(default_factory=lambda: f"sub-{uuid.uuid4().hex}")

    def to_json(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "email": self.email,
            "email_verified": self.email_verified,
            "name": self.name,
            "password": self.password,
        }


@dataclass
class ProviderConfig:
    """What `e2e/oidc/provider.mjs --config` reads. `keys` is a private JWKS (None: the provider makes a key
    of its own at start, in memory)."""

    issuer: str
    clients: list[ProviderClient]
    accounts: list[ProviderAccount] = field(default_factory=list)
    keys: dict[str, Any] | None = None
    name: str = "Latchkey Test ID"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "name": self.name,
            "clients": [client.to_json() for client in self.clients],
            "accounts": [account.to_json() for account in self.accounts],
        }
        if self.keys is not None:
            document["keys"] = self.keys
        return document

    def write(self, path: Path) -> Path:
        """The JSON file (mode 0600: it holds passwords, secrets and private keys)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path


# --- the process ------------------------------------------------------------------------------------------

_started: list[devstack.Process] = []
atexit.register(lambda: devstack.stop_all([process for process in _started if process.running]))


def provider_command(config_path: Path, port: int) -> list[str]:
    node = shutil.which("node") or "node"
    return [node, str(PROVIDER_SCRIPT), "--config", str(config_path), "--port", str(port)]


def start_provider(workdir: Path, port: int, config: ProviderConfig) -> devstack.Process:
    """Write the config into `workdir` and run the provider on `port` (logging to `oidc-<port>.log` there,
    appended to across restarts); returns once its discovery document answers 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = config.write(workdir / f"oidc-{port}.json")
    process = devstack.Process(
        "oidc-provider",
        provider_command(config_path, port),
        env={**os.environ, "NODE_PATH": node_path()},
        cwd=workdir,
        log_path=workdir / f"oidc-{port}.log",
        ready_url=devstack.local_url(port, "/.well-known/openid-configuration"),
    )
    _started.append(process)
    process.start()
    return process


# --- a browser --------------------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]
    id: str | None = None


class _PageParser(HTMLParser):
    """The forms (action, hidden and prefilled inputs) and the `role="alert"` text of a provider page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.alerts: list[str] = []
        self._in_alert = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(
                Form(
                    attributes.get("action", ""),
                    attributes.get("method", "get").lower(),
                    {},
                    attributes.get("id"),
                )
            )
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")
        if attributes.get("role") == "alert":
            self._in_alert = True
            self.alerts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_alert = False

    def handle_data(self, data: str) -> None:
        if self._in_alert:
            self.alerts[-1] += data


@dataclass
class ProviderPage:
    """A page of the provider the browser stopped at (a login page, a confirmation, an error)."""

    url: str
    status_code: int
    html: str
    forms: list[Form]
    alerts: list[str]

    @property
    def is_login(self) -> bool:
        return any(form.action.endswith("/login") for form in self.forms)

    @property
    def error(self) -> str | None:
        return self.alerts[0].strip() if self.alerts else None

    def form(self, action_suffix: str = "", form_id: str | None = None) -> Form:
        for form in self.forms:
            if form.action.endswith(action_suffix) and (form_id is None or form.id == form_id):
                return form
        raise AssertionError(f"no form {form_id or action_suffix!r} on {self.url}:\n{self.html}")


@dataclass
class Redirect:
    """Where the provider sent the browser away to (a client's redirect_uri or post-logout URI)."""

    url: str
    asked_for_password: bool = False  # whether this sign-in showed the login page

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query))

    @property
    def code(self) -> str:
        return self.params["code"]

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def error(self) -> str | None:
        return self.params.get("error")

    def without_query(self) -> str:
        return self.url.split("?", 1)[0]


class SignInRefused(AssertionError):
    """The login page came back (wrong password) or asked for a password none was given for, or the provider
    stopped at an error page (e.g. an unregistered redirect_uri)."""

    def __init__(self, page: ProviderPage) -> None:
        if page.is_login:
            reason = page.error or "the login page asks for a password"
        else:
            reason = f"the provider answered {page.status_code} with a page:\n{page.html}"
        super().__init__(f"sign-in refused at {page.url}: {reason}")
        self.page = page


class ProviderBrowser:
    """A browser tab at the provider: keeps the provider's cookies between calls, follows redirects while they
    stay on the provider's origin and stops at the first that leaves it (the client's redirect_uri)."""

    def __init__(self, issuer: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(issuer)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.issuer = issuer
        self.client = httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False)
        self.visited: list[str] = []  # every provider URL requested, in order

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    def _on_provider(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    async def _follow(self, response: httpx.Response, asked: bool = False) -> Redirect | ProviderPage:
        for _ in range(20):
            if not response.is_redirect:
                parser = _PageParser()
                parser.feed(response.text)
                return ProviderPage(
                    str(response.url), response.status_code, response.text, parser.forms, parser.alerts
                )
            target = urljoin(str(response.url), response.headers["location"])
            if not self._on_provider(target):
                return Redirect(target, asked)
            self.visited.append(target)
            response = await self.client.get(target)
        raise AssertionError(f"too many redirects at the provider, last {response.url}")

    async def open(self, url: str) -> Redirect | ProviderPage:
        """GET a provider URL (an authorization request, say) and follow the provider's redirects."""
        self.visited.append(url)
        return await self._follow(await self.client.get(url))

    async def submit(self, page: ProviderPage, form: Form, fields: dict[str, str]) -> Redirect | ProviderPage:
        action = urljoin(page.url, form.action)
        self.visited.append(action)
        response = await self.client.post(action, data={**form.fields, **fields})
        return await self._follow(response, asked=page.is_login)

    async def sign_in(
        self, authorize_url: str, login: str | None = None, password: str | None = None
    ) -> Redirect:
        """Open an authorization request; when the provider shows its login page, fill it in. Returns the
        redirect back to the client (its `code` and `state`, or an `error`). `SignInRefused` when the login
        page comes back or asks for a password and none is given."""
        result = await self.open(authorize_url)
        if isinstance(result, Redirect):
            return result
        if not result.is_login or login is None or password is None:
            raise SignInRefused(result)
        after = await self.submit(result, result.form("/login"), {"login": login, "password": password})
        if isinstance(after, ProviderPage):
            raise SignInRefused(after)
        return after

    async def cancel(self, page: ProviderPage) -> Redirect:
        """Press "Cancel" on a login page: the client gets `error=access_denied`."""
        result = await self.submit(page, page.form("/abort"), {})
        assert isinstance(result, Redirect), result
        return result

    async def logout(self, end_session_url: str, *, confirm: bool = True) -> Redirect | ProviderPage:
        """Open an RP-initiated logout URL and answer its confirmation page ("Yes, sign me out", or "No" when
        not `confirm`). Confirming ends the provider session after its back-channel logouts were delivered;
        returns the redirect to the post_logout_redirect_uri, or the provider's own signed-out page."""
        page = await self.open(end_session_url)
        assert isinstance(page, ProviderPage), f"no confirmation page: {page}"
        form = page.form(form_id="op.logoutForm")
        return await self.submit(page, form, {"logout": "yes"} if confirm else {})


# --- the protocol, from the client's side -----------------------------------------------------------------


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def discover(http: httpx.AsyncClient, issuer: str) -> dict[str, Any]:
    response = await http.get(f"{issuer}/.well-known/openid-configuration")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def authorize_url(
    discovery: dict[str, Any],
    client: ProviderClient,
    pkce: Pkce,
    *,
    state: str,
    nonce: str,
    redirect_uri: str | None = None,
    scope: str = SCOPES,
    **extra: str,
) -> str:
    """An authorization request as a BFF sends it (code flow, S256), plus `extra` (e.g. prompt, max_age)."""
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri or client.redirect_uris[0],
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{discovery['authorization_endpoint']}?{urlencode(query)}"


def end_session_url(
    discovery: dict[str, Any],
    client: ProviderClient,
    *,
    id_token_hint: str | None = None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> str:
    query = {"client_id": client.client_id}
    for name, value in (
        ("id_token_hint", id_token_hint),
        ("post_logout_redirect_uri", post_logout_redirect_uri),
        ("state", state),
    ):
        if value is not None:
            query[name] = value
    return f"{discovery['end_session_endpoint']}?{urlencode(query)}"


async def exchange_code(
    http: httpx.AsyncClient,
    discovery: dict[str, Any],
    client: ProviderClient,
    code: str,
    pkce: Pkce,
    redirect_uri: str | None = None,
) -> httpx.Response:
    """The token request, authenticated with client_secret_basic."""
    return await http.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri or client.redirect_uris[0],
            "code_verifier": pkce.verifier,
        },
        auth=(client.client_id, client.client_secret),
    )


async def verify_id_token(
    http: httpx.AsyncClient, discovery: dict[str, Any], client: ProviderClient, id_token: str
) -> dict[str, Any]:
    """The ID token's claims once its signature (by the provider's JWKS), `iss`, `aud` and `exp` check out."""
    jwks = (await http.get(discovery["jwks_uri"])).json()
    header = jwt.get_unverified_header(id_token)
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        id_token,
        key.key,
        algorithms=[header["alg"]],
        audience=client.client_id,
        issuer=discovery["issuer"],
    )
    return claims


@dataclass
class SignedIn:
    """The outcome of a complete code flow: the token response and the verified ID token's claims."""

    tokens: dict[str, Any]
    claims: dict[str, Any]
    nonce: str
    redirect: Redirect

    @property
    def id_token(self) -> str:
        return str(self.tokens["id_token"])


async def sign_in_and_exchange(
    browser: ProviderBrowser,
    client: ProviderClient,
    account: ProviderAccount,
    *,
    http: httpx.AsyncClient | None = None,
    **extra: str,
) -> SignedIn:
    """A whole code flow as a client performs it, for tests that need a real ID token (e.g. the core's token
    exchange) without a BFF: authorize, sign in, exchange the code, verify the ID token."""
    own = http is None
    http = http or httpx.AsyncClient(timeout=30, trust_env=False)
    try:
        discovery = await discover(http, browser.issuer)
        pkce, state, nonce = Pkce(), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        url = authorize_url(discovery, client, pkce, state=state, nonce=nonce, **extra)
        back = await browser.sign_in(url, account.email, account.password)
        assert back.state == state and back.error is None, back.url
        response = await exchange_code(http, discovery, client, back.code, pkce)
        assert response.status_code == 200, response.text
        tokens = response.json()
        claims = await verify_id_token(http, discovery, client, tokens["id_token"])
        return SignedIn(tokens, claims, nonce, back)
    finally:
        if own:
            await http.aclose()
