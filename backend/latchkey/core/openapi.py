"""The core's OpenAPI document as a complete contract: every error answer, its media type and headers.

Routes list the error statuses they can give (`problem_responses(…)`, or `oauth_errors(…)` under
/v1/oauth/); `complete_document` then adds what no single route states: the headers those answers always
carry (`WWW-Authenticate` on 401, `Retry-After` on 429), and `additionalProperties: false` on every request
body that refuses unknown fields. Schemathesis checks the result against the running core
(tests/core/test_schemathesis.py).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIHeader, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType

from latchkey.problems import PROBLEM_JSON


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem (`application/problem+json`), as every core error outside /v1/oauth/ is."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


class OAuthError(msgspec.Struct, kw_only=True):
    """An error answer of the OAuth endpoints (RFC 6749 §5.2); `code` repeats `error`."""

    error: str
    code: str
    error_description: str | None = None


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
    """OpenAPI entries for the problem answers a route can give; `s404="…"` overrides one description."""
    return {
        status: ResponseSpec(
            Problem,
            description=descriptions.get(f"s{status}", _PROBLEMS[status]),
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in statuses
    }


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
    """Add the always-present error headers and the closed request bodies to `app`'s document.

    Litestar builds the document once and serves that same object, so this runs once, at start-up.
    """
    document = app.openapi_schema
    for path_item in (document.paths or {}).values():
        for operation in _operations(path_item):
            for status, response in (operation.responses or {}).items():
                if status in _ALWAYS and isinstance(response, OpenAPIResponse):
                    name, description = _ALWAYS[status]
                    response.headers = {
                        **(response.headers or {}),
                        name: OpenAPIHeader(
                            description=description, required=True, schema=Schema(type=OpenAPIType.STRING)
                        ),
                    }
    schemas = document.components.schemas or {}
    for struct in _closed_request_bodies(app):
        for schema in schemas.values():
            if schema.title == struct.__name__:
                schema.additional_properties = False


def _operations(path_item: Any) -> list[Operation]:
    methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    return [operation for method in methods if (operation := getattr(path_item, method, None)) is not None]


def _closed_request_bodies(app: Litestar) -> set[type[msgspec.Struct]]:
    """The request body structs that refuse unknown fields (`forbid_unknown_fields=True`)."""
    found: set[type[msgspec.Struct]] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            body = data.annotation if data is not None else None
            for candidate in (body, *getattr(body, "__metadata__", ()), *getattr(body, "__args__", ())):
                if (
                    isinstance(candidate, type)
                    and issubclass(candidate, msgspec.Struct)
                    and candidate.__struct_config__.forbid_unknown_fields
                ):
                    found.add(candidate)
    return found
