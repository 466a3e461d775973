"""`SessionService` (`bff/sessions/service.py`) for the routes: sign-in with its throttle and per-user cap,
re-authentication, every way a session ends by the user's hand, the list, and the `on_end` hook."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from latchkey.bff.sessions import service as service_module
from latchkey.bff.sessions.authorization_server import GrantRefused
from latchkey.bff.sessions.service import SignedIn
from latchkey.clock import ManualClock
from latchkey.problems import ProblemError
from latchkey.settings import BffSettings
from tests.unit.bff.sessions.conftest import (
    PASSWORD,
    CountingStore,
    TokenEndpoint,
    World,
    bff_settings,
    make_world,
    scope_of,
    settle,
    unavailable,
)

CLEARED = {
    "Set-Cookie": "__Host-latchkey=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure; "
    "HttpOnly; SameSite=Strict",
    "Clear-Site-Data": '"cache", "storage", "cookies"',
}


async def test_login_makes_a_session_and_its_cookie(world: World) -> None:
    signed_in = await world.login()
    record = signed_in.record
    assert record.user == {**record.user, "id": 7, "email": "alice@example.test"}
    assert (record.user_agent, record.ip, record.ended_at) == ("pytest", "203.0.113.9", None)
    assert record.created_at == record.last_seen_at == world.clock.now()
    assert (record.expires_at - record.created_at).total_seconds() == 3600
    name, _, attributes = signed_in.set_cookie.partition(";")
    assert name.startswith("__Host-latchkey=")
    assert attributes.strip().startswith("Max-Age=3600; Expires=")
    assert attributes.endswith("Path=/; Secure; HttpOnly; SameSite=Strict")
    assert (await world.service.authorize(scope_of(signed_in))).session_key == record.id_hash


async def test_every_login_gets_a_new_session_id(world: World) -> None:
    first, second = await world.login(), await world.login()
    assert first.record.id_hash != second.record.id_hash
    assert first.set_cookie != second.set_cookie


@pytest.mark.parametrize(
    ("who", "failure", "status", "code"),
    [
        ("mallory", None, 401, "invalid_credentials"),
        ("alice", GrantRefused(429, "slow_down", "30"), 429, "rate_limited"),
        ("alice", GrantRefused(503, "temporarily_unavailable", "2"), 503, "service_unavailable"),
        ("alice", unavailable(timeout=True), 504, "upstream_timeout"),
        ("alice", unavailable(timeout=False), 502, "upstream_unavailable"),
    ],
)
async def test_a_refused_login_makes_no_session(
    world: World, who: str, failure: Exception | None, status: int, code: str
) -> None:
    if failure is not None:
        world.core.grant_failures.append(failure)
    with pytest.raises(ProblemError) as refused:
        await world.login(who)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert world.store._sessions == {}


async def test_logins_in_flight_are_throttled(world: World) -> None:
    world.core.hold = asyncio.Event()
    waiting = [asyncio.ensure_future(world.login()) for _ in range(service_module.LOGIN_CONCURRENCY)]
    await settle()
    with pytest.raises(ProblemError) as refused:
        await world.login()
    assert (refused.value.status, refused.value.code) == (503, "service_unavailable")
    assert refused.value.headers == {"Retry-After": "1"}
    world.core.hold.set()
    await asyncio.gather(*waiting)
    await world.login()  # the slots are free again


async def test_a_throttled_slot_is_freed_when_the_grant_fails(world: World) -> None:
    world.core.grant_failures.extend([unavailable()] * service_module.LOGIN_CONCURRENCY)
    for _ in range(service_module.LOGIN_CONCURRENCY):
        with pytest.raises(ProblemError):
            await world.login()
    await world.login()


async def test_a_login_replaces_the_browsers_previous_session(world: World) -> None:
    previous = await world.login()
    signed_in = await world.login(cookie=scope_of(previous))
    assert (await world.record(previous)).end_reason == "replaced"
    assert world.ended == [previous.record.id_hash]
    assert previous.record.tokens is not None
    assert world.core.revoked == [previous.record.tokens.refresh_token]
    assert (await world.record(signed_in)).ended_at is None


async def test_a_login_ends_the_oldest_sessions_beyond_the_cap(
    clock: ManualClock, store: CountingStore, core: TokenEndpoint
) -> None:
    world = await make_world(bff_settings(LATCHKEY_MAX_SESSIONS_PER_USER="3"), clock, store, core)
    try:
        sessions = []
        for _ in range(5):
            sessions.append(await world.login())
            clock.advance(1)
        await world.login("bob")
        live = await world.service.list_active(sessions[-1].record)
        assert [item.id_hash for item in live] == [s.record.id_hash for s in reversed(sessions[-3:])]
        for evicted in sessions[:2]:
            assert (await world.record(evicted)).end_reason == "evicted"
        assert sorted(world.ended) == sorted(s.record.id_hash for s in sessions[:2])
        assert len(core.revoked) == 2
    finally:
        await world.service.close()


async def test_logout_ends_the_session_and_clears_the_browser(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    await world.service.authorize(scope)
    assert (await world.service.logout(scope["headers"], everywhere=False))[0] == CLEARED
    assert (await world.record(signed_in)).end_reason == "logout"
    assert world.ended == [signed_in.record.id_hash]
    assert signed_in.record.tokens is not None
    assert world.core.revoked == [signed_in.record.tokens.refresh_token]
    with pytest.raises(ProblemError) as refused:  # at once on this instance, cache or not
        await world.service.authorize(scope)
    assert refused.value.code == "session_revoked"


async def test_logout_everywhere_ends_only_the_users_sessions(world: World) -> None:
    mine = [await world.login() for _ in range(3)]
    bobs = await world.login("bob")
    await world.service.logout(scope_of(mine[0])["headers"], everywhere=True)
    for signed_in in mine:
        assert (await world.record(signed_in)).end_reason == "logout_everywhere"
    assert (await world.record(bobs)).ended_at is None
    assert sorted(world.ended) == sorted(s.record.id_hash for s in mine)
    assert len(world.core.revoked) == 3


async def test_an_ended_sessions_cookie_cannot_log_out_everywhere(world: World) -> None:
    old, current = await world.login(), await world.login()
    await world.service.logout(scope_of(old)["headers"], everywhere=False)
    assert (await world.service.logout(scope_of(old)["headers"], everywhere=True))[0] == CLEARED
    assert (await world.record(current)).ended_at is None


async def test_an_idle_sessions_cookie_cannot_log_out_everywhere(world: World) -> None:
    idle = await world.login()
    world.clock.advance(world.service.idle)
    current = await world.login()
    await world.service.logout(scope_of(idle)["headers"], everywhere=True)
    assert (await world.record(idle)).end_reason == "idle"
    assert (await world.record(current)).ended_at is None


async def test_logout_without_a_cookie_still_clears(world: World) -> None:
    await world.login()
    assert (await world.service.logout([(b"cookie", b"theme=dark")], everywhere=True))[0] == CLEARED
    assert world.ended == []


async def test_a_cookie_on_a_parent_domain_is_cleared_but_not_the_sites_cookies(
    clock: ManualClock, store: CountingStore, core: TokenEndpoint
) -> None:
    world = await make_world(bff_settings(LATCHKEY_COOKIE_DOMAIN="example.test"), clock, store, core)
    try:
        headers, _ = await world.service.logout((), everywhere=False)
        assert headers["Clear-Site-Data"] == '"cache", "storage"'
        assert headers["Set-Cookie"].startswith("__Secure-latchkey=; Max-Age=0;")
        assert "Domain=example.test" in headers["Set-Cookie"]
    finally:
        await world.service.close()


async def test_ending_another_session_from_the_list(world: World) -> None:
    current, other = await world.login(), await world.login()
    record = await world.service.current(scope_of(current)["headers"])
    assert await world.service.end_one(record, other.record.public_id) == {}
    assert (await world.record(other)).end_reason == "ended"
    assert world.ended == [other.record.id_hash]
    assert await world.service.end_one(record, record.public_id) == CLEARED


@pytest.mark.parametrize("target", ["bobs", "ended", "unknown", "too long"])
async def test_ending_a_session_that_is_not_the_users_live_one_is_404(world: World, target: str) -> None:
    current, ended, bobs = await world.login(), await world.login(), await world.login("bob")
    await world.service.endings.end(ended.record.id_hash, "logout")
    public_id = {
        "bobs": bobs.record.public_id,
        "ended": ended.record.public_id,
        "unknown": "nope",
        "too long": "x" * 65,
    }[target]
    with pytest.raises(ProblemError) as refused:
        await world.service.end_one(current.record, public_id)
    assert (refused.value.status, refused.value.code) == (404, "not_found")
    assert (await world.record(bobs)).ended_at is None


async def test_the_list_is_the_users_live_sessions_newest_first(world: World) -> None:
    first = await world.login()
    world.clock.advance(5)
    second = await world.login()
    await world.login("bob")
    world.clock.advance(5)
    gone = await world.login()
    await world.service.endings.end(gone.record.id_hash, "logout")
    listed = await world.service.list_active(first.record)
    assert [item.id_hash for item in listed] == [second.record.id_hash, first.record.id_hash]


async def test_the_current_session_answers_with_the_ending_code(world: World) -> None:
    signed_in = await world.login()
    headers = scope_of(signed_in)["headers"]
    assert (await world.service.current(headers)).id_hash == signed_in.record.id_hash
    world.clock.advance(world.service.idle)
    with pytest.raises(ProblemError) as refused:
        await world.service.current(headers)
    assert refused.value.code == "session_idle_expired"
    with pytest.raises(ProblemError) as missing:
        await world.service.current([(b"cookie", b"__Host-latchkey=forged")])
    assert missing.value.code == "no_session"


async def test_the_idle_end_shown_is_last_seen_plus_the_timeout(world: World) -> None:
    record = (await world.login()).record
    assert (world.service.idle_ends_at(record) - record.last_seen_at).total_seconds() == world.service.idle


async def test_reauthentication_swaps_the_tokens_and_revokes_the_old_chain(world: World) -> None:
    signed_in = await world.login()
    scope = scope_of(signed_in)
    before = await world.service.authorize(scope)
    await world.service.reauthenticate(signed_in.record, PASSWORD, "203.0.113.9")
    await world.service.background.wait()
    assert signed_in.record.tokens is not None
    assert world.core.revoked == [signed_in.record.tokens.refresh_token]
    after = await world.service.authorize(scope)  # the cache entry was dropped
    assert after.access_token != before.access_token and after.session_key == before.session_key


async def test_reauthentication_with_a_wrong_password_changes_nothing(world: World) -> None:
    signed_in = await world.login()
    with pytest.raises(ProblemError) as refused:
        await world.service.reauthenticate(signed_in.record, "wrong", "203.0.113.9")
    assert refused.value.code == "invalid_credentials"
    assert (await world.record(signed_in)).tokens == signed_in.record.tokens


async def test_reauthentication_racing_a_logout_revokes_the_new_chain(world: World) -> None:
    signed_in = await world.login()
    world.core.hold = asyncio.Event()
    pending = asyncio.ensure_future(world.service.reauthenticate(signed_in.record, PASSWORD, "203.0.113.9"))
    await settle()
    await world.service.logout(scope_of(signed_in)["headers"], everywhere=False)
    world.core.hold.set()
    with pytest.raises(ProblemError) as refused:
        await pending
    assert (refused.value.status, refused.value.code) == (401, "session_revoked")
    assert len(world.core.revoked) == 2  # the session's chain at logout, the new one at once
    assert world.core.live == set()


async def test_end_listeners_hear_every_ending_in_order(
    settings: BffSettings, clock: ManualClock, store: CountingStore, core: TokenEndpoint
) -> None:
    world = await make_world(settings, clock, store, core)
    heard: list[tuple[str, str, int]] = []
    # Registered after the cache's own listener: by the time it runs, the entry is gone.
    world.service.on_end(lambda key: heard.append(("streams", key, len(world.service.cache))))
    try:
        signed_in = await world.login()
        await world.service.authorize(scope_of(signed_in))
        assert len(world.service.cache) == 1
        await world.service.endings.end(signed_in.record.id_hash, "ended")
        assert heard == [("streams", signed_in.record.id_hash, 0)]
        assert world.ended == [signed_in.record.id_hash]
    finally:
        await world.service.close()


# --- sign-in through the provider (SPEC §11) ---------------------------------------------------------


async def provider_login(world: World, who: str, sid: str, cookie: dict[str, Any] | None = None) -> SignedIn:
    headers = cookie["headers"] if cookie is not None else ()
    claims = {"sub": f"sub-{who}", "sid": sid}
    return await world.service.login_with_provider(
        f"idt_{who}", claims, ip="203.0.113.9", user_agent="pytest", headers=headers
    )


async def test_a_provider_sign_in_is_a_session_like_a_password_one_that_remembers_where_it_came_from(
    world: World,
) -> None:
    password = await world.login("alice")
    signed_in = await provider_login(world, "alice", "sid-1", scope_of(password))
    record = await world.record(signed_in)
    assert record.provider is not None
    assert (record.provider.sid, record.provider.sub, record.provider.id_token) == (
        "sid-1",
        "sub-alice",
        "idt_alice",
    )
    assert record.user["email"] == "alice@example.test"
    # It replaced the browser's password session, as a password login would.
    assert (await world.record(password)).end_reason == "replaced"
    grant = await world.service.authorize(scope_of(signed_in))
    assert grant.user_id == record.user_id


async def test_a_back_channel_logout_ends_the_named_sessions_and_revokes_their_chains(world: World) -> None:
    first = await provider_login(world, "alice", "sid-1")
    second = await provider_login(world, "alice", "sid-2")
    bob = await provider_login(world, "bob", "sid-3")
    password = await world.login("alice")
    assert await world.service.end_provider_sessions("sid-1", None) == 1
    assert (await world.record(first)).end_reason == "provider_logout"
    assert (await world.record(second)).ended_at is None
    assert await world.service.end_provider_sessions(None, "sub-alice") == 1  # the rest of alice's
    assert (await world.record(second)).end_reason == "provider_logout"
    assert (await world.record(password)).ended_at is None  # a password session is not the provider's
    assert (await world.record(bob)).ended_at is None
    assert await world.service.end_provider_sessions("sid-unknown", None) == 0
    first_tokens, second_tokens = first.record.tokens, second.record.tokens
    assert first_tokens is not None and second_tokens is not None
    await world.service.background.wait()
    assert {first_tokens.refresh_token, second_tokens.refresh_token} <= set(world.core.revoked)
    assert set(world.ended) >= {first.record.id_hash, second.record.id_hash}


async def test_a_logout_token_is_honoured_once(world: World) -> None:
    assert await world.service.first_logout_token("key") is True
    assert await world.service.first_logout_token("key") is False


async def test_logout_reports_the_ended_provider_session_for_the_logout_url(world: World) -> None:
    signed_in = await provider_login(world, "alice", "sid-1")
    _, ended = await world.service.logout(scope_of(signed_in)["headers"], everywhere=False)
    assert ended is not None and ended.provider is not None and ended.provider.id_token == "idt_alice"
    _, again = await world.service.logout(scope_of(signed_in)["headers"], everywhere=False)
    assert again is None


async def test_end_others_ends_the_users_other_sessions_and_revokes_their_chains(world: World) -> None:
    mine, laptop, phone, bob = (
        await world.login(),
        await world.login(),
        await world.login(),
        await world.login("bob"),
    )
    assert await world.service.end_others(await world.record(mine)) == 2
    await settle()
    assert sorted(world.ended) == sorted([laptop.record.id_hash, phone.record.id_hash])
    for signed_in in (laptop, phone):
        assert (await world.record(signed_in)).end_reason == "ended_others"
    assert (await world.record(mine)).ended_at is None
    assert (await world.record(bob)).ended_at is None
    assert {(await world.record(s)).tokens.refresh_token for s in (laptop, phone)} <= set(  # type: ignore[union-attr]
        world.core.revoked
    )
    # Nothing left to end.
    assert await world.service.end_others(await world.record(mine)) == 0


async def test_a_password_change_ends_the_others_with_their_own_code_and_no_second_revocation(
    world: World,
) -> None:
    mine, other, bob = await world.login(), await world.login(), await world.login("bob")
    grant = await world.service.authorize(scope_of(mine))
    await world.service.after_password_change(grant)
    await settle()
    assert world.ended == [other.record.id_hash]
    assert world.core.revoked == []  # the core revoked the other chains itself
    with pytest.raises(ProblemError) as refused:
        await world.service.current(scope_of(other)["headers"])
    assert refused.value.code == "session_password_changed"
    assert (await world.service.current(scope_of(mine)["headers"])).id_hash == mine.record.id_hash
    assert (await world.record(bob)).ended_at is None


async def test_a_password_change_is_answered_even_when_the_store_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = await world.login(), await world.login()
    grant = await world.service.authorize(scope_of(mine))

    async def down(*args: Any) -> Any:
        raise ProblemError(503, "database_unavailable", "the session store is not answering")

    monkeypatch.setattr(world.store, "list_active", down)
    await world.service.after_password_change(grant)  # logged, not raised
    assert (await world.record(other)).ended_at is None
