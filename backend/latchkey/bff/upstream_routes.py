"""`LATCHKEY_BFF_ROUTES`: the TOML file of upstream routes beside the core's `/api` (SPEC §12).

```toml
[[route]]
prefix = "/billing"                 # served at {base}/billing/…; the rest of the path is appended
upstream = "http://127.0.0.1:9100"  # fixed here; a request can never choose another host
token = "user"                      # user | user_or_none | none
methods = ["GET", "POST"]           # optional; others answer 405
websocket = false                   # true: WebSocket upgrades are relayed on this route
timeout = 30                        # seconds to connect and receive headers
```

The file is read once, at start-up, with the standard library's `tomllib`. Anything wrong with it (it
cannot be read, is not TOML, has an unknown key, a missing or ill-typed field, a prefix that overlaps
`/bff`, `/api`, the probes or another route) stops start-up with one line naming the route and field:
`route 2 (/billing): methods: …`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

TokenPolicy = Literal["user", "user_or_none", "none"]
TOKEN_POLICIES: tuple[TokenPolicy, ...] = ("user", "user_or_none", "none")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Paths a route may not take (nor lie under, nor contain): the BFF's own, the core's proxy, the probes.
RESERVED = ("/bff", "/api", "/healthz", "/readyz", "/schema")
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 3600.0
_KEYS = frozenset({"prefix", "upstream", "token", "methods", "websocket", "timeout"})
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/")


@dataclass(frozen=True, slots=True)
class UpstreamRoute:
    """One configured route. `prefix` is without the base path; `upstream` has no trailing slash (its
    own path, if any, is the base the rest of the request path is appended to); `methods` None means
    every method."""

    prefix: str
    upstream: str
    token: TokenPolicy = "user"
    methods: frozenset[str] | None = None
    websocket: bool = False
    timeout: float = DEFAULT_TIMEOUT

    def allows(self, method: str) -> bool:
        return self.methods is None or method in self.methods


class RouteFileError(ValueError):
    """What is wrong with the routes file, in one line."""


def _shown(value: str) -> str:
    """A name from the file as the one-line refusal shows it: quoted when it holds control characters."""
    return value if value.isprintable() else repr(value)


def _overlaps(one: str, other: str) -> bool:
    return one == other or one.startswith(other + "/") or other.startswith(one + "/")


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a path like /billing")
    if not value.startswith("/") or value.endswith("/") or "//" in value or value == "/":
        raise ValueError(f"{value!r} must look like /billing (leading slash, no trailing slash)")
    if not _PREFIX_CHARS.issuperset(value) or "/." in value:
        raise ValueError(f"{value!r} may hold only letters, digits and - . _ ~ between slashes")
    for reserved in RESERVED:
        if _overlaps(value, reserved):
            raise ValueError(f"{value!r} overlaps {reserved}, which the BFF serves itself")
    return value


def _upstream(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an http(s) URL")
    if not value.isprintable() or " " in value:
        # urlsplit drops tabs and newlines silently; the URL used would still hold them.
        raise ValueError(f"{value!r} may not hold spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} may not carry a query, a fragment or credentials")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ValueError(f"{value!r} has a bad port") from None
    return value.rstrip("/")


def _token(value: Any) -> TokenPolicy:
    for policy in TOKEN_POLICIES:
        if value == policy:
            return policy
    raise ValueError(f"must be user, user_or_none or none, got {value!r}")


def _methods(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a non-empty list of method names")
    methods = frozenset(item.upper() for item in value)
    unknown = sorted(methods - METHODS)
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(_shown(name) for name in unknown)}")
    return methods


def _websocket(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_TIMEOUT:
        raise ValueError(f"must be a number of seconds in (0, {MAX_TIMEOUT:.0f}]")
    return float(value)


def _route(index: int, table: Any) -> UpstreamRoute:
    where = f"route {index}"
    if not isinstance(table, dict):
        raise RouteFileError(f"{where}: must be a table ([[route]])")
    if isinstance(table.get("prefix"), str):
        where += f" ({_shown(table['prefix'])})"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise RouteFileError(f"{where}: unknown field(s) {', '.join(_shown(name) for name in unknown)}")
    for required in ("prefix", "upstream"):
        if required not in table:
            raise RouteFileError(f"{where}: {required}: required")
    fields: dict[str, Any] = {}
    parsers = {
        "prefix": _prefix,
        "upstream": _upstream,
        "token": _token,
        "methods": _methods,
        "websocket": _websocket,
        "timeout": _timeout,
    }
    for key, value in table.items():
        try:
            fields[key] = parsers[key](value)
        except ValueError as exc:
            raise RouteFileError(f"{where}: {key}: {exc}") from None
    return UpstreamRoute(**fields)


def parse_routes(text: str) -> tuple[UpstreamRoute, ...]:
    """The routes of a routes file's text, or RouteFileError naming the route and field."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RouteFileError(f"not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"route"})
    if unknown:
        shown = ", ".join(_shown(name) for name in unknown)
        raise RouteFileError(f"unknown top-level key(s) {shown}; routes are [[route]] tables")
    tables = document.get("route", [])
    if not isinstance(tables, list):
        raise RouteFileError("route: must be an array of tables ([[route]])")
    routes = tuple(_route(index, table) for index, table in enumerate(tables, start=1))
    for index, route in enumerate(routes, start=1):
        for earlier_index, earlier in enumerate(routes[: index - 1], start=1):
            if _overlaps(route.prefix, earlier.prefix):
                clash = f"overlaps route {earlier_index} ({earlier.prefix})"
                raise RouteFileError(f"route {index} ({route.prefix}): prefix: {clash}")
    return routes


def load_routes(value: str) -> tuple[UpstreamRoute, ...]:
    """The `LATCHKEY_BFF_ROUTES` parser: read and check the file the variable names."""
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RouteFileError(f"cannot read {value!r}: {exc.__class__.__name__}") from None
    return parse_routes(text)
