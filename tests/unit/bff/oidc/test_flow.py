"""The sealed per-flow cookie of a provider sign-in (`bff/oidc/flow.py`) and `return_to` (`routes.py`)."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.oidc.flow import FLOW_SECONDS, FlowCookies, FlowExpired
from latchkey.bff.oidc.routes import safe_return_to
from latchkey.sealing import KeyRing

RING = KeyRing([("k2", bytes(range(32))), ("k1", bytes(range(1, 33)))])
NOW = 1_800_000_000.0


def cookies(ring: KeyRing = RING, secure: bool = True) -> FlowCookies:
    return FlowCookies(ring, secure=secure, path="/bff/callback")


def header(set_cookie: str) -> bytes:
    return set_cookie.split(";", 1)[0].encode()


def test_a_flow_round_trips_once_its_state_is_presented() -> None:
    flows = cookies()
    started = flows.start("/projects", NOW)
    flow, clear = flows.finish([header(started.set_cookie)], started.flow.state, NOW + 5)
    assert flow == started.flow and flow.return_to == "/projects"
    assert clear.startswith(flows.name(flow.state) + "=;") and "Max-Age=0" in clear
    assert "SameSite=Lax" in started.set_cookie and "HttpOnly" in started.set_cookie
    assert "Secure" in started.set_cookie and f"Max-Age={FLOW_SECONDS}" in started.set_cookie
    assert started.set_cookie.startswith("__Secure-latchkey-flow-") and "Domain" not in started.set_cookie
    assert not cookies(secure=False).start("/", NOW).set_cookie.startswith("__Secure-")


def test_state_nonce_and_verifier_are_fresh_and_long_and_the_challenge_is_s256() -> None:
    flows = cookies()
    seen = [flows.start("/", NOW) for _ in range(50)]
    states = {s.flow.state for s in seen} | {s.flow.nonce for s in seen}
    assert len(states) == 100
    for started in seen:
        assert len(base64.urlsafe_b64decode(started.flow.state + "=")) == 32  # 256 bits
        assert 43 <= len(started.flow.verifier) <= 128
        digest = hashlib.sha256(started.flow.verifier.encode()).digest()
        assert started.challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert started.flow.state not in started.set_cookie and started.flow.nonce not in started.set_cookie


def test_two_flows_at_once_each_find_their_own_cookie() -> None:
    flows = cookies()
    one, two = flows.start("/one", NOW), flows.start("/two", NOW)
    both = [header(one.set_cookie) + b"; " + header(two.set_cookie)]
    assert flows.finish(both, two.flow.state, NOW)[0].return_to == "/two"
    assert flows.finish(both, one.flow.state, NOW)[0].return_to == "/one"


def test_an_old_flow_is_expired() -> None:
    flows = cookies()
    started = flows.start("/", NOW)
    flows.finish([header(started.set_cookie)], started.flow.state, NOW + FLOW_SECONDS)
    with pytest.raises(FlowExpired):
        flows.finish([header(started.set_cookie)], started.flow.state, NOW + FLOW_SECONDS + 1)
    with pytest.raises(FlowExpired):  # from the future: a clock or a forgery
        flows.finish([header(started.set_cookie)], started.flow.state, NOW - 10)


def test_another_flows_cookie_a_foreign_key_or_a_tampered_value_is_no_flow() -> None:
    flows = cookies()
    started = flows.start("/", NOW)
    other = flows.start("/", NOW)
    name, value = header(started.set_cookie).decode().split("=", 1)
    with pytest.raises(FlowExpired):  # another flow's cookie renamed to this state's name
        flows.finish(
            [f"{name}={header(other.set_cookie).decode().split('=', 1)[1]}".encode()], started.flow.state, NOW
        )
    foreign = cookies(KeyRing([("k2", bytes(range(2, 34)))]))
    with pytest.raises(FlowExpired):
        foreign.finish([header(started.set_cookie)], started.flow.state, NOW)
    for bad in (value[:-2] + "AA", value.replace(".", ""), "k9." + value.split(".", 1)[1], "", "x" * 5000):
        with pytest.raises(FlowExpired):
            flows.finish([f"{name}={bad}".encode()], started.flow.state, NOW)
    with pytest.raises(FlowExpired):
        flows.finish([header(started.set_cookie)], "", NOW)
    # A rotated ring (the old key second) still opens a flow sealed before the rotation.
    rotated = cookies(KeyRing([("k3", bytes(range(3, 35))), ("k2", bytes(range(32)))]))
    assert rotated.finish([header(started.set_cookie)], started.flow.state, NOW)[0] == started.flow


@given(st.binary(max_size=300), st.text(max_size=100))
def test_any_cookie_bytes_and_state_give_a_flow_or_flow_expired_never_another_error(
    garbage: bytes, state: str
) -> None:
    flows = cookies()
    with contextlib.suppress(FlowExpired):
        flows.finish([garbage, flows.name(state).encode() + b"=" + garbage], state, NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/projects?tab=1#x", "/projects?tab=1#x"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/x\\y", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("\t/x", "/"),
        ("/x\n", "/"),
        ("/" + "a" * 2000, "/"),
    ],
)
def test_return_to_is_a_same_origin_path_or_the_root(value: str | None, expected: str) -> None:
    assert safe_return_to(value) == expected


@given(st.text(max_size=200))
def test_return_to_never_leaves_the_origin(value: str) -> None:
    result = safe_return_to(value)
    assert result.startswith("/") and not result.startswith("//") and "\\" not in result
