"""The session-cookie sealing primitive (`sealing.py`) and the format of docs/cookie-format.md."""

from __future__ import annotations

import base64
import hmac
import re
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from latchkey.sealing import (
    MAX_VALUE_CHARS,
    InvalidSeal,
    KeyRing,
    SealError,
    SealExpired,
    SessionCookie,
    _seal_with_nonce,
    new_session_id,
    seal,
    unseal,
)

NAME = "__Host-latchkey"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
COOKIE_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")

# Known-answer vector (docs/cookie-format.md): fixed key, kid, nonce and payload.
KAT_KEY = bytes(range(32))
KAT_KID = "0a1b2c3d"
KAT_NONCE = bytes(range(0xA0, 0xAC))
KAT_COOKIE = SessionCookie(sid=bytes(range(0x20, 0x40)), issued_at=1767225600, expires_at=1767254400)
KAT_VALUE = (
    "AQgwYTFiMmMzZKChoqOkpaanqKmqq0kI57bVQ8pp29skEkEn9yldFloIP3C-TDwGwOjUPIsrZWGqgRtW5u6NS7aI9_5_2TTkcmm7"
    "iC7taJYX9UAtHtBhA9K85YuDSLw_7zWKy5PD"
)


def key_of(seed: int) -> bytes:
    return bytes((seed + i) % 256 for i in range(32))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def fresh_cookie(lifetime: int = 28800) -> SessionCookie:
    now = int(time.time())
    return SessionCookie(sid=new_session_id(), issued_at=now, expires_at=now + lifetime)


RING = KeyRing([("main", key_of(1)), ("older", key_of(2))])
COOKIE = fresh_cookie()
VALUE = seal(RING, COOKIE, name=NAME)


