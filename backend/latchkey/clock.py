"""The one clock: every "now" in the apps comes from a `Clock` (aware UTC datetimes).

The core's handlers take it from their context (`CoreContext.clock`) and pass `now` into the services, as
the cookie's `sealing` takes `now=`; the BFF's session parts take the clock itself (their cache and
refresh also read its `monotonic` side). Rules about time are then tested by moving a `ManualClock`, never
by sleeping.
`utcnow` is the system clock as a plain function, for column defaults.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps back: for ages and deadlines, not for moments."""
        ...


def utcnow() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()


@dataclass
class ManualClock:
    """A clock that moves only when told to (`advance` moves both its readings)."""

    current: datetime = field(default_factory=utcnow)
    elapsed: float = 0.0

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        self.elapsed += seconds
        return self.current
