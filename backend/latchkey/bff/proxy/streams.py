"""The response streams open in this process (SSE, downloads): admitted against caps, tracked by session
and user, and cancelled when their session ends.

A stream holds its upstream connection for as long as it runs, so streams are capped per session, per
user, and to 3/4 of the upstream pool in the process: short calls always find a connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from latchkey.problems import ProblemError

# What a refused stream is told: streams are long-lived, so a slot seldom frees within a second.
STREAM_RETRY_AFTER = "5"


class TooManyStreams(ProblemError):
    """A streaming answer refused by a cap: `limit` is `session`, `user` or `process`. 429 when the
    session or the user holds too many streams; 503 when the whole process does."""

    def __init__(self, limit: str) -> None:
        self.limit = limit
        super().__init__(
            503 if limit == "process" else 429,
            "too_many_streams",
            f"too many open streams for this {limit}; close one or retry later",
            headers={"Retry-After": STREAM_RETRY_AFTER},
        )


def stream_cap(pool_size: int) -> int:
    """Streams one process may hold at once: 3/4 of its upstream pool, so the last quarter always serves
    short calls (a stream holds its upstream connection for as long as it runs)."""
    return max(1, pool_size * 3 // 4)


class StreamSlot:
    """One admitted response stream; leaving its `with` block frees the slot."""

    __slots__ = ("_registry", "released", "scope", "session_key", "user_id")

    def __init__(self, registry: StreamRegistry, session_key: str, user_id: object) -> None:
        self._registry = registry
        self.session_key = session_key
        self.user_id = user_id
        self.scope = anyio.CancelScope()
        self.released = False

    def __enter__(self) -> anyio.CancelScope:
        return self.scope

    def __exit__(self, *_: object) -> None:
        self._registry.release(self)


class StreamRegistry:
    """The response streams open in this process, by session and by user, so ending a session ends its
    streams, and one session or user cannot hold the upstream pool: at most `per_session` streams per
    session, `per_user` per user and `total` in the process (None: no limit)."""

    def __init__(
        self, *, per_session: int | None = None, per_user: int | None = None, total: int | None = None
    ) -> None:
        self._open: dict[str, set[StreamSlot]] = {}
        self._users: dict[object, int] = {}
        self._total = 0
        self.per_session = per_session
        self.per_user = per_user
        self.total = total

    def limit(
        self, *, per_session: int | None = None, per_user: int | None = None, total: int | None = None
    ) -> None:
        """Set the caps (the proxy does, from its settings and its upstream pool)."""
        self.per_session, self.per_user, self.total = per_session, per_user, total

    def reserve(self, session_key: str, user_id: object = None) -> StreamSlot:
        """Admit one more stream of that session (and user) at once, or raise TooManyStreams. The caller
        enters the returned slot's `with` block at once and runs its pump inside the yielded scope."""
        slots = self._open.get(session_key)
        if self.per_session is not None and slots is not None and len(slots) >= self.per_session:
            raise TooManyStreams("session")
        if self.per_user is not None and user_id is not None and self._users.get(user_id, 0) >= self.per_user:
            raise TooManyStreams("user")
        if self.total is not None and self._total >= self.total:
            raise TooManyStreams("process")
        slot = StreamSlot(self, session_key, user_id)
        if slots is None:
            slots = self._open[session_key] = set()
        slots.add(slot)
        if user_id is not None:
            self._users[user_id] = self._users.get(user_id, 0) + 1
        self._total += 1
        return slot

    def release(self, slot: StreamSlot) -> None:
        """Free an admitted slot (once; later calls do nothing)."""
        if slot.released:
            return
        slot.released = True
        slots = self._open.get(slot.session_key)
        if slots is not None:
            slots.discard(slot)
            if not slots:
                del self._open[slot.session_key]
        if slot.user_id is not None:
            left = self._users.get(slot.user_id, 0) - 1
            if left > 0:
                self._users[slot.user_id] = left
            else:
                self._users.pop(slot.user_id, None)
        self._total -= 1

    @contextmanager
    def track(self, session_key: str, user_id: object = None) -> Iterator[anyio.CancelScope]:
        """`reserve` and enter in one step (raises TooManyStreams before registering anything)."""
        with self.reserve(session_key, user_id) as scope:
            yield scope

    def close_session(self, session_key: str) -> int:
        """Cancel every stream of that session in this process; returns how many there were. Their
        slots are freed as their pumps stop."""
        slots = self._open.get(session_key)
        if not slots:
            return 0
        for slot in slots:
            slot.scope.cancel()
        return len(slots)

    def user_streams(self, user_id: object) -> int:
        return self._users.get(user_id, 0)

    def __len__(self) -> int:
        return self._total
