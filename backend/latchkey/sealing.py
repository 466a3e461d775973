"""The BFF's session cookie: a session id and timestamps, signed (HMAC-SHA256) then encrypted (AES-256-GCM).

The value is unpadded base64url of::

    0x01 | kid length | kid | nonce (12) | AES-256-GCM( payload (48) | HMAC tag (16) ) with its GCM tag (16)

with ``0x01 | kid length | kid | cookie name`` as the GCM associated data, so a value moved under another
cookie name fails. A `KeyRing` rotates keys: the first seals, every key unseals. The byte layout, the
reasons and a known-answer vector are in ``docs/cookie-format.md``.

As with `cryptography`'s Fernet, every failure is one deliberately vague error (`InvalidSeal`): the
caller learns that the cookie is not valid, never why. Only an authentic cookie past its end says so
(`SealExpired`), so the BFF can answer ``session_expired`` rather than ``no_session``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import struct
import time
from collections.abc import Sequence

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "MAX_VALUE_CHARS",
    "InvalidSeal",
    "KeyRing",
    "SealError",
    "SealExpired",
    "SessionCookie",
    "new_session_id",
    "seal",
    "unseal",
]

VERSION = 1
KEY_BYTES = 32
SID_BYTES = 32
NONCE_BYTES = 12
# HMAC-SHA256 truncated to 128 bits: half the hash output, as RFC 2104 §5 recommends as the floor, and the
# same strength as the GCM tag around it (which an attacker must forge first anyway).
MAC_BYTES = 16
GCM_TAG_BYTES = 16
MAX_VALUE_CHARS = 4096  # a browser's per-cookie limit; anything longer is refused before decoding

# Payload: sid (32 bytes) | issued_at (u64 big-endian) | expires_at (u64 big-endian). A fixed layout rather
# than msgpack: as fast or faster, nothing to parse, documented byte by byte. The plaintext adds the MAC.
_PAYLOAD = struct.Struct(">32sQQ")
_PAYLOAD_BYTES = _PAYLOAD.size
_PLAINTEXT = struct.Struct(f">32sQQ{MAC_BYTES}s")
_BODY_BYTES = NONCE_BYTES + _PLAINTEXT.size + GCM_TAG_BYTES  # everything after the kid
_MAX_U64 = 2**64 - 1

# HKDF `info` labels. Sealing subkeys and `KeyRing.subkey` purposes live under different prefixes, so no
# purpose a caller picks can ever reproduce a sealing subkey.
_INFO_AEAD = b"latchkey/cookie/v1/aes-256-gcm"
_INFO_MAC = b"latchkey/cookie/v1/hmac-sha256"
_INFO_PURPOSE = b"latchkey/subkey/v1/"

_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# `unseal` decodes with msgspec's base64 decoder (`bytes` from a JSON string): it is strict (alphabet and
# padding) and about 2.5x faster than `binascii.a2b_base64`. This table maps base64url to the standard
# alphabet and every other byte to '*', which that decoder refuses; so the JSON text it is given is always
# '"', then only alphabet characters or '*', then the padding `unseal` adds, then '"': no quote ends the
# string early and no backslash escape can spell a character another way.
_TO_STANDARD = bytearray(b"*" * 256)
for _url, _std in zip(_B64URL, _STANDARD, strict=True):
    _TO_STANDARD[_url] = _std
_TO_STANDARD_B64 = bytes(_TO_STANDARD)
del _TO_STANDARD, _url, _std
_CLOSING = (b'"', b'"', b'=="', b'="')  # padding and closing quote, by length % 4 (1 is never valid)
_TO_URLSAFE_B64 = bytes.maketrans(b"+/", b"-_")
# The last character of an unpadded encoding carries 4 (length % 4 == 2) or 2 (length % 4 == 3) unused low
# bits that a canonical encoder sets to zero. Refusing anything else gives every cookie exactly one
# spelling, so no altered string is ever accepted. The decoder does not check those bits, so `unseal` does,
# on the str before it is encoded (hence characters, not bytes).
_CANONICAL_LAST: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset(),
    frozenset(chr(c) for i, c in enumerate(_B64URL) if i % 16 == 0),
    frozenset(chr(c) for i, c in enumerate(_B64URL) if i % 4 == 0),
)
# Slices of the decrypted plaintext, built once (Python 3.11 builds a slice object for each `x[a:b]`).
_PAYLOAD_PART = slice(_PAYLOAD_BYTES)
_MAC_PART = slice(_PAYLOAD_BYTES, None)
_TRUNCATE_MAC = slice(MAC_BYTES)
# Cookie-name characters (RFC 6265 §4.1.1 token: visible ASCII except separators).
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

_compare_digest = hmac.compare_digest
_b2a_base64 = binascii.b2a_base64
_VALUE_NONCE_BYTES = 12  # AES-GCM's standard nonce, for `KeyRing.seal_value`
_decode_base64 = msgspec.json.Decoder(bytes).decode
_DecodeError = msgspec.DecodeError
_urandom = os.urandom
_time = time.time


class SealError(Exception):
    """The cookie is not valid (deliberately vague: callers and clients learn nothing more)."""


class InvalidSeal(SealError):
    """Altered, truncated, garbage, sealed under an unknown key or another cookie name, or a bad version."""

    def __init__(self) -> None:
        super().__init__("the cookie is not valid")


class SealExpired(SealError):
    """Authentic, but past its `expires_at`; `cookie` is the authenticated payload."""

    def __init__(self, cookie: SessionCookie) -> None:
        super().__init__("the cookie has expired")
        self.cookie = cookie


class SessionCookie(msgspec.Struct, frozen=True):
    """The sealed payload: only a random session id and timestamps (no token, no personal data)."""

    sid: bytes
    """32 random bytes (`new_session_id`); the session store keeps only its hash."""
    issued_at: int
    """Unix seconds."""
    expires_at: int
    """Unix seconds: the session's absolute end."""


