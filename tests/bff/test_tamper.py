"""Tampered, truncated, foreign, expired and garbage session cookies against a real BFF (real core): each is
401 with `no_session` or `session_expired`, never a 500, on `/bff/session` and on the `/api` hot path;
junk beside a valid cookie does no harm; and rotating the cookie keys logs nobody out."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latchkey.sealing import KeyRing, SessionCookie, new_session_id, seal, unseal
from latchkey.settings import decode_key, parse_key_ring
from tests.support import BffServer, Browser, CoreServer, assert_no_token_leak, new_key

pytestmark = pytest.mark.database_agnostic

BffFactory = Callable[..., Awaitable[BffServer]]
NAME = "__Host-latchkey"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PATHS = ("/bff/session", "/api/v1/me")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ring_of(server: BffServer) -> KeyRing:
    """The BFF's own key ring, from the environment the test gave it."""
    return KeyRing(parse_key_ring(server.env["LATCHKEY_COOKIE_KEYS"]))


def kid_of(value: str) -> str:
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return raw[2 : 2 + raw[1]].decode()


async def logged_in(core: CoreServer, http: httpx.AsyncClient, server: BffServer) -> Browser:
    user = await core.create_user()
    browser = Browser(http, server)
    await browser.login(user["email"])
    return browser


async def answers(http: httpx.AsyncClient, server: BffServer, cookie_header: str) -> list[httpx.Response]:
    """`/bff/session` and `/api/v1/me` with exactly this Cookie header."""
    responses = []
    for path in PATHS:
        response = await http.get(server.url + path, headers={"X-CSRF": "1", "Cookie": cookie_header})
        assert_no_token_leak(path, response.headers, response.content)
        responses.append(response)
    return responses


async def assert_refused(
    http: httpx.AsyncClient, server: BffServer, value: str, code: str = "no_session", name: str = NAME
) -> None:
    for response in await answers(http, server, f"{name}={value}"):
        where = f"{response.request.url.path} with {value[:40]!r}…"
        assert response.status_code == 401, (where, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), where
        assert response.json()["code"] == code, (where, response.text)
        assert response.headers["cache-control"] == "no-store", where


async def assert_accepted(http: httpx.AsyncClient, server: BffServer, cookie_header: str) -> None:
    for response in await answers(http, server, cookie_header):
        assert response.status_code == 200, (response.request.url.path, response.text)


def flipped(value: str, position: int) -> str:
    char = value[position]
    replacement = B64URL[(B64URL.index(char) + 1 + secrets.randbelow(63)) % 64]
    assert replacement != char
    return value[:position] + replacement + value[position + 1 :]