def hkdf(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


# --- round trip and format ------------------------------------------------------------------------------


def test_round_trip() -> None:
    assert unseal(RING, VALUE, name=NAME) == COOKIE
    for lifetime in (1, 60, 86400 * 365):
        cookie = fresh_cookie(lifetime)
        assert unseal(RING, seal(RING, cookie, name="latchkey"), name="latchkey") == cookie


def test_each_seal_uses_a_fresh_nonce() -> None:
    values = {seal(RING, COOKIE, name=NAME) for _ in range(50)}
    assert len(values) == 50
    nonces = {b64url_decode(v)[2 + len("main") : 2 + len("main") + 12] for v in values}
    assert len(nonces) == 50


def test_new_session_id_is_32_random_bytes() -> None:
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(isinstance(sid, bytes) and len(sid) == 32 for sid in ids)


def test_known_answer_vector() -> None:
    ring = KeyRing([(KAT_KID, KAT_KEY)])
    assert _seal_with_nonce(ring, KAT_COOKIE, name=NAME, nonce=KAT_NONCE) == KAT_VALUE
    assert unseal(ring, KAT_VALUE, name=NAME, now=KAT_COOKIE.issued_at) == KAT_COOKIE


def test_known_answer_vector_rebuilt_from_the_documented_format() -> None:
    """Re-derive the vector with plain primitives, step by step as docs/cookie-format.md describes it."""
    enc_key = hkdf(KAT_KEY, b"latchkey/cookie/v1/aes-256-gcm")
    mac_key = hkdf(KAT_KEY, b"latchkey/cookie/v1/hmac-sha256")
    header = b"\x01" + bytes([len(KAT_KID)]) + KAT_KID.encode("ascii")
    payload = (
        KAT_COOKIE.sid + KAT_COOKIE.issued_at.to_bytes(8, "big") + KAT_COOKIE.expires_at.to_bytes(8, "big")
    )
    tag = hmac.digest(mac_key, header + payload, "sha256")[:16]
    sealed = AESGCM(enc_key).encrypt(KAT_NONCE, payload + tag, header + NAME.encode("ascii"))
    assert b64url(header + KAT_NONCE + sealed) == KAT_VALUE
    raw = b64url_decode(KAT_VALUE)
    assert len(raw) == 1 + 1 + 8 + 12 + 48 + 16 + 16


def test_value_is_short_and_cookie_safe() -> None:
    assert len(VALUE) == 131  # 98 bytes with a kid of 4 characters: 2 + 4 + 12 + 48 + 16 + 16
    longest = KeyRing([("k" * 255, key_of(3))])
    for ring in (RING, longest):
        for _ in range(20):
            value = seal(ring, fresh_cookie(), name=NAME)
            assert len(value) < MAX_VALUE_CHARS
            assert len(value) <= 470
            assert COOKIE_SAFE.match(value)


# --- every failure is InvalidSeal ---------------------------------------------------------------------------


def test_every_single_bit_flip_is_refused() -> None:
    raw = b64url_decode(VALUE)
    for position in range(len(raw)):
        for bit in range(8):
            altered = bytearray(raw)
            altered[position] ^= 1 << bit
            with pytest.raises(InvalidSeal):
                unseal(RING, b64url(bytes(altered)), name=NAME)


def test_every_single_character_substitution_is_refused() -> None:
    """Also covers the unused low bits of a last character: one cookie has one spelling."""
    for ring, value in ((RING, VALUE), *((ring, seal(ring, COOKIE, name=NAME)) for ring in PADDED_RINGS)):
        for position, original in enumerate(value):
            for replacement in B64URL:
                if replacement != original:
                    with pytest.raises(InvalidSeal):
                        unseal(ring, value[:position] + replacement + value[position + 1 :], name=NAME)


# Kids whose lengths leave 2 and 3 characters in the last base64 quantum (the raw value is 94 + kid bytes).
PADDED_RINGS = (KeyRing([("k" * 9, key_of(4))]), KeyRing([("k" * 10, key_of(5))]))


def test_padded_lengths_round_trip_and_refuse_padding() -> None:
    for ring in PADDED_RINGS:
        value = seal(ring, COOKIE, name=NAME)
        assert len(value) % 4 in (2, 3)
        assert unseal(ring, value, name=NAME) == COOKIE
        padded = value + "=" * (-len(value) % 4)
        with pytest.raises(InvalidSeal):
            unseal(ring, padded, name=NAME)


def test_truncation_at_every_length_is_refused() -> None:
    raw = b64url_decode(VALUE)
    for length in range(len(raw)):
        with pytest.raises(InvalidSeal):
            unseal(RING, b64url(raw[:length]), name=NAME)
    for length in range(len(VALUE)):
        with pytest.raises(InvalidSeal):
            unseal(RING, VALUE[:length], name=NAME)


@pytest.mark.parametrize("extra", [b"\x00", b"\x01", b"\xff" * 3, b"x" * 16, b"\x00" * 1000])
def test_appended_bytes_are_refused(extra: bytes) -> None:
    with pytest.raises(InvalidSeal):
        unseal(RING, b64url(b64url_decode(VALUE) + extra), name=NAME)


@pytest.mark.parametrize("suffix", ["A", "AA", "AAA", "AAAA", "=", "==", " ", "\n", ";", ".", "+", "/"])
def test_appended_characters_are_refused(suffix: str) -> None:
    with pytest.raises(InvalidSeal):
        unseal(RING, VALUE + suffix, name=NAME)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "A",
        "AA",
        "AAA",
        "AAAA",
        "\ud800",
        "é" * 10,
        "null",
        "deleted",
        " " + VALUE,
        VALUE.replace("A", "+"),
    ],
)
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidSeal):
        unseal(RING, garbage, name=NAME)


def test_standard_alphabet_is_refused() -> None:
    """Only base64url: the same bytes spelt with '+' and '/' (or padded) are not this cookie."""
    raw = b"\xfb\xff" + b64url_decode(VALUE)[2:]
    for spelling in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        with pytest.raises(InvalidSeal):
            unseal(RING, spelling, name=NAME)


