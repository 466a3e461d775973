"""`proxy/targets.py` alone: the raw path and query checks, the method, and the browser's request id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.proxy.targets import (
    RouteMethods,
    allowed_method,
    checked_path,
    checked_query,
    request_id_for,
    upstream_target,
    valid_request_id,
)
from latchkey.problems import ProblemError


@pytest.mark.parametrize(
    "raw",
    [
        b"/v1/me",
        b"/v1/projects/12/files/report%20final.pdf",
        b"/v1/projects/12/files/%E2%9C%93.txt",
        b"/v1/projects/",
        b"/a-b_c~d/e.f",
        b"/v1/projects/1/files/..hidden",
        b"/v1/x%25y",
    ],
)
def test_plain_targets_are_forwarded_as_received(raw: bytes) -> None:
    assert checked_path(raw) == raw.decode()


@pytest.mark.parametrize(
    "raw",
    [
        b"v1/me",  # not origin-form
        b"//evil.test/v1/me",
        b"/v1//me",
        b"/v1/../admin",
        b"/v1/./me",
        b"/v1/me/..",
        b"/v1/%2e%2e/admin",
        b"/v1/%2E%2E/admin",
        b"/v1%2fadmin",
        b"/v1%2Fadmin",
        b"/v1%5cadmin",
        b"/v1\\admin",
        b"/v1/%00",
        b"/v1/%0a",
        b"/v1/%7f",
        b"/v1/me\x00",
        b"/v1/me ",
        b"/v1/\xe2\x9c\x93",
        b"/v1/me?x",
        b"/v1/me#x",
        b"/v1/%zz",
        b"/v1/%4",
        b"/v1/%",
        b"/v1/<script>",
    ],
)
def test_hostile_targets_are_refused(raw: bytes) -> None:
    assert checked_path(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", ""),
        (b"limit=5&cursor=abc", "limit=5&cursor=abc"),
        (b"q=%20a%2Fb", "q=%20a%2Fb"),
        (b"a=1\x00", None),
        (b"a=\xff", None),
        (b"a=1#frag", None),
        (b"a= b", None),
    ],
)
def test_queries_are_forwarded_as_received_or_refused(raw: bytes, expected: str | None) -> None:
    assert checked_query(raw) == expected


@given(st.binary(max_size=80))
def test_any_accepted_path_is_ascii_origin_form_without_structure_tricks(raw: bytes) -> None:
    path = checked_path(b"/" + raw)
    if path is not None:
        assert path.isascii() and path.startswith("/") and "//" not in path and "\\" not in path
        assert all(segment not in (".", "..") for segment in path.split("/"))
        assert "%2f" not in path.lower() and "%2e" not in path.lower() and "%5c" not in path.lower()


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (b"abc-123_X.y", True),
        (b"r" * 128, True),
        (b"", False),
        (b"r" * 129, False),
        (b"a b", False),
        (b"a\n", False),
    ],
)
def test_request_ids_from_the_browser_are_kept_only_when_plain(value: bytes, valid: bool) -> None:
    assert valid_request_id(value) is valid


def scope(raw_path: bytes, query: bytes = b"", path: str | None = None) -> dict[str, object]:
    return {
        "type": "http",
        "path": path if path is not None else raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": query,
    }


@pytest.mark.parametrize(
    ("raw", "query", "target"),
    [
        (b"/base/api/v1/me", b"", "/v1/me"),
        (b"/base/api/v1/projects", b"limit=5", "/v1/projects?limit=5"),
        (b"/base/api/v1/files/a%20b", b"", "/v1/files/a%20b"),
        (b"/base/api/", b"", "/"),
    ],
)
def test_the_target_is_the_raw_path_under_the_mount_and_the_query(
    raw: bytes, query: bytes, target: str
) -> None:
    assert upstream_target(scope(raw, query), b"/base/api") == target  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "query"),
    [
        (b"/base/api", b""),  # the mount itself names nothing in the core
        (b"/base/apix/v1/me", b""),
        (b"/other/api/v1/me", b""),
        (b"/base/api/v1/%2e%2e/admin", b""),
        (b"/base/api//evil.test/v1", b""),
        (b"/base/api/v1/me", b"a=\x00"),
        (b"/base/api/v1/me", b"a=\xc3\xa9"),
    ],
)
def test_a_target_outside_the_mount_or_hostile_is_invalid_path(raw: bytes, query: bytes) -> None:
    with pytest.raises(ProblemError) as refused:
        upstream_target(scope(raw, query), b"/base/api")  # type: ignore[arg-type]
    assert (refused.value.status, refused.value.code) == (400, "invalid_path")
    assert refused.value.detail == "the request path is not allowed"


def test_the_raw_target_is_judged_not_the_decoded_path() -> None:
    # uvicorn decodes %2F in scope["path"]; the raw form is what the core would route.
    hostile = scope(b"/api/v1%2Fadmin", path="/api/v1/admin")
    with pytest.raises(ProblemError):
        upstream_target(hostile, b"/api")  # type: ignore[arg-type]
    # Without raw_path (some servers), the path stands in for it.
    assert upstream_target({"path": "/api/v1/me", "query_string": b""}, b"/api") == "/v1/me"  # type: ignore[typeddict-item]


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_the_usual_methods_are_forwarded(method: str) -> None:
    assert allowed_method(method) == method


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "get", "BREW", ""])
def test_any_other_method_is_405_naming_the_allowed_ones(method: str) -> None:
    with pytest.raises(ProblemError) as refused:
        allowed_method(method)
    assert (refused.value.status, refused.value.code, refused.value.detail) == (
        405,
        "method_not_allowed",
        None,
    )
    assert refused.value.headers == {"Allow": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"}


def test_a_plain_request_id_is_kept_and_any_other_replaced_by_a_fresh_one() -> None:
    assert request_id_for(b"req-1.a_B") == b"req-1.a_B"
    fresh = {
        request_id_for(value) for value in (None, b"", b"a b", b"x" * 129, b"\xff", b"a\r\nSet-Cookie: x")
    }
    assert len(fresh) == 6  # each one new
    assert all(len(value) == 32 and valid_request_id(value) for value in fresh)


@given(st.binary(max_size=140))
def test_a_request_id_passed_on_is_always_plain(value: bytes) -> None:
    chosen = request_id_for(value)
    assert valid_request_id(chosen)
    assert chosen == value or len(chosen) == 32


# --- a route's methods -------------------------------------------------------------------------------


def test_a_routes_methods_answer_405_with_their_own_allow_in_a_fixed_order() -> None:
    methods = RouteMethods(frozenset({"POST", "GET", "DELETE"}))
    assert methods.allow == "GET, POST, DELETE"
    assert methods.check("POST") == "POST"
    with pytest.raises(ProblemError) as refused:
        methods.check("PUT")
    assert (refused.value.status, refused.value.code) == (405, "method_not_allowed")
    assert refused.value.headers == {"Allow": "GET, POST, DELETE"}


def test_no_method_list_is_every_method_the_api_forwards() -> None:
    every = RouteMethods(None)
    assert every.allow == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    for method in ("GET", "OPTIONS", "PATCH"):
        assert every.check(method) == method
    with pytest.raises(ProblemError):
        every.check("TRACE")
