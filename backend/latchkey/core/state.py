"""What every core request handler can reach: settings, database, hasher, secret box, the broadcast, the
event broker, the validated-token cache, clock.

Handlers receive it injected, as their `ctx: Context` argument (the app-wide dependency `ctx`); only raw
ASGI code and guards, which run before injection, fetch it with `core_context(connection)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency

from latchkey.broadcast import Broadcast, namespace
from latchkey.clock import SYSTEM_CLOCK, Clock
from latchkey.core.events.broker import EventBroker
from latchkey.core.security.passwords import PasswordHasher
from latchkey.core.security.secret_box import SecretBox
from latchkey.core.security.token_cache import TokenCache
from latchkey.db import Database
from latchkey.oidc import Provider
from latchkey.settings import CoreSettings


@dataclass(slots=True)
class CoreContext:
    settings: CoreSettings
    db: Database
    hasher: PasswordHasher
    box: SecretBox
    broadcast: Broadcast
    broker: EventBroker
    tokens: TokenCache
    clock: Clock = field(default=SYSTEM_CLOCK)
    provider: Provider | None = None  # the OpenID Provider whose ID tokens are exchanged (SPEC §11)

    @classmethod
    def build(
        cls, settings: CoreSettings, db: Database, hasher: PasswordHasher, clock: Clock = SYSTEM_CLOCK
    ) -> CoreContext:
        """The context of one core process: its broadcast (Redis when configured), and the event broker
        and token cache listening to it; open streams re-check their tokens when a user's change."""
        broadcast = Broadcast(settings.redis_url, app="core", namespace=namespace(settings.database_url))
        broker = EventBroker(broadcast)
        tokens = TokenCache(broadcast, clock)
        tokens.on_user_changed(broker.wake)
        provider = Provider(settings.oidc_issuer) if settings.oidc_issuer is not None else None
        box = SecretBox(settings.secret_key)
        return cls(settings, db, hasher, box, broadcast, broker, tokens, clock, provider)


def core_context(request: ASGIConnection[Any, Any, Any, State]) -> CoreContext:
    ctx: CoreContext = request.app.state.core
    return ctx


# A handler's `ctx` argument, marked as the app-wide dependency (`Provide(core_context)`), as `Caller` is.
Context: TypeAlias = NamedDependency[CoreContext]