def test_json_string_syntax_is_refused() -> None:
    """`unseal` decodes through a JSON string: no escape spells a character, no quote ends it early.

    Each value keeps the length % 4 of a real one, so it reaches the decoder.
    """
    for i in (0, 9, len(VALUE) // 2, len(VALUE) - 5):
        escaped = "".join(f"\\u{ord(char):04x}" for char in VALUE[i : i + 4])  # 24 characters for 4
        for value in (
            VALUE[:i] + escaped + VALUE[i + 4 :],
            VALUE[:i] + '",""' + VALUE[i:],
            VALUE[:i] + '"' + VALUE[i + 1 :],
            VALUE[:i] + "\\" + VALUE[i + 1 :],
        ):
            assert len(value) % 4 == len(VALUE) % 4
            with pytest.raises(InvalidSeal):
                unseal(RING, value, name=NAME)


def test_over_long_values_are_refused_before_decoding() -> None:
    for value in ("A" * (MAX_VALUE_CHARS + 1), VALUE * 40, "é" * 5000):
        with pytest.raises(InvalidSeal):
            unseal(RING, value, name=NAME)


@pytest.mark.parametrize("value", [None, b"bytes", 42, ["list"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidSeal):
        unseal(RING, value, name=NAME)  # type: ignore[arg-type]


def test_unknown_version_is_refused() -> None:
    raw = bytearray(b64url_decode(VALUE))
    for version in (0, 2, 0xFF):
        raw[0] = version
        with pytest.raises(InvalidSeal):
            unseal(RING, b64url(bytes(raw)), name=NAME)


def test_another_key_is_refused() -> None:
    for ring in (
        KeyRing([("main", key_of(9))]),
        KeyRing([("other", key_of(1))]),
        KeyRing([("x", key_of(7))]),
    ):
        with pytest.raises(InvalidSeal):
            unseal(ring, VALUE, name=NAME)


def test_value_moved_under_another_cookie_name_is_refused() -> None:
    for other in ("latchkey", "__Secure-latchkey", "__host-latchkey", "__Host-latchkey2", "session"):
        with pytest.raises(InvalidSeal):
            unseal(RING, VALUE, name=other)


def test_errors_are_vague() -> None:
    with pytest.raises(InvalidSeal) as info:
        unseal(RING, VALUE, name="latchkey")
    assert str(info.value) == "the cookie is not valid"
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- rotation and expiry ----------------------------------------------------------------------------------


def test_key_rotation() -> None:
    old_ring = KeyRing([("old", key_of(10))])
    new_alone = KeyRing([("new", key_of(11))])
    rotating = KeyRing([("new", key_of(11)), ("old", key_of(10))])
    sealed_by_old = seal(old_ring, COOKIE, name=NAME)
    assert unseal(rotating, sealed_by_old, name=NAME) == COOKIE
    with pytest.raises(InvalidSeal):
        unseal(new_alone, sealed_by_old, name=NAME)
    # The rotating ring seals with its first key, readable by the new key alone and not by the old one.
    assert rotating.sealing_kid == "new"
    sealed_by_rotating = seal(rotating, COOKIE, name=NAME)
    assert b64url_decode(sealed_by_rotating)[1:5] == b"\x03new"
    assert unseal(new_alone, sealed_by_rotating, name=NAME) == COOKIE
    with pytest.raises(InvalidSeal):
        unseal(old_ring, sealed_by_rotating, name=NAME)


def test_same_kid_with_another_key_is_refused() -> None:
    with pytest.raises(InvalidSeal):
        unseal(KeyRing([("main", key_of(99))]), VALUE, name=NAME)


def test_expiry_uses_the_injected_clock() -> None:
    cookie = SessionCookie(sid=new_session_id(), issued_at=1_000_000, expires_at=1_028_800)
    value = seal(RING, cookie, name=NAME)
    assert unseal(RING, value, name=NAME, now=1_028_799) == cookie
    assert unseal(RING, value, name=NAME, now=1_028_799.999) == cookie
    for now in (1_028_800, 1_028_801, 2_000_000_000):
        with pytest.raises(SealExpired) as info:
            unseal(RING, value, name=NAME, now=now)
        assert info.value.cookie == cookie
        assert isinstance(info.value, SealError) and not isinstance(info.value, InvalidSeal)


def test_expiry_defaults_to_the_clock() -> None:
    now = int(time.time())
    past = SessionCookie(sid=new_session_id(), issued_at=now - 100, expires_at=now - 1)
    with pytest.raises(SealExpired):
        unseal(RING, seal(RING, past, name=NAME), name=NAME)
    assert unseal(RING, seal(RING, fresh_cookie(60), name=NAME), name=NAME).expires_at > now


def test_an_altered_expired_cookie_is_invalid_not_expired() -> None:
    """Authenticity is checked before the clock: a forged cookie never learns whether it would be expired."""
    cookie = SessionCookie(sid=new_session_id(), issued_at=1, expires_at=2)
    raw = bytearray(b64url_decode(seal(RING, cookie, name=NAME)))
    raw[-1] ^= 1
    with pytest.raises(InvalidSeal):
        unseal(RING, b64url(bytes(raw)), name=NAME, now=10)


# --- property tests ---------------------------------------------------------------------------------------


@given(st.text(max_size=600))
def test_random_text_is_always_a_seal_error(value: str) -> None:
    with pytest.raises(SealError):
        unseal(RING, value, name=NAME)


@given(st.text(alphabet=B64URL, min_size=100, max_size=200))
def test_random_base64url_text_is_always_a_seal_error(value: str) -> None:
    with pytest.raises(SealError):
        unseal(RING, value, name=NAME)


@given(st.binary(max_size=400))
def test_random_bytes_base64url_encoded_are_always_a_seal_error(raw: bytes) -> None:
    with pytest.raises(SealError):
        unseal(RING, b64url(raw), name=NAME)


@given(st.binary(min_size=0, max_size=200))
def test_random_bodies_behind_a_valid_header_are_always_invalid(body: bytes) -> None:
    """Reaches the AEAD with a known kid, so the decryption failure path is exercised too."""
    with pytest.raises(InvalidSeal):
        unseal(RING, b64url(b"\x01\x04main" + body), name=NAME)


@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**63), st.integers(0, 2**63))
def test_any_valid_payload_round_trips(sid: bytes, first: int, second: int) -> None:
    cookie = SessionCookie(sid=sid, issued_at=min(first, second), expires_at=max(first, second))
    assert unseal(RING, seal(RING, cookie, name=NAME), name=NAME, now=cookie.expires_at - 1) == cookie


# --- seal's own checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cookie",
    [
        SessionCookie(sid=b"short", issued_at=1, expires_at=2),
        SessionCookie(sid=b"x" * 33, issued_at=1, expires_at=2),
        SessionCookie(sid=bytes(32), issued_at=-1, expires_at=2),
        SessionCookie(sid=bytes(32), issued_at=3, expires_at=2),
        SessionCookie(sid=bytes(32), issued_at=1, expires_at=2**64),
    ],
)
def test_seal_refuses_a_malformed_cookie(cookie: SessionCookie) -> None:
    with pytest.raises(ValueError, match=r"sid|timestamps"):
        seal(RING, cookie, name=NAME)


