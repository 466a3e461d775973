"""The core's OpenAPI document as a complete contract: every error answer, its media type and headers.

Routes list the error statuses they can give (`problem_responses(…)`, or `oauth_errors(…)` under
/v1/oauth/); `complete_document` then adds what no single route states: the headers those answers always
carry (`WWW-Authenticate` on 401, `Retry-After` on 429), and `additionalProperties: false` on every request
body that refuses unknown fields (both through `latchkey/openapi.py`). Schemathesis checks the result
against the running core (tests/core/test_schemathesis.py).
"""

from __future__ import annotations

import msgspec
from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec

from latchkey import openapi


class OAuthError(msgspec.Struct, kw_only=True):
    """An error answer of the OAuth endpoints (RFC 6749 §5.2); `code` repeats `error`."""

    error: str
    code: str
    error_description: str | None = None
    attempts_remaining: int | None = None
    """A failed password grant: how many more attempts this account may make from this address before
    the brute-force lockout (0: the next one is refused)."""
    lockout_seconds: int | None = None
    """A password grant refused by the lockout (429), or the failure that started it: seconds until an
    attempt is admitted again (as `Retry-After`)."""


_PROBLEMS = {
    400: "malformed request (`validation_failed`, `malformed_body`, `invalid_request`, `invalid_cursor`, …)",
    401: "missing, malformed, expired or revoked token (`missing_token`, `invalid_token`); "
    "`WWW-Authenticate` says why",
    403: "`insufficient_scope`, `session_token_required`, `reauth_required`, `developer_required`, …",
    404: "`not_found` (or another user's: ids reveal nothing)",
    409: "the resource's state forbids it; `code` says why",
    413: "`payload_too_large`: the body is over LATCHKEY_MAX_BODY_BYTES",
    415: "`unsupported_media_type`: send application/json",
    422: "a rule of this resource is broken; `code` says which",
    429: "`rate_limited`; see `Retry-After`",
    503: "`service_unavailable`: too many password checks running; see `Retry-After`",
}

_OAUTH_ERRORS = {
    400: "invalid_request, invalid_grant or unsupported_grant_type",
    401: "invalid_client (with `WWW-Authenticate: Secret`)",
    413: "payload_too_large: the form body is too large",
    415: "the body is not application/x-www-form-urlencoded",
    429: "rate_limited (with `Retry-After`)",
    503: "temporarily_unavailable (with `Retry-After`)",
}

# Headers an error answer of this status always carries, whichever route gives it.
_ALWAYS = {
    "401": ("WWW-Authenticate", "the challenge: `Bearer realm=…, error=…` or `Secret realm=…`"),
    "429": ("Retry-After", "seconds to wait before trying again"),
}


def problem_responses(*statuses: int, **descriptions: str) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem answers a core route can give; `s404="…"` overrides one description."""
    return openapi.problem_responses(_PROBLEMS, *statuses, **descriptions)


def oauth_errors(*statuses: int, **descriptions: str) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the RFC 6749 JSON errors an OAuth endpoint can give (overrides as above)."""
    return {
        status: ResponseSpec(
            OAuthError,
            description=descriptions.get(f"s{status}", _OAUTH_ERRORS[status]),
            generate_examples=False,
        )
        for status in statuses
    }


def complete_document(app: Litestar) -> None:
    """The core's document, completed with its always-present error headers and closed request bodies."""
    openapi.complete_document(app, _ALWAYS)
