"""`proxy/inbound.py` alone: the fields the browser receives from the core's answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.proxy.inbound import RESPONSE_FIELDS, BrowserLocation, browser_vary, response_fields

LOCATION = BrowserLocation("http://core:8001", b"/base/api")


def fields_of(
    status: int, fields: list[tuple[bytes, bytes]], request_id: bytes = b"rid"
) -> list[tuple[bytes, bytes]]:
    return response_fields(status, fields, request_id, LOCATION)


def test_allowed_fields_pass_lower_cased_and_the_bffs_own_end_the_list() -> None:
    assert fields_of(200, [(b"Content-Type", b"application/json"), (b"ETag", b'"1"')]) == [
        (b"content-type", b"application/json"),
        (b"etag", b'"1"'),
        (b"vary", b"Cookie"),
        (b"cache-control", b"no-store"),
        (b"x-request-id", b"rid"),
    ]


@pytest.mark.parametrize(
    "name",
    [
        b"set-cookie",
        b"Set-Cookie",
        b"cache-control",
        b"expires",
        b"x-request-id",
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"strict-transport-security",
        b"alt-svc",
        b"server",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"x-powered-by",
    ],
)
def test_the_cores_other_fields_never_reach_the_browser(name: bytes) -> None:
    fields = fields_of(200, [(name, b"core-value")])
    assert all(value != b"core-value" for _, value in fields)


def test_fields_the_core_named_in_connection_are_dropped() -> None:
    fields = fields_of(200, [(b"ETag", b'"1"'), (b"Connection", b"ETag"), (b"Retry-After", b"3")])
    assert (b"etag", b'"1"') not in fields and (b"retry-after", b"3") in fields
    kept = fields_of(200, [(b"etag", b'"1"'), (b"connection", b"close")])
    assert (b"etag", b'"1"') in kept


@pytest.mark.parametrize("status", [204, 304])
def test_an_answer_without_body_loses_its_content_length(status: int) -> None:
    fields = fields_of(status, [(b"content-length", b"10"), (b"etag", b'"1"')])
    assert b"content-length" not in dict(fields) and dict(fields)[b"etag"] == b'"1"'
    assert dict(fields_of(200, [(b"content-length", b"10")]))[b"content-length"] == b"10"


@pytest.mark.parametrize(
    ("core", "browser"),
    [
        (None, b"Cookie"),
        (b"Accept", b"Accept, Cookie"),
        (b"cookie", b"cookie"),
        (b"Accept, Cookie", b"Accept, Cookie"),
        (b"*", b"*"),
    ],
)
def test_every_answer_varies_by_cookie(core: bytes | None, browser: bytes) -> None:
    assert browser_vary(core) == browser


def test_several_vary_fields_are_joined_before_cookie_is_added() -> None:
    assert (
        dict(fields_of(200, [(b"Vary", b"Accept"), (b"vary", b"Range")]))[b"vary"] == b"Accept, Range, Cookie"
    )


@pytest.mark.parametrize(
    ("core_url", "location", "expected"),
    [
        ("http://core:8001/", b"/v1/x", b"/base/api/v1/x"),
        ("http://core:8001", b"http://core:8001/", b"/base/api/"),
        ("http://core:8001", b"http://core:8001.evil.test/v1", b"http://core:8001.evil.test/v1"),
        ("http://core:8001", b"http://core:8002/v1", b"http://core:8002/v1"),
        ("http://core:8001/inner", b"/other/v1", b"/base/api/other/v1"),
        ("http://core:8001", b"", b""),
        ("http://core:8001", b"/\\evil.test", b"/base/api/\\evil.test"),
    ],
)
def test_locations_map_under_the_mount_and_foreign_ones_pass(
    core_url: str, location: bytes, expected: bytes
) -> None:
    assert BrowserLocation(core_url, b"/base/api")(location) == expected


def test_a_location_is_rewritten_in_the_answer() -> None:
    assert (b"location", b"/base/api/v1/projects/7") in fields_of(201, [(b"Location", b"/v1/projects/7")])


@given(
    st.integers(100, 599),
    st.lists(
        st.tuples(
            st.sampled_from(
                [*RESPONSE_FIELDS, b"set-cookie", b"vary", b"connection", b"cache-control", b"location"]
            ),
            st.binary(max_size=10),
        ),
        max_size=10,
    ),
)
def test_any_answer_has_exactly_one_no_store_vary_and_request_id_and_no_cookie(
    status: int, fields: list[tuple[bytes, bytes]]
) -> None:
    out = fields_of(status, fields)
    names = [name for name, _ in out]
    assert b"set-cookie" not in names
    assert out[-3:] == [(b"vary", out[-3][1]), (b"cache-control", b"no-store"), (b"x-request-id", b"rid")]
    assert names.count(b"cache-control") == names.count(b"vary") == names.count(b"x-request-id") == 1
    assert set(names) <= RESPONSE_FIELDS | {b"vary", b"cache-control", b"x-request-id", b"location"}


# --- a route with token `none`: answers shared by everyone -------------------------------------------


def test_a_shared_answer_keeps_the_upstreams_caching_and_adds_no_cookie_vary() -> None:
    fields = [
        (b"Cache-Control", b"public, max-age=60"),
        (b"Expires", b"Thu, 01 Jan 2099 00:00:00 GMT"),
        (b"Vary", b"Accept"),
        (b"Set-Cookie", b"a=1"),
        (b"Connection", b"x-hop"),
        (b"X-Hop", b"1"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Content-Type", b"text/plain"),
    ]
    assert response_fields(200, fields, b"rid", LOCATION, per_user=False) == [
        (b"cache-control", b"public, max-age=60"),
        (b"expires", b"Thu, 01 Jan 2099 00:00:00 GMT"),
        (b"content-type", b"text/plain"),
        (b"vary", b"Accept"),
        (b"x-request-id", b"rid"),
    ]


def test_a_shared_answer_without_vary_gets_none() -> None:
    assert response_fields(204, [], b"rid", LOCATION, per_user=False) == [(b"x-request-id", b"rid")]


def test_a_per_user_answer_still_replaces_the_upstreams_caching() -> None:
    kept = response_fields(200, [(b"cache-control", b"public"), (b"expires", b"0")], b"rid", LOCATION)
    assert kept == [(b"vary", b"Cookie"), (b"cache-control", b"no-store"), (b"x-request-id", b"rid")]


def test_a_location_on_a_routes_upstream_with_a_base_path_comes_back_under_the_route() -> None:
    location = BrowserLocation("http://team:9100/base", b"/app/team")
    assert location(b"http://team:9100/base/x?y=1") == b"/app/team/x?y=1"
    assert location(b"/base/x") == b"/app/team/x"
    assert location(b"https://other.example/x") == b"https://other.example/x"
