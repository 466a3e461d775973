"""Fields that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded, either way.

Besides the fixed set, a `Connection` field may name more fields as hop-by-hop; both directions drop
those too (`connection_named`).
"""

from __future__ import annotations

# RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy ones proxies still meet.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"trailer",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)

# A `Connection` value naming nothing but hop-by-hop fields (what browsers send) needs no filtering.
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close", b"Keep-Alive", b"Close"})
_NOTHING: frozenset[bytes] = frozenset()


def joined_connection(seen: bytes | None, value: bytes) -> bytes:
    """Several `Connection` fields read as one list."""
    return value if seen is None else seen + b"," + value


def connection_named(connection: bytes | None) -> frozenset[bytes]:
    """The (lower-case) field names a `Connection` value makes hop-by-hop; empty for the plain values."""
    if connection is None or connection in _PLAIN_CONNECTION:
        return _NOTHING
    return frozenset(token.strip().lower() for token in connection.split(b","))
