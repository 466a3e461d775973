"""One error vocabulary: typed exceptions rendered in one place as RFC 9457 problem+json with a `code`.

Routes under an OAuth prefix (the core's `/v1/oauth/`) render RFC 6749 JSON instead: `error` plus `code`
with the same value. Unexpected exceptions become a bare 500 problem; the stack trace goes to the log
only, never to the client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap
from litestar.utils import normalize_path

log = logging.getLogger("latchkey.errors")

PROBLEM_JSON = "application/problem+json"

# Stable codes for the statuses Litestar raises by itself.
_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    431: "headers_too_large",
    500: "internal_error",
    502: "upstream_unavailable",
    503: "service_unavailable",
    504: "upstream_timeout",
}

# RFC 6749 §5.2 error values for the statuses the token endpoint can see without a specific error.
_OAUTH_DEFAULTS = {401: "invalid_client", 429: "rate_limited", 503: "temporarily_unavailable"}


class ProblemError(Exception):
    """An error the client should see: HTTP status, stable `code`, short title, optional detail/headers."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(f"{status} {code}: {detail or ''}")


def problem_content(
    status: int,
    code: str,
    detail: str | None = None,
    *,
    oauth: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of every error answer: RFC 9457 members plus `code`, or RFC 6749's `error` when `oauth`."""
    content: dict[str, Any]
    if oauth:
        content = {"error": code, "code": code}
        if detail:
            content["error_description"] = detail
    else:
        content = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "code": code}
        if detail:
            content["detail"] = detail
    content.update(extra or {})
    return content


def problem_bytes(status: int, code: str, detail: str | None = None) -> bytes:
    """A problem+json body as bytes, for answers written below the framework (raw ASGI, the HTTP layer)."""
    return json.dumps(problem_content(status, code, detail)).encode()


def problem_response(
    status: int,
    code: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    oauth: bool = False,
) -> Response[Any]:
    """Render a problem (or an RFC 6749 error when `oauth`)."""
    content = problem_content(status, code, detail, oauth=oauth, extra=extra)
    media_type = MediaType.JSON.value if oauth else PROBLEM_JSON
    all_headers = {"Cache-Control": "no-store"} if oauth else {}
    all_headers.update(headers or {})
    return Response(content=content, status_code=status, media_type=media_type, headers=all_headers)


def _is_oauth(request: Request[Any, Any, Any], oauth_prefixes: tuple[str, ...]) -> bool:
    # The path as the router matched it (`//v1/oauth/token` is routed to the token endpoint too).
    return bool(oauth_prefixes) and normalize_path(request.scope["path"]).startswith(oauth_prefixes)


def exception_handlers(oauth_prefixes: tuple[str, ...] = ()) -> ExceptionHandlersMap:
    """Handlers for ProblemError, Litestar's HTTP exceptions, and anything unexpected."""

    def on_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Any]:
        return problem_response(
            exc.status,
            exc.code,
            exc.detail,
            headers=exc.headers,
            extra=exc.extra,
            oauth=_is_oauth(request, oauth_prefixes),
        )

    def on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        status = exc.status_code
        oauth = _is_oauth(request, oauth_prefixes)
        if isinstance(exc, ValidationException):
            status = 400
            code = "invalid_request" if oauth else "validation_failed"
            detail = "the request body or parameters are invalid"
            errors = exc.extra if isinstance(exc.extra, list) else None
            extra = {"errors": errors} if errors and not oauth else None
            return problem_response(status, code, detail, extra=extra, oauth=oauth)
        code = (_OAUTH_DEFAULTS.get(status) if oauth else None) or _DEFAULT_CODES.get(status) or "error"
        # Litestar's own 4xx details are safe and useful ("Method Not Allowed" …); 5xx details are not shown.
        shown = exc.detail if status < 500 and exc.detail != HTTPStatus(status).phrase else None
        return problem_response(status, code, shown, headers=dict(exc.headers or {}), oauth=oauth)

    def on_undecodable(
        request: Request[Any, Any, Any], exc: UnicodeDecodeError | RecursionError
    ) -> Response[Any]:
        # Litestar decodes JSON bodies lazily and lets a bad UTF-8 byte (UnicodeDecodeError) or absurd
        # nesting (RecursionError) escape from the decoder: both are the client's malformed body.
        oauth = _is_oauth(request, oauth_prefixes)
        code = "invalid_request" if oauth else "malformed_body"
        return problem_response(400, code, "the body could not be decoded", oauth=oauth)

    def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal_error", oauth=_is_oauth(request, oauth_prefixes))

    return {
        ProblemError: on_problem,
        HTTPException: on_http,
        UnicodeDecodeError: on_undecodable,
        RecursionError: on_undecodable,
        Exception: on_unexpected,
    }
