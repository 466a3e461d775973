"""The response head the browser receives: the upstream's fields through an allow-list, `Location` mapped
back under the BFF's mount, and the BFF's own `Vary: Cookie`, `Cache-Control: no-store` and request id.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from latchkey.bff.edge.no_store import NO_STORE
from latchkey.bff.proxy.hop_by_hop import HOP_BY_HOP, connection_named, joined_connection

RawField = tuple[bytes, bytes]

# Response fields the browser may see. Absent on purpose: set-cookie (an upstream cookie would land in
# the BFF's origin, shared by every user of the page), cache-control and expires (replaced by no-store),
# vary and x-request-id (rewritten below), access-control-* (CORS is the BFF's own decision),
# strict-transport-security and alt-svc (the core's transport policy is not the BFF origin's), server.
RESPONSE_FIELDS = frozenset(
    {
        b"content-type",
        b"content-length",
        b"content-encoding",
        b"content-language",
        b"content-disposition",
        b"content-range",
        b"accept-ranges",
        b"etag",
        b"last-modified",
        b"retry-after",
        # The core only challenges with Bearer (and Secret under /v1/oauth): schemes no browser prompts
        # for. RFC 9110 wants a 401 to carry one, and the SPA may read it.
        b"www-authenticate",
        b"allow",
        b"content-security-policy",
        b"x-content-type-options",
        b"x-frame-options",
        b"referrer-policy",
        b"cross-origin-resource-policy",
        b"x-accel-buffering",
    }
)
assert not HOP_BY_HOP & RESPONSE_FIELDS
# On a route whose answers depend on no session (token `none`), the upstream's own caching policy stands.
SHARED_RESPONSE_FIELDS = RESPONSE_FIELDS | {b"cache-control", b"expires"}

# Answers that never carry a body.
NO_BODY_STATUS = frozenset({204, 304})


class BrowserLocation:
    """Maps a `Location` inside the upstream (a path, or the upstream's own URL, its base path cut) to
    the same place under the BFF's mount; any other Location passes as it is."""

    __slots__ = ("_core_path", "_core_prefix", "_mount")

    def __init__(self, core_url: str, mount: bytes) -> None:
        core = core_url.rstrip("/")
        core_path = urlsplit(core).path
        self._core_prefix = core.encode() + b"/"
        self._core_path = core_path.encode() + b"/" if core_path else None
        self._mount = mount

    def __call__(self, value: bytes) -> bytes:
        if value.startswith(self._core_prefix):
            value = value[len(self._core_prefix) - 1 :]
        elif self._core_path is not None and value.startswith(self._core_path):
            value = b"/" + value[len(self._core_path) :]
        if value.startswith(b"/") and not value.startswith(b"//"):
            return self._mount + value
        return value


def browser_vary(vary: bytes | None) -> bytes:
    """The core's Vary plus Cookie: every /api answer depends on the session (SPEC §5)."""
    if vary is None:
        return b"Cookie"
    if b"*" not in vary and b"cookie" not in vary.lower():
        return vary + b", Cookie"
    return vary


def response_fields(
    status: int,
    fields: Iterable[RawField],
    request_id: bytes,
    location: BrowserLocation,
    per_user: bool = True,
) -> list[RawField]:
    """The upstream's allowed fields (minus those its Connection named), plus no-store, `Vary: Cookie`
    and the request id. `per_user` False (a route with token `none`): the upstream's Cache-Control,
    Expires and Vary pass instead of no-store and `Vary: Cookie`."""
    allowed = RESPONSE_FIELDS if per_user else SHARED_RESPONSE_FIELDS
    kept: list[RawField] = []
    vary = connection = None
    for name, value in fields:
        lower = name.lower()
        if lower in allowed:
            kept.append((lower, value))
        elif lower == b"vary":
            vary = value if vary is None else vary + b", " + value
        elif lower == b"location":
            kept.append((lower, location(value)))
        elif lower == b"connection":
            connection = joined_connection(connection, value)
    named = connection_named(connection)
    if named:
        kept = [item for item in kept if item[0] not in named]
    if status in NO_BODY_STATUS:
        # uvicorn would hold a 204/304 to a Content-Length it never sends.
        kept = [item for item in kept if item[0] != b"content-length"]
    if per_user:
        kept += ((b"vary", browser_vary(vary)), NO_STORE, (b"x-request-id", request_id))
    else:
        if vary is not None:
            kept.append((b"vary", vary))
        kept.append((b"x-request-id", request_id))
    return kept
