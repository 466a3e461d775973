"""Typed settings built from the environment at start-up and passed into the app factories.

Nothing here reads the environment at import time: `load_core_settings(os.environ)` and
`load_bff_settings(os.environ)` are called by the CLI (in the parent process, to fail fast) and again by
the uvicorn factory in each worker.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

Environment = Literal["production", "dev"]
T = TypeVar("T")


class SettingsError(Exception):
    """One or more settings are missing or invalid; `str()` is one line naming every variable involved."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        names = ", ".join(dict.fromkeys(name for name, _ in problems))
        reasons = "; ".join(f"{name}: {why}" for name, why in problems)
        super().__init__(f"invalid configuration ({names}): {reasons}")


class CoreSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the core API (`latchkey core`)."""

    env: Environment = "production"
    """`dev` relaxes only what SPEC §3 allows."""
    database_url: str = "sqlite+aiosqlite:///var/core.db"
    """SQLAlchemy URL of the core DB (sqlite+aiosqlite or postgresql+asyncpg)."""
    secret_key: bytes
    """32-byte key encrypting client secrets at rest and keying their lookup hash."""
    files_dir: Path = Path("var/files")
    """Where project files are stored."""
    access_token_ttl: int = 900
    """Seconds an access token from /v1/oauth/token lives."""
    refresh_token_ttl: int = 86400
    """Seconds a refresh-token chain may live."""
    secret_rotation_grace: int = 86400
    """Seconds a rotated-out client secret keeps working."""
    reauth_window: int = 900
    """Seconds after a password grant during which sensitive actions are allowed."""
    max_body_bytes: int = 104_857_600
    """Largest request body accepted (413 beyond)."""
    events_heartbeat: float = 15.0
    """Seconds between SSE heartbeats; the token is re-checked at each."""
    header_timeout: float = 10.0
    """Seconds a client has to send a request's whole head (408 and closed beyond)."""
    max_connections: int = 1000
    """Concurrent connections and requests a server process takes (503 beyond)."""
    max_streams_per_user: int = 16
    """Concurrent `/v1/events` streams per user and process (429 `too_many_streams` beyond)."""


class _Reader:
    """Collects every problem in the environment before failing, so one line can name them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[tuple[str, str]] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def parse(self, name: str, default: T, convert: Callable[[str], T]) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return convert(value)
        except ValueError as exc:
            self.problems.append((name, str(exc) or "invalid value"))
            return default

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        def convert(value: str) -> int:
            try:
                number = int(value, 10)
            except ValueError:
                raise ValueError(f"expected an integer, got {value!r}") from None
            if number < minimum or (maximum is not None and number > maximum):
                bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
                raise ValueError(f"must be {bound}")
            return number

        return self.parse(name, default, convert)

    def number(self, name: str, default: float, *, minimum: float) -> float:
        def convert(value: str) -> float:
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
            if not number >= minimum:
                raise ValueError(f"must be >= {minimum}")
            return number

        return self.parse(name, default, convert)

    def key(self, name: str) -> bytes | None:
        value = self.raw(name)
        if value is None:
            self.problems.append((name, "required (generate one with `latchkey keys generate`)"))
            return None
        try:
            return decode_key(value)
        except ValueError as exc:
            self.problems.append((name, str(exc)))
            return None

    def database_url(self, name: str, default: str) -> str:
        def convert(value: str) -> str:
            if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
                raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
            return value

        return self.parse(name, default, convert)


def decode_key(value: str) -> bytes:
    """Decode a base64url 32-byte key, refusing obvious placeholders."""
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64url") from None
    if len(key) != 32:
        raise ValueError(f"must decode to 32 bytes, got {len(key)}")
    if len(set(key)) < 8:
        raise ValueError("looks like a placeholder, not a random key")
    return key


def encode_key(key: bytes) -> str:
    """The base64url form (no padding) used in the environment."""
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def load_core_settings(env: Mapping[str, str] | None = None) -> CoreSettings:
    """Build the core's settings from the environment, or raise SettingsError naming every bad variable."""
    env = os.environ if env is None else env
    r = _Reader(env)
    mode = r.raw("LATCHKEY_ENV") or "production"
    if mode not in ("production", "dev"):
        r.problems.append(("LATCHKEY_ENV", f"must be production or dev, got {mode!r}"))
        mode = "production"
    secret_key = r.key("LATCHKEY_CORE_SECRET_KEY")
    settings = CoreSettings(
        env=mode,  # type: ignore[arg-type]
        database_url=r.database_url("LATCHKEY_CORE_DATABASE_URL", "sqlite+aiosqlite:///var/core.db"),
        secret_key=secret_key or b"",
        files_dir=Path(r.raw("LATCHKEY_CORE_FILES_DIR") or "var/files"),
        access_token_ttl=r.integer("LATCHKEY_ACCESS_TOKEN_TTL", 900, minimum=1),
        refresh_token_ttl=r.integer("LATCHKEY_REFRESH_TOKEN_TTL", 86400, minimum=1),
        secret_rotation_grace=r.integer("LATCHKEY_SECRET_ROTATION_GRACE", 86400, minimum=0),
        reauth_window=r.integer("LATCHKEY_REAUTH_WINDOW", 900, minimum=0),
        max_body_bytes=r.integer("LATCHKEY_MAX_BODY_BYTES", 104_857_600, minimum=1024),
        events_heartbeat=r.number("LATCHKEY_EVENTS_HEARTBEAT", 15.0, minimum=0.05),
        header_timeout=r.number("LATCHKEY_HEADER_TIMEOUT", 10.0, minimum=0.1),
        max_connections=r.integer("LATCHKEY_MAX_CONNECTIONS", 1000, minimum=1),
        max_streams_per_user=r.integer("LATCHKEY_MAX_STREAMS_PER_USER", 16, minimum=1),
    )
    if r.problems:
        raise SettingsError(r.problems)
    return settings


