"""Bounded reading of the OAuth endpoints' form bodies, after the client is authenticated.

`/v1/oauth/token` and `/v1/oauth/revoke` take `application/x-www-form-urlencoded` bodies from anyone who
can reach the core. The guard `authenticated_form` runs before Litestar resolves the handler's `data`
argument, and in this order, each step before any further byte is read:

1. the content type (415, by `require_form`, a guard that runs first);
2. the client's `Authorization: Secret …` header (401 `invalid_client`): no body is read for a caller
   without a valid secret;
3. a `Content-Length` above the limit (413 `payload_too_large`, before reading anything); the limit is
   `MAX_FORM_BYTES`, or LATCHKEY_MAX_BODY_BYTES if that is smaller;
4. the body itself, read chunk by chunk and dropped with 413 as soon as it crosses `MAX_FORM_BYTES`
   (chunked uploads announce no length);
5. at most `MAX_FORM_FIELDS` parameters, strict UTF-8, no repeated parameter and no client credentials
   in the body (400 `invalid_request`).

The parsed form is left where Litestar's form extractor looks first, so `data` is built from it without
parsing the body again (and without Litestar's parse cache, which would keep passwords in memory).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.utils.scope.state import ScopeState

from latchkey.core.security.auth import Client, authenticate_client
from latchkey.core.state import core_context
from latchkey.problems import ProblemError

# The largest legitimate form (a password grant with a long email and a 1024-character password, or a
# refresh token) is well under 4 KiB.
MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 32
# Credentials in the body as well as the Authorization header would be two ways to authenticate.
BODY_CREDENTIALS = ("client_id", "client_secret")
_CLIENT_KEY = "latchkey_oauth_client"


def too_large(limit: int) -> ProblemError:
    return ProblemError(413, "payload_too_large", f"the form body is larger than {limit} bytes")


def _invalid(detail: str) -> ProblemError:
    return ProblemError(400, "invalid_request", detail)


def _announced_length(connection: ASGIConnection[Any, Any, Any, Any]) -> int | None:
    values = connection.headers.getall("content-length", [])
    if not values:
        return None
    if len(values) > 1 or not values[0].strip().isdigit():
        raise _invalid("the Content-Length header is malformed")
    return int(values[0].strip())


async def read_bounded_body(connection: ASGIConnection[Any, Any, Any, Any], limit: int) -> bytes:
    """The request body, or 413 before reading (announced length) or as soon as it crosses `limit`."""
    announced = _announced_length(connection)
    if announced is not None and announced > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await connection.receive()
        if message["type"] == "http.disconnect":
            raise _invalid("the client went away before sending the whole body")
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_form(body: bytes) -> dict[str, str]:
    """Parse a urlencoded body with bounded work; 400 `invalid_request` for anything ambiguous."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise _invalid("a form body is ASCII; percent-encode other characters") from None
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
            separator="&",
        )
    except UnicodeDecodeError:
        raise _invalid("a parameter is not valid UTF-8 after percent-decoding") from None
    except ValueError:
        raise _invalid(f"at most {MAX_FORM_FIELDS} parameters are allowed") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _invalid("a parameter is repeated")
        form[name] = value
    if any(name in form for name in BODY_CREDENTIALS):
        raise _invalid("authenticate with the Authorization header only, not the body too")
    return form


async def authenticated_form(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the OAuth form routes: authenticate the client, then read and parse a bounded form."""
    client = await authenticate_client(connection)
    # LATCHKEY_MAX_BODY_BYTES still applies when an operator sets it below the form limit.
    limit = min(MAX_FORM_BYTES, core_context(connection).settings.max_body_bytes)
    body = await read_bounded_body(connection, limit)
    form = parse_form(body)
    connection.state[_CLIENT_KEY] = client
    # Where Litestar's urlencoded `data` extractor, `Request.form()` and `Request.body()` look before
    # touching the (already consumed) body.
    scope_state = ScopeState.from_scope(connection.scope)
    scope_state.body = body
    scope_state.form = form  # type: ignore[assignment]


def oauth_client(connection: ASGIConnection[Any, Any, Any, Any]) -> Client:
    """The client `authenticated_form` authenticated for this request."""
    client: Client = connection.state[_CLIENT_KEY]
    return client
