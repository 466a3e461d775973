"""The session service in this process: the in-memory store, a `ManualClock`, and a token endpoint written
for the test in place of the core (a test double of the network, not of the code under test)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from latchkey.bff.sessions.authorization_server import CoreUnavailable, GrantRefused
from latchkey.bff.sessions.memory_store import MemorySessionStore
from latchkey.bff.sessions.service import SessionService, SignedIn
from latchkey.bff.sessions.types import SessionRecord, Tokens
from latchkey.clock import ManualClock
from latchkey.sealing import KeyRing
from latchkey.settings import BffSettings, load_bff_settings
from tests.support import new_key

PASSWORD = "correct horse battery staple"
ALICE = {"id": 7, "email": "alice@example.test", "name": "Alice", "role": "member", "is_developer": False}
BOB = {"id": 8, "email": "bob@example.test", "name": "Bob", "role": "member", "is_developer": True}


def bff_settings(**env: str) -> BffSettings:
    return load_bff_settings(
        {
            "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "a" * 49,
            "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
            **env,
        }
    )


@dataclass
class TokenEndpoint:
    """The core's `/v1/oauth/*` and `/v1/me`, in memory: chains of refresh tokens that can be refreshed
    and revoked. `hold` (when set) keeps grants waiting; `failures` are raised, one per call, first."""

    clock: ManualClock
    access_ttl: int = 900
    users: dict[str, dict[str, Any]] = field(default_factory=lambda: {"alice": ALICE, "bob": BOB})
    live: set[str] = field(default_factory=set)  # refresh tokens of chains not revoked
    access: dict[str, int] = field(default_factory=dict)  # access token → user id
    owner: dict[str, int] = field(default_factory=dict)  # refresh token → user id
    refreshes: int = 0
    revoked: list[str] = field(default_factory=list)
    revoke_failures: list[Exception] = field(default_factory=list)
    refresh_failures: list[Exception] = field(default_factory=list)
    grant_failures: list[Exception] = field(default_factory=list)
    hold: asyncio.Event | None = None

    def _issue(self, user_id: int) -> Tokens:
        suffix = secrets.token_hex(8)
        now = self.clock.now()
        access, refresh = f"lka_{suffix}", f"lkr_{suffix}"
        self.access[access], self.owner[refresh] = user_id, user_id
        self.live.add(refresh)
        return Tokens(access, refresh, now, now + timedelta(seconds=self.access_ttl))

    async def _wait(self) -> None:
        if self.hold is not None:
            await self.hold.wait()

    async def password_grant(self, username: str, password: str, ip: str) -> Tokens:
        await self._wait()
        if self.grant_failures:
            raise self.grant_failures.pop(0)
        user = self.users.get(username.split("@")[0])
        if user is None or password != PASSWORD:
            raise GrantRefused(400, "invalid_grant")
        return self._issue(int(user["id"]))

    async def exchange_id_token(self, id_token: str, ip: str) -> Tokens:
        """Here an ID token is `idt_<user name>` (the real checks are the core's, tests/core)."""
        await self._wait()
        user = self.users.get(id_token.removeprefix("idt_"))
        if user is None or not id_token.startswith("idt_"):
            raise GrantRefused(400, "invalid_request")
        return self._issue(int(user["id"]))

    async def refresh(self, refresh_token: str) -> Tokens:
        self.refreshes += 1
        await self._wait()
        if self.refresh_failures:
            raise self.refresh_failures.pop(0)
        if refresh_token not in self.live:
            raise GrantRefused(400, "invalid_grant")
        self.live.discard(refresh_token)  # rotation: the chain lives on in the new token
        return self._issue(self.owner[refresh_token])

    async def revoke(self, refresh_token: str) -> None:
        if self.revoke_failures:
            raise self.revoke_failures.pop(0)
        self.revoked.append(refresh_token)
        self.live.discard(refresh_token)

    async def me(self, access_token: str) -> dict[str, Any]:
        user_id = self.access[access_token]
        return dict(next(user for user in self.users.values() if user["id"] == user_id))


class CountingStore(MemorySessionStore):
    """The memory store, counting reads; `gate`, when set, holds every read until it is released."""

    def __init__(self, ring: KeyRing) -> None:
        super().__init__(ring)
        self.reads = 0
        self.touches = 0
        self.gate: asyncio.Event | None = None

    async def get(self, id_hash: str) -> SessionRecord | None:
        self.reads += 1
        gate = self.gate  # the gate in place when the read starts holds it
        record = await super().get(id_hash)
        if gate is not None:
            await gate.wait()
        return record

    async def touch(self, id_hash: str, now: datetime) -> None:
        self.touches += 1
        await super().touch(id_hash, now)

    def seen_through(self, ring: KeyRing) -> CountingStore:
        """The same memory through another key ring (another instance with other keys)."""
        other = CountingStore(ring)
        shared = self.with_ring(ring)
        other._sessions, other._revocations = shared._sessions, shared._revocations
        return other


@dataclass
class World:
    """One BFF instance's sessions over a shared memory store, with a log of the `on_end` hook."""

    clock: ManualClock
    store: CountingStore
    core: TokenEndpoint
    service: SessionService
    ended: list[str] = field(default_factory=list)

    async def login(self, who: str = "alice", cookie: dict[str, Any] | None = None) -> SignedIn:
        headers = cookie["headers"] if cookie is not None else ()
        return await self.service.login(
            f"{who}@example.test", PASSWORD, ip="203.0.113.9", user_agent="pytest", headers=headers
        )

    async def record(self, signed_in: SignedIn) -> SessionRecord:
        record = await self.store.get(signed_in.record.id_hash)
        assert record is not None
        return record


def scope_of(signed_in: SignedIn) -> dict[str, Any]:
    """An ASGI scope whose Cookie header carries the session's cookie, as a browser would send it."""
    pair = signed_in.set_cookie.split(";", 1)[0]
    return {"headers": [(b"host", b"bff.test"), (b"cookie", f"theme=dark; {pair}".encode())]}


async def settle() -> None:
    """Let every ready task run until it waits on something (a few loop turns, no time passes)."""
    for _ in range(10):
        await asyncio.sleep(0)


def unavailable(timeout: bool = False) -> CoreUnavailable:
    return CoreUnavailable(timeout=timeout)


async def make_world(
    settings: BffSettings, clock: ManualClock, store: CountingStore, core: TokenEndpoint
) -> World:
    service = SessionService(settings, store, KeyRing(settings.cookie_keys), core, clock)
    world = World(clock, store, core, service)
    service.on_end(world.ended.append)
    return world


@pytest.fixture
def settings() -> BffSettings:
    return bff_settings(LATCHKEY_SESSION_IDLE_TIMEOUT="1800", LATCHKEY_SESSION_MAX_AGE="3600")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(settings: BffSettings) -> CountingStore:
    return CountingStore(KeyRing(settings.cookie_keys))


@pytest.fixture
def core(clock: ManualClock) -> TokenEndpoint:
    return TokenEndpoint(clock)


@pytest.fixture
async def world(
    settings: BffSettings, clock: ManualClock, store: CountingStore, core: TokenEndpoint
) -> AsyncIterator[World]:
    world = await make_world(settings, clock, store, core)
    yield world
    await world.service.close()
