"""What makes an app's OpenAPI document a complete contract, for both apps: the problem answers each route
can give, with their media type, the headers such answers always carry, and closed request bodies.

Routes list their error statuses (`problem_responses(descriptions, 401, 415, …)`); `complete_document`
then adds what no single route states. Each app keeps its own wording (`core/openapi.py`,
`bff/openapi.py`); schemathesis checks the result against the running apps with every check on
(`tests/core/test_schemathesis.py`, `tests/bff/test_hostile.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIHeader, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType

from latchkey.problems import PROBLEM_JSON


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem (`application/problem+json`), as every error outside /v1/oauth/ is."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


def problem_responses(
    descriptions: Mapping[int, str], *statuses: int, **overrides: str
) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem answers a route can give, worded from the app's `descriptions`;
    `s404="…"` overrides one."""
    return {
        status: ResponseSpec(
            Problem,
            description=overrides.get(f"s{status}", descriptions[status]),
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in statuses
    }


def complete_document(app: Litestar, always: Mapping[str, tuple[str, str]]) -> None:
    """Add to `app`'s document the headers an answer of a status always carries (`always`: status →
    (header, description)), and `additionalProperties: false` on the request bodies that refuse unknown
    fields. Litestar builds the document once and serves that same object, so this runs once, at start-up.
    """
    document = app.openapi_schema
    for path_item in (document.paths or {}).values():
        for operation in _operations(path_item):
            for status, response in (operation.responses or {}).items():
                if status in always and isinstance(response, OpenAPIResponse):
                    name, description = always[status]
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
