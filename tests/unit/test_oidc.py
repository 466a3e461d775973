"""The checks of a provider's JWTs (`latchkey/oidc.py`) against hostile tokens, with keys made here.

The provider's HTTP side (discovery, JWKS, rotation) runs against a real OpenID Provider in the
integration tests; here `get_json` answers from memory so the rules can be driven one by one.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from latchkey.oidc import InvalidToken, Provider, ProviderUnavailable

ISSUER = "https://id.example.com"
CLIENT = "latchkey-bff"


def rsa_key(kid: str) -> tuple[Any, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "use": "sig", "alg": "RS256"}


def ec_key(kid: str) -> tuple[Any, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "use": "sig"}


RSA_PRIVATE, RSA_JWK = rsa_key("r1")
EC_PRIVATE, EC_JWK = ec_key("e1")
OTHER_PRIVATE, _ = rsa_key("r1")  # same kid, another key: a forgery


class MemoryProvider(Provider):
    """A Provider whose HTTP fetches answer from `documents` and are counted."""

    def __init__(self, documents: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(ISSUER, **kwargs)
        self.documents = documents
        self.fetches: list[str] = []

    async def get_json(self, url: str) -> dict[str, Any]:
        self.fetches.append(url)
        document = self.documents.get(url)
        if document is None:
            raise ProviderUnavailable(f"{url} is down")
        return dict(document)


def documents(*jwks: dict[str, Any], issuer: str = ISSUER) -> dict[str, Any]:
    return {
        f"{ISSUER}/.well-known/openid-configuration": {
            "issuer": issuer,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "end_session_endpoint": f"{ISSUER}/logout",
        },
        f"{ISSUER}/jwks": {"keys": list(jwks)},
    }


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": CLIENT, "sub": "alice", "iat": now, "exp": now + 300, "nonce": "n"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def sign(payload: dict[str, Any], key: Any = RSA_PRIVATE, kid: str | None = "r1", alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


async def test_a_good_token_passes_and_discovery_is_cached() -> None:
    provider = MemoryProvider(documents(RSA_JWK, EC_JWK))
    assert (await provider.verify(sign(claims()), audience=CLIENT))["sub"] == "alice"
    assert (await provider.verify(sign(claims(), EC_PRIVATE, "e1", "ES256"), audience=CLIENT))[
        "sub"
    ] == "alice"
    discovery = await provider.discovery()
    assert discovery.end_session_endpoint == f"{ISSUER}/logout"
    assert provider.fetches == [f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/jwks"]


def unsigned(payload: dict[str, Any], header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: sign(claims(), OTHER_PRIVATE), "Signature verification failed"),
        (lambda: sign(claims(iss="https://evil.example.com")), "issuer"),
        (lambda: sign(claims(aud="another-client")), "audience"),
        (lambda: sign(claims(aud=[CLIENT, "another"])), "azp"),
        (lambda: sign(claims(aud=[CLIENT, "another"], azp="another")), "azp"),
        (lambda: sign(claims(azp="another")), "azp"),
        (lambda: sign(claims(exp=int(time.time()) - 120)), "expired"),
        (lambda: sign(claims(iat=int(time.time()) + 600)), "iat"),
        (lambda: sign(claims(exp=None)), "exp"),
        (lambda: sign(claims(sub=None)), "sub"),
        (lambda: sign(claims(sub=42)), "sub"),
        (lambda: unsigned(claims(), {"alg": "none", "kid": "r1"}), "algorithm"),
        (
            lambda: jwt.encode(claims(), "s" * 32, algorithm="HS256", headers={"kid": "r1"}),
            "algorithm",
        ),
        (lambda: sign(claims(), EC_PRIVATE, "r1", "ES256"), "algorithm"),  # the RSA key's own alg is RS256
        (lambda: "not.a.jwt", "not a JWT"),
        (lambda: "", "not a JWT"),
    ],
)
async def test_hostile_tokens_are_refused_with_a_reason(token: Any, reason: str) -> None:
    provider = MemoryProvider(documents(RSA_JWK, EC_JWK))
    with pytest.raises(InvalidToken) as refused:
        await provider.verify(token(), audience=CLIENT)
    assert reason.lower() in str(refused.value).lower()


async def test_an_unknown_kid_refetches_the_keys_at_most_once_a_minute() -> None:
    provider = MemoryProvider(documents(RSA_JWK))
    await provider.verify(sign(claims()), audience=CLIENT)
    rotated_private, rotated_jwk = rsa_key("r2")
    provider.documents.update(documents(rotated_jwk))  # the provider rotates its key
    assert (await provider.verify(sign(claims(), rotated_private, "r2"), audience=CLIENT))["sub"] == "alice"
    jwks_fetches = provider.fetches.count(f"{ISSUER}/jwks")
    assert jwks_fetches == 2
    for attempt in range(20):  # a flood of invented kids
        with pytest.raises(InvalidToken, match="unknown key"):
            await provider.verify(sign(claims(), rotated_private, f"invented-{attempt}"), audience=CLIENT)
    assert provider.fetches.count(f"{ISSUER}/jwks") == 2


async def test_the_refetch_interval_lets_a_later_rotation_in() -> None:
    provider = MemoryProvider(documents(RSA_JWK), refetch_interval=0.0)
    await provider.verify(sign(claims()), audience=CLIENT)
    rotated_private, rotated_jwk = rsa_key("r3")
    provider.documents.update(documents(rotated_jwk))
    assert (await provider.verify(sign(claims(), rotated_private, "r3"), audience=CLIENT))["sub"] == "alice"


async def test_a_discovery_document_for_another_issuer_is_refused_and_retried_later() -> None:
    provider = MemoryProvider(documents(RSA_JWK, issuer="https://id.example.com/"))
    with pytest.raises(ProviderUnavailable, match="issuer"):
        await provider.discovery()
    provider.documents.update(documents(RSA_JWK))
    assert (await provider.discovery()).issuer == ISSUER


async def test_the_provider_down_is_unavailable_not_invalid() -> None:
    provider = MemoryProvider({})
    with pytest.raises(ProviderUnavailable):
        await provider.verify(sign(claims()), audience=CLIENT)


async def test_a_jwks_without_a_usable_key_is_unavailable() -> None:
    provider = MemoryProvider(
        documents({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}, {"kty": "RSA", "kid": "x"})
    )
    with pytest.raises(ProviderUnavailable, match="no usable"):
        await provider.verify(sign(claims()), audience=CLIENT)