SameSite = Literal["strict", "lax", "none"]


class BffSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the BFF (`latchkey bff`)."""

    env: Environment = "production"
    """`dev` allows only `LATCHKEY_COOKIE_SECURE=false`."""
    database_url: str = "sqlite+aiosqlite:///var/bff.db"
    """SQLAlchemy URL of the session store."""
    core_url: str = "http://127.0.0.1:8001"
    """The fixed upstream: every /api call goes here and nowhere else."""
    client_secret: str
    """The client secret (`lks_…`) the BFF presents to the core's /v1/oauth/*."""
    cookie_keys: tuple[tuple[str, bytes], ...]
    """Key ring `(kid, 32-byte key)`; the first seals, all unseal."""
    cookie_name: str
    """Resolved name (`__Host-latchkey`, `__Secure-latchkey` or `latchkey` by default)."""
    cookie_domain: str | None = None
    """Domain attribute; None for a host-only cookie."""
    cookie_path: str = "/"
    """Path attribute; must path-match the base path."""
    cookie_samesite: SameSite = "strict"
    """SameSite attribute."""
    cookie_secure: bool = True
    """Secure attribute; false only in dev."""
    base_path: str = ""
    """Mount prefix of /bff and /api (empty, or `/x` without a trailing slash)."""
    session_idle_timeout: int = 1800
    """Seconds without a request before a session ends."""
    session_max_age: int = 28800
    """Absolute session lifetime in seconds."""
    public_origin: str | None = None
    """The BFF's origin as browsers see it; None: the request's own scheme and Host."""
    allowed_origins: tuple[str, ...] = ()
    """Extra origins allowed on unsafe requests and CORS."""
    upstream_timeout: float = 30.0
    """Seconds to connect to the core and receive response headers (504 beyond)."""
    max_body_bytes: int = 104_857_600
    """Largest request body accepted (413 beyond)."""
    static_dir: Path | None = None
    """A built SPA served at / with history fallback."""
    header_timeout: float = 10.0
    """Seconds a client has to send a request's whole head (408 and closed beyond)."""
    max_connections: int = 1000
    """Concurrent connections and requests a server process takes (503 beyond)."""
    trusted_proxies: tuple[str, ...] = ()
    """Networks (CIDR) of reverse proxies whose X-Forwarded-For is believed."""
    max_streams_per_session: int = 8
    """Concurrent streaming /api answers (SSE, downloads) per session (429 `too_many_streams` beyond)."""
    max_streams_per_user: int = 16
    """Concurrent streaming /api answers per user, over all their sessions (429 beyond)."""
    max_sessions_per_user: int = 20
    """Live BFF sessions per user; a new login ends the oldest beyond this."""