async def test_every_altered_character_is_refused(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    browser = await logged_in(core, http, bff)
    value = browser.cookie
    assert value is not None
    positions = sorted({0, 1, 2, len(value) - 2, len(value) - 1, *range(0, len(value), 7)})
    for position in positions:
        await assert_refused(http, bff, flipped(value, position))
    # Nothing above harmed the real session.
    await assert_accepted(http, bff, f"{NAME}={value}")


async def test_truncated_extended_and_garbage_values_are_refused(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    browser = await logged_in(core, http, bff)
    value = browser.cookie
    assert value is not None
    for length in (0, 1, 2, 4, 16, len(value) // 2, len(value) - 4, len(value) - 3, len(value) - 1):
        await assert_refused(http, bff, value[:length])
    for extra in ("A", "AA", "AAAA", "_-_-", "=", "==", "%3D", "x" * 200, "A" * 5000):
        await assert_refused(http, bff, value + extra)
    for garbage in ('"' + value + '"', " " + value[1:], value.upper(), value[::-1], "A" * 5000, "deleted"):
        await assert_refused(http, bff, garbage)
    await assert_accepted(http, bff, f"{NAME}={value}")


async def test_foreign_forged_moved_and_expired_cookies(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    browser = await logged_in(core, http, bff)
    value = browser.cookie
    assert value is not None
    ring = ring_of(bff)
    kid = ring.sealing_kid
    real = unseal(ring, value, name=NAME)
    now = int(time.time())

    # Resealed faithfully with the BFF's own key, the session works: the checks below test only what changed.
    same = SessionCookie(sid=real.sid, issued_at=now, expires_at=real.expires_at)
    await assert_accepted(http, bff, f"{NAME}={seal(ring, same, name=NAME)}")

    # Sealed under another key, with the same key id or another one.
    for other in (KeyRing([(kid, decode_key(new_key()))]), KeyRing([("k9", decode_key(new_key()))])):
        await assert_refused(http, bff, seal(other, same, name=NAME))

    # The value moved under another cookie name, or sealed for another name.
    for name in ("latchkey", "__Secure-latchkey", "__host-latchkey", "__Host-latchkey2"):
        await assert_refused(http, bff, value, name=name)
        await assert_refused(http, bff, seal(ring, same, name=name))

    # Authentic, but for a session the BFF never made.
    forged = SessionCookie(sid=new_session_id(), issued_at=now, expires_at=now + 600)
    await assert_refused(http, bff, seal(ring, forged, name=NAME))

    # Authentic and naming the real session, but past its end: session_expired.
    expired = SessionCookie(sid=real.sid, issued_at=now - 100, expires_at=now - 1)
    await assert_refused(http, bff, seal(ring, expired, name=NAME), code="session_expired")
    expired_unknown = SessionCookie(sid=new_session_id(), issued_at=now - 100, expires_at=now - 1)
    await assert_refused(http, bff, seal(ring, expired_unknown, name=NAME), code="session_expired")

    # None of this ended the real session.
    await assert_accepted(http, bff, f"{NAME}={value}")


async def raw_get(server: BffServer, path: str, cookie: bytes) -> tuple[int, dict[str, str], bytes]:
    """A GET with a Cookie header no HTTP client library would send (control bytes and all)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"GET "
            + path.encode()
            + b" HTTP/1.1\r\nHost: 127.0.0.1:"
            + str(server.port).encode()
            + b"\r\nX-CSRF: 1\r\nCookie: "
            + cookie
            + b"\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        key, _, val = line.partition(":")
        headers[key.strip().lower()] = val.strip()
    assert_no_token_leak(path, headers, body)
    return int(status_line.split()[1]), headers, body


async def test_malformed_unrelated_cookies_beside_a_valid_one_do_no_harm(
    core: CoreServer, http: httpx.AsyncClient, bff: BffServer
) -> None:
    browser = await logged_in(core, http, bff)
    value = browser.cookie
    assert value is not None
    valid = f"{NAME}={value}".encode()
    for header in (
        b"junk=\x80\xff; ===; " + valid + b"; a",
        b"junk=%7F; ===; " + valid + b"; a",
        b"; ;;" + valid + b";;",
        b'a="unterminated; ' + valid + b"; b=\xff\xfe",
        b"=; =x; " + valid,
    ):
        for path in PATHS:
            status, _, body = await raw_get(bff, path, header)
            assert status == 200, (header, path, body)
    # A DEL byte is not allowed in a field value (RFC 9110 §5.5): the HTTP server refuses the request
    # before the app sees it (browsers never send one). A 400, not a 500, and the BFF serves on.
    status, _, _ = await raw_get(bff, "/bff/session", b"junk=\x7f; ===; " + valid + b"; a")
    assert status == 400
    # Another cookie under our name (a stale one, another path's) beside the valid one, either side.
    await assert_accepted(http, bff, f"{NAME}=garbage; {NAME}={value}")
    await assert_accepted(http, bff, f"{NAME}={value}; {NAME}={flipped(value, 30)}")
    # Whitespace around the pair (tolerated by browsers' serialisation).
    await assert_accepted(http, bff, f"other=1;   {NAME}={value}  ;other2=2")


FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Bytes an HTTP client may put in a header value (visible ASCII and obs-text).
_HEADER_BYTES = [bytes([b]) for b in [*range(0x21, 0x7F), *range(0x80, 0x100)]]
_VALUES = st.one_of(
    st.binary(max_size=200).map(lambda raw: b64url(raw).encode()),
    # The right version, key id and length, the rest random: it reaches AES-GCM and fails there.
    st.binary(min_size=92, max_size=92).map(lambda raw: b64url(b"\x01\x02k1" + raw).encode()),
    st.lists(st.sampled_from(_HEADER_BYTES), max_size=300).map(b"".join),
)


def test_random_cookies_are_401_never_500(bff: BffServer) -> None:
    with httpx.Client(timeout=30) as client:

        @FUZZ
        @given(value=_VALUES, with_name=st.booleans())
        def check(value: bytes, with_name: bool) -> None:
            cookie = (NAME.encode() + b"=" + value) if with_name else value
            for path in PATHS:
                response = client.get(bff.url + path, headers={b"X-CSRF": b"1", b"Cookie": cookie})
                assert_no_token_leak(path, response.headers, response.content)
                assert response.status_code == 401, (cookie, path, response.text)
                assert json.loads(response.content)["code"] == "no_session", response.text

        check()


async def test_key_rotation_keeps_sessions_and_removing_a_key_is_401(
    core: CoreServer, http: httpx.AsyncClient, bff_factory: BffFactory
) -> None:
    old, new = new_key(), new_key()
    first = await bff_factory(LATCHKEY_COOKIE_KEYS=f"old:{old}")
    browser = await logged_in(core, http, first)
    old_cookie = browser.cookie
    assert old_cookie is not None and kid_of(old_cookie) == "old"
    await asyncio.to_thread(first.stop)

    # Restarted with a new sealing key and the old one kept for unsealing: nobody is logged out.
    rotated = await bff_factory(
        LATCHKEY_COOKIE_KEYS=f"new:{new},old:{old}", LATCHKEY_BFF_DATABASE_URL=first.database_url
    )
    await assert_accepted(http, rotated, f"{NAME}={old_cookie}")
    fresh = await logged_in(core, http, rotated)
    assert fresh.cookie is not None and kid_of(fresh.cookie) == "new"
    await assert_accepted(http, rotated, f"{NAME}={fresh.cookie}")

    # The old key removed (another instance on the same store): its cookies are 401, never 500; the
    # sessions made under the new key carry on.
    retired = await bff_factory(
        LATCHKEY_COOKIE_KEYS=f"new:{new}", LATCHKEY_BFF_DATABASE_URL=first.database_url
    )
    await assert_refused(http, retired, old_cookie)
    await assert_accepted(http, retired, f"{NAME}={fresh.cookie}")
    # The rotated instance still honours the old cookie: removing a key is a per-instance decision.
    await assert_accepted(http, rotated, f"{NAME}={old_cookie}")
