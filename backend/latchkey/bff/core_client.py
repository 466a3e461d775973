"""The BFF as a confidential client of the core: password and refresh grants, revocation, the profile.

`CoreClient` is the HTTP side of the session service's port (`sessions/authorization_server.py`). It
speaks to the core over HTTP only, with `Authorization: Secret <client secret>` on /v1/oauth/*. The client
keeps no cookie jar and follows no redirects.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp

from latchkey.bff.sessions.authorization_server import CoreUnavailable, GrantRefused
from latchkey.bff.sessions.types import Tokens
from latchkey.clock import SYSTEM_CLOCK, Clock
from latchkey.settings import BffSettings

# The brute-force counters of a refused password grant that the browser may see (SPEC §4, the login page).
LIMIT_FIELDS = ("attempts_remaining", "lockout_seconds")


def login_limits(body: dict[str, Any]) -> dict[str, int]:
    """The counters the core put in a refused grant's answer, when they are what they claim to be."""
    return {
        name: value
        for name in LIMIT_FIELDS
        if isinstance(value := body.get(name), int) and not isinstance(value, bool) and 0 <= value <= 86_400
    }


class CoreClient:
    """`AuthorizationServer` over HTTP; a token's life is counted from when its answer arrived."""

    def __init__(self, settings: BffSettings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.clock = clock
        self._secret_header = f"Secret {settings.client_secret}"
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.settings.upstream_timeout),
            connector=aiohttp.TCPConnector(limit=64),
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "CoreClient.start() was not awaited"
        return self._http

    async def _call(
        self, method: str, path: str, *, data: dict[str, str] | None = None, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            async with self.http.request(
                method, self.settings.core_url + path, data=data, headers=headers, allow_redirects=False
            ) as response:
                body = await response.read()
                try:
                    parsed = json.loads(body) if body else {}
                except ValueError:
                    parsed = {}
                return response.status, parsed if isinstance(parsed, dict) else {}, dict(response.headers)
        except TimeoutError:
            raise CoreUnavailable(timeout=True) from None
        except aiohttp.ClientError:
            raise CoreUnavailable(timeout=False) from None

    async def _grant(self, form: dict[str, str], ip: str | None) -> Tokens:
        headers = {"Authorization": self._secret_header}
        if ip is not None:
            # Overwritten, never appended: the core trusts this header only from Secret callers.
            headers["X-Forwarded-For"] = ip
        status, body, response_headers = await self._call(
            "POST", "/v1/oauth/token", data=form, headers=headers
        )
        if status != 200:
            raise GrantRefused(
                status, str(body.get("error", "")), response_headers.get("Retry-After"), login_limits(body)
            )
        now = self.clock.now()
        return Tokens(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]),
            issued_at=now,
            expires_at=now + timedelta(seconds=int(body["expires_in"])),
        )

    async def password_grant(self, username: str, password: str, ip: str) -> Tokens:
        return await self._grant({"grant_type": "password", "username": username, "password": password}, ip)

    async def exchange_id_token(self, id_token: str, ip: str) -> Tokens:
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": id_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        }
        return await self._grant(form, ip)

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._grant({"grant_type": "refresh_token", "refresh_token": refresh_token}, None)

    async def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token's chain (RFC 7009). The core answers 200 whatever the token was, so
        anything else (429, 503, a refused client) is GrantRefused: the chain may still be alive."""
        status, body, headers = await self._call(
            "POST",
            "/v1/oauth/revoke",
            data={"token": refresh_token, "token_type_hint": "refresh_token"},
            headers={"Authorization": self._secret_header},
        )
        if status != 200:
            raise GrantRefused(status, str(body.get("error", "")), headers.get("Retry-After"))

    async def me(self, access_token: str) -> dict[str, Any]:
        status, body, _ = await self._call(
            "GET", "/v1/me", headers={"Authorization": f"Bearer {access_token}"}
        )
        if status != 200:
            raise GrantRefused(status, str(body.get("code", "")))
        return {key: body[key] for key in ("id", "email", "name", "role", "is_developer")}
