"""The credential format of SPEC §4: `lk?_` + 43 base62 CSPRNG characters + 6 base62 CRC32 characters.

The checksum lets the server (and secret scanners) reject a mistyped or invented credential before any
database lookup. Only SHA-256 hashes of tokens are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib
from enum import StrEnum

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 43  # 62**43 > 2**256
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
BODY_LENGTH = RANDOM_LENGTH + CHECKSUM_LENGTH
_BASE62_SET = frozenset(BASE62)


class Kind(StrEnum):
    """What a credential is, by its prefix."""

    PERSONAL = "lkp"
    ACCESS = "lka"
    REFRESH = "lkr"
    CLIENT_SECRET = "lks"


def _base62(number: int, width: int) -> str:
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(BASE62[rem])
    return "".join(reversed(chars)).rjust(width, "0")


def _checksum(prefix_and_random: str) -> str:
    # The prefix is covered too, so a token relabelled as another kind fails the check.
    return _base62(zlib.crc32(prefix_and_random.encode("ascii")), CHECKSUM_LENGTH)


def generate(kind: Kind) -> str:
    """A new credential of `kind` with ≥ 256 bits of CSPRNG randomness."""
    head = f"{kind.value}_" + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return head + _checksum(head)


def parse(value: str) -> Kind | None:
    """The kind of a well-formed credential, or None if its shape or checksum is wrong (no lookup needed)."""
    if len(value) != 4 + BODY_LENGTH or value[3] != "_":
        return None
    try:
        kind = Kind(value[:3])
    except ValueError:
        return None
    body = value[4:]
    if not _BASE62_SET.issuperset(body):
        return None
    head, check = value[: 4 + RANDOM_LENGTH], value[4 + RANDOM_LENGTH :]
    if not hmac.compare_digest(_checksum(head), check):
        return None
    return kind


def token_hash(value: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up."""
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def display_prefix(value: str) -> str:
    """A short, non-secret prefix shown in token lists so users can tell tokens apart."""
    return value[:12]
