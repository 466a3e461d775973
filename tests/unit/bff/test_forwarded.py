"""The browser's address behind reverse proxies (`bff/edge/forwarded.py`): the rule on a table of chains,
hostile headers, and the setting's parser."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.edge.forwarded import ClientAddress, parse_entry
from latchkey.settings import SettingsError, load_bff_settings, trusted_networks
from tests.support import new_key


def scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {"client": (peer, 5000), "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]}


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    address = ClientAddress(())
    assert address(scope("10.0.0.5", "203.0.113.9")) == "10.0.0.5"
    assert address({"client": None, "headers": []}) == ""


def test_the_rightmost_untrusted_entry_is_the_client() -> None:
    address = ClientAddress(trusted_networks("10.0.0.0/8, 192.0.2.1"))
    # One proxy: it appended the browser's address.
    assert address(scope("10.0.0.5", "203.0.113.9")) == "203.0.113.9"
    # The browser forged entries to the left: they are ignored.
    assert address(scope("10.0.0.5", "1.1.1.1, 2.2.2.2, 203.0.113.9")) == "203.0.113.9"
    # Two trusted hops (CDN → load balancer): both skipped.
    assert address(scope("10.0.0.5", "198.51.100.4, 192.0.2.1")) == "198.51.100.4"
    # Several header lines are one list, in order.
    assert address(scope("10.0.0.5", "1.1.1.1", "198.51.100.4, 10.9.9.9")) == "198.51.100.4"
    # Ports and brackets as some proxies write them; IPv4-mapped IPv6 as the IPv4 address.
    assert address(scope("10.0.0.5", "203.0.113.9:4711")) == "203.0.113.9"
    assert address(scope("10.0.0.5", "[2001:db8::7]:4711")) == "2001:db8::7"
    assert address(scope("10.0.0.5", "::ffff:203.0.113.9")) == "203.0.113.9"
    # A peer that is not a listed proxy: its header is the client's word, ignored.
    assert address(scope("203.0.113.50", "1.2.3.4")) == "203.0.113.50"
    # A listed proxy that sent no header, or garbage: the last trusted hop.
    assert address(scope("10.0.0.5")) == "10.0.0.5"
    assert address(scope("10.0.0.5", "not-an-ip")) == "10.0.0.5"
    assert address(scope("10.0.0.5", "1.2.3.4, garbage, 10.1.1.1")) == "10.1.1.1"
    # Everything listed: the leftmost trusted address.
    assert address(scope("10.0.0.5", "10.7.7.7, 10.8.8.8")) == "10.7.7.7"


@given(st.lists(st.binary(max_size=60), max_size=5))
def test_hostile_headers_never_break_it(values: list[bytes]) -> None:
    address = ClientAddress(("127.0.0.0/8",))
    result = address({"client": ("127.0.0.1", 1), "headers": [(b"x-forwarded-for", v) for v in values]})
    assert parse_entry(result) is not None


def test_the_setting_is_parsed_and_checked() -> None:
    base = {"LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "a" * 49, "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}"}
    with pytest.raises(SettingsError, match=r"LATCHKEY_TRUSTED_PROXIES.*nonsense"):
        load_bff_settings({**base, "LATCHKEY_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"})
    assert trusted_networks("10.1.2.3/8, ::1, 192.0.2.1") == ("10.0.0.0/8", "::1/128", "192.0.2.1/32")
    assert trusted_networks("") == ()