def _origin(value: str) -> str:
    """Normalise an origin `scheme://host[:port]`, refusing paths, wildcards and `null`."""
    from urllib.parse import urlsplit

    if value in ("*", "null"):
        raise ValueError(f"{value!r} is not allowed; list exact origins")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin like https://app.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} must be scheme://host[:port] only")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has a bad port") from None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4: does `request_path` path-match `cookie_path`?"""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def parse_key_ring(value: str) -> tuple[tuple[str, bytes], ...]:
    """`kid:base64url32[,kid:base64url32…]` → ((kid, key), …); the first entry seals."""
    ring: list[tuple[str, bytes]] = []
    for entry in value.split(","):
        kid, colon, encoded = entry.strip().partition(":")
        if not colon or not kid:
            raise ValueError("entries must be kid:base64url32")
        if not (kid.isascii() and kid.replace("-", "").replace("_", "").isalnum() and len(kid) <= 16):
            raise ValueError(f"key id {kid!r} must be 1-16 letters, digits, - or _")
        if any(kid == seen for seen, _ in ring):
            raise ValueError(f"key id {kid!r} appears twice")
        ring.append((kid, decode_key(encoded)))
    return tuple(ring)


def trusted_networks(value: str) -> tuple[str, ...]:
    """`LATCHKEY_TRUSTED_PROXIES`: comma-separated addresses or CIDRs → their normalised network forms."""
    import ipaddress

    networks: list[str] = []
    for item in value.split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def load_bff_settings(env: Mapping[str, str] | None = None) -> BffSettings:
    """Build the BFF's settings, or raise SettingsError naming every variable involved in a problem."""
    env = os.environ if env is None else env
    r = _Reader(env)
    mode = r.raw("LATCHKEY_ENV") or "production"
    if mode not in ("production", "dev"):
        r.problems.append(("LATCHKEY_ENV", f"must be production or dev, got {mode!r}"))
        mode = "production"

    client_secret = r.raw("LATCHKEY_BFF_CLIENT_SECRET")
    if client_secret is None:
        r.problems.append(("LATCHKEY_BFF_CLIENT_SECRET", "required (a developer account's client secret)"))
    elif not (client_secret.startswith("lks_") and len(client_secret) == 53 and client_secret[4:].isalnum()):
        r.problems.append(("LATCHKEY_BFF_CLIENT_SECRET", "must be a client secret lks_…"))

    keys_raw = r.raw("LATCHKEY_COOKIE_KEYS")
    keys: tuple[tuple[str, bytes], ...] = ()
    if keys_raw is None:
        r.problems.append(("LATCHKEY_COOKIE_KEYS", "required (generate one with `latchkey keys generate`)"))
    else:
        try:
            keys = parse_key_ring(keys_raw)
        except ValueError as exc:
            r.problems.append(("LATCHKEY_COOKIE_KEYS", str(exc)))

    def boolean(value: str) -> bool:
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")

    secure = r.parse("LATCHKEY_COOKIE_SECURE", True, boolean)
    if not secure and mode != "dev":
        r.problems.append(("LATCHKEY_COOKIE_SECURE", "may be false only when LATCHKEY_ENV=dev"))

    def samesite(value: str) -> SameSite:
        lowered = value.lower()
        if lowered not in ("strict", "lax", "none"):
            raise ValueError(f"must be strict, lax or none, got {value!r}")
        return lowered  # type: ignore[return-value]

    same_site: SameSite = r.parse("LATCHKEY_COOKIE_SAMESITE", "strict", samesite)
    if same_site == "none" and not secure:
        r.problems.append(("LATCHKEY_COOKIE_SAMESITE", "none requires LATCHKEY_COOKIE_SECURE=true"))
        r.problems.append(("LATCHKEY_COOKIE_SECURE", "must be true with LATCHKEY_COOKIE_SAMESITE=none"))

    def base(value: str) -> str:
        if value == "/":
            return ""
        if not value.startswith("/") or value.endswith("/") or "//" in value:
            raise ValueError("must be empty or like /prefix (leading slash, no trailing slash)")
        if not all(ch.isalnum() or ch in "/-._~" for ch in value) or "/." in value:
            raise ValueError("may hold only letters, digits and - . _ ~ between slashes")
        return value

    base_path = r.parse("LATCHKEY_BFF_BASE_PATH", "", base)

    def cookie_path_value(value: str) -> str:
        if not value.startswith("/") or any(ch in value for ch in ";, \t") or not value.isprintable():
            raise ValueError("must start with / and hold no ; , or spaces")
        return value

    cookie_path = r.parse("LATCHKEY_COOKIE_PATH", "/", cookie_path_value)
    if not path_matches(base_path or "/", cookie_path):
        r.problems.append(("LATCHKEY_COOKIE_PATH", f"{cookie_path!r} does not cover the base path"))
        r.problems.append(("LATCHKEY_BFF_BASE_PATH", f"{base_path or '/'!r} is outside the cookie path"))

    def domain_value(value: str) -> str:
        domain = value.lower().removeprefix(".")
        labels = domain.split(".")
        if not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
            raise ValueError(f"{value!r} is not a domain name")
        return domain

    cookie_domain: str | None = r.parse("LATCHKEY_COOKIE_DOMAIN", None, domain_value)

    default_name = (
        "__Host-latchkey"
        if secure and cookie_domain is None and cookie_path == "/"
        else "__Secure-latchkey"
        if secure
        else "latchkey"
    )
    name = r.raw("LATCHKEY_COOKIE_NAME") or default_name
    if not all(ch.isascii() and (ch.isalnum() or ch in "!#$%&'*+-.^_`|~") for ch in name):
        r.problems.append(("LATCHKEY_COOKIE_NAME", f"{name!r} is not a valid cookie name"))
    if name.lower().startswith("__host-") and (not secure or cookie_domain is not None or cookie_path != "/"):
        r.problems.append(("LATCHKEY_COOKIE_NAME", "a __Host- cookie needs Secure, no Domain and Path /"))
        for var, bad in (
            ("LATCHKEY_COOKIE_SECURE", not secure),
            ("LATCHKEY_COOKIE_DOMAIN", cookie_domain is not None),
            ("LATCHKEY_COOKIE_PATH", cookie_path != "/"),
        ):
            if bad:
                r.problems.append((var, "conflicts with the __Host- cookie name"))
    elif name.lower().startswith("__secure-") and not secure:
        r.problems.append(("LATCHKEY_COOKIE_NAME", "a __Secure- cookie needs Secure"))
        r.problems.append(("LATCHKEY_COOKIE_SECURE", "conflicts with the __Secure- cookie name"))

    def origins(value: str) -> tuple[str, ...]:
        return tuple(_origin(item.strip()) for item in value.split(",") if item.strip())

    public_origin = r.parse("LATCHKEY_PUBLIC_ORIGIN", None, _origin)
    no_origins: tuple[str, ...] = ()
    allowed = r.parse("LATCHKEY_ALLOWED_ORIGINS", no_origins, origins)

    def core_url(value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{value!r} must be an http(s) URL")
        return value.rstrip("/")

    idle = r.integer("LATCHKEY_SESSION_IDLE_TIMEOUT", 1800, minimum=1)
    max_age = r.integer("LATCHKEY_SESSION_MAX_AGE", 28800, minimum=1)
    static_raw = r.raw("LATCHKEY_BFF_STATIC_DIR")
    static_dir = Path(static_raw) if static_raw else None
    if static_dir is not None and not (static_dir / "index.html").is_file():
        r.problems.append(("LATCHKEY_BFF_STATIC_DIR", f"{static_raw!r} holds no index.html"))

    settings = BffSettings(
        env=mode,  # type: ignore[arg-type]
        database_url=r.database_url("LATCHKEY_BFF_DATABASE_URL", "sqlite+aiosqlite:///var/bff.db"),
        core_url=r.parse("LATCHKEY_CORE_URL", "http://127.0.0.1:8001", core_url),
        client_secret=client_secret or "",
        cookie_keys=keys,
        cookie_name=name,
        cookie_domain=cookie_domain,
        cookie_path=cookie_path,
        cookie_samesite=same_site,
        cookie_secure=secure,
        base_path=base_path,
        session_idle_timeout=idle,
        session_max_age=max_age,
        public_origin=public_origin,
        allowed_origins=allowed,
        upstream_timeout=r.number("LATCHKEY_UPSTREAM_TIMEOUT", 30.0, minimum=0.1),
        max_body_bytes=r.integer("LATCHKEY_MAX_BODY_BYTES", 104_857_600, minimum=1024),
        static_dir=static_dir,
        header_timeout=r.number("LATCHKEY_HEADER_TIMEOUT", 10.0, minimum=0.1),
        max_connections=r.integer("LATCHKEY_MAX_CONNECTIONS", 1000, minimum=1),
        trusted_proxies=r.parse("LATCHKEY_TRUSTED_PROXIES", no_origins, trusted_networks),
        max_streams_per_session=r.integer("LATCHKEY_MAX_STREAMS_PER_SESSION", 8, minimum=1),
        max_streams_per_user=r.integer("LATCHKEY_MAX_STREAMS_PER_USER", 16, minimum=1),
        max_sessions_per_user=r.integer("LATCHKEY_MAX_SESSIONS_PER_USER", 20, minimum=1),
    )
    if r.problems:
        raise SettingsError(r.problems)
    return settings
