"""In-process pub/sub of project changes, keyed by the user who should see them.

Fan-out is per process: with several core processes, a client sees the changes made through the process
it is connected to (documented in docs/architecture.md; a shared broker would lift this).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

QUEUE_SIZE = 256


class Subscription:
    """A subscriber's bounded queue; a subscriber that falls this far behind is cut off (`lagged`)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.lagged = False


class EventBroker:
    def __init__(self) -> None:
        self._subscribers: defaultdict[int, set[Subscription]] = defaultdict(set)

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
        """Deliver `event` to every subscriber of `user_id` without waiting."""
        for subscription in tuple(self._subscribers.get(user_id, ())):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscription.lagged = True

    def subscriber_count(self, user_id: int) -> int:
        return len(self._subscribers.get(user_id, ()))