@pytest.mark.parametrize("name", ["", "a b", "a;b", "a=b", "naïve", "a\tb", '"q"'])
def test_seal_refuses_a_bad_cookie_name(name: str) -> None:
    with pytest.raises(ValueError, match="cookie name"):
        seal(RING, COOKIE, name=name)


def test_nonce_must_be_12_bytes() -> None:
    with pytest.raises(ValueError, match="nonce"):
        _seal_with_nonce(RING, COOKIE, name=NAME, nonce=bytes(11))


# --- the key ring -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "at least one key"),
        ([("a", key_of(1)), ("a", key_of(2))], "appears twice"),
        ([("a", bytes(31))], "32 bytes"),
        ([("a", bytes(33))], "32 bytes"),
        ([("a", b"")], "32 bytes"),
        ([("a", "k" * 32)], "32 bytes"),
        ([("", key_of(1))], "key id"),
        ([("k" * 256, key_of(1))], "key id"),
        ([("clé", key_of(1))], "key id"),
        ([("a\nb", key_of(1))], "key id"),
    ],
)
def test_key_ring_validation(keys: list[tuple[str, bytes]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeyRing(keys)


def test_sealing_kid_is_the_first() -> None:
    assert RING.sealing_kid == "main"
    assert b64url_decode(VALUE)[:6] == b"\x01\x04main"


def test_subkey_is_hkdf_of_the_kids_key() -> None:
    derived = RING.subkey("older", b"session-tokens")
    assert derived == hkdf(key_of(2), b"latchkey/subkey/v1/session-tokens")
    assert len(derived) == 32


def test_subkey_determinism_and_separation() -> None:
    same = KeyRing([("main", key_of(1)), ("older", key_of(2))])
    assert RING.subkey("main", b"tokens") == same.subkey("main", b"tokens") == RING.subkey("main", b"tokens")
    keys = {
        RING.subkey("main", b"tokens"),
        RING.subkey("main", b"tokens2"),
        RING.subkey("main", b"other"),
        RING.subkey("older", b"tokens"),
        # The sealing subkeys: no purpose reproduces them (their labels live under another prefix).
        hkdf(key_of(1), b"latchkey/cookie/v1/aes-256-gcm"),
        hkdf(key_of(1), b"latchkey/cookie/v1/hmac-sha256"),
        key_of(1),
        key_of(2),
    }
    assert len(keys) == 8
    assert RING.subkey("main", b"cookie/v1/aes-256-gcm") != hkdf(key_of(1), b"latchkey/cookie/v1/aes-256-gcm")


def test_subkey_errors() -> None:
    with pytest.raises(KeyError):
        RING.subkey("missing", b"tokens")
    with pytest.raises(KeyError):
        RING.subkey("clé", b"tokens")
    with pytest.raises(ValueError, match="purpose"):
        RING.subkey("main", b"")


# --- KeyRing.seal_value / open_value: the small sealed values of the OIDC flow cookie and download tickets


def test_a_sealed_value_opens_only_for_its_purpose_aad_and_ring() -> None:
    ring = KeyRing([("k2", key_of(2)), ("k1", key_of(1))])
    value = ring.seal_value(b"purpose-a", b"plain bytes", b"aad-1")
    assert value.startswith("k2.")
    assert COOKIE_SAFE.match(value.partition(".")[2])
    assert ring.open_value(b"purpose-a", value, b"aad-1") == b"plain bytes"
    # A ring that still holds the key opens it after a rotation; nothing else does.
    assert (
        KeyRing([("k3", key_of(3)), ("k2", key_of(2))]).open_value(b"purpose-a", value, b"aad-1")
        == b"plain bytes"
    )
    assert ring.open_value(b"purpose-b", value, b"aad-1") is None
    assert ring.open_value(b"purpose-a", value, b"aad-2") is None
    assert KeyRing([("k2", key_of(9))]).open_value(b"purpose-a", value, b"aad-1") is None
    assert KeyRing([("k1", key_of(1))]).open_value(b"purpose-a", value, b"aad-1") is None
    # Two seals of one plaintext differ (a fresh nonce each).
    assert ring.seal_value(b"purpose-a", b"plain bytes", b"aad-1") != value


def test_an_altered_sealed_value_does_not_open() -> None:
    ring = KeyRing([("k1", key_of(1))])
    value = ring.seal_value(b"p", b"x" * 40, b"")
    kid, _, body = value.partition(".")
    for i in range(len(body)):
        flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
        assert ring.open_value(b"p", f"{kid}.{flipped}", b"") is None
    assert ring.open_value(b"p", f"{kid}.{body[:16]}", b"") is None  # shorter than a nonce and a tag
    assert ring.open_value(b"p", body, b"") is None  # no kid


@given(st.text(max_size=300))
def test_any_text_opens_to_nothing_and_never_raises(text: str) -> None:
    ring = KeyRing([("k1", key_of(1))])
    assert ring.open_value(b"p", text, b"") is None
    assert ring.open_value(b"p", f"k1.{text}", b"") is None