def new_session_id() -> bytes:
    """A fresh 256-bit session id from the OS CSPRNG."""
    return secrets.token_bytes(SID_BYTES)


def _hkdf(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def _cookie_name_bytes(name: str) -> bytes:
    if not name or not set(name) <= _TOKEN_CHARS:
        raise ValueError(f"{name!r} is not a valid cookie name")
    return name.encode("ascii")


class _SealingKey:
    """One ring entry, with everything `seal` and `unseal` need derived once."""

    __slots__ = (
        "aad_by_name",
        "aead",
        "body_part",
        "header",
        "header_part",
        "key",
        "kid",
        "mac",
        "nonce_part",
        "raw_length",
    )

    def __init__(self, kid: str, key: bytes) -> None:
        self.kid = kid
        self.key = key
        self.header = bytes((VERSION, len(kid))) + kid.encode("ascii")
        # Separate subkeys for the two layers, so neither primitive ever sees the other's key.
        self.aead = AESGCM(_hkdf(key, _INFO_AEAD))
        # An HMAC context that has already absorbed the header (the MAC input always starts with it):
        # each call copies it and feeds the 48-byte payload only.
        self.mac = HMAC(_hkdf(key, _INFO_MAC), hashes.SHA256())
        self.mac.update(self.header)
        self.aad_by_name: dict[str, bytes] = {}
        # For `unseal`: the exact decoded length of a value sealed under this key, and where its header,
        # nonce and ciphertext sit in it (slice objects built once: 3.11 builds one for every `raw[a:b]`).
        # (Bound methods such as `aead.decrypt` are not kept here: on 3.11, calling one held in a slot
        # is slower than `key.aead.decrypt(...)`, which the interpreter specializes.)
        self.raw_length = len(self.header) + _BODY_BYTES
        self.header_part = slice(len(self.header))
        self.nonce_part = slice(len(self.header), len(self.header) + NONCE_BYTES)
        self.body_part = slice(len(self.header) + NONCE_BYTES, None)

    def aad(self, name: str) -> bytes:
        """GCM associated data for the cookie called `name`: header | name (cached per name)."""
        aad = self.aad_by_name.get(name)
        if aad is None:
            aad = self.header + _cookie_name_bytes(name)
            if len(self.aad_by_name) < 16:  # names come from configuration: a handful at most
                self.aad_by_name[name] = aad
        return aad


class KeyRing:
    """Cookie keys `(kid, 32-byte key)`: the first seals, all unseal, so keys rotate without logouts."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        by_kid: dict[str, _SealingKey] = {}
        for kid, key in keys:
            if not (isinstance(kid, str) and kid.isascii() and kid.isprintable() and 1 <= len(kid) <= 255):
                raise ValueError(f"key id {kid!r} must be 1-255 printable ASCII characters")
            if not (isinstance(key, bytes) and len(key) == KEY_BYTES):
                raise ValueError(f"key {kid!r} must be {KEY_BYTES} bytes")
            if kid in by_kid:
                raise ValueError(f"key id {kid!r} appears twice")
            by_kid[kid] = _SealingKey(kid, key)
        self._by_kid = by_kid
        # `unseal` finds the key by the value's leading bytes, version included, in one lookup.
        self._by_header = {entry.header: entry for entry in by_kid.values()}
        self._sealing = next(iter(by_kid.values()))
        self._subkeys: dict[tuple[str, bytes], bytes] = {}

    @property
    def sealing_kid(self) -> str:
        """The id of the key that seals new cookies."""
        return self._sealing.kid

    def seal_value(self, purpose: bytes, plain: bytes, aad: bytes) -> str:
        """`<kid>.<base64url(nonce ‖ AES-256-GCM ciphertext)>` of `plain` under the sealing key's subkey for
        `purpose`, bound to `aad`: a small value any process holding the ring opens (an OIDC flow cookie, a
        download ticket). Its lifetime is the caller's to carry inside `plain`."""
        kid = self.sealing_kid
        nonce = os.urandom(_VALUE_NONCE_BYTES)
        sealed = AESGCM(self.subkey(kid, purpose)).encrypt(nonce, plain, aad)
        return f"{kid}." + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def open_value(self, purpose: bytes, value: str, aad: bytes) -> bytes | None:
        """The plaintext `seal_value` sealed for this purpose and `aad`; None for anything else (an unknown
        kid, bad base64, a short, altered or foreign value)."""
        kid, dot, body = value.partition(".")
        if not dot:
            return None
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if len(raw) <= _VALUE_NONCE_BYTES:
                return None
            aead = AESGCM(self.subkey(kid, purpose))
            return aead.decrypt(raw[:_VALUE_NONCE_BYTES], raw[_VALUE_NONCE_BYTES:], aad)
        except (KeyError, ValueError, InvalidTag):
            return None

    def subkey(self, kid: str, purpose: bytes) -> bytes:
        """A 32-byte HKDF-SHA256 subkey of key `kid` for `purpose` (never equal to a sealing subkey).

        Raises KeyError for an unknown kid. Results are cached: purposes are a few constants in code.
        """
        cached = self._subkeys.get((kid, purpose))
        if cached is not None:
            return cached
        if not purpose:
            raise ValueError("a subkey needs a purpose")
        derived = _hkdf(self._by_kid[kid].key, _INFO_PURPOSE + purpose)
        if len(self._subkeys) < 256:
            self._subkeys[(kid, purpose)] = derived
        return derived


def seal(ring: KeyRing, cookie: SessionCookie, *, name: str) -> str:
    """Seal `cookie` under the ring's first key for the cookie called `name`: a cookie-safe string."""
    return _seal_with_nonce(ring, cookie, name, _urandom(NONCE_BYTES))


def _seal_with_nonce(ring: KeyRing, cookie: SessionCookie, name: str, nonce: bytes) -> str:
    """`seal` with a given nonce: for known-answer vectors only (a repeated nonce breaks AES-GCM)."""
    sid, issued_at, expires_at = cookie.sid, cookie.issued_at, cookie.expires_at
    if not (isinstance(sid, bytes) and len(sid) == SID_BYTES):
        raise ValueError(f"sid must be {SID_BYTES} bytes")
    if not (0 <= issued_at <= expires_at <= _MAX_U64):
        raise ValueError("timestamps must satisfy 0 <= issued_at <= expires_at < 2**64")
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    key = ring._sealing
    payload = _PAYLOAD.pack(sid, issued_at, expires_at)
    mac = key.mac.copy()
    mac.update(payload)
    try:
        aad = key.aad_by_name[name]
    except KeyError:  # a name not seen yet (checked and cached) or an invalid one (ValueError)
        aad = key.aad(name)
    # Sign, then encrypt: the MAC travels inside the ciphertext, as the authentication guide promises.
    sealed = key.aead.encrypt(nonce, payload + mac.finalize()[_TRUNCATE_MAC], aad)
    # base64url without padding (`base64.urlsafe_b64encode` is these two C calls behind a Python one).
    encoded = _b2a_base64(key.header + nonce + sealed, newline=False)
    return encoded.translate(_TO_URLSAFE_B64).rstrip(b"=").decode("ascii")


def unseal(ring: KeyRing, value: str, *, name: str, now: float | None = None) -> SessionCookie:
    """The cookie sealed in `value` for the cookie called `name`.

    Raises InvalidSeal for anything not sealed by a key of `ring` for this name (and never any other
    error, whatever the string), and SealExpired once `now` (default: the clock) reaches `expires_at`.
    This is the BFF's per-request path: it is written flat, with everything derivable precomputed.
    """
    if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
        raise InvalidSeal
    remainder = len(value) % 4
    if remainder and value[-1] not in _CANONICAL_LAST[remainder]:
        raise InvalidSeal  # a non-canonical last character, or a length no encoding has (remainder 1)
    try:
        # A JSON string of standard base64, padded: see _TO_STANDARD_B64 for why this is strict.
        raw = _decode_base64(b'"' + value.encode("ascii").translate(_TO_STANDARD_B64) + _CLOSING[remainder])
    except (UnicodeEncodeError, _DecodeError):
        raise InvalidSeal from None
    # Most cookies are the sealing key's: compare its header (version included) first, which is cheaper
    # than reading the kid length and looking the header up; other keys of the ring are found that way.
    key = ring._sealing
    if raw[key.header_part] != key.header:
        other = ring._by_header.get(raw[: 2 + raw[1]]) if len(raw) >= 2 else None
        if other is None:
            raise InvalidSeal
        key = other
    if len(raw) != key.raw_length:
        raise InvalidSeal
    try:
        aad = key.aad_by_name[name]
    except KeyError:  # a name not seen yet (checked and cached) or an invalid one (ValueError)
        aad = key.aad(name)
    try:
        plain = key.aead.decrypt(raw[key.nonce_part], raw[key.body_part], aad)
    except InvalidTag:
        raise InvalidSeal from None
    # Only a holder of the key can pass GCM, so this check never fails for an outsider's forgery; it is
    # the signature the format promises, checked in constant time like any other.
    payload = plain[_PAYLOAD_PART]
    mac = key.mac.copy()
    mac.update(payload)
    if not _compare_digest(mac.finalize()[_TRUNCATE_MAC], plain[_MAC_PART]):
        raise InvalidSeal
    sid, issued_at, expires_at = _PAYLOAD.unpack(payload)
    if (_time() if now is None else now) >= expires_at:
        raise SealExpired(SessionCookie(sid, issued_at, expires_at))
    return SessionCookie(sid, issued_at, expires_at)
