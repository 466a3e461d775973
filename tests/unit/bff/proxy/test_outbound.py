"""`proxy/outbound.py` and `proxy/hop_by_hop.py` alone: the fields the core receives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from latchkey.bff.proxy.hop_by_hop import HOP_BY_HOP, connection_named, joined_connection
from latchkey.bff.proxy.outbound import (
    REQUEST_FIELDS,
    BrowserHead,
    bearer,
    forwarding_fields,
    read_browser_head,
    upstream_request,
    without_connection_named,
)

# What a browser, a script, or an attacker may add: none of it reaches the core as sent.
DROPPED = [
    (b"cookie", b"session=abc; other=1"),
    (b"authorization", b"Bearer stolen"),
    (b"x-csrf", b"1"),
    (b"origin", b"https://app.test"),
    (b"referer", b"https://app.test/secret-page"),
    (b"sec-fetch-site", b"same-origin"),
    (b"forwarded", b"for=1.2.3.4"),
    (b"x-forwarded-for", b"1.2.3.4"),
    (b"x-forwarded-host", b"evil.test"),
    (b"x-real-ip", b"1.2.3.4"),
    (b"expect", b"100-continue"),
    (b"proxy-authorization", b"Basic eA=="),
    (b"te", b"trailers"),
    (b"upgrade", b"websocket"),
    (b"keep-alive", b"timeout=5"),
    (b"x-custom", b"1"),
]


def test_only_allowed_fields_pass_and_the_acted_on_ones_are_noted() -> None:
    head = read_browser_head(
        [
            (b"accept", b"application/json"),
            *DROPPED,
            (b"if-none-match", b'"v1"'),
            (b"host", b"bff.test"),
            (b"content-length", b"12"),
            (b"x-request-id", b"req-1"),
            (b"accept-encoding", b"gzip"),
            (b"connection", b"keep-alive"),
        ]
    )
    assert head.allowed == [("accept", "application/json"), ("if-none-match", '"v1"')]
    assert (head.host, head.content_length, head.request_id, head.accept_encoding) == (
        b"bff.test",
        b"12",
        b"req-1",
        b"gzip",
    )
    assert (head.connection, head.chunked) == (b"keep-alive", False)


def test_transfer_encoding_marks_a_chunked_body_and_is_not_forwarded() -> None:
    head = read_browser_head([(b"transfer-encoding", b"chunked")])
    assert head.chunked and head.allowed == []


def test_a_value_that_is_not_utf8_is_dropped_not_mangled() -> None:
    head = read_browser_head([(b"user-agent", b"caf\xe9"), (b"accept-language", b"fr")])
    assert head.allowed == [("accept-language", "fr")]


def test_repeated_fields_are_kept_in_order_and_connections_joined() -> None:
    head = read_browser_head(
        [(b"accept", b"a"), (b"connection", b"x-one"), (b"accept", b"b"), (b"connection", b"x-two")]
    )
    assert head.allowed == [("accept", "a"), ("accept", "b")]
    assert head.connection == b"x-one,x-two"


def test_no_allowed_field_is_hop_by_hop_or_a_credential() -> None:
    names = set(REQUEST_FIELDS)
    assert not names & HOP_BY_HOP
    assert not names & {b"cookie", b"authorization", b"x-csrf", b"origin", b"referer", b"forwarded"}


@given(
    st.lists(
        st.tuples(st.sampled_from([n for n, _ in DROPPED] + list(REQUEST_FIELDS)), st.binary(max_size=8))
    )
)
def test_whatever_is_sent_only_allow_listed_names_come_out(fields: list[tuple[bytes, bytes]]) -> None:
    head = read_browser_head(fields)
    assert {name for name, _ in head.allowed} <= set(REQUEST_FIELDS.values())


@pytest.mark.parametrize(
    ("connection", "named"),
    [
        (None, frozenset()),
        (b"keep-alive", frozenset()),
        (b"Close", frozenset()),
        (b"close, X-Secret", {b"close", b"x-secret"}),
        (b" Accept ,if-match", {b"accept", b"if-match"}),
        (b"upgrade", {b"upgrade"}),
    ],
)
def test_connection_names_fields_as_hop_by_hop(connection: bytes | None, named: frozenset[bytes]) -> None:
    assert connection_named(connection) == named


def test_several_connection_fields_read_as_one_list() -> None:
    assert joined_connection(None, b"a") == b"a"
    assert connection_named(joined_connection(b"a", b"B")) == {b"a", b"b"}


def test_fields_the_browser_named_in_connection_are_not_forwarded() -> None:
    fields = [("accept", "a"), ("if-match", '"x"'), ("range", "bytes=0-1")]
    assert without_connection_named(fields, b"If-Match, keep-alive") == [
        ("accept", "a"),
        ("range", "bytes=0-1"),
    ]
    assert without_connection_named(fields, b"keep-alive") is fields  # the common case costs nothing
    assert without_connection_named(fields, None) is fields


def test_the_bff_writes_the_forwarding_fields_itself() -> None:
    head = BrowserHead(host=b"bff.test:8443", accept_encoding=b"br")
    assert forwarding_fields("198.51.100.7", "https", head, b"rid") == [
        ("x-forwarded-for", "198.51.100.7"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "bff.test:8443"),
        ("x-request-id", "rid"),
        ("accept-encoding", "br"),
    ]


def test_without_a_peer_host_or_encoding_the_fields_say_so_by_absence_and_identity() -> None:
    assert forwarding_fields("", "http", BrowserHead(), b"rid") == [
        ("x-forwarded-proto", "http"),
        ("x-request-id", "rid"),
        ("accept-encoding", "identity"),  # else aiohttp asks for gzip the browser never asked for
    ]


def test_a_host_that_is_not_utf8_is_not_forwarded() -> None:
    names = [name for name, _ in forwarding_fields("", "http", BrowserHead(host=b"\xff.test"), b"r")]
    assert "x-forwarded-host" not in names


def test_the_request_puts_the_token_first_then_the_browsers_then_framing_then_the_bffs() -> None:
    head = BrowserHead(allowed=[("accept", "a"), ("range", "r")], connection=b"range")
    url = URL("http://core:8001/v1/me", encoded=True)
    request = upstream_request("GET", url, head, "tok", ("content-length", "3"), [("x-request-id", "rid")])
    assert request.fields == [
        ("authorization", "Bearer tok"),
        ("accept", "a"),
        ("content-length", "3"),
        ("x-request-id", "rid"),
    ]
    replay = request.with_token("tok2")
    assert replay.fields == [bearer("tok2"), *request.fields[1:]]
    assert (replay.method, replay.url) == ("GET", url)
    assert request.fields[0] == ("authorization", "Bearer tok")  # the first request is left alone


# --- routes that send no token -----------------------------------------------------------------------


def test_without_a_token_no_authorization_is_sent_whatever_the_browser_sent() -> None:
    head = read_browser_head([(b"authorization", b"Bearer mine"), (b"accept", b"*/*"), (b"cookie", b"a=1")])
    request = upstream_request("GET", URL("http://team:9100/x"), head, None, None, [("x-request-id", "rid")])
    assert request.fields == [("accept", "*/*"), ("x-request-id", "rid")]


def test_a_replay_swaps_the_token_in_place() -> None:
    head = read_browser_head([(b"accept", b"*/*")])
    request = upstream_request("GET", URL("http://team:9100/x"), head, "old", None, [])
    assert request.with_token("new").fields == [("authorization", "Bearer new"), ("accept", "*/*")]
    untokened = upstream_request("GET", URL("http://team:9100/x"), head, None, None, [])
    assert untokened.with_token("new").fields == [("authorization", "Bearer new"), ("accept", "*/*")]
