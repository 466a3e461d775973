"""Route guards shared by both apps."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import ValidationException
from litestar.handlers.base import BaseRouteHandler

from latchkey.problems import ProblemError


def media_type_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_json(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """JSON endpoints refuse any other content type with 415 before the body is read."""
    media_type = media_type_of(connection)
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ProblemError(415, "unsupported_media_type", "send the body as application/json")


async def strict_json_body(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """A JSON body holds the JSON types its schema states: 400 `validation_failed` otherwise.

    Litestar converts a decoded body leniently (`0` or `"true"` becomes a boolean, `"30"` an integer), so a
    body the OpenAPI document calls invalid would be accepted. (`30.0` stays accepted: JSON Schema counts
    it as an integer.) Runs after `require_json` and the route's authentication; Litestar keeps the body
    read here for the handler's `data`.
    """
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None or not isinstance(connection, Request):
        return
    raw = await connection.body()  # 413 here when over the size limit, as Litestar's own read would be
    try:
        body = await connection.json() if raw else None
    except Exception:
        return  # malformed: Litestar answers it, as it always has
    try:
        msgspec.convert(_integral_floats_as_ints(body), type=data.annotation, strict=True)
        return  # the common case: one strict conversion
    except msgspec.ValidationError as exc:
        strict_error = str(exc)
    try:
        msgspec.convert(body, type=data.annotation, strict=False)
    except Exception:
        return  # missing or invalid either way: Litestar answers it, as it always has
    # Valid only through lenient conversion (`"30"` for an integer): what the document calls invalid.
    raise ValidationException(
        detail="the request body is invalid",
        extra=[{"message": strict_error, "key": "data", "source": "body"}],
    )


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    return value


def require_form(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Form endpoints (RFC 6749) refuse any other content type with 415 before the body is read."""
    if media_type_of(connection) != "application/x-www-form-urlencoded":
        raise ProblemError(
            415, "unsupported_media_type", "send the body as application/x-www-form-urlencoded"
        )
