"""Opaque list cursors (`{"items": [...], "next_cursor": …}`), pages, and the id range every route accepts."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from litestar.params import Parameter

from latchkey.problems import ProblemError

# Ids are 32-bit on PostgreSQL: a larger number is no id of ours, and must never reach the driver.
MAX_ID = 2**31 - 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# The longest cursor any list hands out (a file cursor holds a 255-character name, base64 of its UTF-8).
MAX_CURSOR_LENGTH = 1400

T = TypeVar("T")

# The `limit` and `cursor` query parameters of every list route.
Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE, description=f"page size (1–{MAX_PAGE_SIZE})")]
Cursor = Annotated[
    str | None,
    Parameter(
        max_length=MAX_CURSOR_LENGTH,
        description="`next_cursor` of the previous page (opaque: 400 `invalid_cursor` for any other value)",
        # Stated, not enforced here: `decode_cursor` answers 400 `invalid_cursor` for anything else.
        schema_extra={"pattern": r"^[A-Za-z0-9_-]+$"},
    ),
]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, and the cursor of the next one (None on the last page)."""

    items: list[T]
    next_cursor: str | None


def page_of(rows: Sequence[T], limit: int, kind: str, key: Callable[[T], int | str]) -> Page[T]:
    """A page from `rows` fetched with `limit + 1`: the extra row only says that there is a next page."""
    if len(rows) > limit:
        return Page(list(rows[:limit]), encode_cursor(kind, key(rows[limit - 1])))
    return Page(list(rows), None)


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
