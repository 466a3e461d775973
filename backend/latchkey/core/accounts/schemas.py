"""Request and response bodies of the caller's own account routes (`/v1/me…`)."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from latchkey.problems import PROBLEM_JSON


class MeOut(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    role: str
    is_developer: bool
    created_at: datetime
    # Every scope the user's role allows, in catalogue order: what a PAT of this user may be given.
    scopes: list[str]


class ChangePasswordRequest(msgspec.Struct, kw_only=True):
    current_password: str
    new_password: str


class ClientSecretOut(msgspec.Struct, kw_only=True):
    """The developer's current client secret, and when the rotated-out one (if any) stops working."""

    secret: str
    created_at: datetime
    previous_valid_until: datetime | None


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem (`application/problem+json`), as every core error outside /v1/oauth/ is."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


_DESCRIPTIONS = {
    400: "malformed request (`validation_failed`, `invalid_request`, `invalid_cursor`, …)",
    401: "missing, malformed, expired or revoked token (`invalid_token`); `WWW-Authenticate` says why",
    403: "`insufficient_scope`, `session_token_required`, `reauth_required`, `developer_required`, …",
    404: "`not_found`",
    409: "`too_many_tokens` or `conflict`",
    415: "`unsupported_media_type`: send application/json",
    422: "a rule of this resource is broken; `code` says which",
    429: "`rate_limited`; see `Retry-After`",
    503: "`service_unavailable`: too many password checks running; see `Retry-After`",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem answers a route can give."""
    return {
        status: ResponseSpec(
            Problem, description=_DESCRIPTIONS[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in statuses
    }
