"""The browser's address, as the BFF reports it to the core and records it on sessions.

Without `LATCHKEY_TRUSTED_PROXIES` (the default) it is the TCP peer, and `X-Forwarded-For` is ignored: any
client can write that header. Behind TLS-terminating proxies the peer is the proxy, and every browser
would share its address (so 50 failed logins by anyone would lock out everyone's logins at the core); a
request from a listed proxy therefore has its `X-Forwarded-For` read from the right, skipping entries that
are listed proxies themselves: the first address that is not is the client (each trusted hop appended the
address it saw; anything further left was written by the client and proves nothing). A malformed entry
ends the walk at the last trusted hop.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_entry(value: str) -> Address | None:
    """An `X-Forwarded-For` entry as an address: bare, `v4:port` or `[v6]:port`; None if malformed."""
    value = value.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientAddress:
    """Callable giving the client address of an ASGI scope under the configured trusted proxies."""

    __slots__ = ("_networks",)

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(network, strict=False) for network in trusted_proxies)

    def _trusted(self, address: Address) -> bool:
        return any(address in network for network in self._networks)

    def __call__(self, scope: Any) -> str:
        client = scope.get("client")
        peer: str = client[0] if client else ""
        if not self._networks:
            return peer
        hop = parse_entry(peer)
        if hop is None or not self._trusted(hop):
            return peer
        entries: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                entries.extend(value.split(b","))
        for raw in reversed(entries):
            address = parse_entry(raw.decode("latin-1"))
            if address is None:
                break
            hop = address
            if not self._trusted(address):
                break
        return str(hop)
