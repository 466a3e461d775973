"""Typed settings built from the environment at start-up and passed into the app factories.

Nothing here reads the environment at import time: `load_core_settings(os.environ)` is called by the CLI
(in the parent process, to fail fast) and again by the uvicorn factory in each worker.
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
        names = ", ".join(name for name, _ in problems)
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
    )
    if r.problems:
        raise SettingsError(r.problems)
    return settings
