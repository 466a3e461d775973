"""Typed settings built from the environment at start-up and passed into the app factories.

Every setting is declared once, as a field of `ServerSettings` (both apps), `CoreSettings` or
`BffSettings`: its type, its default, and an `Env` annotation naming its variable, its parser and a
one-line meaning. One generic loader (`load_settings`) reads any of them; the cookie's parsers and the
rules that tie its fields together live with the cookie (`latchkey/bff/cookie/policy.py`), and the loader
calls them. `latchkey settings` and
`docs/configuration.md` are rendered from the same declarations (`settings_markdown`).

Nothing here reads the environment at import time: `load_core_settings(os.environ)` and
`load_bff_settings(os.environ)` are called by the CLI (in the parent process, to fail fast) and again by
the uvicorn factory in each worker.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import msgspec

from latchkey.bff.cookie.policy import (
    SameSite,
    cookie_domain,
    cookie_name,
    cookie_path,
    cookie_rules,
    same_site,
)
from latchkey.bff.upstream_routes import UpstreamRoute, load_routes

Environment = Literal["production", "dev"]
Problems = list[tuple[str, str]]
S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(Exception):
    """One or more settings are missing or invalid; `str()` is one line naming every variable involved."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        names = ", ".join(dict.fromkeys(name for name, _ in problems))
        reasons = "; ".join(f"{name}: {why}" for name, why in problems)
        super().__init__(f"invalid configuration ({names}): {reasons}")


@dataclass(frozen=True, slots=True)
class Env:
    """How a settings field is read: its variable, the parser of a non-empty value, and what it means.

    A field without a default is required (`missing` says how to get a value) unless `computed`, when the
    app's rules derive it (`shown_default` then says how, for the documentation).
    """

    variable: str
    parse: Callable[[str], Any]
    doc: str
    missing: str = "required"
    computed: bool = False
    shown_default: str | None = None


# --- parsers (each raises ValueError with the reason) -------------------------------------------------


def integer(*, minimum: int = 0, maximum: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value, 10)
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"must be {bound}")
        return number

    return parse


