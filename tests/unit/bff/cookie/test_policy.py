"""The cookie's attributes and their rules (`bff/cookie/policy.py`) and the session cookie read from a
request and written into an answer (`bff/cookie/session_cookie.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from latchkey.bff.cookie import policy
from latchkey.bff.cookie.policy import CookiePolicy
from latchkey.bff.cookie.session_cookie import SessionCookies
from latchkey.problems import ProblemError
from latchkey.sealing import KeyRing, new_session_id
from latchkey.settings import Problems, SettingsError, load_bff_settings
from tests.support import new_key

BASE = {"LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "a" * 49, "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}"}
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def named(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_bff_settings({**BASE, **env})
    return [name for name, _ in info.value.problems]


@pytest.mark.parametrize(("value", "parsed"), [("Strict", "strict"), ("LAX", "lax"), ("none", "none")])
def test_same_site_is_read_in_any_case(value: str, parsed: str) -> None:
    assert policy.same_site(value) == parsed


def test_a_bad_same_site_names_the_choices() -> None:
    with pytest.raises(ValueError, match="must be strict, lax or none, got 'sometimes'"):
        policy.same_site("sometimes")


@pytest.mark.parametrize(
    ("request_path", "cookie_path", "matches"),
    [
        ("/", "/", True),
        ("/app", "/", True),
        ("/app", "/app", True),
        ("/app/bff", "/app", True),
        ("/apple", "/app", False),
        ("/app/", "/app/", True),
        ("/", "/app", False),
    ],
)
def test_path_matching(request_path: str, cookie_path: str, matches: bool) -> None:
    assert policy.path_matches(request_path, cookie_path) is matches


@pytest.mark.parametrize(
    ("secure", "domain", "path", "name"),
    [
        (True, None, "/", "__Host-latchkey"),
        (True, "example.test", "/", "__Secure-latchkey"),
        (True, None, "/app", "__Secure-latchkey"),
        (False, None, "/", "latchkey"),
    ],
)
def test_the_default_name_takes_the_strongest_prefix(
    secure: bool, domain: str | None, path: str, name: str
) -> None:
    assert policy.default_cookie_name(secure=secure, domain=domain, path=path) == name


@pytest.mark.parametrize(
    ("env", "variables"),
    [
        ({"LATCHKEY_COOKIE_SECURE": "false"}, ["LATCHKEY_COOKIE_SECURE"]),
        (
            {"LATCHKEY_ENV": "dev", "LATCHKEY_COOKIE_SECURE": "false", "LATCHKEY_COOKIE_SAMESITE": "none"},
            ["LATCHKEY_COOKIE_SAMESITE", "LATCHKEY_COOKIE_SECURE"],
        ),
        (
            {"LATCHKEY_COOKIE_NAME": "__Host-x", "LATCHKEY_COOKIE_DOMAIN": "example.test"},
            ["LATCHKEY_COOKIE_NAME", "LATCHKEY_COOKIE_DOMAIN"],
        ),
        (
            {"LATCHKEY_ENV": "dev", "LATCHKEY_COOKIE_SECURE": "false", "LATCHKEY_COOKIE_NAME": "__secure-x"},
            ["LATCHKEY_COOKIE_NAME", "LATCHKEY_COOKIE_SECURE"],
        ),
        (
            {"LATCHKEY_COOKIE_PATH": "/app", "LATCHKEY_BFF_BASE_PATH": "/other"},
            ["LATCHKEY_COOKIE_PATH", "LATCHKEY_BFF_BASE_PATH"],
        ),
    ],
)
def test_broken_cookie_rules_name_every_variable_involved(env: dict[str, str], variables: list[str]) -> None:
    assert sorted(set(named(env))) == sorted(variables)


def test_the_rules_fill_in_the_computed_name() -> None:
    values = {
        "env": "production",
        "cookie_secure": True,
        "cookie_samesite": "strict",
        "base_path": "/app",
        "cookie_path": "/app",
        "cookie_domain": None,
    }
    problems: Problems = []
    policy.cookie_rules(values, problems)
    assert (problems, values["cookie_name"]) == ([], "__Secure-latchkey")


def test_set_cookie_carries_every_attribute() -> None:
    cookies = CookiePolicy(
        load_bff_settings(
            {**BASE, "LATCHKEY_COOKIE_DOMAIN": ".Example.test", "LATCHKEY_COOKIE_SAMESITE": "lax"}
        )
    )
    header = cookies.set_header("v", expires_at=T0.timestamp() + 60, now=T0.timestamp())
    assert header == (
        "__Secure-latchkey=v; Max-Age=60; Expires=Tue, 01 Jan 2030 00:01:00 GMT; Path=/; "
        "Domain=example.test; Secure; HttpOnly; SameSite=Lax"
    )
    assert cookies.clear_header() == (
        "__Secure-latchkey=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; "
        "Domain=example.test; Secure; HttpOnly; SameSite=Lax"
    )


def test_the_cookie_is_found_among_others_and_malformed_ones() -> None:
    cookies = CookiePolicy(load_bff_settings(BASE))
    found = cookies.values_in(
        [
            b"theme=dark; __Host-latchkey=one; junk",
            b"__Host-latchkey=\xff\xfe; x=__Host-latchkey=no",
            b"__Host-latchkey=two",
        ]
    )
    assert found == ["one", "two"]


@pytest.fixture
def session_cookies() -> SessionCookies:
    settings = load_bff_settings(BASE)
    return SessionCookies(CookiePolicy(settings), KeyRing(settings.cookie_keys))


def cookie_header(set_cookie: str, *others: str) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", "; ".join([*others, set_cookie.split(";", 1)[0]]).encode())]


def test_an_issued_cookie_names_its_session_until_its_end(session_cookies: SessionCookies) -> None:
    sid = new_session_id()
    set_cookie = session_cookies.issue(sid, now=T0, expires_at=T0 + timedelta(hours=8))
    assert "Max-Age=28800;" in set_cookie
    headers = cookie_header(set_cookie, "theme=dark")
    assert session_cookies.session_id(headers, T0.timestamp()) == sid
    with pytest.raises(ProblemError) as expired:
        session_cookies.session_id(headers, (T0 + timedelta(hours=8)).timestamp())
    assert (expired.value.status, expired.value.code) == (401, "session_expired")


def test_any_valid_cookie_of_several_wins(session_cookies: SessionCookies) -> None:
    old = session_cookies.issue(new_session_id(), now=T0, expires_at=T0 + timedelta(seconds=10))
    sid = new_session_id()
    fresh = session_cookies.issue(sid, now=T0, expires_at=T0 + timedelta(hours=1))
    headers = cookie_header(fresh, old.split(";", 1)[0], "__Host-latchkey=forged")
    assert session_cookies.session_id(headers, (T0 + timedelta(minutes=1)).timestamp()) == sid


@pytest.mark.parametrize("cookie", [b"", b"theme=dark", b"__Host-latchkey=forged", b"latchkey=x"])
def test_no_valid_cookie_is_no_session(session_cookies: SessionCookies, cookie: bytes) -> None:
    with pytest.raises(ProblemError) as refused:
        session_cookies.session_id([(b"cookie", cookie)], T0.timestamp())
    assert (refused.value.status, refused.value.code) == (401, "no_session")
