"""The BFF's in-process session cache (SPEC §9) on a real session store: one store read per session per
TTL however many requests arrive together, and a session ended during such a read is never cached."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from latchkey.bff.core_client import CoreClient
from latchkey.bff.sessions import cache
from latchkey.bff.sessions.service import SessionService
from latchkey.bff.sessions.sql_store import SqlSessionStore
from latchkey.bff.sessions.types import NewSession, SessionRecord, Tokens, hash_session_id
from latchkey.db import Database
from latchkey.problems import ProblemError
from latchkey.sealing import KeyRing, new_session_id
from latchkey.settings import BffSettings, load_bff_settings
from tests.support import drop_database, migrated_database_url, new_key

USER = {"id": 7, "email": "a@example.test", "name": "A", "role": "member", "is_developer": False}


class CountingStore(SqlSessionStore):
    """The real SQL store, counting reads; `gate`, when set, holds every read until it is released."""

    def __init__(self, db: Database, ring: KeyRing) -> None:
        super().__init__(db, ring)
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def get(self, id_hash: str) -> SessionRecord | None:
        self.reads += 1
        gate = self.gate  # the gate in place when the read starts holds it
        record = await super().get(id_hash)
        if gate is not None:
            await gate.wait()
        return record


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    url = await migrated_database_url(backend, tmp_path, "bff")  # a copy of a migrated template
    db = Database(url)
    yield db
    await db.dispose()
    await drop_database(url)


@pytest.fixture
def settings() -> BffSettings:
    return load_bff_settings(
        {
            "LATCHKEY_ENV": "dev",
            "LATCHKEY_COOKIE_SECURE": "false",
            "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "A1" * 24 + "B",
            "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
            # Nothing here talks to the core: no refresh is due and no session end revokes.
            "LATCHKEY_CORE_URL": "http://127.0.0.1:9",
        }
    )


@pytest.fixture
def store(database: Database, settings: BffSettings) -> CountingStore:
    return CountingStore(database, KeyRing(settings.cookie_keys))


@pytest.fixture
async def manager(settings: BffSettings, store: CountingStore) -> AsyncIterator[SessionService]:
    manager = SessionService(settings, store, KeyRing(settings.cookie_keys), CoreClient(settings))
    yield manager
    await manager.close()


async def new_session(manager: SessionService, store: CountingStore) -> tuple[str, dict[str, Any]]:
    """A session in the store; returns its id hash and an ASGI scope carrying its cookie."""
    sid = new_session_id()
    now = datetime.now(UTC)
    suffix = secrets.token_hex(8)
    await store.create(
        NewSession(
            id_hash=hash_session_id(sid),
            user=dict(USER),
            tokens=Tokens(f"lka_{suffix}", f"lkr_{suffix}", now, now + timedelta(hours=1)),
            created_at=now,
            expires_at=now + timedelta(hours=8),
            user_agent="pytest",
            ip="127.0.0.1",
        )
    )
    set_cookie = manager.cookies.issue(sid, now=now, expires_at=now + timedelta(hours=8))
    scope = {"headers": [(b"cookie", set_cookie.split(";", 1)[0].encode())]}
    return hash_session_id(sid), scope


async def test_concurrent_requests_share_one_store_read(
    manager: SessionService, store: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    id_hash, scope = await new_session(manager, store)
    store.gate = asyncio.Event()

    # 32 requests of one tab arrive while the session is not cached: one read answers them all.
    calls = [asyncio.ensure_future(manager.authorize(scope)) for _ in range(32)]
    await asyncio.sleep(0.05)
    store.gate.set()
    grants = await asyncio.gather(*calls)
    assert store.reads == 1
    assert {grant.session_key for grant in grants} == {id_hash}
    assert {grant.access_token for grant in grants} == {grants[0].access_token}

    # Within the TTL: no read at all.
    await asyncio.gather(*(manager.authorize(scope) for _ in range(32)))
    assert store.reads == 1

    # Past the TTL: again one read for the whole burst.
    monkeypatch.setattr(cache, "CACHE_TTL", 0.0)
    store.gate = asyncio.Event()
    calls = [asyncio.ensure_future(manager.authorize(scope)) for _ in range(32)]
    await asyncio.sleep(0.05)
    store.gate.set()
    await asyncio.gather(*calls)
    assert store.reads == 2


async def test_a_caller_leaving_does_not_cancel_the_shared_read(
    manager: SessionService, store: CountingStore
) -> None:
    id_hash, scope = await new_session(manager, store)
    store.gate = asyncio.Event()
    first = asyncio.ensure_future(manager.authorize(scope))
    second = asyncio.ensure_future(manager.authorize(scope))
    await asyncio.sleep(0.05)
    first.cancel()  # that browser went away
    store.gate.set()
    assert (await second).session_key == id_hash
    assert first.cancelled()
    assert store.reads == 1


async def test_session_ended_during_a_read_is_not_cached(
    manager: SessionService, store: CountingStore
) -> None:
    id_hash, scope = await new_session(manager, store)
    held = store.gate = asyncio.Event()
    # A read starts while the session is still valid …
    pending = asyncio.ensure_future(manager.authorize(scope))
    await asyncio.sleep(0.05)
    assert store.reads == 1 and not pending.done()
    # … and the session ends on this instance before that read returns (a logout in another tab).
    store.gate = None
    assert await manager.endings.end(id_hash, "logout", revoke=False)
    held.set()
    # The read that began before the end reads again and refuses, rather than caching a valid entry.
    with pytest.raises(ProblemError) as refused:
        await pending
    assert refused.value.status == 401
    assert refused.value.code == "session_revoked"
    assert store.reads == 2
    with pytest.raises(ProblemError) as again:
        await manager.authorize(scope)
    assert again.value.code == "session_revoked"


async def test_another_session_ending_does_not_disturb_a_read(
    manager: SessionService, store: CountingStore
) -> None:
    id_hash, scope = await new_session(manager, store)
    other, _ = await new_session(manager, store)
    held = store.gate = asyncio.Event()
    pending = asyncio.ensure_future(manager.authorize(scope))
    await asyncio.sleep(0.05)
    store.gate = None
    assert await manager.endings.end(other, "logout", revoke=False)
    held.set()
    assert (await pending).session_key == id_hash
    assert store.reads == 1  # no second read: only its own session's end makes a read start over
    await manager.authorize(scope)
    assert store.reads == 1  # and the answer was cached
