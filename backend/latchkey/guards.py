"""Route guards shared by both apps."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
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


def require_form(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Form endpoints (RFC 6749) refuse any other content type with 415 before the body is read."""
    if media_type_of(connection) != "application/x-www-form-urlencoded":
        raise ProblemError(
            415, "unsupported_media_type", "send the body as application/x-www-form-urlencoded"
        )
