"""What every core request handler can reach: settings, database, hasher, secret box, event broker, clock.

Handlers receive it injected, as their `ctx: Context` argument (the app-wide dependency `ctx`); only raw
ASGI code and guards, which run before injection, fetch it with `core_context(connection)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency

from latchkey.clock import SYSTEM_CLOCK, Clock
from latchkey.core.events.broker import EventBroker
from latchkey.core.security.passwords import PasswordHasher
from latchkey.core.security.secret_box import SecretBox
from latchkey.db import Database
from latchkey.settings import CoreSettings


@dataclass(slots=True)
class CoreContext:
    settings: CoreSettings
    db: Database
    hasher: PasswordHasher
    box: SecretBox
    broker: EventBroker
    clock: Clock = field(default=SYSTEM_CLOCK)


def core_context(request: ASGIConnection[Any, Any, Any, State]) -> CoreContext:
    ctx: CoreContext = request.app.state.core
    return ctx


# A handler's `ctx` argument, marked as the app-wide dependency (`Provide(core_context)`), as `Caller` is.
Context: TypeAlias = NamedDependency[CoreContext]
