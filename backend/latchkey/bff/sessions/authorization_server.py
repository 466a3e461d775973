"""The core as the session service sees it: an OAuth authorization server it is a confidential client of.

`AuthorizationServer` is the port (`bff/core_client.py`'s `CoreClient` speaks it over HTTP; unit tests
pass a token endpoint written for the test); `CoreUnavailable` and `GrantRefused` are the two ways a call
fails, and `unavailable` / `refused` the problems such a failure becomes for the browser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from latchkey.bff.sessions.types import Tokens
from latchkey.problems import ProblemError

log = logging.getLogger("latchkey.bff.sessions")


class CoreUnavailable(Exception):
    """The core could not be reached (`timeout` False) or did not answer in time (`timeout` True)."""

    def __init__(self, timeout: bool) -> None:
        self.timeout = timeout
        super().__init__("core timed out" if timeout else "core unreachable")


@dataclass(frozen=True, slots=True)
class GrantRefused(Exception):
    """The core refused a call: its status, its RFC 6749 `error` (or problem `code`), any Retry-After, and
    the brute-force counters of a refused password grant (`attempts_remaining`, `lockout_seconds`)."""

    status: int
    error: str
    retry_after: str | None = None
    limits: dict[str, int] = field(default_factory=dict)


class AuthorizationServer(Protocol):
    """What the session service needs from the core; each call raises CoreUnavailable or GrantRefused."""

    async def password_grant(self, username: str, password: str, ip: str) -> Tokens: ...

    async def refresh(self, refresh_token: str) -> Tokens: ...

    async def exchange_id_token(self, id_token: str, ip: str) -> Tokens:
        """RFC 8693 token exchange of the provider's ID token for core tokens (SPEC §11)."""
        ...

    async def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token's chain (RFC 7009); returns only once the core confirmed it."""
        ...

    async def me(self, access_token: str) -> dict[str, Any]:
        """The profile the session keeps: id, email, name, role, is_developer."""
        ...


def unavailable(exc: CoreUnavailable) -> ProblemError:
    if exc.timeout:
        return ProblemError(504, "upstream_timeout", "the API did not answer in time")
    return ProblemError(502, "upstream_unavailable", "the API is unreachable")


def refused(refusal: GrantRefused) -> ProblemError:
    """A refusal the caller does not handle itself: rate limits and overload pass through, the rest
    means the core refused the BFF (logged: an operator must act)."""
    headers = {"Retry-After": refusal.retry_after} if refusal.retry_after else None
    if refusal.status == 429:
        return ProblemError(
            429, "rate_limited", "too many attempts; try again later", headers=headers, extra=refusal.limits
        )
    if refusal.status == 503:
        return ProblemError(503, "service_unavailable", "the API is busy; retry shortly", headers=headers)
    log.error("the core refused the BFF: %s %s", refusal.status, refusal.error)
    return ProblemError(502, "upstream_unavailable", "the API refused the request")
