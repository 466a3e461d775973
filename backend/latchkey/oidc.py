"""An OpenID Provider as both apps see it (SPEC §11): its discovery document and signing keys, fetched
when first needed and cached, and the checks of the JWTs it signs (ID tokens, back-channel logout tokens).

- Discovery: `{issuer}/.well-known/openid-configuration`, whose `issuer` must equal the configured one
  exactly. A failed fetch is retried at the next need, so an app starts while the provider is down.
- Keys: the provider's JWKS. A token whose `kid` is unknown refetches it, at most once a minute
  (`REFETCH_INTERVAL`), so a rotation at the provider is picked up at the next login without a restart,
  and a flood of tokens with invented `kid`s costs at most one fetch a minute.
- Tokens: signed with an asymmetric algorithm the key allows (never `none` nor an HMAC one, whose key
  would be public), with `iss`, `aud`, `exp` and `iat` checked by PyJWT and the rest by the callers.

HTTP goes through aiohttp, the client both apps already use; answers are bounded in size and time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from jwt import PyJWK, PyJWKSet

log = logging.getLogger("latchkey.oidc")

# Asymmetric algorithms only: a provider's keys are public, so an HMAC "signature" proves nothing.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
REFETCH_INTERVAL = 60.0
HTTP_TIMEOUT = 10.0
MAX_DOCUMENT_BYTES = 256 * 1024
LEEWAY = 60  # seconds of clock skew allowed on exp, iat and nbf


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered something unusable."""


class InvalidToken(Exception):
    """A JWT the provider did not sign, or whose claims are not acceptable; the message says why."""


@dataclass(frozen=True, slots=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


class Provider:
    """One OpenID Provider. `start`/`close` open and close its HTTP client (call them in the app's
    lifespan); everything else fetches on demand."""

    def __init__(self, issuer: str, *, refetch_interval: float = REFETCH_INTERVAL) -> None:
        self.issuer = issuer
        self._refetch_interval = refetch_interval
        self._http: aiohttp.ClientSession | None = None
        self._discovery: Discovery | None = None
        self._keys: dict[str, PyJWK] = {}
        self._algorithms: dict[int, str] = {}  # a key's own `alg`, when its JWK names one
        self._refetched_at: float | None = None  # the last refetch an unknown kid caused
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT),
                trust_env=False,
                headers={"Accept": "application/json"},
            )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("Provider.start() was not called")
        return self._http

    # --- discovery and keys ----------------------------------------------------------------------

    async def discovery(self) -> Discovery:
        if self._discovery is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self.get_json(url)
            issuer = document.get("issuer")
            if issuer != self.issuer:
                raise ProviderUnavailable(
                    f"the discovery document names issuer {issuer!r}, not {self.issuer!r}"
                )
            try:
                found = Discovery(
                    issuer=issuer,
                    authorization_endpoint=_url(document, "authorization_endpoint"),
                    token_endpoint=_url(document, "token_endpoint"),
                    jwks_uri=_url(document, "jwks_uri"),
                    end_session_endpoint=_url(document, "end_session_endpoint", required=False),
                )
            except ValueError as exc:
                raise ProviderUnavailable(str(exc)) from None
            self._discovery = found
        return self._discovery

    async def key(self, kid: str | None) -> PyJWK:
        """The signing key named `kid` (or the only key, when the token names none)."""
        found = self._find(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self._find(kid)
            if found is not None:
                return found
            if self._keys:
                # An unknown kid after the first fetch: a rotation, or an invented kid. Refetch, but at most
                # once per interval, whoever asks.
                now = time.monotonic()
                if self._refetched_at is not None and now - self._refetched_at < self._refetch_interval:
                    raise InvalidToken("signed with an unknown key")
                self._refetched_at = now
            await self._fetch_keys()
        found = self._find(kid)
        if found is None:
            raise InvalidToken("signed with an unknown key")
        return found

    def _find(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _fetch_keys(self) -> None:
        self.use_keys(await self.get_json((await self.discovery()).jwks_uri))

    def use_keys(self, document: dict[str, Any]) -> None:
        """Take the signing keys of a JWKS document (its keys of unknown types are skipped)."""
        keys: dict[str, PyJWK] = {}
        algorithms: dict[int, str] = {}
        for index, entry in enumerate(document.get("keys") or []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            if entry.get("kty") not in ("RSA", "EC", "OKP"):
                continue  # a symmetric key in a public document would let anyone sign
            try:
                key = PyJWKSet.from_dict({"keys": [entry]}).keys[0]
            except (jwt.PyJWTError, KeyError, ValueError, TypeError):
                continue  # a key type or curve this library does not know: not ours to use
            keys[str(entry.get("kid", f"#{index}"))] = key
            if isinstance(entry.get("alg"), str):
                algorithms[id(key)] = entry["alg"]
        if not keys:
            raise ProviderUnavailable("the provider's JWKS holds no usable signing key")
        self._keys, self._algorithms = keys, algorithms
        log.info("fetched the provider's signing keys: %s", ", ".join(sorted(keys)))

    async def get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self.http.get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise ProviderUnavailable(f"{url} answered {response.status}")
                body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderUnavailable(f"{url}: {exc.__class__.__name__}") from None
        if len(body) > MAX_DOCUMENT_BYTES:
            raise ProviderUnavailable(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(body)
        except ValueError:
            raise ProviderUnavailable(f"{url} answered no JSON") from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"{url} answered no JSON object")
        return document

    # --- tokens ------------------------------------------------------------------------------------

    async def verify(
        self, token: str, *, audience: str, required: tuple[str, ...] = ("exp", "iat", "iss", "aud", "sub")
    ) -> dict[str, Any]:
        """The claims of a JWT this provider signed for `audience`, or InvalidToken.

        Checks the signature (an asymmetric algorithm its key allows), `iss`, `aud` (containing `audience`;
        several audiences need `azp` = `audience`, and an `azp` must be `audience`), `exp`, `iat` and `nbf`
        (60 s of skew). ProviderUnavailable when its keys cannot be fetched.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise InvalidToken(f"algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        key = await self.key(kid if isinstance(kid, str) else None)
        if self._algorithms.get(id(key)) not in (None, algorithm):
            raise InvalidToken("the key does not allow that algorithm")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": list(required)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc) or exc.__class__.__name__) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 and azp is None) or (azp is not None and azp != audience):
            raise InvalidToken("azp is not this client")
        if not isinstance(claims.get("sub", ""), str):
            raise InvalidToken("sub is not a string")
        iat = claims.get("iat")
        if iat is not None and (not isinstance(iat, int | float) or iat > time.time() + LEEWAY):
            raise InvalidToken("iat is in the future")
        return claims


def _url(document: dict[str, Any], name: str, *, required: bool = True) -> Any:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ValueError(f"the discovery document's {name} is not a URL")
    return value
