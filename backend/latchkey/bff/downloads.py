"""Downloads the browser saves natively, never read into the page's memory.

The SPA cannot hand the browser a plain `<a href="/api/…">`: every `/api` call needs `X-CSRF: 1`, which a
navigation cannot send. So it asks for a ticket first, with a CSRF-protected call:

- `POST {base}/bff/downloads` `{"path": "/api/v1/projects/{id}/files/{name}"}` → 201
  `{"url": "{base}/bff/downloads/<ticket>", "expires_in": 60}`; only a file-download path is accepted
  (400 `invalid_path` otherwise: no traversal, no escapes that decode into structure, no query).
- `GET {base}/bff/downloads/<ticket>` (a navigation: no `X-CSRF`) streams the core's answer for that path
  through the `/api` forwarder, with the session's bearer, as an attachment.

A ticket is self-contained, so it works on any BFF process: AES-256-GCM under a subkey of the cookie key
ring (purpose `download-ticket`) of the path and its issue time, with the session's id hash as associated
data. It carries no token and no readable path; it opens only with the cookie of the session that asked
for it (another session's or none: 403 `download_invalid` / 401 `no_session`), within 60 seconds (then
410 `download_expired`). Garbage, altered or foreign-key tickets are all 403 `download_invalid`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.types import HTTPScope, Message, Receive, Scope, Send

from latchkey.asgi import send_problem_error
from latchkey.bff.openapi import problem_responses
from latchkey.bff.proxy.gate import Grant, SessionGate
from latchkey.bff.proxy.targets import checked_path
from latchkey.core.validation import declared
from latchkey.guards import require_json
from latchkey.problems import ProblemError
from latchkey.sealing import KeyRing

TICKET_SECONDS = 60
PURPOSE = b"download-ticket"
_AAD_PREFIX = b"latchkey/download/v1|"
MAX_TICKET_CHARS = 1024
MAX_PATH_CHARS = 2048
# A little clock skew between processes on different hosts is tolerated for a ticket issued "later".
_SKEW_SECONDS = 5
_FILE_PREFIX = "/api/v1/projects/"
_MAX_ID_DIGITS = 18
_TICKET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


# `download_target`'s rule as a regular expression, for the BFF's OpenAPI document: one path segment of
# the characters the proxy forwards raw, or percent-escapes that do not decode into `.`, `/`, `\` or a
# control character; not `.` nor `..`. Python's `$` also matches before a final newline, hence `(?!\n)`.
_UNIT_NO_DOT = (
    r"(?:[!$&'()*+,\-0-9:;=@A-Z\[\]^_a-z|~]|%(?![01][0-9A-Fa-f]|7[Ff]|2[EeFf]|5[Cc])[0-9A-Fa-f]{2})"
)
_UNIT = rf"(?:\.|{_UNIT_NO_DOT})"
_NAME = rf"(?:{_UNIT_NO_DOT}|\.{_UNIT_NO_DOT}|\.\.{_UNIT}){_UNIT}*"
DOWNLOAD_PATH_PATTERN = rf"^/api/v1/projects/[1-9][0-9]{{0,17}}/files/{_NAME}(?!\n)$"


class Ticket(msgspec.Struct, frozen=True, array_like=True):
    path: str  # the core's path, e.g. /v1/projects/3/files/report.pdf (still percent-encoded)
    issued_at: int


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Ticket).decode


class DownloadRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Checked by `download_target` (400 `invalid_path`); declared to the document as that rule.
    path: Annotated[str, declared(pattern=DOWNLOAD_PATH_PATTERN, maxLength=MAX_PATH_CHARS)]


class DownloadTicketOut(msgspec.Struct, kw_only=True):
    url: str
    expires_in: int


def download_target(path: str) -> str:
    """The core path (`/v1/projects/{id}/files/{name}`) of an `/api` file-download path, or 400
    `invalid_path`: exactly that shape, the name one percent-encoded segment the proxy would forward."""
    refused = ProblemError(400, "invalid_path", "only a project file's /api path can be downloaded")
    if len(path) > MAX_PATH_CHARS or not path.startswith(_FILE_PREFIX):
        raise refused
    project_id, files, name = path[len(_FILE_PREFIX) :].partition("/files/")
    if (
        not files
        or not project_id.isascii()
        or not project_id.isdigit()
        or len(project_id) > _MAX_ID_DIGITS
        or project_id.startswith("0")
        or not name
        or "/" in name
    ):
        raise refused
    core_path = path[len("/api") :]
    try:
        raw = core_path.encode("ascii")
    except UnicodeEncodeError:
        raise refused from None
    if checked_path(raw) is None:
        raise refused
    return core_path


class DownloadTickets:
    """Issues and opens download tickets bound to one session (its id hash)."""

    def __init__(self, ring: KeyRing, clock: Callable[[], float] = time.time) -> None:
        self.ring = ring
        self.clock = clock

    def issue(self, core_path: str, session_key: str, now: float | None = None) -> str:
        issued_at = int(self.clock() if now is None else now)
        plain = _encode(Ticket(core_path, issued_at))
        return self.ring.seal_value(PURPOSE, plain, _AAD_PREFIX + session_key.encode())

    def open(self, ticket: str, session_key: str) -> str:
        """The core path of a ticket this session asked for in the last 60 seconds; else 403
        `download_invalid` (not a ticket, or another session's) or 410 `download_expired`."""
        invalid = ProblemError(403, "download_invalid", "this download link is not valid for this session")
        if not ticket or len(ticket) > MAX_TICKET_CHARS or not set(ticket) <= _TICKET_CHARS:
            raise invalid
        plain = self.ring.open_value(PURPOSE, ticket, _AAD_PREFIX + session_key.encode())
        if plain is None:
            raise invalid
        try:
            opened = _decode(plain)
        except (msgspec.DecodeError, TypeError):
            raise invalid from None
        age = self.clock() - opened.issued_at
        if age < -_SKEW_SECONDS:
            raise invalid
        if age > TICKET_SECONDS:
            raise ProblemError(410, "download_expired", "this download link has expired; download again")
        return opened.path


@post(
    "/downloads",
    guards=[require_json],
    status_code=201,
    responses=problem_responses(
        400,
        401,
        403,
        413,
        415,
        s400="`invalid_path`: not a project file's `/api/v1/projects/{id}/files/{name}` path; "
        "`validation_failed` or `malformed_body`: the JSON body is not what this route takes",
    ),
)
async def create_download(
    request: Request[Any, Any, State], data: DownloadRequest
) -> Response[DownloadTicketOut]:
    """A short-lived link (60 s, this session only) at which the browser downloads one project file
    natively: `path` is the file's `/api/v1/projects/{id}/files/{name}` path (400 `invalid_path` else)."""
    core_path = download_target(data.path)
    # The store, not just the cookie: an ended session gets no ticket.
    record = await request.app.state.sessions.current(request.scope["headers"])
    tickets: DownloadTickets = request.app.state.download_tickets
    base: str = request.app.state.base_path
    ticket = tickets.issue(core_path, record.id_hash)
    return Response(
        DownloadTicketOut(url=f"{base}/bff/downloads/{ticket}", expires_in=TICKET_SECONDS), status_code=201
    )


_NOT_CACHED = [(b"vary", b"Cookie")]
_ALLOW = {"Allow": "GET, HEAD"}


class DownloadGate:
    """`GET {base}/bff/downloads/<ticket>`: opens the ticket for the request's session and hands the
    request, rewritten to the ticket's `/api` path, to the core's forwarder (`forward`)."""

    def __init__(
        self,
        tickets: DownloadTickets,
        gate: SessionGate[Any],
        forward: Callable[[Scope, Receive, Send], Any],
        base_path: str,
    ) -> None:
        self.tickets = tickets
        self.gate = gate
        self.forward = forward
        self.prefix = f"{base_path}/bff/downloads/"
        self.api = f"{base_path}/api"

    async def __call__(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        try:
            target = await self._target(scope)
        except ProblemError as problem:
            await send_problem_error(send, problem, _NOT_CACHED)
            return
        path = self.api + target
        forwarded = dict(scope)
        forwarded["path"] = path
        forwarded["raw_path"] = path.encode("ascii")
        forwarded["query_string"] = b""
        await self.forward(forwarded, receive, as_attachment(send))  # type: ignore[arg-type]

    async def _target(self, scope: HTTPScope) -> str:
        if scope["method"] not in ("GET", "HEAD"):
            raise ProblemError(405, "method_not_allowed", headers=_ALLOW)
        ticket = scope["path"][len(self.prefix) :]
        if not ticket or len(ticket) > MAX_TICKET_CHARS or "/" in ticket:
            raise ProblemError(403, "download_invalid", "this download link is not valid for this session")
        grant: Grant = await self.gate.authorize(scope)
        return self.tickets.open(ticket, grant.session_key)


def as_attachment(send: Send) -> Send:
    """A successful answer is saved, never shown: `Content-Disposition: attachment` whatever the core said
    (its filename kept), and `X-Content-Type-Options: nosniff`."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
            headers = [
                (name, value)
                for name, value in message["headers"]
                if name.lower() not in (b"content-disposition", b"x-content-type-options")
            ]
            disposition = b"attachment"
            for name, value in message["headers"]:
                if name.lower() == b"content-disposition":
                    _, semicolon, rest = value.partition(b";")
                    disposition = b"attachment" + semicolon + rest
            headers += [(b"content-disposition", disposition), (b"x-content-type-options", b"nosniff")]
            message = {**message, "headers": headers}
        await send(message)

    return sending
