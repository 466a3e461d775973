"""Opaque list cursors (`{"items": [...], "next_cursor": …}`) and the id range every route accepts."""

from __future__ import annotations

import base64
import binascii

from latchkey.problems import ProblemError

# Ids are 32-bit on PostgreSQL: a larger number is no id of ours, and must never reach the driver.
MAX_ID = 2**31 - 1


def id_in_range(value: int) -> bool:
    return 1 <= value <= MAX_ID


def _invalid() -> ProblemError:
    return ProblemError(400, "invalid_cursor", "the cursor is not one this list handed out")


def encode_cursor(kind: str, value: int | str) -> str:
    """An opaque cursor for list `kind` continuing after `value`."""
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).rstrip(b"=").decode("ascii")


def decode_cursor(kind: str, cursor: str) -> str:
    """The value a page of list `kind` continues after; 400 `invalid_cursor` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise _invalid() from None
    label, colon, value = raw.partition(":")
    if label != kind or not colon:
        raise _invalid()
    return value


def decode_id_cursor(kind: str, cursor: str) -> int:
    """Like `decode_cursor`, for lists keyed by id."""
    value = decode_cursor(kind, cursor)
    if not (value.isdecimal() and len(value) <= 10 and id_in_range(int(value))):
        raise _invalid()
    return int(value)
