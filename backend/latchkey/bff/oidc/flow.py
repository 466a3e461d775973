"""The sealed cookie that carries one sign-in through the provider (SPEC §11): its `state`, `nonce`, PKCE
verifier and `return_to`, from `/bff/login/oidc` to `/bff/callback`.

One cookie per flow, named after a digest of its `state` (`…-flow-<16 hex>`), so two tabs signing in at
once each find their own. `HttpOnly`, `Secure` as the session cookie, `SameSite=Lax` (the provider's
redirect back is a cross-site top-level navigation, which Lax lets through and Strict would not), Path the
callback's, no Domain, `Max-Age` 600. The value is AES-256-GCM under a subkey of the cookie key ring
(purpose `oidc-flow`), the cookie's name bound in as associated data, and its issue time inside: a
value from another flow, another name, another key or older than 10 minutes is no flow at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from latchkey.sealing import KeyRing

FLOW_SECONDS = 600
PURPOSE = b"oidc-flow"
MAX_VALUE_CHARS = 4096
MAX_RETURN_TO = 2048


class Flow(msgspec.Struct, frozen=True, array_like=True):
    state: str
    nonce: str
    verifier: str
    return_to: str
    issued_at: int


@dataclass(frozen=True, slots=True)
class StartedFlow:
    flow: Flow
    set_cookie: str

    @property
    def challenge(self) -> str:
        """The PKCE S256 `code_challenge` of the flow's verifier (RFC 7636 §4.2)."""
        digest = hashlib.sha256(self.flow.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FlowExpired(Exception):
    """No flow matches: unknown, reused, tampered with or older than 10 minutes (`login_expired`)."""


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Flow).decode


class FlowCookies:
    """Starts and finishes flows: `start` makes one and its `Set-Cookie`; `finish` finds and checks the
    cookie of a callback's `state` and returns the flow with the `Set-Cookie` that removes it."""

    def __init__(self, ring: KeyRing, *, secure: bool, path: str) -> None:
        self.ring = ring
        self.secure = secure
        self.path = path
        self._prefix = "__Secure-latchkey-flow-" if secure else "latchkey-flow-"
        attributes = [f"Path={path}"]
        if secure:
            attributes.append("Secure")
        attributes += ["HttpOnly", "SameSite=Lax"]
        self._attributes = "; ".join(attributes)

    def name(self, state: str) -> str:
        return self._prefix + hashlib.sha256(state.encode("utf-8", "replace")).hexdigest()[:16]

    def start(self, return_to: str, now: float) -> StartedFlow:
        flow = Flow(
            state=secrets.token_urlsafe(32),  # 256 bits each
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),  # 64 characters of [A-Za-z0-9_-]: RFC 7636's 43-128
            return_to=return_to[:MAX_RETURN_TO],
            issued_at=int(now),
        )
        name = self.name(flow.state)
        value = self.ring.seal_value(PURPOSE, _encode(flow), name.encode())
        cookie = f"{name}={value}; Max-Age={FLOW_SECONDS}; {self._attributes}"
        return StartedFlow(flow, cookie)

    def finish(self, cookie_headers: Iterable[bytes], state: str, now: float) -> tuple[Flow, str]:
        """The flow of `state` and the `Set-Cookie` that clears its cookie, or FlowExpired."""
        if not state or len(state) > 512:
            raise FlowExpired
        name = self.name(state)
        clear = f"{name}=; Max-Age=0; {self._attributes}"
        for value in _values(cookie_headers, name):
            flow = self._open(value, name)
            if flow is None:
                continue
            if not hmac.compare_digest(flow.state.encode(), state.encode()):
                continue
            if not 0 <= now - flow.issued_at <= FLOW_SECONDS:
                raise FlowExpired
            return flow, clear
        raise FlowExpired

    def _open(self, value: str, name: str) -> Flow | None:
        if len(value) > MAX_VALUE_CHARS:
            return None
        plain = self.ring.open_value(PURPOSE, value, name.encode())
        if plain is None:
            return None
        try:
            return _decode(plain)
        except (msgspec.DecodeError, TypeError):
            return None


def _values(cookie_headers: Iterable[bytes], name: str) -> list[str]:
    prefix = name.encode("ascii") + b"="
    found: list[str] = []
    for header in cookie_headers:
        for part in header.split(b";"):
            part = part.strip()
            if part.startswith(prefix):
                try:
                    found.append(part[len(prefix) :].decode("ascii"))
                except UnicodeDecodeError:
                    continue
    return found
