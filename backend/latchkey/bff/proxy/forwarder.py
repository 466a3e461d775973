"""The forwarders: `Forwarder` sends each browser call under one mount (`mounts.py`) to that mount's fixed
upstream, on behalf of the browser's session; `ApiProxy` holds the core's (`{base}/api`) and one per
configured route (LATCHKEY_BFF_ROUTES, SPEC §12), and opens and closes their connections.

Read top to bottom (`Forwarder._forward`), one request is: check the raw target and the method →
authorize the session as the mount's token policy asks (before touching the body) → frame the body →
build the upstream request from an allow-list of fields → call the upstream (headers within the mount's
deadline) → replay once with a refreshed token after `401 invalid_token` → filter the response fields →
send the answer whole, or admit it as a stream and pump it until it ends, the browser leaves, or the
session ends (`StreamRegistry.close_session`). Every refusal on the way is a ProblemError, answered in
one place (`__call__`).

Hot path: every set and table is built once at import or start-up; a request costs one pass over its
fields, a few byte scans of its target, and the aiohttp call. No regex, no database.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import HTTPScope, Receive, Scope, Send
from yarl import URL

from latchkey.asgi import send_problem_error
from latchkey.bff.edge.forwarded import ClientAddress
from latchkey.bff.proxy.body import Upload, frame_body
from latchkey.bff.proxy.gate import Grant, SessionGate
from latchkey.bff.proxy.inbound import response_fields
from latchkey.bff.proxy.mounts import Mount, core_mount, route_mount
from latchkey.bff.proxy.outbound import (
    BrowserHead,
    UpstreamRequest,
    forwarding_fields,
    read_browser_head,
    upstream_request,
)
from latchkey.bff.proxy.relay import pump, send_end, send_start
from latchkey.bff.proxy.streams import StreamRegistry, TooManyStreams, stream_cap
from latchkey.bff.proxy.targets import request_id_for, upstream_target
from latchkey.bff.proxy.upstream import Answer, BrowserGone, UpstreamConnection, connection_pool_size
from latchkey.problems import ProblemError
from latchkey.settings import BffSettings

# Streams with no session (token `none`, or `user_or_none` without one) are each their own "session" in
# the registry: the per-user and per-session caps have no one to count them against, the process's does.
_anonymous = itertools.count()

# The one core answer the BFF acts on: a password change through a session (SPEC §4 `POST /v1/me/password`
# answers 204 after revoking the user's other chains); the session side then ends the other sessions.
PASSWORD_CHANGE = "/v1/me/password"
PasswordChanged = Callable[[Any], Awaitable[None]]


class Forwarder:
    """The raw ASGI app of one mount: forwards each call to the mount's fixed upstream."""

    __slots__ = (
        "_client_address",
        "_gate",
        "_mount",
        "_open",
        "_password_changed",
        "_stream_cap",
        "_streams",
        "_upstream",
    )

    def __init__(
        self,
        mount: Mount,
        gate: SessionGate[Any],
        streams: StreamRegistry,
        upstream: UpstreamConnection,
        client_address: ClientAddress,
        password_changed: PasswordChanged | None = None,
    ) -> None:
        """`password_changed(grant)`: awaited after the upstream accepted a password change (the core's
        mount only), before the browser gets the answer."""
        self._mount = mount
        self._password_changed = password_changed
        self._gate = gate
        self._streams = streams
        self._upstream = upstream
        self._client_address = client_address
        # A stream holds its upstream connection: this upstream's streams take at most 3/4 of its pool.
        self._stream_cap = stream_cap(upstream.pool_size)
        self._open = 0

    @property
    def mount(self) -> Mount:
        return self._mount

    @property
    def upstream(self) -> UpstreamConnection:
        return self._upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            return
        head = read_browser_head(scope["headers"])
        request_id = request_id_for(head.request_id)
        try:
            await self._forward(scope, receive, send, head, request_id)
        except ProblemError as problem:
            # Every answer before the upstream's (refusals included) varies by cookie and names the request.
            await send_problem_error(send, problem, [(b"vary", b"Cookie"), (b"x-request-id", request_id)])
        except BrowserGone:
            pass  # nobody is left to answer

    async def _forward(
        self, scope: HTTPScope, receive: Receive, send: Send, head: BrowserHead, request_id: bytes
    ) -> None:
        mount = self._mount
        target = upstream_target(scope, mount.mount)
        method = mount.methods.check(scope["method"])
        # The common case (`user`: /api, and most routes) asks the gate directly: no extra await frame.
        grant = (
            await self._gate.authorize(scope) if mount.token == "user" else await self._optional_grant(scope)
        )
        framing = frame_body(head, receive, mount.limits)
        forwarding = forwarding_fields(
            self._client_address(scope), scope.get("scheme", "http"), head, request_id
        )
        # Forwarded exactly as received (already checked); the host comes from configuration only.
        url = URL(mount.upstream + target, encoded=True)
        token = grant.access_token if grant is not None else None
        request = upstream_request(method, url, head, token, framing.field, forwarding)
        answer = await self._upstream.call(request, framing.upload)
        try:
            if grant is not None and answer.wants_fresh_token:
                answer, grant = await self._after_invalid_token(request, answer, grant, framing.upload)
            status = answer.response.status
            if status == 204 and self._password_changed is not None and grant is not None:
                await self._after_no_content(method, target, grant)
            headers = response_fields(
                status, answer.response.raw_headers, request_id, mount.location, mount.per_user
            )
            if answer.body is not None:
                await send_start(send, status, headers)
                await send_end(send, answer.body)
                return
            # This answer streams and holds its upstream connection until it ends: admit it first.
            if self._open >= self._stream_cap:
                raise TooManyStreams("process")
            if grant is not None:
                slot = self._streams.reserve(grant.session_key, grant.user_id)
            else:
                slot = self._streams.reserve(f"anonymous-{next(_anonymous)}")
            self._open += 1
            try:
                with slot as stream:
                    await send_start(send, status, headers)
                    watch = framing.upload is None or framing.upload.finished
                    await pump(answer.response, receive, send, stream, watch)
            finally:
                self._open -= 1
        finally:
            answer.response.close()

    async def _after_no_content(self, method: str, target: str, grant: Grant) -> None:
        """A 204 of the core: a password change ends the user's other sessions before the browser hears."""
        if method == "POST" and target.partition("?")[0] == PASSWORD_CHANGE:
            assert self._password_changed is not None
            await self._password_changed(grant)

    async def _optional_grant(self, scope: HTTPScope) -> Grant | None:
        """The grant for the token policies that may go without one (`user` requires it and is asked in
        `_forward`: 401 without): `user_or_none` takes one when the cookie names a valid session and goes
        on without one otherwise; `none` never looks."""
        if self._mount.token == "none":
            return None
        try:
            return await self._gate.authorize(scope)  # type: ignore[no-any-return]
        except ProblemError as problem:
            if problem.status != 401:
                raise  # the session store is down: not the same as signed out
            return None

    async def _after_invalid_token(
        self, request: UpstreamRequest, answer: Answer, grant: Grant, upload: Upload | None
    ) -> tuple[Answer, Grant]:
        """Refresh once after the upstream refused the token (so the next call works in any case); replay
        only when no body was taken from the browser's stream, else pass the 401 through."""
        refreshed = await self._gate.after_upstream_401(grant)
        if upload is not None:
            return answer, grant
        answer.response.release()
        return await self._upstream.call(request.with_token(refreshed.access_token), None), refreshed


