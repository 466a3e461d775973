"""The checks of a back-channel logout token (`OidcLogin.check_logout_token`, OIDC Back-Channel Logout
1.0 §2.6), rule by rule, on tokens signed here with a key the provider's JWKS (in memory) publishes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from latchkey.bff.oidc.login import BACKCHANNEL_EVENT, InvalidLogoutToken, OidcLogin
from latchkey.oidc import Provider
from latchkey.settings import encode_key, load_bff_settings
from tests.unit.test_oidc import MemoryProvider, documents

ISSUER = "https://id.example.com"
CLIENT = "latchkey-bff"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWK = {**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k", "use": "sig"}


def login(provider: Provider) -> OidcLogin:
    settings = load_bff_settings(
        {
            "LATCHKEY_COOKIE_KEYS": "k1:" + encode_key(bytes(range(32))),
            "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "a" * 49,
            "LATCHKEY_OIDC_ISSUER": ISSUER,
            "LATCHKEY_OIDC_CLIENT_ID": CLIENT,
            "LATCHKEY_OIDC_CLIENT_SECRET": "s",
        }
    )
    return OidcLogin(settings, provider)


def token(**overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": int(time.time()),
        "jti": "j-1",
        "sid": "sid-1",
        "sub": "alice",
        "events": {BACKCHANNEL_EVENT: {}},
    }
    claims.update(overrides)
    return jwt.encode(
        {k: v for k, v in claims.items() if v is not None}, KEY, algorithm="RS256", headers={"kid": "k"}
    )


@dataclass(frozen=True)
class IatFromNow:
    """An `iat` this many seconds from the moment the test runs."""

    seconds: int

    def resolve(self) -> int:
        return int(time.time()) + self.seconds


@pytest.fixture
def oidc() -> OidcLogin:
    return login(MemoryProvider(documents(JWK)))


async def test_a_good_logout_token_names_its_session_and_a_replay_key(oidc: OidcLogin) -> None:
    claims, key = await oidc.check_logout_token(token())
    assert (claims["sid"], claims["sub"]) == ("sid-1", "alice")
    _, same = await oidc.check_logout_token(token(sid=None))
    assert same == key  # the key is the issuer's jti, whatever else the token says
    _, other = await oidc.check_logout_token(token(jti="j-2"))
    assert other != key
    await oidc.check_logout_token(token(sub=None))  # sid alone
    await oidc.check_logout_token(token(sid=None))  # sub alone


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"events": None}, "event"),
        ({"events": {"http://other/event": {}}}, "event"),
        ({"events": {BACKCHANNEL_EVENT: "yes"}}, "event"),
        ({"nonce": "n"}, "nonce"),
        ({"sid": None, "sub": None}, "neither"),
        ({"sid": 42}, "string"),
        ({"jti": None}, "jti"),
        ({"jti": ""}, "jti"),
        ({"iat": IatFromNow(600)}, "iat"),
        ({"iat": IatFromNow(-601 - 60)}, "iat"),
        ({"aud": "another-client"}, "audience"),
        ({"iss": "https://evil.example.com"}, "issuer"),
    ],
)
async def test_unacceptable_logout_tokens_are_refused(
    oidc: OidcLogin, overrides: dict[str, Any], reason: str
) -> None:
    # Times are taken now, as the test runs, not when the module was collected (a slow collection made the
    # "too far in the future" token an acceptable one).
    claims = {k: v.resolve() if isinstance(v, IatFromNow) else v for k, v in overrides.items()}
    with pytest.raises(InvalidLogoutToken) as refused:
        await oidc.check_logout_token(token(**claims))
    assert reason in str(refused.value).lower()


async def test_a_forged_or_unsigned_logout_token_is_refused(oidc: OidcLogin) -> None:
    forged = jwt.encode(
        {
            "iss": ISSUER,
            "aud": CLIENT,
            "iat": int(time.time()),
            "jti": "x",
            "sid": "s",
            "events": {BACKCHANNEL_EVENT: {}},
        },
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "k"},
    )
    for bad in (forged, "a.b.c", "", token().rsplit(".", 1)[0] + "."):
        with pytest.raises(InvalidLogoutToken):
            await oidc.check_logout_token(bad)
