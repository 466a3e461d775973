"""Brute-force limits of the password grant (SPEC §4) over HTTP against a real core process.

Every test uses client IPs of its own (random, in ranges nobody else's tests use) and fresh accounts, so
the shared core's counters never leak between tests.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from latchkey.core.models import LoginFailure
from latchkey.core.oauth.limits import account_key
from latchkey.db import Database
from tests.support import CoreServer, password_grant, start_core, stop_core, unique_email

WRONG = "not the password at all"


def fresh_ipv4() -> str:
    """A random address in 100.64.0.0/10 (shared address space), unused by the other test modules."""
    return f"100.{64 + secrets.randbelow(64)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def fresh_ipv6_net() -> str:
    """A random /64 prefix in 2001:db8::/32 (documentation space), to append an interface id to."""
    return f"2001:db8:{secrets.randbelow(0x10000):x}:{secrets.randbelow(0x10000):x}"


@pytest.fixture
async def core_db(core: CoreServer) -> AsyncIterator[Database]:
    db = Database(core.database_url)
    yield db
    await db.dispose()


async def add_failures(db: Database, username: str, ips: list[str], age: timedelta) -> None:
    """Record failed grants as if they had happened `age` ago (instead of making them and waiting)."""
    moment = datetime.now(UTC) - age
    async with db.write() as session:
        session.add_all(
            LoginFailure(account_key=account_key(username), client_ip=ip, created_at=moment) for ip in ips
        )


def assert_rate_limited(response: httpx.Response, low: int, high: int) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == body["code"] == "rate_limited"
    retry_after = int(response.headers["retry-after"])
    assert low <= retry_after <= high, retry_after


async def test_sixth_failure_from_one_ip_is_locked_out_right_password_or_not(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    ip = fresh_ipv4()
    for _ in range(5):
        response = await password_grant(http, core, secret, user["email"], WRONG, ip=ip)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_grant"

    assert_rate_limited(await password_grant(http, core, secret, user["email"], WRONG, ip=ip), 880, 900)
    assert_rate_limited(await password_grant(http, core, secret, user["email"], ip=ip), 880, 900)
    # Refused attempts are not counted, so the lock ends 15 minutes after the first failure.
    assert_rate_limited(await password_grant(http, core, secret, user["email"], ip=ip), 880, 900)

    # The same account from another address is not locked out by someone else's guessing.
    elsewhere = await password_grant(http, core, secret, user["email"], ip=fresh_ipv4())
    assert elsewhere.status_code == 200, elsewhere.text


async def test_a_successful_login_clears_that_pairs_failures(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    ip = fresh_ipv4()
    for _ in range(4):
        assert (await password_grant(http, core, secret, user["email"], WRONG, ip=ip)).status_code == 400
    assert (await password_grant(http, core, secret, user["email"], ip=ip)).status_code == 200
    for _ in range(2):
        assert (await password_grant(http, core, secret, user["email"], WRONG, ip=ip)).status_code == 400


async def test_the_lock_lasts_until_the_window_passes(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], core_db: Database
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    old_ip, recent_ip = fresh_ipv4(), fresh_ipv4()
    await add_failures(core_db, user["email"], [old_ip] * 5, timedelta(minutes=15, seconds=5))
    await add_failures(core_db, user["email"], [recent_ip] * 5, timedelta(minutes=14, seconds=30))

    assert (await password_grant(http, core, secret, user["email"], ip=old_ip)).status_code == 200
    assert_rate_limited(await password_grant(http, core, secret, user["email"], ip=recent_ip), 1, 31)


async def test_parallel_guesses_cannot_slip_past_the_limit(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    ip = fresh_ipv4()
    answers = await asyncio.gather(
        *(password_grant(http, core, secret, user["email"], WRONG, ip=ip) for _ in range(10))
    )
    statuses = sorted(answer.status_code for answer in answers)
    # Each attempt is counted before its password is checked, so exactly five get a verdict.
    assert statuses == [400] * 5 + [429] * 5, statuses
    assert_rate_limited(await password_grant(http, core, secret, user["email"], ip=ip), 880, 900)


async def test_one_address_cannot_spray_many_accounts(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    ip = fresh_ipv4()
    # Unknown accounts count like known ones: 50 failures from one IP, one per (made-up) account.
    for _ in range(50):
        response = await password_grant(http, core, secret, unique_email("spray"), WRONG, ip=ip)
        assert response.status_code == 400, response.text

    assert_rate_limited(await password_grant(http, core, secret, user["email"], ip=ip), 880, 900)
    assert_rate_limited(
        await password_grant(http, core, secret, unique_email("spray"), WRONG, ip=ip), 880, 900
    )
    elsewhere = await password_grant(http, core, secret, user["email"], ip=fresh_ipv4())
    assert elsewhere.status_code == 200, elsewhere.text


async def test_one_account_has_an_hourly_cap_across_addresses(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], core_db: Database
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    # 99 failures from 99 addresses half an hour ago: outside every 15-minute window, inside the hour.
    await add_failures(core_db, user["email"], [fresh_ipv4() for _ in range(99)], timedelta(minutes=30))
    assert (await password_grant(http, core, secret, user["email"], ip=fresh_ipv4())).status_code == 200

    hundredth = await password_grant(http, core, secret, user["email"], WRONG, ip=fresh_ipv4())
    assert hundredth.status_code == 400, hundredth.text
    # The 100 failures now lock the account everywhere until the oldest leave the hour (~30 minutes).
    assert_rate_limited(await password_grant(http, core, secret, user["email"], ip=fresh_ipv4()), 1780, 1800)


async def test_the_client_ip_is_the_first_forwarded_entry_and_ipv6_counts_per_64(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    ip = fresh_ipv4()
    for hop in range(5):
        forwarded = f"{ip}, 10.0.0.{hop + 1}"
        response = await password_grant(http, core, secret, user["email"], WRONG, ip=forwarded)
        assert response.status_code == 400, response.text
    spaced = f"{ip} ,192.0.2.1"
    assert_rate_limited(await password_grant(http, core, secret, user["email"], ip=spaced), 880, 900)
    assert_rate_limited(await password_grant(http, core, secret, user["email"], ip=f"::ffff:{ip}"), 880, 900)

    network = fresh_ipv6_net()
    for host in range(1, 6):
        response = await password_grant(http, core, secret, user["email"], WRONG, ip=f"{network}::{host:x}")
        assert response.status_code == 400, response.text
    # Another address in the same /64 is the same client; another /64 is not.
    assert_rate_limited(
        await password_grant(http, core, secret, user["email"], ip=f"{network}::beef"), 880, 900
    )
    other_network = await password_grant(http, core, secret, user["email"], ip=f"{fresh_ipv6_net()}::1")
    assert other_network.status_code == 200, other_network.text


# --- whose X-Forwarded-For is believed -------------------------------------------------------------------


@dataclass
class ForwardingCore:
    """A core of its own (its loopback address collects failures no other test may share), with the
    BFF's service account (`forwards_client_ip`) and another developer's client (not flagged)."""

    server: CoreServer
    db: Database
    bff_secret: str
    developer_secret: str


@pytest.fixture(scope="module")
async def forwarding(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ForwardingCore]:
    server = await start_core(backend, tmp_path_factory.mktemp(f"forwarding-{backend}"))
    db = Database(server.database_url)
    try:
        bff = await server.create_user(developer=True, forwards_client_ip=True, name="BFF service")
        developer = await server.create_user(developer=True, name="Some developer")
        assert bff["forwards_client_ip"] is True
        assert "forwards_client_ip" not in developer
        yield ForwardingCore(server, db, bff["client_secret"], developer["client_secret"])
    finally:
        await db.dispose()
        await stop_core(server)


@pytest.fixture
async def clean_failures(forwarding: ForwardingCore) -> None:
    """Each test starts with no failures counted (they all come from the same loopback address)."""
    async with forwarding.db.write() as session:
        await session.execute(delete(LoginFailure))


async def failure_ips(db: Database, username: str) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(
            select(LoginFailure.client_ip).where(LoginFailure.account_key == account_key(username))
        )
        return list(rows)


async def raw_grant(
    http: httpx.AsyncClient, server: CoreServer, secret: str, username: str, password: str, headers: Any
) -> httpx.Response:
    return await http.post(
        f"{server.url}/v1/oauth/token",
        data={"grant_type": "password", "username": username, "password": password},
        headers=[("Authorization", f"Secret {secret}"), *headers],
    )


@pytest.mark.usefixtures("clean_failures")
async def test_another_developer_cannot_spread_guesses_over_made_up_addresses(
    forwarding: ForwardingCore, http: httpx.AsyncClient
) -> None:
    server, developer = forwarding.server, forwarding.developer_secret
    victim = await server.create_user()
    # Twenty made-up addresses, five guesses each, would once have reached the account's hourly cap and
    # locked the victim out everywhere. Now every guess counts against the developer's own address.
    answers = []
    for n in range(10):
        response = await password_grant(http, server, developer, victim["email"], WRONG, ip=fresh_ipv4())
        answers.append(response.status_code)
        if n == 5:
            assert_rate_limited(response, 880, 900)
    assert answers == [400] * 5 + [429] * 5, answers
    assert set(await failure_ips(forwarding.db, victim["email"])) == {"127.0.0.1"}

    # The victim, signing in through the BFF from any browser, is not locked out.
    through_bff = await password_grant(http, server, forwarding.bff_secret, victim["email"], ip=fresh_ipv4())
    assert through_bff.status_code == 200, through_bff.text


@pytest.mark.usefixtures("clean_failures")
async def test_another_developer_cannot_lock_out_a_browser_by_naming_its_address(
    forwarding: ForwardingCore, http: httpx.AsyncClient
) -> None:
    server = forwarding.server
    victim = await server.create_user()
    browser = fresh_ipv4()  # the address the BFF forwards for the victim's browser
    for _ in range(5):
        response = await password_grant(
            http, server, forwarding.developer_secret, victim["email"], WRONG, ip=browser
        )
        assert response.status_code == 400, response.text
    # Those five went to the developer's own address: the victim's browser still signs in.
    ok = await password_grant(http, server, forwarding.bff_secret, victim["email"], ip=browser)
    assert ok.status_code == 200, ok.text


@pytest.mark.usefixtures("clean_failures")
async def test_another_developers_per_ip_limit_is_its_real_address(
    forwarding: ForwardingCore, http: httpx.AsyncClient
) -> None:
    """Spraying many accounts from one real address hits the 50-per-IP limit however the header varies."""
    server, db = forwarding.server, forwarding.db
    # 45 failures already counted against the loopback address (seeded rather than made one by one).
    await add_failures(db, "seed@example.test", ["127.0.0.1"] * 45, timedelta(minutes=1))
    for _ in range(5):
        response = await password_grant(
            http, server, forwarding.developer_secret, unique_email("spray"), WRONG, ip=fresh_ipv4()
        )
        assert response.status_code == 400, response.text
    user = await server.create_user()
    # The 51st attempt, right password or not and whatever the header says, waits out the window.
    assert_rate_limited(
        await password_grant(http, server, forwarding.developer_secret, user["email"], ip=fresh_ipv4()),
        800,
        900,
    )
    # The BFF's browsers are counted by their own addresses, so they are unaffected.
    ok = await password_grant(http, server, forwarding.bff_secret, user["email"], ip=fresh_ipv4())
    assert ok.status_code == 200, ok.text


SPOOFS: list[list[tuple[str, str]]] = [
    [("X-Forwarded-For", "203.0.113.7")],
    [("X-Forwarded-For", "203.0.113.8, 10.0.0.1")],
    [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "203.0.113.10")],
    [("X-Forwarded-For", "2001:db8:1:2::1")],
    [("X-Forwarded-For", "::ffff:203.0.113.11")],
    [("X-Forwarded-For", "not-an-ip")],
    [("X-Forwarded-For", "")],
    [("X-Forwarded-For", ", ,203.0.113.12")],
    [("X-Real-IP", "203.0.113.13")],
    [("Forwarded", "for=203.0.113.14")],
    [("Forwarded", 'for="[2001:db8::1]"')],
    [("X-Client-IP", "203.0.113.15"), ("True-Client-IP", "203.0.113.16")],
]


@pytest.mark.usefixtures("clean_failures")
async def test_spoofed_address_headers_of_other_clients_are_ignored(
    forwarding: ForwardingCore, http: httpx.AsyncClient
) -> None:
    server = forwarding.server
    for headers in SPOOFS:
        response = await raw_grant(http, server, forwarding.developer_secret, unique_email(), WRONG, headers)
        assert response.status_code == 400, (headers, response.text)
    async with forwarding.db.read() as session:
        counted = set(await session.scalars(select(LoginFailure.client_ip)))
    assert counted == {"127.0.0.1"}, counted


@pytest.mark.usefixtures("clean_failures")
async def test_the_bff_client_is_counted_per_browser_and_a_doubled_header_is_not_believed(
    forwarding: ForwardingCore, http: httpx.AsyncClient
) -> None:
    server, bff = forwarding.server, forwarding.bff_secret
    user = await server.create_user()
    ipv4, ipv6 = fresh_ipv4(), f"{fresh_ipv6_net()}::1"
    for address in (ipv4, ipv6, f"{ipv4}, 10.0.0.1"):
        response = await raw_grant(http, server, bff, user["email"], WRONG, [("X-Forwarded-For", address)])
        assert response.status_code == 400, response.text
    doubled = [("X-Forwarded-For", fresh_ipv4()), ("X-Forwarded-For", fresh_ipv4())]
    response = await raw_grant(http, server, bff, user["email"], WRONG, doubled)
    assert response.status_code == 400, response.text
    ips = sorted(await failure_ips(forwarding.db, user["email"]))
    network = ipv6.removesuffix("::1")
    assert ips == sorted([ipv4, ipv4, f"{network}::/64", "127.0.0.1"]), ips


async def test_failures_count_down_attempts_remaining_then_name_the_lockout(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    ip = fresh_ipv4()
    remaining = []
    for _ in range(5):
        response = await password_grant(http, core, secret, user["email"], WRONG, ip=ip)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "invalid_grant"
        remaining.append(body["attempts_remaining"])
        if body["attempts_remaining"]:
            assert "lockout_seconds" not in body
    assert remaining == [4, 3, 2, 1, 0]
    # The failure that used the last attempt already says how long the lockout lasts …
    assert 880 <= body["lockout_seconds"] <= 900
    # … and the refusal during it repeats Retry-After in the body.
    locked = await password_grant(http, core, secret, user["email"], ip=ip)
    assert_rate_limited(locked, 880, 900)
    assert locked.json()["lockout_seconds"] == int(locked.headers["retry-after"])


async def test_an_unknown_account_counts_down_like_a_known_one(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    # The counters are kept per username whether it exists or not: the answer reveals no account.
    secret = service_client["client_secret"]
    ip = fresh_ipv4()
    known = await core.create_user()
    for username in (known["email"], f"nobody-{secrets.token_hex(6)}@example.com"):
        first = await password_grant(http, core, secret, username, WRONG, ip=ip)
        assert first.status_code == 400
        assert first.json()["attempts_remaining"] == 4


async def test_a_successful_login_resets_the_attempts(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    secret = service_client["client_secret"]
    user = await core.create_user()
    ip = fresh_ipv4()
    for _ in range(3):
        await password_grant(http, core, secret, user["email"], WRONG, ip=ip)
    assert (await password_grant(http, core, secret, user["email"], ip=ip)).status_code == 200
    again = await password_grant(http, core, secret, user["email"], WRONG, ip=ip)
    assert again.json()["attempts_remaining"] == 4
