"""The BFF's own routes' error answers, as its OpenAPI document states them (`latchkey/openapi.py` does the
rest). Every answer below is problem+json with a stable `code`; none carries a token."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec

from latchkey import openapi

_PROBLEMS = {
    400: "`validation_failed` or `malformed_body`: the JSON body is not what this route takes",
    401: "`no_session`, `session_expired`, `session_idle_expired`, `session_revoked` or "
    "`session_password_changed` (sign in again); `invalid_credentials` on a wrong username or password, "
    "with `attempts_remaining` (and `lockout_seconds` once none remain)",
    403: "`csrf_failed`: no `X-CSRF: 1`, a foreign `Origin`, or a cross-site unsafe request",
    404: "`not_found`: no such session of this user",
    413: "`payload_too_large`: the body is over 64 KiB",
    415: "`unsupported_media_type`: send the body as application/json",
    429: "`rate_limited`: too many sign-in attempts; see `Retry-After` (and `lockout_seconds`)",
    502: "`upstream_unavailable`: the core is unreachable or refused the request",
    503: "`service_unavailable`: too many sign-ins in flight, or the core is busy; see `Retry-After`",
    504: "`upstream_timeout`: the core did not answer in time",
}

# No header is on every answer of a status here: `Retry-After` on 429/503 is passed on from the core when it
# gives one, and the BFF's 401s carry no challenge (a browser session is not an HTTP authentication scheme).
_ALWAYS: dict[str, tuple[str, str]] = {}

# What every route that talks to the core with the user's password can answer.
PASSWORD_ROUTE = (400, 401, 403, 413, 415, 429, 502, 503, 504)


def problem_responses(*statuses: int, **descriptions: str) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem answers a BFF route can give; `s404="…"` overrides one description."""
    return openapi.problem_responses(_PROBLEMS, *statuses, **descriptions)


def complete_document(app: Litestar) -> None:
    """The BFF's document, completed with its always-present error headers and closed request bodies."""
    openapi.complete_document(app, _ALWAYS)
