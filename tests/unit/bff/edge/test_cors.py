"""`edge/cors.py` alone: which origins are listed, and the exact fields they are answered with."""

from __future__ import annotations

from typing import Any

import pytest

from latchkey.bff.edge.cors import Cors, answer_headers, grant_preflight, preflight_headers, with_cors

LISTED = b"https://app.example.test"


@pytest.mark.parametrize(
    ("origin", "listed"),
    [
        (LISTED, True),
        (None, False),
        (b"*", False),
        (b"null", False),
        (b"https://APP.example.test", False),  # byte for byte: origins are serialised lower-case
        (LISTED + b"/", False),
        (LISTED + b".evil.test", False),
        (b"http://app.example.test", False),
    ],
)
def test_only_a_listed_origin_byte_for_byte_is_listed(origin: bytes | None, listed: bool) -> None:
    assert Cors([LISTED.decode(), "https://other.test"]).listed(origin) is listed


def test_no_origin_is_listed_without_configuration() -> None:
    assert not Cors([]).listed(LISTED)


async def test_a_granted_preflight_names_the_origin_never_star() -> None:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    await grant_preflight(send, LISTED)
    start, end = sent
    assert start["status"] == 204
    assert start["headers"] == preflight_headers(LISTED)
    assert dict(start["headers"])[b"access-control-allow-origin"] == LISTED
    assert b"X-CSRF" in dict(start["headers"])[b"access-control-allow-headers"]
    assert dict(start["headers"])[b"cache-control"] == b"no-store"
    assert end == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_answers_to_a_listed_origin_gain_cors_fields_after_their_own() -> None:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    wrapped = with_cors(send, LISTED)
    await wrapped({"type": "http.response.start", "status": 200, "headers": [(b"vary", b"Cookie")]})
    await wrapped({"type": "http.response.body", "body": b"x", "more_body": False})
    assert sent[0]["headers"] == [(b"vary", b"Cookie"), *answer_headers(LISTED)]
    assert sent[1] == {"type": "http.response.body", "body": b"x", "more_body": False}
    exposed = dict(answer_headers(LISTED))[b"access-control-expose-headers"]
    assert exposed == b"X-Request-ID, Retry-After"
