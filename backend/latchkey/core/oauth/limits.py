"""Brute-force limits on password grants (SPEC §4), counted in the database every instance shares.

Three sliding windows over `LoginFailure` rows: one account from one client IP (5 per 15 minutes), one
account from anywhere (100 per hour, so a victim cannot be locked out from a single address), and one IP
across accounts (50 per 15 minutes, so nobody can spray from one address).

An attempt is recorded as a failure *before* its password is checked and forgotten again if the password
was right: the check and the record happen in one serialized transaction, so a burst of parallel guesses
cannot all slip past the limit while the slow Argon2 checks run.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar.connection import ASGIConnection
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from latchkey.core.models import LoginFailure
from latchkey.core.security.auth import Client


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `threshold` failures within `window`; the next attempt is refused until one ages out."""

    threshold: int
    window: timedelta


ACCOUNT_FROM_IP = Limit(5, timedelta(minutes=15))
ACCOUNT = Limit(100, timedelta(hours=1))
IP = Limit(50, timedelta(minutes=15))
RETENTION = max(ACCOUNT_FROM_IP.window, ACCOUNT.window, IP.window)
# Rows of keys that are never seen again are dropped by an occasional table-wide prune.
GLOBAL_PRUNE_ONE_IN = 50
# IPv6 clients usually own a whole /64; counting single addresses would let one rotate through them.
IPV6_BUCKET_PREFIX = 64


class RateLimited(Exception):
    """Too many recent failures; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limited for {retry_after} s")


def account_key(username: str) -> str:
    """The counter key of a username: SHA-256 of its normalized form, the same one used for lookup.

    Normalizing exactly as the lookup does matters: otherwise `" Victim@x"` would be a fresh counter for
    the same account.
    """
    return hashlib.sha256(normalize_username(username).encode("utf-8")).hexdigest()


def normalize_username(username: str) -> str:
    return username.strip().lower()


def client_ip(request: ASGIConnection[Any, Any, Any, Any], client: Client) -> str:
    """The address the brute-force limits count an attempt under.

    For the BFF's own client (its service account carries `forwards_client_ip`), the browser's address:
    the first `X-Forwarded-For` entry if it is an IP (the BFF overwrites the header, never appends).
    For every other client the header is ignored and the caller is its own peer address, so a developer
    cannot spread guesses over made-up addresses, nor lock a victim out for the BFF's browsers.
    """
    if client.forwards_client_ip:
        values = request.headers.getall("x-forwarded-for", [])
        # Exactly one header: two would be a confused or hostile hop, and the peer is safer to count.
        if len(values) == 1:
            first = values[0].split(",", 1)[0].strip()
            try:
                return _bucket(ipaddress.ip_address(first))
            except ValueError:
                pass
    peer = request.client.host if request.client else ""
    try:
        return _bucket(ipaddress.ip_address(peer))
    except ValueError:
        return peer[:64] or "unknown"


def _bucket(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network(f"{address}/{IPV6_BUCKET_PREFIX}", strict=False)
        return str(network)
    return str(address)


async def admit_attempt(session: AsyncSession, account: str, ip: str, now: datetime) -> int:
    """Refuse the attempt if a limit is reached, else record it as a failure and return the row's id.

    Call in a write transaction. The caller forgets the row (`clear_failures`) if the password is right.
    """
    await _serialize(session, account, ip)
    waits = [
        await _wait(
            session, ACCOUNT_FROM_IP, now, LoginFailure.account_key == account, LoginFailure.client_ip == ip
        ),
        await _wait(session, ACCOUNT, now, LoginFailure.account_key == account),
        await _wait(session, IP, now, LoginFailure.client_ip == ip),
    ]
    blocked = [wait for wait in waits if wait is not None]
    if blocked:
        raise RateLimited(max(blocked))
    failure = LoginFailure(account_key=account, client_ip=ip, created_at=now)
    session.add(failure)
    await session.flush()
    await _prune(session, account, ip, now)
    return failure.id


async def attempts_left(
    session: AsyncSession, account: str, ip: str, now: datetime
) -> tuple[int, int | None]:
    """After a failed attempt: how many more the limits admit for this account from this IP, and, when
    none, the seconds until one is (the lockout the next attempt would get)."""
    remaining = min(
        [
            limit.threshold - await _count(session, limit, now, *where)
            for limit, where in _limits_of(account, ip)
        ]
    )
    if remaining > 0:
        return remaining, None
    waits = [await _wait(session, limit, now, *where) for limit, where in _limits_of(account, ip)]
    return 0, max((wait for wait in waits if wait is not None), default=1)


def _limits_of(account: str, ip: str) -> list[tuple[Limit, tuple[ColumnElement[bool], ...]]]:
    by_account = LoginFailure.account_key == account
    by_ip = LoginFailure.client_ip == ip
    return [(ACCOUNT_FROM_IP, (by_account, by_ip)), (ACCOUNT, (by_account,)), (IP, (by_ip,))]


async def _count(session: AsyncSession, limit: Limit, now: datetime, *where: ColumnElement[bool]) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(*where, LoginFailure.created_at > now - limit.window)
        )
        or 0
    )


async def forget_attempt(session: AsyncSession, attempt_id: int) -> None:
    """Drop a recorded attempt that never got to a password check (the hasher was overloaded)."""
    await session.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))


async def clear_failures(session: AsyncSession, account: str, ip: str) -> None:
    """A successful login from `ip` wipes that pair's failures (the other counters keep theirs)."""
    await session.execute(
        delete(LoginFailure).where(LoginFailure.account_key == account, LoginFailure.client_ip == ip)
    )


async def _wait(
    session: AsyncSession, limit: Limit, now: datetime, *where: ColumnElement[bool]
) -> int | None:
    """Seconds until `limit` admits another attempt, or None if it admits one now.

    The limit is reached when the `threshold`-th most recent failure is inside the window; it frees when
    that one ages out.
    """
    nth_latest = await session.scalar(
        select(LoginFailure.created_at)
        .where(*where, LoginFailure.created_at > now - limit.window)
        .order_by(LoginFailure.created_at.desc())
        .offset(limit.threshold - 1)
        .limit(1)
    )
    if nth_latest is None:
        return None
    return max(1, math.ceil((nth_latest + limit.window - now).total_seconds()))


async def _serialize(session: AsyncSession, account: str, ip: str) -> None:
    """Make check-and-record atomic per account and per IP.

    SQLite's write transactions (BEGIN IMMEDIATE) are already serialized; PostgreSQL takes transaction-
    scoped advisory locks, always account first, so two attempts cannot both see room for one more.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in (f"login-account:{account}", f"login-ip:{ip}"):
        key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)
        await session.execute(select(func.pg_advisory_xact_lock(key)))


async def _prune(session: AsyncSession, account: str, ip: str, now: datetime) -> None:
    """Drop failures no window looks at any more: this account's and IP's always (indexed, cheap), the
    whole table now and then."""
    cutoff = now - RETENTION
    old = LoginFailure.created_at < cutoff
    await session.execute(delete(LoginFailure).where(LoginFailure.account_key == account, old))
    await session.execute(delete(LoginFailure).where(LoginFailure.client_ip == ip, old))
    if secrets.randbelow(GLOBAL_PRUNE_ONE_IN) == 0:
        await session.execute(delete(LoginFailure).where(old))
