"""Notifications shared by every process of an app (SPEC §8): Redis pub/sub with `LATCHKEY_REDIS_URL`,
this process alone without it.

The databases hold every fact. A notification only tells the other processes to forget what they cached
(a revoked token, an ended session) or to pass on what happened (a project event), so losing one loses
nothing as long as a cache trusts itself no longer than `cache_ttl` says: long while Redis is known to be
up, at most `LOCAL_TTL` (1 s) otherwise. Every change of connectivity flushes the caches that subscribe
through `on_change`, so nothing cached before an outage outlives it unchecked.

`publish` never waits and never fails: it delivers to this process's handlers at once (in the caller's
task), then queues the message for Redis. A sender task publishes the queue in order; while Redis is
down it keeps the messages younger than `TRUSTED_TTL` and sends them once it is back, after the other
processes have had the time to resubscribe (an invalidation that arrives late is still worth having for
a process that never noticed the outage; one that did flushed its caches when it reconnected). A
listener task reads the app's channels and hands every message from another process to the same
handlers. Both reconnect by themselves with a capped backoff and log one line per outage, not one per
attempt.

Channels are `latchkey:<app>:<namespace>:<topic>`. Redis pub/sub ignores the database number, so the
namespace (a digest of the app's database URL, which every process of one deployment shares) keeps
deployments (and test runs) on one Redis apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

log = logging.getLogger("latchkey.broadcast")

# How long a cache may trust an entry while the broadcast is up (invalidations reach it within a second)…
TRUSTED_TTL = 30.0
# …and while it is not (no Redis configured, or Redis unreachable): SPEC §8's "at most 1 second".
LOCAL_TTL = 1.0
# Messages kept for Redis while it is unreachable (the oldest go first beyond this).
OUTBOX_SIZE = 10_000
# Reconnection backoff, seconds.
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 1.0
# After an outage, messages queued during it wait this long for the other processes to resubscribe.
RESUBSCRIBE_WAIT = BACKOFF_MAX + 0.3
# A Redis call taking longer than this counts as Redis being down.
REDIS_TIMEOUT = 1.0
# The listener pings Redis this often when nothing arrives, so a dead connection is noticed.
HEALTH_INTERVAL = 1.0

Handler = Callable[[dict[str, Any]], object]
Listener = Callable[[], object]


class Envelope(msgspec.Struct, frozen=True):
    origin: str
    message: dict[str, Any]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Envelope).decode


def namespace(database_url: str) -> str:
    """A deployment's channel namespace: a digest of its database URL without the password."""
    parts = urlsplit(database_url)
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    safe = urlunsplit(parts._replace(netloc=f"{user}@{netloc[2]}" if netloc[1] else netloc[2]))
    return hashlib.sha256(safe.encode()).hexdigest()[:16]