class ApiProxy:
    """The forwarders of the BFF: `{base}/api` to the core (this object is its ASGI app) and one per
    configured route (`routes[i]` for `settings.routes[i]`), each with its own pooled connection."""

    def __init__(
        self,
        settings: BffSettings,
        gate: SessionGate[Any],
        streams: StreamRegistry,
        *,
        upstream: UpstreamConnection | None = None,
        password_changed: PasswordChanged | None = None,
    ) -> None:
        """`upstream`: the client to the core (by default a pooled aiohttp one, sized to the process's
        descriptors); unit tests pass a stand-in. `password_changed`: see `Forwarder`."""
        core = core_mount(settings)
        mounts = [route_mount(settings, route) for route in settings.routes]
        # Every upstream has its own pool; together they keep within the process's descriptor budget.
        pool_size = max(32, connection_pool_size() // (1 + len(mounts)))
        if upstream is None:
            upstream = UpstreamConnection(core.limits, pool_size)
        client_address = ClientAddress(settings.trusted_proxies)
        self.api = Forwarder(core, gate, streams, upstream, client_address, password_changed)
        self.routes = tuple(
            Forwarder(
                mount,
                gate,
                streams,
                UpstreamConnection(mount.limits, pool_size, mount.name),
                client_address,
            )
            for mount in mounts
        )
        # Streams (SSE, downloads) hold an upstream connection for as long as they run: capped per
        # session, per user, and to 3/4 of the pools in the process (and of each upstream's own), so
        # short calls always find a connection.
        streams.limit(
            per_session=settings.max_streams_per_session,
            per_user=settings.max_streams_per_user,
            total=stream_cap(sum(forwarder.upstream.pool_size for forwarder in self.forwarders)),
        )

    @property
    def forwarders(self) -> tuple[Forwarder, ...]:
        return (self.api, *self.routes)

    async def startup(self) -> None:
        """Open the pooled upstream clients (call from the app's lifespan, in the serving loop)."""
        for forwarder in self.forwarders:
            await forwarder.upstream.start()

    async def shutdown(self) -> None:
        for forwarder in self.forwarders:
            await forwarder.upstream.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.api(scope, receive, send)
