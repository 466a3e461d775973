"""`ApiProxy`, the `{base}/api/{path}` forwarder: a raw ASGI app that sends each browser call to the core
as a bearer request on behalf of the browser's session.

Read top to bottom (`_forward`), one request is: check the raw target and the method → authorize the
session (before touching the body) → frame the body → build the upstream request from an allow-list of
fields → call the core (headers within LATCHKEY_UPSTREAM_TIMEOUT) → replay once with a refreshed token
after `401 invalid_token` → filter the response fields → send the answer whole, or admit it as a stream
and pump it until it ends, the browser leaves, or the session ends (`StreamRegistry.close_session`).
Every refusal on the way is a ProblemError, answered in one place (`__call__`).

Hot path: every set and table is built once at import or start-up; a request costs one pass over its
fields, a few byte scans of its target, and the aiohttp call. No regex, no database.
"""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import HTTPScope, Receive, Scope, Send
from yarl import URL

from latchkey.asgi import send_problem_error
from latchkey.bff.edge.forwarded import ClientAddress
from latchkey.bff.edge.paths import Routes
from latchkey.bff.proxy.body import BodyLimits, Upload, frame_body
from latchkey.bff.proxy.gate import Grant, SessionGate
from latchkey.bff.proxy.inbound import BrowserLocation, response_fields
from latchkey.bff.proxy.outbound import (
    BrowserHead,
    UpstreamRequest,
    forwarding_fields,
    read_browser_head,
    upstream_request,
)
from latchkey.bff.proxy.relay import pump, send_end, send_start
from latchkey.bff.proxy.streams import StreamRegistry, stream_cap
from latchkey.bff.proxy.targets import allowed_method, request_id_for, upstream_target
from latchkey.bff.proxy.upstream import Answer, BrowserGone, CoreConnection, connection_pool_size
from latchkey.problems import ProblemError
from latchkey.settings import BffSettings


class ApiProxy:
    """The raw ASGI app mounted at `{base}/api`: forwards each call to the fixed core URL."""

    def __init__(
        self,
        settings: BffSettings,
        gate: SessionGate[Any],
        streams: StreamRegistry,
        *,
        upstream: CoreConnection | None = None,
    ) -> None:
        """`upstream`: the client to the core (by default a pooled aiohttp one, sized to the process's
        descriptors); unit tests pass a stand-in."""
        self._gate = gate
        self._streams = streams
        self._mount = Routes.of(settings).api_mount
        self._core = settings.core_url.rstrip("/")
        self._location = BrowserLocation(settings.core_url, self._mount)
        self._limits = BodyLimits(settings.max_body_bytes, settings.upstream_timeout)
        self._client_address = ClientAddress(settings.trusted_proxies)
        self._upstream = (
            upstream if upstream is not None else CoreConnection(self._limits, connection_pool_size())
        )
        # Streams (SSE, downloads) hold an upstream connection for as long as they run: capped per
        # session, per user, and to 3/4 of the pool in the process, so short calls always find one.
        streams.limit(
            per_session=settings.max_streams_per_session,
            per_user=settings.max_streams_per_user,
            total=stream_cap(self._upstream.pool_size),
        )

    async def startup(self) -> None:
        """Open the pooled upstream client (call from the app's lifespan, in the serving loop)."""
        await self._upstream.start()

    async def shutdown(self) -> None:
        await self._upstream.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            return
        head = read_browser_head(scope["headers"])
        request_id = request_id_for(head.request_id)
        try:
            await self._forward(scope, receive, send, head, request_id)
        except ProblemError as problem:
            # Every answer before the core's (refusals included) varies by cookie and names the request.
            await send_problem_error(send, problem, [(b"vary", b"Cookie"), (b"x-request-id", request_id)])
        except BrowserGone:
            pass  # nobody is left to answer

    async def _forward(
        self, scope: HTTPScope, receive: Receive, send: Send, head: BrowserHead, request_id: bytes
    ) -> None:
        target = upstream_target(scope, self._mount)
        method = allowed_method(scope["method"])
        grant = await self._gate.authorize(scope)
        framing = frame_body(head, receive, self._limits)
        forwarding = forwarding_fields(
            self._client_address(scope), scope.get("scheme", "http"), head, request_id
        )
        # Forwarded exactly as received (already checked); the host comes from configuration only.
        url = URL(self._core + target, encoded=True)
        request = upstream_request(method, url, head, grant.access_token, framing.field, forwarding)
        answer = await self._upstream.call(request, framing.upload)
        try:
            if answer.wants_fresh_token:
                answer, grant = await self._after_invalid_token(request, answer, grant, framing.upload)
            status = answer.response.status
            headers = response_fields(status, answer.response.raw_headers, request_id, self._location)
            if answer.body is not None:
                await send_start(send, status, headers)
                await send_end(send, answer.body)
                return
            # This answer streams and holds its upstream connection until it ends: admit it first.
            with self._streams.reserve(grant.session_key, grant.user_id) as stream:
                await send_start(send, status, headers)
                watch = framing.upload is None or framing.upload.finished
                await pump(answer.response, receive, send, stream, watch)
        finally:
            answer.response.close()

    async def _after_invalid_token(
        self, request: UpstreamRequest, answer: Answer, grant: Grant, upload: Upload | None
    ) -> tuple[Answer, Grant]:
        """Refresh once after the core refused the token (so the next call works in any case); replay
        only when no body was taken from the browser's stream, else pass the 401 through."""
        refreshed = await self._gate.after_upstream_401(grant)
        if upload is not None:
            return answer, grant
        answer.response.release()
        return await self._upstream.call(request.with_token(refreshed.access_token), None), refreshed
