"""`edge/csrf.py`'s rules as pure functions: one pass over the fields, then the reason to refuse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.edge.csrf import BrowserContext, CsrfRules, read_context

OWN = b"http://bff.test"


def context(**fields: bytes | None) -> BrowserContext:
    """A same-origin fetch with X-CSRF: 1, changed by `fields`."""
    values: dict[str, bytes | None] = {"csrf": b"1", "host": b"bff.test", **fields}
    return BrowserContext(**values)  # type: ignore[arg-type]


def test_one_pass_reads_the_fields_the_rules_need() -> None:
    read = read_context(
        [
            (b"origin", b"https://a.test"),
            (b"sec-fetch-site", b"cross-site"),
            (b"x-csrf", b"1"),
            (b"host", b"bff.test"),
            (b"access-control-request-method", b"POST"),
            (b"cookie", b"session=x"),
        ]
    )
    assert read == BrowserContext(b"https://a.test", b"cross-site", b"1", b"bff.test", True)
    assert read_context([]) == BrowserContext()


def test_a_repeated_field_counts_as_its_last_value() -> None:
    assert read_context([(b"x-csrf", b"1"), (b"x-csrf", b"0")]).csrf == b"0"


@pytest.mark.parametrize(
    ("public", "scheme", "host", "own"),
    [
        (None, "http", b"bff.test", OWN),
        (None, "https", b"bff.test:8443", b"https://bff.test:8443"),
        (None, "http", None, None),
        ("https://app.example.com", "http", b"bff.test", b"https://app.example.com"),
    ],
)
def test_the_own_origin_is_the_public_one_or_the_requests(
    public: str | None, scheme: str, host: bytes | None, own: bytes | None
) -> None:
    assert CsrfRules(public).own_origin(scheme, host) == own


@pytest.mark.parametrize(
    ("method", "fields", "listed", "reason"),
    [
        ("GET", {}, False, None),
        ("POST", {}, False, None),
        ("POST", {"origin": OWN}, False, None),
        ("POST", {"fetch_site": b"same-origin"}, False, None),
        ("POST", {"fetch_site": b"none"}, False, None),
        ("GET", {"csrf": None}, False, "the X-CSRF: 1 header is required"),
        ("GET", {"csrf": b"true"}, True, "the X-CSRF: 1 header is required"),
        ("GET", {"origin": b"null"}, False, "cross-origin request refused"),
        ("GET", {"origin": b"http://evil.test"}, False, "cross-origin request refused"),
        ("GET", {"origin": b"http://evil.test"}, True, None),
        ("POST", {"fetch_site": b"same-site"}, False, "cross-site request refused"),
        ("DELETE", {"fetch_site": b"cross-site"}, False, "cross-site request refused"),
        ("POST", {"fetch_site": b"cross-site"}, True, None),
        ("GET", {"fetch_site": b"cross-site"}, False, None),
        ("OPTIONS", {"fetch_site": b"cross-site"}, False, None),
        ("POST", {"origin": b"http://evil.test", "csrf": None}, False, "the X-CSRF: 1 header is required"),
    ],
)
def test_the_reason_to_refuse(
    method: str, fields: dict[str, bytes | None], listed: bool, reason: str | None
) -> None:
    assert CsrfRules(None).refusal(method, "http", context(**fields), listed) == reason


def test_without_a_host_only_a_listed_origin_passes() -> None:
    rules = CsrfRules(None)
    no_host = BrowserContext(csrf=b"1", origin=OWN)
    assert rules.refusal("GET", "http", no_host, False) == "cross-origin request refused"
    assert rules.refusal("GET", "http", no_host, True) is None


@given(st.binary(max_size=12), st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]))
def test_an_unsafe_request_from_an_unlisted_foreign_site_never_passes(site: bytes, method: str) -> None:
    verdict = CsrfRules(None).refusal(method, "http", context(fetch_site=site), False)
    assert (verdict is None) is (site in (b"same-origin", b"none"))