def redact(url: str) -> str:
    """A Redis URL fit for a log line: no password."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


class Broadcast:
    """One process's end of the app's notifications."""

    def __init__(self, url: str | None, *, app: str, namespace: str) -> None:
        self.url = url
        self.origin = secrets.token_hex(8)
        self._prefix = f"latchkey:{app}:{namespace}:"
        self._handlers: dict[str, list[Handler]] = {}
        self._listeners: list[Listener] = []
        self._connected = False
        self._up_since = 0.0
        self._outbox: deque[tuple[float, str, bytes]] = deque(maxlen=OUTBOX_SIZE)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Any = None
        self._outage_logged = False

    # --- what the apps use ----------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self.url is not None

    @property
    def connected(self) -> bool:
        """Whether other processes' notifications reach this one now."""
        return self._connected

    def state(self) -> str:
        """`off` (no Redis configured), `up` or `down`: what `/readyz` reports."""
        if self.url is None:
            return "off"
        return "up" if self._connected else "down"

    def cache_ttl(self) -> float:
        """How long a cache may trust an entry made now."""
        return TRUSTED_TTL if self._connected else LOCAL_TTL

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call `handler(message)` for every message on `topic`, from this process and every other."""
        self._handlers.setdefault(topic, []).append(handler)

    def on_change(self, listener: Listener) -> None:
        """Call `listener()` whenever the connection to Redis is made or lost (caches flush)."""
        self._listeners.append(listener)

    def publish(self, topic: str, message: dict[str, Any], *, local: bool = True) -> None:
        """Deliver `message` to this process's handlers now (unless `local=False`), and queue it for the
        other processes. Never waits, never raises."""
        if local:
            self._deliver(topic, message)
        if self.url is not None:
            self._outbox.append((time.monotonic(), topic, _encode(Envelope(self.origin, message))))
            self._wake.set()

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening and sending (in the background: an unreachable Redis does not delay start-up)."""
        if self.url is None or self._tasks:
            return
        from redis import asyncio as aioredis

        self._client = aioredis.from_url(
            self.url,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            health_check_interval=HEALTH_INTERVAL,
        )
        self._tasks = [
            asyncio.create_task(self._listen(), name="latchkey-broadcast-listen"),
            asyncio.create_task(self._send(), name="latchkey-broadcast-send"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
        self._set_connected(False)

    async def wait_connected(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for Redis (start-up and tests); True when connected."""
        deadline = time.monotonic() + timeout
        while not self._connected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self._connected

    # --- the background tasks -------------------------------------------------------------------------

    def _deliver(self, topic: str, message: dict[str, Any]) -> None:
        for handler in self._handlers.get(topic, ()):
            try:
                handler(message)
            except Exception:
                log.exception("a handler of %r failed", topic)

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        if connected:
            self._up_since = time.monotonic()
            if self._outage_logged:
                log.warning(
                    "Redis is back (%s): notifications reach every process again", redact(self.url or "")
                )
            self._outage_logged = False
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("a broadcast listener failed")

    def _outage(self, error: BaseException) -> None:
        self._set_connected(False)
        self._log_outage(error)

    def _log_outage(self, error: BaseException) -> None:
        """One line per outage, whichever task (listener or sender) meets it first."""
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "Redis unreachable (%s: %s): caches trust themselves at most %.0f s, events reach this "
                "process only; reconnecting",
                redact(self.url or ""),
                type(error).__name__,
                LOCAL_TTL,
            )

    async def _listen(self) -> None:
        backoff = BACKOFF_FIRST
        channels = [self._prefix + topic for topic in self._handlers]
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                if channels:
                    await pubsub.subscribe(*channels)
                else:
                    await pubsub.ping()
                self._set_connected(True)
                backoff = BACKOFF_FIRST
                while True:
                    item = await pubsub.get_message(timeout=HEALTH_INTERVAL)
                    if item is None:
                        await asyncio.wait_for(pubsub.ping(), REDIS_TIMEOUT)
                        continue
                    if item.get("type") == "message":
                        self._received(item["channel"], item["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._outage(error)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _received(self, channel: bytes, data: bytes) -> None:
        topic = channel.decode("utf-8", "replace").removeprefix(self._prefix)
        try:
            envelope = _decode(data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed notification on %r", topic)
            return
        if envelope.origin != self.origin:
            self._deliver(topic, envelope.message)

    async def _send(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                if not self._connected:
                    await asyncio.sleep(0.05)  # our own listener is the judge of Redis being back
                    continue
                now = time.monotonic()
                while self._outbox and now - self._outbox[0][0] > TRUSTED_TTL:
                    self._outbox.popleft()  # no cache could still hold what it names
                index = self._next_ready(now)
                if index is None:
                    if self._outbox:
                        # Only messages of an outage are left, waiting for the others to resubscribe; a new
                        # message (`publish` sets the event) goes at once meanwhile.
                        wait = self._up_since + RESUBSCRIBE_WAIT - now
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), max(wait, 0.01))
                        self._wake.clear()
                    continue
                _, topic, payload = self._outbox[index]
                if not await self._publish(topic, payload, quiet=backoff > BACKOFF_FIRST):
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                backoff = BACKOFF_FIRST
                del self._outbox[index]

    def _next_ready(self, now: float) -> int | None:
        """The first queued message to send now: one queued while Redis was up, or one queued during an
        outage once the others have had the time to resubscribe."""
        backlog_due = now >= self._up_since + RESUBSCRIBE_WAIT
        for index, (queued_at, _, _) in enumerate(self._outbox):
            if backlog_due or queued_at >= self._up_since:
                return index
        return None

    async def _publish(self, topic: str, payload: bytes, *, quiet: bool) -> bool:
        """Publish one message; a connection the pool kept from before an outage fails once and is
        replaced, so a failure is retried at once before it counts (and is logged once per streak)."""
        for attempt in (1, 2):
            try:
                await asyncio.wait_for(self._client.publish(self._prefix + topic, payload), REDIS_TIMEOUT)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if attempt == 2 and not quiet:
                    self._log_outage(error)
        return False
