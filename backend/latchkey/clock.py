"""The one clock: every "now" in the apps comes from a `Clock` (aware UTC datetimes).

The core's handlers take it from their context (`CoreContext.clock`) and pass `now` into the services, as
`sealing` takes `now=`: rules about time are then tested by moving a `ManualClock`, never by sleeping.
`utcnow` is the system clock as a plain function, for column defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware in UTC."""
        ...


def utcnow() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return utcnow()


SYSTEM_CLOCK = SystemClock()


@dataclass
class ManualClock:
    """A clock that moves only when told to (`advance`)."""

    current: datetime = field(default_factory=utcnow)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current
