"""When things are due, in one place: a session's idle and absolute ends, the interval of its last-seen
writes, its access token's refresh, and the sweeper's round. Pure functions of times in seconds."""

from __future__ import annotations

from datetime import datetime, timedelta

from latchkey.bff.sessions.types import SessionRecord, Tokens


def ending_reason(record: SessionRecord, now: float, idle: int, last_seen: float | None = None) -> str | None:
    """Why a session not yet marked ended is over at `now` (`expired`, `idle`, or `key_removed` when no
    key of the ring opens its tokens), or None while it is live. `last_seen` is activity this instance
    knows of and the store may not have yet."""
    seen = max(record.last_seen_at.timestamp(), last_seen or 0.0)
    if now >= record.expires_at.timestamp():
        return "expired"
    if now >= seen + idle:
        return "idle"
    if record.tokens is None:
        return "key_removed"
    return None


def idle_ends_at(record: SessionRecord, idle: int) -> datetime:
    """When the session ends unless used again (as the store last heard of it)."""
    return record.last_seen_at + timedelta(seconds=idle)


def touch_interval(idle: int) -> float:
    """Activity is written at most every min(60 s, idle/4): an idle end is then late by at most a
    quarter of the timeout, and a busy session costs one write a minute."""
    return min(60.0, idle / 4)


def refresh_due(tokens: Tokens) -> float:
    """Refresh shortly before expiry: a quarter of the token's life before it, at most 30 s before."""
    issued, expires = tokens.issued_at.timestamp(), tokens.expires_at.timestamp()
    return expires - min(30.0, (expires - issued) / 4)


def sweep_interval(idle: int) -> float:
    """Sessions nobody uses are ended by the sweeper within min(30 s, idle/2)."""
    return max(0.5, min(30.0, idle / 2))
