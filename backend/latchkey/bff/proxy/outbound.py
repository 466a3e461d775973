"""The request an upstream (the core, or a configured route's) receives: built from an allow-list of the
browser's fields, never by deleting the bad ones, plus the fields the BFF writes itself (the session's
bearer token when the route sends one, the forwarding fields, the request id).

One pass over the browser's fields (`read_browser_head`) keeps the allowed ones and notes the few the
proxy acts on; the rest are pure functions of what that pass found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from yarl import URL

from latchkey.bff.proxy.hop_by_hop import HOP_BY_HOP, connection_named, joined_connection

Field = tuple[str, str]

# Request fields the core may see: an allow-list, so whatever a browser or a script adds is dropped
# unless named here. Deliberately absent:
# - cookie (the BFF's session cookie and the site's others), authorization (the browser's own: the BFF
#   sets the session's), x-csrf (a contract between the SPA and the BFF);
# - origin, referer, sec-fetch-*: the BFF has judged the browser's context already; the BFF-to-core hop
#   is server to server, and the core needs no page URLs of the SPA;
# - forwarded, x-forwarded-*, x-real-ip: the BFF writes its own, and the core believes them;
# - expect (uvicorn answers 100-continue itself), content-length and accept-encoding (handled apart).
REQUEST_FIELDS: dict[bytes, str] = {
    name.encode(): name
    for name in (
        "accept",
        "accept-language",
        "content-type",
        "content-encoding",
        "content-language",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        "range",
        "user-agent",
        "last-event-id",
        "cache-control",
        "pragma",
    )
}
assert not HOP_BY_HOP & set(REQUEST_FIELDS)


@dataclass(slots=True)
class BrowserHead:
    """The browser's request fields after one pass: the allowed ones (as sent), and those the proxy
    acts on itself."""

    allowed: list[Field] = field(default_factory=list)
    host: bytes | None = None
    connection: bytes | None = None
    request_id: bytes | None = None
    content_length: bytes | None = None
    accept_encoding: bytes | None = None
    chunked: bool = False


def read_browser_head(headers: Iterable[tuple[bytes, bytes]]) -> BrowserHead:
    """One pass over the request's fields: keep the allowed ones, note the few the proxy acts on."""
    head = BrowserHead()
    allowed = head.allowed
    for name, value in headers:
        known = REQUEST_FIELDS.get(name)
        if known is not None:
            try:  # noqa: SIM105 (no context manager per field on the hot path)
                # aiohttp writes fields as UTF-8: only values that round-trip exactly are sent.
                allowed.append((known, value.decode()))
            except UnicodeDecodeError:
                pass
        elif name == b"host":
            head.host = value
        elif name == b"content-length":
            head.content_length = value
        elif name == b"connection":
            head.connection = joined_connection(head.connection, value)
        elif name == b"x-request-id":
            head.request_id = value
        elif name == b"accept-encoding":
            head.accept_encoding = value
        elif name == b"transfer-encoding":
            head.chunked = True
    return head


def without_connection_named(fields: list[Field], connection: bytes | None) -> list[Field]:
    """`fields` minus those the browser's `Connection` named: hop-by-hop too (RFC 9110 §7.6.1)."""
    named = connection_named(connection)
    if not named:
        return fields
    names = {token.decode("latin-1") for token in named}
    return [item for item in fields if item[0] not in names]


def bearer(access_token: str) -> Field:
    """The session's credentials, in place of anything the browser sent."""
    return ("authorization", "Bearer " + access_token)


def forwarding_fields(client: str, scheme: str, head: BrowserHead, request_id: bytes) -> list[Field]:
    """The fields the BFF writes about the browser's request. Overwritten, never appended: the core
    trusts these from the BFF."""
    written: list[Field] = []
    if client:
        written.append(("x-forwarded-for", client))
    written.append(("x-forwarded-proto", scheme))
    if head.host is not None:
        try:  # noqa: SIM105
            written.append(("x-forwarded-host", head.host.decode()))
        except UnicodeDecodeError:
            pass
    written.append(("x-request-id", request_id.decode()))
    # Without one, aiohttp would ask for gzip and hand a compressed body to a client that never did.
    accept_encoding = head.accept_encoding
    written.append(("accept-encoding", accept_encoding.decode("latin-1") if accept_encoding else "identity"))
    return written


@dataclass(slots=True)
class UpstreamRequest:
    """What goes to the core: method, URL (the configured core + the checked target) and fields, the
    session's `authorization` first so a replay can swap the token."""

    method: str
    url: URL
    fields: list[Field]

    def with_token(self, access_token: str) -> UpstreamRequest:
        """The same request with another session token (the replay after a refresh)."""
        fields = self.fields[1:] if self.fields and self.fields[0][0] == "authorization" else self.fields
        return UpstreamRequest(self.method, self.url, [bearer(access_token), *fields])


def upstream_request(
    method: str,
    url: URL,
    head: BrowserHead,
    access_token: str | None,
    framing: Field | None,
    forwarding: list[Field],
) -> UpstreamRequest:
    """The request for the upstream, fields in a fixed order: authorization (none when `access_token`
    is None: a route that sends no token), the browser's allowed fields (minus those its Connection
    named), the body framing, then the BFF's own."""
    allowed = without_connection_named(head.allowed, head.connection)
    fields = [bearer(access_token), *allowed] if access_token is not None else list(allowed)
    if framing is not None:
        fields.append(framing)
    fields += forwarding
    return UpstreamRequest(method, url, fields)
