"""The session store's contract, run against every implementation: SQL on SQLite and on PostgreSQL, and the
in-memory store. What only a database can show (bytes at rest) runs on the SQL store."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from latchkey.bff.sessions.memory_store import MemorySessionStore
from latchkey.bff.sessions.sql_store import SqlSessionStore
from latchkey.bff.sessions.store import SessionStore
from latchkey.bff.sessions.types import NewSession, ProviderSession, Tokens, hash_session_id
from latchkey.db import Database, sqlite_path
from latchkey.sealing import KeyRing
from tests.support import drop_database, migrated_database_url

USER = {"id": 7, "email": "a@example.test", "name": "A", "role": "member", "is_developer": False}


def ring(*kids: str) -> KeyRing:
    return KeyRing([(kid, secrets.token_bytes(32)) for kid in kids])


def tokens(now: datetime, ttl: int = 900) -> Tokens:
    suffix = secrets.token_hex(8)
    return Tokens(f"lka_{suffix}", f"lkr_{suffix}", now, now + timedelta(seconds=ttl))


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    url = await migrated_database_url(backend, tmp_path, "bff")  # a copy of a migrated template
    db = Database(url)
    yield db
    await db.dispose()
    await drop_database(url)


@pytest.fixture
def keys() -> KeyRing:
    return ring("k1")


Reopen = Callable[[KeyRing], SessionStore]


@pytest.fixture(params=["sql", "memory"])
def reopen(request: pytest.FixtureRequest, backend: str) -> Reopen:
    """The store under test seen through a key ring (as another process with other keys would see it).

    Parametrised with `backend`, so SQL runs on SQLite and on PostgreSQL (the memory store on each too)."""
    if request.param == "memory":
        memory = MemorySessionStore(ring("unused"))
        return memory.with_ring
    database: Database = request.getfixturevalue("database")
    return lambda keys: SqlSessionStore(database, keys)


@pytest.fixture
def store(reopen: Reopen, keys: KeyRing) -> SessionStore:
    return reopen(keys)


@pytest.fixture
def sql_store(database: Database, keys: KeyRing) -> SqlSessionStore:
    return SqlSessionStore(database, keys)


async def create(
    store: SessionStore,
    now: datetime,
    user: dict[str, object] = USER,
    provider: ProviderSession | None = None,
) -> tuple[str, Tokens]:
    id_hash = hash_session_id(secrets.token_bytes(32))
    pair = tokens(now)
    await store.create(
        NewSession(
            id_hash=id_hash,
            user=dict(user),
            tokens=pair,
            created_at=now,
            expires_at=now + timedelta(hours=8),
            user_agent="pytest",
            ip="127.0.0.1",
            provider=provider,
        )
    )
    return id_hash, pair


async def test_a_provider_sign_in_keeps_its_sid_sub_and_id_token_encrypted(
    store: SessionStore, reopen: Reopen
) -> None:
    now = datetime.now(UTC)
    id_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
    id_hash, _ = await create(store, now, provider=ProviderSession("sid-1", "alice", id_token))
    record = await store.get(id_hash)
    assert record is not None and record.provider == ProviderSession("sid-1", "alice", id_token)
    password, _ = await create(store, now)
    plain = await store.get(password)
    assert plain is not None and plain.provider is None
    # Another ring cannot open the ID token (it is sealed like the tokens), but the sid and sub still
    # serve a back-channel logout.
    other = reopen(ring("zz"))
    foreign = await other.get(id_hash)
    assert foreign is not None and foreign.provider == ProviderSession("sid-1", "alice", None)


async def test_a_back_channel_logout_names_sessions_by_sid_or_by_sub(store: SessionStore) -> None:
    now = datetime.now(UTC)
    one, _ = await create(store, now, provider=ProviderSession("sid-1", "alice", None))
    two, _ = await create(store, now, provider=ProviderSession("sid-2", "alice", None))
    bob, _ = await create(store, now, {**USER, "id": 8}, provider=ProviderSession("sid-3", "bob", None))
    await create(store, now)  # a password session is never named
    assert await store.provider_sessions("sid-1", None) == [one]
    assert await store.provider_sessions("sid-1", "alice") == [one]
    assert await store.provider_sessions("sid-1", "bob") == []  # a sid of another account
    assert sorted(await store.provider_sessions(None, "alice")) == sorted([one, two])
    assert await store.provider_sessions(None, None) == []
    assert await store.provider_sessions("unknown", None) == []
    await store.end(one, "provider_logout", now)
    assert await store.provider_sessions(None, "alice") == [two]
    assert await store.provider_sessions("sid-3", "bob") == [bob]


async def test_a_logout_token_is_honoured_once_until_it_expires(store: SessionStore) -> None:
    now = datetime.now(UTC)
    assert await store.first_logout_token("j1", now + timedelta(minutes=10), now) is True
    assert await store.first_logout_token("j1", now + timedelta(minutes=10), now) is False
    assert await store.first_logout_token("j2", now + timedelta(minutes=10), now) is True
    later = now + timedelta(minutes=11)
    assert await store.first_logout_token("j1", later + timedelta(minutes=10), later) is True


async def test_create_get_and_tokens_round_trip(store: SessionStore) -> None:
    now = datetime.now(UTC)
    id_hash, pair = await create(store, now)
    record = await store.get(id_hash)
    assert record is not None
    assert record.user == USER
    assert record.tokens is not None
    assert record.tokens.access_token == pair.access_token
    assert record.tokens.refresh_token == pair.refresh_token
    assert record.ended_at is None
    assert await store.get(hash_session_id(b"x" * 32)) is None
    by_public = await store.get_by_public_id(record.public_id)
    assert by_public is not None and by_public.id_hash == id_hash


async def test_end_once_and_end_all(store: SessionStore) -> None:
    now = datetime.now(UTC)
    first, _ = await create(store, now)
    second, _ = await create(store, now)
    other, _ = await create(store, now, {**USER, "id": 8})
    ended = await store.end(first, "logout", now)
    assert ended is not None and ended.id_hash == first
    assert await store.end(first, "logout", now) is None  # only the first end counts
    record = await store.get(first)
    assert record is not None and record.end_reason == "logout" and record.ended_at is not None
    rest = await store.end_all(7, "logout_everywhere", now)
    assert [r.id_hash for r in rest] == [second]
    survivor = await store.get(other)
    assert survivor is not None and survivor.ended_at is None


async def test_list_active_skips_ended_idle_and_expired(store: SessionStore) -> None:
    now = datetime.now(UTC)
    live, _ = await create(store, now)
    gone, _ = await create(store, now)
    await store.end(gone, "logout", now)
    stale, _ = await create(store, now - timedelta(hours=1))
    active = await store.list_active(7, now, idle_timeout=1800)
    assert [r.id_hash for r in active] == [live]
    assert stale not in await store.overdue(now - timedelta(hours=2), 1800, 10)
    assert stale in await store.overdue(now, 1800, 10)


async def test_touch_moves_last_seen_forward_only(store: SessionStore) -> None:
    now = datetime.now(UTC)
    id_hash, _ = await create(store, now)
    later = now + timedelta(seconds=30)
    await store.touch(id_hash, later)
    await store.touch(id_hash, now)  # an older write never moves it back
    record = await store.get(id_hash)
    assert record is not None and abs((record.last_seen_at - later).total_seconds()) < 0.001


async def test_exactly_one_claim_wins(store: SessionStore) -> None:
    now = datetime.now(UTC)
    id_hash, _ = await create(store, now)
    record = await store.get(id_hash)
    assert record is not None
    lease = timedelta(seconds=15)
    assert await store.claim_refresh(id_hash, record.version, now, lease)
    # A second claimer with the same (now stale) version, or while the lease runs, loses.
    assert not await store.claim_refresh(id_hash, record.version, now, lease)
    assert not await store.claim_refresh(id_hash, record.version + 1, now, lease)
    new_pair = tokens(now)
    await store.save_tokens(id_hash, new_pair, now)
    saved = await store.get(id_hash)
    assert saved is not None and saved.tokens is not None
    assert saved.tokens.access_token == new_pair.access_token
    assert saved.version == record.version + 2
    # After the save the claim is released and the next refresh can be claimed.
    assert await store.claim_refresh(id_hash, saved.version, now, lease)
    await store.release_claim(id_hash)
    assert await store.claim_refresh(id_hash, saved.version + 1, now, lease)


async def test_parallel_claims_on_one_version_have_one_winner(reopen: Reopen, keys: KeyRing) -> None:
    """As from several instances at once (on PostgreSQL, several connections really in parallel)."""
    now = datetime.now(UTC)
    id_hash, _ = await create(reopen(keys), now)
    record = await reopen(keys).get(id_hash)
    assert record is not None
    lease = timedelta(seconds=15)
    claims = await asyncio.gather(
        *(reopen(keys).claim_refresh(id_hash, record.version, now, lease) for _ in range(8))
    )
    assert sum(claim is not None for claim in claims) == 1


async def test_writes_return_the_record_as_written(store: SessionStore) -> None:
    now = datetime.now(UTC)
    id_hash, _ = await create(store, now)
    created = await store.get(id_hash)
    assert created is not None and created.version == 0
    claimed = await store.claim_refresh(id_hash, created.version, now, timedelta(seconds=15))
    assert claimed is not None and claimed.version == 1 and claimed == await store.get(id_hash)
    pair = tokens(now)
    saved = await store.save_tokens(id_hash, pair, now, {**USER, "name": "Renamed"})
    assert saved is not None and saved == await store.get(id_hash)
    assert (saved.version, saved.user["name"], saved.tokens) == (2, "Renamed", pair)
    ended = await store.end(id_hash, "logout", now)
    assert ended is not None and ended == await store.get(id_hash)
    assert (ended.end_reason, ended.ended_at, ended.version) == ("logout", now, 2)


async def test_expired_lease_can_be_taken_over(store: SessionStore) -> None:
    now = datetime.now(UTC)
    id_hash, _ = await create(store, now)
    record = await store.get(id_hash)
    assert record is not None
    assert await store.claim_refresh(id_hash, record.version, now, timedelta(seconds=1))
    later = now + timedelta(seconds=2)
    assert await store.claim_refresh(id_hash, record.version + 1, later, timedelta(seconds=1))


async def test_key_rotation_never_strands_a_session(reopen: Reopen) -> None:
    now = datetime.now(UTC)
    old_key, new_key = ("old", secrets.token_bytes(32)), ("new", secrets.token_bytes(32))
    id_hash, pair = await create(reopen(KeyRing([old_key])), now)
    rotated = reopen(KeyRing([new_key, old_key]))
    record = await rotated.get(id_hash)
    assert record is not None and record.tokens is not None
    assert record.tokens.access_token == pair.access_token
    # The next token change re-encrypts under the new sealing key; the old key can then go.
    await rotated.save_tokens(id_hash, tokens(now), now)
    after = await reopen(KeyRing([new_key])).get(id_hash)
    assert after is not None and after.tokens is not None
    # A store without the key that sealed a row sees no tokens (the session is treated as ended).
    unreadable = await reopen(ring("other")).get(id_hash)
    assert unreadable is not None and unreadable.tokens is None


async def test_purge_removes_only_old_rows(store: SessionStore) -> None:
    now = datetime.now(UTC)
    old, _ = await create(store, now - timedelta(days=2))
    await store.end(old, "logout", now - timedelta(days=2))
    fresh, _ = await create(store, now)
    assert await store.purge(now - timedelta(days=1)) >= 1
    assert await store.get(old) is None
    assert await store.get(fresh) is not None


async def test_database_holds_no_plaintext_token_or_session_id(
    backend: str, database: Database, sql_store: SqlSessionStore
) -> None:
    store = sql_store
    now = datetime.now(UTC)
    sid = secrets.token_bytes(32)
    pair = tokens(now)
    await store.create(
        NewSession(
            id_hash=hash_session_id(sid),
            user=USER,
            tokens=pair,
            created_at=now,
            expires_at=now + timedelta(hours=1),
            user_agent="ua",
            ip="127.0.0.1",
        )
    )
    if backend == "sqlite":
        path = sqlite_path(database.url)
        assert path is not None
        blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        from sqlalchemy import text

        async with database.read() as session:
            rows = (await session.execute(text("SELECT * FROM bff_sessions"))).all()
        blob = repr(rows).encode()
    assert pair.access_token.encode() not in blob
    assert pair.refresh_token.encode() not in blob
    assert sid not in blob and sid.hex().encode() not in blob


async def test_save_tokens_writes_only_to_a_live_session(store: SessionStore) -> None:
    now = datetime.now(UTC)
    id_hash, _ = await create(store, now)
    fresh = tokens(now)
    saved = await store.save_tokens(id_hash, fresh, now)
    assert saved is not None and saved.tokens is not None
    assert saved.tokens.refresh_token == fresh.refresh_token
    await store.end(id_hash, "logout", now)
    # Tokens for a session that has ended are refused (the caller revokes them instead).
    assert await store.save_tokens(id_hash, tokens(now), now) is None
    after = await store.get(id_hash)
    assert after is not None and after.tokens is not None
    assert after.tokens.refresh_token == fresh.refresh_token
    assert await store.save_tokens(hash_session_id(b"y" * 32), tokens(now), now) is None


async def test_pending_revocations_are_claimed_once_retried_and_given_up(
    reopen: Reopen, store: SessionStore
) -> None:
    now = datetime.now(UTC)
    refresh = [f"lkr_{secrets.token_hex(20)}" for _ in range(3)]
    ids = await store.add_revocations(refresh, now, now + timedelta(seconds=1))
    assert len(set(ids)) == 3
    assert await store.next_revocation_at() == now + timedelta(seconds=1)

    def retry_at(attempts: int) -> datetime:
        return now + timedelta(seconds=10 * attempts)

    # Nothing is due before its time; then each is taken by one claimer, decrypted, and moved on.
    assert await store.claim_revocations(now, retry_at, now - timedelta(days=2), 10) == ([], 0)
    later = now + timedelta(seconds=2)
    taken, dropped = await store.claim_revocations(later, retry_at, now - timedelta(days=2), 10)
    assert dropped == 0
    assert sorted(item.refresh_token or "" for item in taken) == sorted(refresh)
    assert {item.attempts for item in taken} == {1}
    assert await store.claim_revocations(later, retry_at, now - timedelta(days=2), 10) == ([], 0)
    await store.revocations_done([ids[0]])
    assert await store.next_revocation_at() == now + timedelta(seconds=10)

    # A store whose ring lost the key sees the entries but cannot open them.
    foreign = reopen(ring("other"))
    taken, _ = await foreign.claim_revocations(
        now + timedelta(seconds=11), retry_at, now - timedelta(days=2), 10
    )
    assert len(taken) == 2 and all(item.refresh_token is None for item in taken)

    # Entries older than the give-up point are dropped.
    taken, dropped = await store.claim_revocations(later, retry_at, now + timedelta(seconds=1), 10)
    assert (taken, dropped) == ([], 2)
    assert await store.next_revocation_at() is None


async def test_pending_revocations_are_encrypted_at_rest(
    backend: str, database: Database, sql_store: SqlSessionStore
) -> None:
    store = sql_store
    now = datetime.now(UTC)
    refresh = [f"lkr_{secrets.token_hex(20)}" for _ in range(3)]
    # Pending tokens are encrypted at rest like the sessions'.
    await store.add_revocations(refresh, now, now)
    if backend == "sqlite":
        path = sqlite_path(database.url)
        assert path is not None
        blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        from sqlalchemy import text

        async with database.read() as session:
            blob = repr((await session.execute(text("SELECT * FROM bff_revocations"))).all()).encode()
    assert not any(token.encode() in blob for token in refresh)
