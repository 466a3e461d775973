"""What both session stores do to a row, written once: the SQL store keeps `SessionRow` / `RevocationRow`
in its tables, the memory store keeps the very same objects in dicts, and both build, change and read
them here. So the two differ only in how they find and lock rows, and the version column (bumped by a
refresh claim and by every token change) changes in these functions alone."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from latchkey.bff.models import RevocationRow, SessionRow
from latchkey.bff.sessions.token_box import TokenBox
from latchkey.bff.sessions.types import (
    NewSession,
    PendingRevocation,
    ProviderSession,
    SessionRecord,
    Tokens,
)


def _id_token_ref(id_hash: str) -> str:
    # The ID token is sealed bound to its session (as the tokens are), under a name of its own.
    return f"{id_hash}:id_token"


def new_session_row(box: TokenBox, new: NewSession) -> SessionRow:
    kid, blob = box.seal(new.id_hash, new.tokens.access_token, new.tokens.refresh_token)
    provider = new.provider
    provider_kid, id_token_blob = (
        box.seal_one(_id_token_ref(new.id_hash), provider.id_token)
        if provider is not None and provider.id_token is not None
        else (None, None)
    )
    return SessionRow(
        id_hash=new.id_hash,
        public_id=secrets.token_urlsafe(16),
        user_id=int(new.user["id"]),
        user_json=json.dumps(new.user),
        created_at=new.created_at,
        last_seen_at=new.created_at,
        expires_at=new.expires_at,
        key_id=kid,
        tokens_encrypted=blob,
        access_issued_at=new.tokens.issued_at,
        access_expires_at=new.tokens.expires_at,
        version=0,
        refresh_claimed_until=None,
        user_agent=new.user_agent[:300],
        ip=new.ip[:64],
        ended_at=None,
        end_reason=None,
        provider_sid=provider.sid[:255] if provider is not None and provider.sid else None,
        provider_sub=provider.sub[:255] if provider is not None else None,
        provider_key_id=provider_kid,
        id_token_encrypted=id_token_blob,
    )


def session_record(box: TokenBox, row: SessionRow) -> SessionRecord:
    """The record of a row, its tokens opened (None when no key of the ring opens them)."""
    opened = box.open(row.id_hash, row.key_id, row.tokens_encrypted)
    tokens = Tokens(opened[0], opened[1], row.access_issued_at, row.access_expires_at) if opened else None
    provider = None
    if row.provider_sub is not None:
        id_token = (
            box.open_one(_id_token_ref(row.id_hash), row.provider_key_id, row.id_token_encrypted)
            if row.provider_key_id is not None and row.id_token_encrypted is not None
            else None
        )
        provider = ProviderSession(row.provider_sid, row.provider_sub, id_token)
    return SessionRecord(
        id_hash=row.id_hash,
        public_id=row.public_id,
        user_id=row.user_id,
        user=json.loads(row.user_json),
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        tokens=tokens,
        version=row.version,
        user_agent=row.user_agent,
        ip=row.ip,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        provider=provider,
    )


def names_provider_session(row: SessionRow, sid: str | None, sub: str | None) -> bool:
    """Does a back-channel logout naming `sid` and/or `sub` end this (live) row? `sid` names one provider
    session (and, with `sub`, must belong to it); `sub` alone names every session of that account."""
    if row.ended_at is not None or row.provider_sub is None:
        return False
    if sid is not None:
        return row.provider_sid == sid and (sub is None or row.provider_sub == sub)
    return sub is not None and row.provider_sub == sub


def claimable(row: SessionRow, version: int, now: datetime) -> bool:
    """May a refresh be claimed on this (locked) row by a caller that read `version`? Exactly one caller
    in any process wins: the winner's claim bumps the version every other caller read."""
    return (
        row.version == version
        and row.ended_at is None
        and (row.refresh_claimed_until is None or row.refresh_claimed_until < now)
    )


def claim(row: SessionRow, now: datetime, lease: timedelta) -> None:
    row.version += 1
    row.refresh_claimed_until = now + lease


def put_tokens(box: TokenBox, row: SessionRow, tokens: Tokens, user: dict[str, Any] | None) -> None:
    """New tokens (re-encrypted under the ring's sealing key) on a live row; the claim is released."""
    row.key_id, row.tokens_encrypted = box.seal(row.id_hash, tokens.access_token, tokens.refresh_token)
    row.access_issued_at, row.access_expires_at = tokens.issued_at, tokens.expires_at
    row.version += 1
    row.refresh_claimed_until = None
    if user is not None:
        row.user_json = json.dumps(user)


def end_row(row: SessionRow, reason: str, now: datetime) -> None:
    row.ended_at, row.end_reason = now, reason


def new_revocation_row(box: TokenBox, token: str, now: datetime, retry_at: datetime) -> RevocationRow:
    ref = secrets.token_hex(16)
    kid, blob = box.seal_one(ref, token)
    return RevocationRow(
        id=ref, key_id=kid, token_encrypted=blob, created_at=now, attempts=0, next_attempt_at=retry_at
    )


def take_revocation(
    box: TokenBox, row: RevocationRow, retry_at: Callable[[int], datetime]
) -> PendingRevocation:
    """Count an attempt on a due revocation and move its next one on (a lease while this one runs)."""
    row.attempts += 1
    row.next_attempt_at = retry_at(row.attempts)
    return PendingRevocation(
        row.id, box.open_one(row.id, row.key_id, row.token_encrypted), row.attempts, row.created_at
    )
