"""`GET /v1/events`: Server-Sent Events of the caller's project changes.

Each user may hold at most LATCHKEY_MAX_STREAMS_PER_USER streams at once (per core process); one more is
refused with 429 `too_many_streams` before it starts, and a slot frees when its stream ends (the client
leaves, the token stops being valid, or the subscriber falls behind).

A stream outlives the request that authenticated it, so the token is checked again at every heartbeat,
and at once whenever what the user's tokens stand for changes on any process (`EventBroker.wake`, through
the broadcast): revoking the token or its chain, a password change or disabling the user closes the
stream within a second with Redis, within one heartbeat interval at worst (its expiry too). There is
no replay: a client that reconnects (or is cut off for falling behind) re-reads the projects it shows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
from litestar import Request, Router, get
from litestar.datastructures import State
from litestar.response import Stream

from latchkey.core.events.broker import RECHECK, Recheck, StreamSlot, Subscription, TooManyStreams
from latchkey.core.openapi import problem_responses
from latchkey.core.security.auth import Caller, Principal, bearer, bearer_token, resolve_token
from latchkey.core.state import Context, CoreContext
from latchkey.problems import ProblemError

log = logging.getLogger("latchkey.events")

SCOPE = "projects:read"
RECHECK_TIMEOUT = 5.0
HEADERS = {
    "Cache-Control": "no-store",
    # Proxies such as nginx would otherwise buffer the stream and hold events back.
    "X-Accel-Buffering": "no",
}


def format_event(event_id: int, event: dict[str, Any]) -> str:
    """One SSE message; JSON never contains a raw newline, so `data` is a single line."""
    data = msgspec.json.encode(event).decode()
    return f"id: {event_id}\nevent: {event.get('type', 'message')}\ndata: {data}\n\n"


async def still_authorized(ctx: CoreContext, token: str, principal: Principal) -> bool:
    """Whether the stream's token still stands for the same user with the scope it needs.

    The check is shielded from the stream's cancellation (its client leaving, often right when a
    revocation wakes it): a database read cut off mid-way leaves its pooled connection to be reset in a
    cancelled task. It is bounded instead: beyond `RECHECK_TIMEOUT` the stream closes, fail-closed.
    """
    current: Principal | None = None
    try:
        with anyio.move_on_after(RECHECK_TIMEOUT, shield=True):
            current = await resolve_token(ctx, token)
    except ProblemError:
        return False
    except Exception:
        # Fail closed (the database is unreachable, say): the client reconnects and is checked afresh.
        log.warning("could not re-check an event stream's token; closing it", exc_info=True)
        return False
    if current is None:
        log.warning("an event stream's token check took over %s s; closing it", RECHECK_TIMEOUT)
        return False
    return current.user_id == principal.user_id and SCOPE in current.scopes


async def _next_event(subscription: Subscription, timeout: float) -> dict[str, Any] | Recheck | None:
    with anyio.move_on_after(timeout):
        return await subscription.queue.get()
    return None


async def event_stream(
    ctx: CoreContext, principal: Principal, token: str, slot: StreamSlot
) -> AsyncIterator[str]:
    """The SSE body. It ends when the token stops being valid or the subscriber falls behind; when the
    client disconnects, Litestar cancels it and leaving `subscribe` drops the subscription. Either way
    the user's stream slot is given back."""
    try:
        async for chunk in _event_stream(ctx, principal, token):
            yield chunk
    finally:
        slot.release()


async def _event_stream(ctx: CoreContext, principal: Principal, token: str) -> AsyncIterator[str]:
    interval = ctx.settings.events_heartbeat
    async with ctx.broker.subscribe(principal.user_id) as subscription:
        yield ": connected\n\n"
        event_id = 0
        next_beat = time.monotonic() + interval
        while True:
            remaining = next_beat - time.monotonic()
            # Checked before waiting, so a busy stream cannot put off its token check.
            event = await _next_event(subscription, remaining) if remaining > 0 else None
            if subscription.lagged:
                # Events were dropped for this subscriber; closing tells the client to resynchronise.
                return
            if event is RECHECK:
                if not await still_authorized(ctx, token, principal):
                    return
                continue
            if isinstance(event, dict):
                event_id += 1
                yield format_event(event_id, event)
                continue
            if not await still_authorized(ctx, token, principal):
                return
            next_beat = time.monotonic() + interval
            yield ": heartbeat\n\n"


TOO_MANY_STREAMS_RETRY_AFTER = 5


@get(
    "/events",
    opt=bearer(scope=SCOPE),
    summary="Stream project changes (Server-Sent Events)",
    media_type="text/event-stream",
    responses=problem_responses(
        400,
        401,
        403,
        429,
        s429="`too_many_streams`: the user already holds LATCHKEY_MAX_STREAMS_PER_USER streams; "
        "see `Retry-After`",
    ),
)
async def events(request: Request[Any, Any, State], ctx: Context, principal: Caller) -> Stream:
    """`text/event-stream` of `project.*` and `file.*` events for the caller's projects, a `: heartbeat`
    comment every LATCHKEY_EVENTS_HEARTBEAT seconds. At most LATCHKEY_MAX_STREAMS_PER_USER streams per
    user at once: one more is 429 `too_many_streams` with `Retry-After`, before the stream starts."""
    token = bearer_token(request)
    try:
        slot = ctx.broker.reserve_stream(principal.user_id, ctx.settings.max_streams_per_user)
    except TooManyStreams:
        raise ProblemError(
            429,
            "too_many_streams",
            f"at most {ctx.settings.max_streams_per_user} event streams per user at once; close one",
            headers={"Retry-After": str(TOO_MANY_STREAMS_RETRY_AFTER)},
        ) from None
    return Stream(
        event_stream(ctx, principal, token, slot),
        media_type="text/event-stream",
        headers=HEADERS,
    )


router = Router(
    path="/v1",
    route_handlers=[events],
    tags=["events"],
    security=[{"bearer": []}],
)
