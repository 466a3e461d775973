"""The BFF as the provider's confidential client (SPEC §11): the authorization request, the code exchange
(`client_secret_basic`, with the PKCE verifier), the ID token's checks, the RP-initiated logout URL, and
the checks of a back-channel logout token.

Failures are `LoginFailed(code)` with the code the login page shows: `login_cancelled` (the user said no
at the provider), `provider_unavailable` (the provider or its keys out of reach), `login_failed`
(anything else: a bad ID token, a nonce that does not match, the provider refusing the code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp

from latchkey.bff.oidc.flow import Flow, StartedFlow
from latchkey.oidc import InvalidToken, Provider, ProviderUnavailable
from latchkey.settings import BffSettings

log = logging.getLogger("latchkey.bff.oidc")

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_LOGOUT_TOKEN_AGE = 600  # seconds
MAX_FUTURE_IAT = 60
MAX_TOKEN_ANSWER_BYTES = 64 * 1024


class LoginFailed(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class InvalidLogoutToken(Exception):
    """A back-channel logout token that must not be acted on; the message says why (logged)."""


class OidcLogin:
    def __init__(self, settings: BffSettings, provider: Provider) -> None:
        assert settings.oidc_client_id is not None
        assert settings.oidc_client_secret is not None
        self.provider = provider
        self.client_id = settings.oidc_client_id
        self.scopes = " ".join(settings.oidc_scopes)
        self.name = settings.oidc_name
        basic = f"{_form_escape(self.client_id)}:{_form_escape(settings.oidc_client_secret)}"
        self._basic = "Basic " + base64.b64encode(basic.encode()).decode("ascii")

    async def authorization_url(self, started: StartedFlow, redirect_uri: str, *, prompt_login: bool) -> str:
        try:
            endpoint = (await self.provider.discovery()).authorization_endpoint
        except ProviderUnavailable as exc:
            raise LoginFailed("provider_unavailable", str(exc)) from None
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": started.flow.state,
            "nonce": started.flow.nonce,
            "code_challenge": started.challenge,
            "code_challenge_method": "S256",
        }
        if prompt_login:
            query |= {"prompt": "login", "max_age": "0"}
        separator = "&" if "?" in endpoint else "?"
        return endpoint + separator + urlencode(query)

    async def redeem(self, code: str, flow: Flow, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        """Exchange the code at the token endpoint; the ID token and its checked claims."""
        try:
            endpoint = (await self.provider.discovery()).token_endpoint
            async with self.provider.http.post(
                endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": flow.verifier,
                },
                headers={"Authorization": self._basic, "Accept": "application/json"},
                allow_redirects=False,
            ) as response:
                body = await response.content.read(MAX_TOKEN_ANSWER_BYTES + 1)
                status = response.status
        except ProviderUnavailable as exc:
            raise LoginFailed("provider_unavailable", str(exc)) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise LoginFailed("provider_unavailable", f"token endpoint: {exc.__class__.__name__}") from None
        if status >= 500:
            raise LoginFailed("provider_unavailable", f"token endpoint answered {status}")
        try:
            answer = _json_object(body)
        except ValueError:
            raise LoginFailed("login_failed", f"token endpoint answered {status} without JSON") from None
        if status != 200:
            raise LoginFailed("login_failed", f"token endpoint refused the code: {answer.get('error')!r}")
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise LoginFailed("login_failed", "the token endpoint answered no ID token")
        claims = await self.check_id_token(id_token, flow.nonce)
        return id_token, claims

    async def check_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            claims = await self.provider.verify(id_token, audience=self.client_id)
        except InvalidToken as exc:
            raise LoginFailed("login_failed", f"ID token: {exc}") from None
        except ProviderUnavailable as exc:
            raise LoginFailed("provider_unavailable", str(exc)) from None
        presented = claims.get("nonce")
        if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), nonce.encode()):
            raise LoginFailed("login_failed", "ID token: the nonce is not this flow's")
        return claims

    async def logout_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """RP-Initiated Logout 1.0: the provider's end-session URL, or None when it has none (or is down:
        the BFF session ends either way)."""
        try:
            endpoint = (await self.provider.discovery()).end_session_endpoint
        except ProviderUnavailable as exc:
            log.warning("no provider logout URL: %s", exc)
            return None
        if endpoint is None:
            return None
        query = {"post_logout_redirect_uri": post_logout_redirect_uri, "client_id": self.client_id}
        if id_token:
            query["id_token_hint"] = id_token
        separator = "&" if "?" in endpoint else "?"
        return endpoint + separator + urlencode(query)

    async def check_logout_token(self, token: str) -> tuple[dict[str, Any], str]:
        """OIDC Back-Channel Logout 1.0 §2.6: the claims of a valid logout token and its replay key
        (a digest of issuer and `jti`), or InvalidLogoutToken / ProviderUnavailable."""
        try:
            claims = await self.provider.verify(
                token, audience=self.client_id, required=("iat", "iss", "aud")
            )
        except InvalidToken as exc:
            raise InvalidLogoutToken(str(exc)) from None
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise InvalidLogoutToken("no back-channel logout event")
        if "nonce" in claims:
            raise InvalidLogoutToken("a logout token carries no nonce")
        sid, sub = claims.get("sid"), claims.get("sub")
        if sid is None and sub is None:
            raise InvalidLogoutToken("neither sid nor sub")
        if (sid is not None and not isinstance(sid, str)) or (sub is not None and not isinstance(sub, str)):
            raise InvalidLogoutToken("sid and sub are strings")
        now = time.time()
        iat = claims["iat"]
        if iat > now + MAX_FUTURE_IAT or now - iat > MAX_LOGOUT_TOKEN_AGE:
            raise InvalidLogoutToken("iat is too far from now")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidLogoutToken("no jti")
        replay_key = hashlib.sha256(f"{self.provider.issuer}\n{jti}".encode()).hexdigest()
        return claims, replay_key


def _form_escape(value: str) -> str:
    """RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding."""
    return quote_plus(value)


def _json_object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_TOKEN_ANSWER_BYTES:
        raise ValueError("too large")
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value
