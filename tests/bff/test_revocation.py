"""No refresh chain outlives its BFF session (real core; real BFF processes, or the session manager in
this process in front of the real core where a race must be forced):
- re-authentication racing a logout, and a refresh completing after its session ended, revoke the new
  tokens instead of parking them on the dead row;
- a logout whose revocation failed (core down, or a non-200 answer) is retried until the core confirms,
  also after the BFF restarts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from latchkey.bff.core_client import CoreClient
from latchkey.bff.models import RevocationRow
from latchkey.bff.sessions.service import SessionService
from latchkey.bff.sessions.sql_store import SqlSessionStore
from latchkey.bff.sessions.types import SessionRecord, Tokens
from latchkey.db import Database
from latchkey.problems import ProblemError
from latchkey.sealing import KeyRing
from latchkey.settings import load_bff_settings, parse_key_ring
from tests.bff.test_logout import chains
from tests.support import (
    PASSWORD,
    BffServer,
    Browser,
    CoreServer,
    drop_database,
    login,
    migrated_database_url,
    new_key,
    random_ip,
)

CoreFactory = Callable[..., Awaitable[CoreServer]]
BffFactory = Callable[..., Awaitable[BffServer]]


async def live_chains(core: CoreServer, user_id: int) -> int:
    return sum(row.revoked_at is None for row in await chains(core, user_id))


async def until_no_live_chain(core: CoreServer, user_id: int, within: float) -> float:
    """Wait until every chain of the user is revoked at the core; returns how long it took."""
    started = time.monotonic()
    while (live := await live_chains(core, user_id)) != 0:
        assert time.monotonic() - started < within, f"{live} chain(s) still alive after {within} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def pending_revocations(database_url: str) -> int:
    db = Database(database_url)
    try:
        async with db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(RevocationRow)) or 0)
    finally:
        await db.dispose()


async def until_no_pending_revocation(database_url: str, within: float = 5.0) -> None:
    """The BFF drops its pending row just after the core answers the revocation: wait for that too."""
    started = time.monotonic()
    while (pending := await pending_revocations(database_url)) != 0:
        assert time.monotonic() - started < within, f"{pending} revocation(s) still pending after {within} s"
        await asyncio.sleep(0.05)


# --- races, through a real BFF ---------------------------------------------------------------------------


async def test_reauthenticate_racing_logout_leaves_no_live_chain(
    core: CoreServer, bff: BffServer, http: httpx.AsyncClient
) -> None:
    user: dict[str, Any] = await core.create_user()
    outcomes: set[int] = set()
    for round_ in range(12):
        browser = Browser(http, bff)
        await browser.login(user["email"])
        cookie = browser.cookie

        async def logout_after(delay: float, cookie: str | None = cookie) -> httpx.Response:
            await asyncio.sleep(delay)
            tab = Browser(http, bff)
            tab.cookie = cookie
            return await tab.request("POST", "/bff/logout")

        # The logout lands at a different moment of the re-authentication's password grant each round.
        reauth, logout = await asyncio.gather(
            browser.request("POST", "/bff/reauthenticate", json={"password": PASSWORD}),
            logout_after(0.015 * round_),
        )
        assert logout.status_code == 204
        assert reauth.status_code in (204, 401), reauth.text
        if reauth.status_code == 401:
            assert reauth.json()["code"] in ("session_revoked", "no_session")
        outcomes.add(reauth.status_code)
    elapsed = await until_no_live_chain(core, user["id"], within=5.0)
    print(
        f"\nre-authentication outcomes {sorted(outcomes)}; every chain revoked {elapsed * 1000:.0f} ms after"
    )
    await until_no_pending_revocation(bff.database_url)


# --- forced races, with the session manager in this process in front of the real core -------------------


class EndingStore(SqlSessionStore):
    """The real SQL store; when armed, the session ends (as on another instance) just before new tokens
    are saved, so the tokens arrive for a session that has ended."""

    def __init__(self, db: Database, ring: KeyRing) -> None:
        super().__init__(db, ring)
        self.armed = False

    async def save_tokens(
        self, id_hash: str, tokens: Tokens, now: datetime, user: dict[str, Any] | None = None
    ) -> SessionRecord | None:
        if self.armed:
            self.armed = False
            await self.end(id_hash, "logout", now)
        return await super().save_tokens(id_hash, tokens, now, user)


@pytest.fixture
def cookie_keys() -> str:
    return f"k1:{new_key()}"


@pytest.fixture
async def store(backend: str, tmp_path: Path, cookie_keys: str) -> AsyncIterator[EndingStore]:
    url = await migrated_database_url(backend, tmp_path, "bff")  # a copy of a migrated template
    db = Database(url)
    yield EndingStore(db, KeyRing(parse_key_ring(cookie_keys)))
    await db.dispose()
    await drop_database(url)


@pytest.fixture
async def manager(
    core: CoreServer, service_client: dict[str, Any], cookie_keys: str, store: EndingStore
) -> AsyncIterator[SessionService]:
    settings = load_bff_settings(
        {
            "LATCHKEY_BFF_CLIENT_SECRET": service_client["client_secret"],
            "LATCHKEY_COOKIE_KEYS": cookie_keys,
            "LATCHKEY_CORE_URL": core.url,
            "LATCHKEY_UPSTREAM_TIMEOUT": "5",
        }
    )
    client = CoreClient(settings)
    await client.start()
    manager = SessionService(settings, store, KeyRing(settings.cookie_keys), client)
    yield manager
    await manager.close()
    await client.close()


async def test_a_refresh_completing_after_its_session_ended_is_revoked(
    core: CoreServer, manager: SessionService, store: EndingStore
) -> None:
    user = await core.create_user()
    record = (await manager.login(user["email"], PASSWORD, ip=random_ip(), user_agent="pytest")).record
    assert record.tokens is not None and await live_chains(core, user["id"]) == 1

    store.armed = True  # the session ends while the core refreshes its tokens
    with pytest.raises(ProblemError) as raised:
        await manager.refresher.refresh(record.id_hash, record.tokens.access_token)
    assert (raised.value.status, raised.value.code) == (401, "session_revoked")
    # The refreshed pair was never stored, and its chain is revoked at the core at once.
    stored = await store.get(record.id_hash)
    assert stored is not None and stored.tokens == record.tokens
    assert await live_chains(core, user["id"]) == 0


async def test_reauthentication_completing_after_its_session_ended_is_revoked(
    core: CoreServer, manager: SessionService, store: EndingStore
) -> None:
    user = await core.create_user()
    record = (await manager.login(user["email"], PASSWORD, ip=random_ip(), user_agent="pytest")).record

    store.armed = True  # a logout lands during the password grant
    with pytest.raises(ProblemError) as raised:
        await manager.reauthenticate(record, PASSWORD, random_ip())
    assert (raised.value.status, raised.value.code) == (401, "session_revoked")
    # The new chain (the second) died at once; the first is the ending's own business.
    first, second = await chains(core, user["id"])
    assert second.revoked_at is not None
    assert first.revoked_at is None  # the armed store ended the row without revoking, on purpose


# --- failed revocations are retried ---------------------------------------------------------------------


async def test_a_logout_while_the_core_is_down_is_revoked_once_it_is_back(
    core_factory: CoreFactory, bff_factory: BffFactory, http: httpx.AsyncClient
) -> None:
    core = await core_factory()
    service = await core.create_user(developer=True, name="Service")
    bff = await bff_factory(core_server=core, LATCHKEY_BFF_CLIENT_SECRET=service["client_secret"])
    user: dict[str, Any] = await core.create_user()
    running: list[CoreServer | BffServer] = []
    try:
        # 1. The BFF keeps running: it retries by itself once the core is back.
        browser = Browser(http, bff)
        await browser.login(user["email"])
        await asyncio.to_thread(core.stop)
        started = time.monotonic()
        logout = await browser.request("POST", "/bff/logout")
        assert logout.status_code == 204
        assert time.monotonic() - started < 2.0  # the failed attempt does not hold the answer
        assert await live_chains(core, user["id"]) == 1
        assert await pending_revocations(bff.database_url) == 1
        back = CoreServer(env=core.env, workdir=core.workdir, port=core.port)
        await asyncio.to_thread(back.start)
        running.append(back)
        elapsed = await until_no_live_chain(core, user["id"], within=10.0)
        print(f"\nrevoked {elapsed:.1f} s after the core came back")
        await until_no_pending_revocation(bff.database_url)

        # 2. The BFF restarts meanwhile: the pending revocation is in its DB, and the new process sends it.
        await browser.login(user["email"])
        await asyncio.to_thread(back.stop)
        assert (await browser.request("POST", "/bff/logout")).status_code == 204
        await asyncio.to_thread(bff.stop)
        assert await pending_revocations(bff.database_url) == 1
        back = CoreServer(env=core.env, workdir=core.workdir, port=core.port)
        await asyncio.to_thread(back.start)
        running.append(back)
        restarted = BffServer(env=bff.env, workdir=bff.workdir, port=bff.port)
        await asyncio.to_thread(restarted.start)
        running.append(restarted)
        elapsed = await until_no_live_chain(core, user["id"], within=10.0)
        print(f"revoked {elapsed:.1f} s after the core and the BFF came back")
        await until_no_pending_revocation(bff.database_url)
        # Nothing in the BFF's log names a token.
        assert "lkr_" not in (bff.log() + restarted.log())
    finally:
        for server in reversed(running):
            await asyncio.to_thread(server.stop)


async def test_a_refused_revocation_is_retried(
    core: CoreServer, bff_factory: BffFactory, http: httpx.AsyncClient
) -> None:
    """The core answers the revocation 401 `invalid_client` (the operator rotated the BFF's client secret
    and ended the old one's grace before deploying the new one): the chain stays pending, and the BFF
    restarted with the new secret revokes it."""
    account = await core.create_user(developer=True, name="BFF account")
    bff = await bff_factory(LATCHKEY_BFF_CLIENT_SECRET=account["client_secret"])
    user: dict[str, Any] = await core.create_user()
    browser = Browser(http, bff)
    await browser.login(user["email"])

    owner = await login(http, core, account["client_secret"], account["email"])
    rotated = await http.post(f"{core.url}/v1/me/client-secret/rotate", headers=owner.headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    ended = await http.delete(f"{core.url}/v1/me/client-secret/previous", headers=owner.headers)
    assert ended.status_code == 204, ended.text
    await asyncio.sleep(1.1)  # any cache of the core's has seen it (SPEC §8: within 1 s)

    assert (await browser.request("POST", "/bff/logout")).status_code == 204
    assert await live_chains(core, user["id"]) == 1
    assert await pending_revocations(bff.database_url) == 1
    await asyncio.sleep(1.5)  # a retry or two, refused alike
    assert await live_chains(core, user["id"]) == 1
    await asyncio.to_thread(bff.stop)
    assert "answered 401" in bff.log()

    restarted = BffServer(
        env={**bff.env, "LATCHKEY_BFF_CLIENT_SECRET": new_secret}, workdir=bff.workdir, port=bff.port
    )
    await asyncio.to_thread(restarted.start)
    try:
        await until_no_live_chain(core, user["id"], within=10.0)
        await until_no_pending_revocation(bff.database_url)
    finally:
        await asyncio.to_thread(restarted.stop)
    assert "lkr_" not in bff.log() + restarted.log()
