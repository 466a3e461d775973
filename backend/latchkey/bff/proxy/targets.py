"""What the proxy accepts as a request line: the raw target (path and query, judged as the browser sent
them, before any decoding), the method, and the browser's request id.

A target is forwarded byte for byte or refused whole (400 `invalid_path`): nothing is normalised, so the
core's router sees exactly what was judged here. No regex: a few byte scans per request.
"""

from __future__ import annotations

import secrets

from litestar.types import HTTPScope

from latchkey.problems import ProblemError

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_ALLOW = ", ".join(_ORDER)

# Bytes never allowed raw in the forwarded path: controls, space, DEL, non-ASCII, and the characters a
# conforming client always percent-encodes in a path (WHATWG path percent-encode set), plus `\`, which
# some servers and every browser read as `/`.
_PATH_REFUSED = bytes(range(0x21)) + b'"#<>?\\`{}\x7f' + bytes(range(0x80, 0x100))
_QUERY_REFUSED = bytes(range(0x21)) + b"#\x7f" + bytes(range(0x80, 0x100))
# Percent-escapes the core's router would decode into structure (`.` `/` `\`) or a control character.
_REFUSED_ESCAPES = {*range(0x20), 0x7F, ord("."), ord("/"), ord("\\")}
_HEX = "0123456789abcdefABCDEF"
_SAFE_ESCAPES = frozenset(
    (high + low).encode() for high in _HEX for low in _HEX if int(high + low, 16) not in _REFUSED_ESCAPES
)
_REQUEST_ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
_MAX_REQUEST_ID = 128


def checked_path(raw: bytes) -> str | None:
    """The still-encoded path to forward, or None when it must be refused with 400 invalid_path."""
    if (
        not raw.startswith(b"/")
        or len(raw.translate(None, _PATH_REFUSED)) != len(raw)
        # `//` could become an authority on the other side, and is never a useful path.
        or b"//" in raw
    ):
        return None
    at = raw.find(b"%")
    while at != -1:
        if raw[at + 1 : at + 3] not in _SAFE_ESCAPES:
            return None
        at = raw.find(b"%", at + 3)
    if b"/." in raw and any(segment in (b".", b"..") for segment in raw.split(b"/")):
        return None
    return raw.decode("ascii")


def checked_query(raw: bytes) -> str | None:
    """The query string to forward as received, or None when it holds raw controls or non-ASCII."""
    if len(raw.translate(None, _QUERY_REFUSED)) != len(raw):
        return None
    return raw.decode("ascii")


def upstream_target(scope: HTTPScope, mount: bytes) -> str:
    """The path and query to ask the upstream for: the raw target under `mount`, checked; raises 400
    `invalid_path` otherwise. Judged as the browser sent it: uvicorn has already decoded scope["path"]."""
    raw = scope.get("raw_path") or scope["path"].encode()
    path = checked_path(raw[len(mount) :]) if raw.startswith(mount) else None
    query = checked_query(scope["query_string"])
    if path is None or query is None:
        raise ProblemError(400, "invalid_path", "the request path is not allowed")
    return path + "?" + query if query else path


def allowed_method(method: str) -> str:
    """The method, when the proxy forwards it; raises 405 `method_not_allowed` (with `Allow`) otherwise."""
    if method not in METHODS:
        raise ProblemError(405, "method_not_allowed", headers={"Allow": _ALLOW})
    return method


class RouteMethods:
    """The methods one mount forwards (a configured route's `methods`, or all of METHODS), with its
    `Allow` value written once at start-up."""

    __slots__ = ("allow", "allowed")

    def __init__(self, methods: frozenset[str] | None) -> None:
        self.allowed = METHODS if methods is None else METHODS & methods
        self.allow = ", ".join(method for method in _ORDER if method in self.allowed)

    def check(self, method: str) -> str:
        """The method, when this mount forwards it; raises 405 `method_not_allowed` (with this mount's
        `Allow`) otherwise."""
        if method not in self.allowed:
            raise ProblemError(405, "method_not_allowed", headers={"Allow": self.allow})
        return method


def valid_request_id(value: bytes) -> bool:
    """Whether a browser's `X-Request-ID` is plain enough to pass on (and to land in logs)."""
    return 0 < len(value) <= _MAX_REQUEST_ID and not value.translate(None, _REQUEST_ID_CHARS)


def request_id_for(value: bytes | None) -> bytes:
    """The id this request goes by: the browser's when valid, else a fresh random one."""
    if value is None or not valid_request_id(value):
        return secrets.token_hex(16).encode()
    return value