def number(*, minimum: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            parsed = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not parsed >= minimum:
            raise ValueError(f"must be >= {minimum}")
        return parsed

    return parse


def choice(*allowed: str, lower: bool = False) -> Callable[[str], Any]:
    def parse(value: str) -> str:
        candidate = value.lower() if lower else value
        if candidate not in allowed:
            raise ValueError(f"must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {value!r}")
        return candidate

    return parse


def boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def database_url(value: str) -> str:
    if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    return value


def redis_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError("must be a redis://host[:port][/db] or rediss://… URL")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ValueError("has a bad port") from None
    return value


LOOPBACK_HOSTS = ("localhost",)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost` (SPEC §11's "loopback")."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def issuer_url(value: str) -> str:
    """An OpenID Provider's issuer: https, or http on a loopback host (or with LATCHKEY_ENV=dev, checked by
    the rules); no query or fragment. Kept exactly as given: the discovery document must match it."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an https URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} may not carry a query, a fragment or credentials")
    return value


def scope_list(value: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(value.split()))
    if "openid" not in scopes:
        raise ValueError("must contain openid")
    if not all(scope.isascii() and scope.isprintable() and '"' not in scope for scope in scopes):
        raise ValueError("scopes are printable ASCII words")
    return scopes


def login_methods(value: str) -> tuple[str, ...]:
    methods = tuple(dict.fromkeys(item.strip().lower() for item in value.split(",") if item.strip()))
    if not methods or not set(methods) <= {"password", "oidc"}:
        raise ValueError("must be password, oidc, or password,oidc")
    return methods


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


def client_secret(value: str) -> str:
    if not (value.startswith("lks_") and len(value) == 53 and value[4:].isalnum()):
        raise ValueError("must be a client secret lks_…")
    return value


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{value!r} must be an http(s) URL")
    return value.rstrip("/")


def origin(value: str) -> str:
    """Normalise an origin `scheme://host[:port]`, refusing paths, wildcards and `null`."""
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


def origins(value: str) -> tuple[str, ...]:
    return tuple(origin(item.strip()) for item in value.split(",") if item.strip())


def trusted_networks(value: str) -> tuple[str, ...]:
    """`LATCHKEY_TRUSTED_PROXIES`: comma-separated addresses or CIDRs → their normalised network forms."""
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


def base_path(value: str) -> str:
    if value == "/":
        return ""
    if not value.startswith("/") or value.endswith("/") or "//" in value:
        raise ValueError("must be empty or like /prefix (leading slash, no trailing slash)")
    if not all(ch.isalnum() or ch in "/-._~" for ch in value) or "/." in value:
        raise ValueError("may hold only letters, digits and - . _ ~ between slashes")
    return value


def static_dir(value: str) -> Path:
    path = Path(value)
    if not (path / "index.html").is_file():
        raise ValueError(f"{value!r} holds no index.html")
    return path


# --- the declarations -----------------------------------------------------------------------------------

_KEY_MISSING = "required (generate one with `latchkey keys generate`)"


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What both apps read."""

    env: Annotated[
        Environment,
        Env(
            "LATCHKEY_ENV",
            choice("production", "dev"),
            "`dev` relaxes only `LATCHKEY_COOKIE_SECURE`; production refuses to start without real keys",
        ),
    ] = "production"
    max_body_bytes: Annotated[
        int,
        Env(
            "LATCHKEY_MAX_BODY_BYTES",
            integer(minimum=1024),
            "largest request body the BFF or core accepts (413 beyond)",
        ),
    ] = 104_857_600
    header_timeout: Annotated[
        float,
        Env(
            "LATCHKEY_HEADER_TIMEOUT",
            number(minimum=0.1),
            "seconds a client has to send a request's whole head (408 and closed beyond)",
        ),
    ] = 10.0
    max_connections: Annotated[
        int,
        Env(
            "LATCHKEY_MAX_CONNECTIONS",
            integer(minimum=1),
            "connections and requests one server process holds at once (503 `server_busy` beyond)",
        ),
    ] = 1000
    log_level: Annotated[
        str,
        Env(
            "LATCHKEY_LOG_LEVEL",
            choice("critical", "error", "warning", "info", "debug", "trace", lower=True),
            "the servers' log level",
        ),
    ] = "info"
    max_streams_per_user: Annotated[
        int,
        Env(
            "LATCHKEY_MAX_STREAMS_PER_USER",
            integer(minimum=1),
            "concurrent streams per user and process: `/v1/events` at the core, streaming `/api` answers "
            "at the BFF (429 `too_many_streams` beyond)",
        ),
    ] = 16
    oidc_issuer: Annotated[
        str | None,
        Env(
            "LATCHKEY_OIDC_ISSUER",
            issuer_url,
            "an OpenID Provider's issuer URL (SPEC §11); both apps read it. `http://` only for loopback "
            "hosts or `LATCHKEY_ENV=dev`",
            shown_default="unset (no provider)",
        ),
    ] = None
    oidc_client_id: Annotated[
        str | None,
        Env(
            "LATCHKEY_OIDC_CLIENT_ID",
            str,
            "the BFF's client id at the provider; the core accepts only ID tokens issued to it (required "
            "with an issuer)",
        ),
    ] = None
    redis_url: Annotated[
        str | None,
        Env(
            "LATCHKEY_REDIS_URL",
            redis_url,
            "Redis (or Valkey) shared by every process of both apps for notifications (SPEC §8); unset: "
            "one process per app",
        ),
    ] = None


class CoreSettings(ServerSettings, frozen=True, kw_only=True):
    """Settings of the core API (`latchkey core`)."""

    database_url: Annotated[
        str,
        Env(
            "LATCHKEY_CORE_DATABASE_URL",
            database_url,
            "core DB: `sqlite+aiosqlite://…` or `postgresql+asyncpg://…`",
        ),
    ] = "sqlite+aiosqlite:///var/core.db"
    secret_key: Annotated[
        bytes,
        Env(
            "LATCHKEY_CORE_SECRET_KEY",
            decode_key,
            "32-byte key (base64url) encrypting client secrets at rest and keying their lookup hash",
            missing=_KEY_MISSING,
        ),
    ]
    files_dir: Annotated[Path, Env("LATCHKEY_CORE_FILES_DIR", Path, "where project files are stored")] = Path(
        "var/files"
    )
    access_token_ttl: Annotated[
        int,
        Env(
            "LATCHKEY_ACCESS_TOKEN_TTL",
            integer(minimum=1),
            "seconds an access token issued by `/v1/oauth/token` lives",
        ),
    ] = 900
    refresh_token_ttl: Annotated[
        int,
        Env("LATCHKEY_REFRESH_TOKEN_TTL", integer(minimum=1), "seconds a refresh token chain may live"),
    ] = 86400
    secret_rotation_grace: Annotated[
        int,
        Env(
            "LATCHKEY_SECRET_ROTATION_GRACE",
            integer(minimum=0),
            "seconds the one most recently rotated-out client secret keeps working",
        ),
    ] = 86400
    reauth_window: Annotated[
        int,
        Env(
            "LATCHKEY_REAUTH_WINDOW",
            integer(minimum=0),
            "seconds after a password login during which sensitive actions are allowed",
        ),
    ] = 900
    events_heartbeat: Annotated[
        float,
        Env(
            "LATCHKEY_EVENTS_HEARTBEAT",
            number(minimum=0.05),
            "seconds between SSE heartbeats; the stream's token is checked again at each",
        ),
    ] = 15.0
    oidc_create_users: Annotated[
        bool,
        Env(
            "LATCHKEY_OIDC_CREATE_USERS",
            boolean,
            "create a `member` account at a first provider sign-in; `false` links existing accounts only",
        ),
    ] = True


class BffSettings(ServerSettings, frozen=True, kw_only=True):
    """Settings of the BFF (`latchkey bff`)."""

    database_url: Annotated[
        str,
        Env("LATCHKEY_BFF_DATABASE_URL", database_url, "BFF session store (SQLite or PostgreSQL URL)"),
    ] = "sqlite+aiosqlite:///var/bff.db"
    core_url: Annotated[
        str,
        Env(
            "LATCHKEY_CORE_URL", http_url, "the BFF's upstream: every `/api` call goes here and nowhere else"
        ),
    ] = "http://127.0.0.1:8001"
    client_secret: Annotated[
        str,
        Env(
            "LATCHKEY_BFF_CLIENT_SECRET",
            client_secret,
            "the client secret (`lks_…`) the BFF presents to the core's `/v1/oauth/*`",
            missing="required (a developer account's client secret)",
        ),
    ]
    cookie_keys: Annotated[
        tuple[tuple[str, bytes], ...],
        Env(
            "LATCHKEY_COOKIE_KEYS",
            parse_key_ring,
            "key ring `kid:base64url32[,kid:base64url32…]`; the first seals, all unseal",
            missing=_KEY_MISSING,
        ),
    ]
    cookie_name: Annotated[
        str,
        Env(
            "LATCHKEY_COOKIE_NAME",
            cookie_name,
            "the session cookie's name; a given name must obey its prefix's rules",
            computed=True,
            shown_default="`__Host-latchkey` when Secure, no Domain and Path `/`; `__Secure-latchkey` when "
            "Secure otherwise; `latchkey` when not Secure",
        ),
    ]
    cookie_domain: Annotated[
        str | None,
        Env("LATCHKEY_COOKIE_DOMAIN", cookie_domain, "the cookie's Domain; unset: a host-only cookie"),
    ] = None
    cookie_path: Annotated[
        str,
        Env("LATCHKEY_COOKIE_PATH", cookie_path, "the cookie's Path; must path-match the base path"),
    ] = "/"
    cookie_samesite: Annotated[
        SameSite,
        Env(
            "LATCHKEY_COOKIE_SAMESITE",
            same_site,
            "`strict`, `lax` or `none` (none requires Secure)",
        ),
    ] = "strict"
    cookie_secure: Annotated[
        bool,
        Env("LATCHKEY_COOKIE_SECURE", boolean, "the Secure attribute; `false` only with `LATCHKEY_ENV=dev`"),
    ] = True
    base_path: Annotated[
        str,
        Env("LATCHKEY_BFF_BASE_PATH", base_path, "mount prefix of `/bff` and `/api` (like `/prefix`)"),
    ] = ""
    session_idle_timeout: Annotated[
        int,
        Env(
            "LATCHKEY_SESSION_IDLE_TIMEOUT",
            integer(minimum=1),
            "seconds without a request before a session ends",
        ),
    ] = 1800
    session_max_age: Annotated[
        int,
        Env("LATCHKEY_SESSION_MAX_AGE", integer(minimum=1), "absolute session lifetime, seconds"),
    ] = 28800
    public_origin: Annotated[
        str | None,
        Env(
            "LATCHKEY_PUBLIC_ORIGIN",
            origin,
            "the BFF's origin as browsers see it (set it behind TLS-terminating proxies)",
            shown_default="unset: the request's own scheme and `Host`",
        ),
    ] = None
    allowed_origins: Annotated[
        tuple[str, ...],
        Env(
            "LATCHKEY_ALLOWED_ORIGINS",
            origins,
            "extra origins allowed on unsafe requests and CORS (comma-separated)",
            shown_default="empty (same origin only)",
        ),
    ] = ()
    trusted_proxies: Annotated[
        tuple[str, ...],
        Env(
            "LATCHKEY_TRUSTED_PROXIES",
            trusted_networks,
            "addresses or CIDRs of reverse proxies whose `X-Forwarded-For` the BFF believes (the client is "
            "the rightmost address not in the list)",
        ),
    ] = ()
    upstream_timeout: Annotated[
        float,
        Env(
            "LATCHKEY_UPSTREAM_TIMEOUT",
            number(minimum=0.1),
            "seconds to connect and receive response headers before the BFF answers 504 (not a limit on "
            "streaming bodies)",
        ),
    ] = 30.0
    static_dir: Annotated[
        Path | None,
        Env("LATCHKEY_BFF_STATIC_DIR", static_dir, "a built SPA served at `/` with history fallback"),
    ] = None
    max_streams_per_session: Annotated[
        int,
        Env(
            "LATCHKEY_MAX_STREAMS_PER_SESSION",
            integer(minimum=1),
            "concurrent streaming `/api` answers (SSE, downloads) per session (429 `too_many_streams`)",
        ),
    ] = 8
    max_sessions_per_user: Annotated[
        int,
        Env(
            "LATCHKEY_MAX_SESSIONS_PER_USER",
            integer(minimum=1),
            "live BFF sessions per user; a new login ends the oldest",
        ),
    ] = 20
    routes: Annotated[
        tuple[UpstreamRoute, ...],
        Env(
            "LATCHKEY_BFF_ROUTES",
            load_routes,
            "path of a TOML file of extra upstream routes (SPEC §12: prefix, upstream, token, methods, "
            "websocket, timeout)",
            shown_default="unset",
        ),
    ] = ()
    oidc_client_secret: Annotated[
        str | None,
        Env(
            "LATCHKEY_OIDC_CLIENT_SECRET",
            str,
            "the BFF's client secret at the provider (`client_secret_basic`); required with an issuer",
        ),
    ] = None
    oidc_scopes: Annotated[
        tuple[str, ...],
        Env("LATCHKEY_OIDC_SCOPES", scope_list, "the scopes asked of the provider; must contain `openid`"),
    ] = ("openid", "email", "profile")
    oidc_name: Annotated[
        str,
        Env("LATCHKEY_OIDC_NAME", str, "what the login page's provider button names"),
    ] = "your identity provider"
    login_methods: Annotated[
        tuple[str, ...],
        Env(
            "LATCHKEY_LOGIN_METHODS",
            login_methods,
            "which logins the BFF offers: `password`, `oidc` or both (comma-separated)",
            computed=True,
            shown_default="`password`, or `password,oidc` with an issuer",
        ),
    ]


# --- the generic loader -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Declaration:
    """One settings field as declared: its name, its `Env`, and its default (NODEFAULT when none)."""

    field: str
    env: Env
    default: Any

    @property
    def required(self) -> bool:
        return self.default is msgspec.NODEFAULT and not self.env.computed


def declarations(cls: type[msgspec.Struct]) -> Iterator[Declaration]:
    """The fields of a settings Struct with their `Env` annotations, in declaration order."""
    for info in msgspec.structs.fields(cls):
        env = next((meta for meta in typing.get_args(info.type)[1:] if isinstance(meta, Env)), None)
        if env is None:
            raise TypeError(f"{cls.__name__}.{info.name} declares no Env")
        yield Declaration(info.name, env, info.default)


def load_settings(
    cls: type[S], env: Mapping[str, str], rules: Callable[[dict[str, Any], Problems], None] | None = None
) -> S:
    """Read every declared field of `cls` from `env` (an empty value means unset), apply `rules`, and
    build it; or raise SettingsError naming every variable involved in any problem."""
    values: dict[str, Any] = {}
    problems: Problems = []
    for declared in declarations(cls):
        raw = env.get(declared.env.variable, "").strip()
        if raw:
            try:
                values[declared.field] = declared.env.parse(raw)
                continue
            except ValueError as exc:
                problems.append((declared.env.variable, str(exc) or "invalid value"))
        elif declared.required:
            problems.append((declared.env.variable, declared.env.missing))
        if declared.default is not msgspec.NODEFAULT:
            values[declared.field] = declared.default  # so the rules can still look at it
    if rules is not None:
        rules(values, problems)  # also when a value is bad: one report names every problem
    if problems:
        raise SettingsError(problems)
    return cls(**values)


def load_one(cls: type[msgspec.Struct], field: str, env: Mapping[str, str]) -> Any:
    """One declared field read alone (e.g. the database URL for a migration, which needs no keys)."""
    declared = next(declared for declared in declarations(cls) if declared.field == field)
    raw = env.get(declared.env.variable, "").strip()
    if not raw:
        if declared.required:
            raise SettingsError([(declared.env.variable, declared.env.missing)])
        return declared.default
    try:
        return declared.env.parse(raw)
    except ValueError as exc:
        raise SettingsError([(declared.env.variable, str(exc) or "invalid value")]) from None


def oidc_rules(values: dict[str, Any], problems: Problems) -> None:
    """An issuer needs a client id, and `http://` only on a loopback host or with LATCHKEY_ENV=dev."""
    issuer = values.get("oidc_issuer")
    if issuer is None:
        return
    if not values.get("oidc_client_id"):
        problems.append(("LATCHKEY_OIDC_CLIENT_ID", "required with LATCHKEY_OIDC_ISSUER"))
    parts = urlsplit(issuer)
    if parts.scheme == "http" and not is_loopback(parts.hostname or "") and values["env"] != "dev":
        problems.append(("LATCHKEY_OIDC_ISSUER", "http:// only for loopback hosts or LATCHKEY_ENV=dev"))


def bff_oidc_rules(values: dict[str, Any], problems: Problems) -> None:
    """The BFF's side: the client secret, and which login methods (computed when not given)."""
    oidc_rules(values, problems)
    issuer = values.get("oidc_issuer")
    if issuer is not None and not values.get("oidc_client_secret"):
        problems.append(("LATCHKEY_OIDC_CLIENT_SECRET", "required with LATCHKEY_OIDC_ISSUER"))
    methods = values.get("login_methods") or (("password", "oidc") if issuer is not None else ("password",))
    values["login_methods"] = methods
    if "oidc" in methods and issuer is None:
        problems.append(("LATCHKEY_LOGIN_METHODS", "oidc needs LATCHKEY_OIDC_ISSUER"))


def bff_rules(values: dict[str, Any], problems: Problems) -> None:
    cookie_rules(values, problems)
    bff_oidc_rules(values, problems)


def load_core_settings(env: Mapping[str, str] | None = None) -> CoreSettings:
    """Build the core's settings from the environment, or raise SettingsError naming every bad variable."""
    return load_settings(CoreSettings, os.environ if env is None else env, oidc_rules)


def load_bff_settings(env: Mapping[str, str] | None = None) -> BffSettings:
    """Build the BFF's settings, or raise SettingsError naming every variable involved in a problem."""
    return load_settings(BffSettings, os.environ if env is None else env, bff_rules)


# --- the documentation ------------------------------------------------------------------------------------


def _shown(declared: Declaration) -> str:
    if declared.env.shown_default is not None:
        return declared.env.shown_default
    if declared.required:
        return "required"
    value = declared.default
    if value is None:
        return "unset"
    if value in ("", ()):
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def settings_markdown() -> str:
    """Every `LATCHKEY_*` variable of both apps with its default and meaning, as a Markdown table."""
    rows = ["| variable | app | default | meaning |", "| --- | --- | --- | --- |"]
    shared = {declared.field for declared in declarations(ServerSettings)}
    for app, cls in (("core, bff", ServerSettings), ("core", CoreSettings), ("bff", BffSettings)):
        for declared in declarations(cls):
            if cls is not ServerSettings and declared.field in shared:
                continue
            rows.append(f"| `{declared.env.variable}` | {app} | {_shown(declared)} | {declared.env.doc} |")
    return "\n".join(rows) + "\n"
