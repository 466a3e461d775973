"""Pub/sub of project changes, keyed by the user who should see them, across every core process.

`publish` goes through the broadcast (`latchkey/broadcast.py`): this process's subscribers get the event
at once, every other process's within a second through Redis (SPEC §8). Without Redis, or while it is
down, an event reaches the streams of the process it was made on only. `wake` asks a user's open streams
to re-check their token now (a revocation, here or elsewhere), not at their next heartbeat.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from latchkey.broadcast import Broadcast

QUEUE_SIZE = 256
TOPIC = "events"


class Recheck:
    """Put in a subscriber's queue by `wake`: re-check the stream's token before anything else."""


RECHECK: Final = Recheck()


class Subscription:
    """A subscriber's bounded queue; a subscriber that falls this far behind is cut off (`lagged`)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | Recheck] = asyncio.Queue(QUEUE_SIZE)
        self.lagged = False


class TooManyStreams(Exception):
    """The user already holds the most concurrent event streams allowed."""


class StreamSlot:
    """One of a user's concurrent event streams, held from before the stream starts until it ends.

    `release()` gives the slot back; it runs once, however often it is called. Should a stream body never
    start (its client left before the first byte) nothing would call it, so the slot also gives itself
    back when it is garbage-collected with the stream that held it.
    """

    def __init__(self, broker: EventBroker, user_id: int) -> None:
        self.user_id = user_id
        self._finalizer = weakref.finalize(self, broker._release_stream, user_id)

    def release(self) -> None:
        self._finalizer()


class EventBroker:
    def __init__(self, broadcast: Broadcast) -> None:
        self._broadcast = broadcast
        self._subscribers: defaultdict[int, set[Subscription]] = defaultdict(set)
        self._streams: Counter[int] = Counter()
        broadcast.subscribe(TOPIC, self._on_message)

    def reserve_stream(self, user_id: int, limit: int) -> StreamSlot:
        """Take one of `user_id`'s `limit` stream slots, or raise TooManyStreams when all are held."""
        if self._streams[user_id] >= limit:
            raise TooManyStreams
        self._streams[user_id] += 1
        return StreamSlot(self, user_id)

    def _release_stream(self, user_id: int) -> None:
        self._streams[user_id] -= 1
        if self._streams[user_id] <= 0:
            del self._streams[user_id]

    @asynccontextmanager
    async def subscribe(self, user_id: int) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscribers[user_id].add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(user_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[user_id]

    def publish(self, user_id: int, event: dict[str, Any]) -> None:
        """Deliver `event` to every subscriber of `user_id`, on every process, without waiting."""
        self._broadcast.publish(TOPIC, {"user": user_id, "event": event})

    def wake(self, user_id: int) -> None:
        """Ask every stream of `user_id` on this process to re-check its token now."""
        self._put(user_id, RECHECK)

    def _on_message(self, message: dict[str, Any]) -> None:
        user_id, event = message.get("user"), message.get("event")
        if isinstance(user_id, int) and isinstance(event, dict):
            self._put(user_id, event)

    def _put(self, user_id: int, item: dict[str, Any] | Recheck) -> None:
        for subscription in tuple(self._subscribers.get(user_id, ())):
            try:
                subscription.queue.put_nowait(item)
            except asyncio.QueueFull:
                subscription.lagged = True

    def subscriber_count(self, user_id: int) -> int:
        return len(self._subscribers.get(user_id, ()))
