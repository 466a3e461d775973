"""`proxy/upstream.py` alone: what is read whole, what is retried, and what a failed call becomes."""

from __future__ import annotations

import logging
import resource

import aiohttp
import pytest
from yarl import URL

from latchkey.bff.proxy.body import BodyLimits, Upload
from latchkey.bff.proxy.outbound import UpstreamRequest
from latchkey.bff.proxy.upstream import (
    SMALL_BODY,
    Answer,
    BrowserGone,
    CoreConnection,
    attempts_for,
    call_failure,
    connection_pool_size,
    has_no_body,
    is_small,
)
from latchkey.problems import ProblemError
from tests.unit.bff.proxy.fakes import FakeResponse

LIMITS = BodyLimits(max_bytes=100, timeout=2.5)
REQUEST = UpstreamRequest("POST", URL("http://core:8001/v1/files?x=1", encoded=True), [])


async def never() -> dict[str, object]:
    raise AssertionError("not read")


@pytest.mark.parametrize(
    ("method", "status", "no_body"),
    [("HEAD", 200, True), ("GET", 204, True), ("GET", 304, True), ("GET", 101, True), ("GET", 200, False)],
)
def test_answers_without_a_body(method: str, status: int, no_body: bool) -> None:
    assert has_no_body(method, status) is no_body


@pytest.mark.parametrize(
    ("length", "small"), [(0, True), (SMALL_BODY, True), (SMALL_BODY + 1, False), (None, False)]
)
def test_only_a_small_body_of_known_length_is_read_whole(length: int | None, small: bool) -> None:
    assert is_small(length) is small


async def test_only_a_bodiless_idempotent_request_is_sent_twice() -> None:
    upload = Upload(never, 10, 1.0)
    assert [attempts_for(method, None) for method in ("GET", "HEAD", "OPTIONS", "DELETE")] == [2, 2, 2, 2]
    assert [attempts_for(method, None) for method in ("POST", "PUT", "PATCH")] == [1, 1, 1]
    assert attempts_for("DELETE", upload) == 1


async def test_a_browser_gone_mid_upload_is_answered_by_nobody() -> None:
    upload = Upload(never, 10, 1.0)
    upload.client_gone = True
    assert isinstance(call_failure(REQUEST, upload, aiohttp.ClientPayloadError(), LIMITS), BrowserGone)


async def test_an_upload_over_the_limit_is_413_whatever_the_core_did() -> None:
    upload = Upload(never, 10, 1.0)
    upload.too_large = True
    failure = call_failure(REQUEST, upload, TimeoutError(), LIMITS)
    assert isinstance(failure, ProblemError)
    assert (failure.status, failure.code, failure.detail) == (413, "payload_too_large", "at most 100 bytes")


def test_a_late_core_is_504_and_logged_without_the_query(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "latchkey.bff.proxy"):
        failure = call_failure(REQUEST, None, TimeoutError(), LIMITS)
    assert isinstance(failure, ProblemError)
    assert (failure.status, failure.code, failure.detail) == (
        504,
        "upstream_timeout",
        "the API did not answer in time",
    )
    assert caplog.messages == ["core did not answer POST /v1/files within 2.5s"]


@pytest.mark.parametrize(
    "error", [aiohttp.ClientConnectionError("refused"), ConnectionResetError(), OSError()]
)
def test_an_unreachable_core_is_502(error: Exception) -> None:
    failure = call_failure(REQUEST, None, error, LIMITS)
    assert isinstance(failure, ProblemError)
    assert (failure.status, failure.code, failure.detail) == (
        502,
        "upstream_unavailable",
        "the API is not reachable",
    )


@pytest.mark.parametrize(
    ("soft", "size"), [(resource.RLIM_INFINITY, 4096), (100, 32), (1024, 448), (1_000_000, 4096)]
)
def test_the_pool_is_half_the_descriptors_within_bounds(
    monkeypatch: pytest.MonkeyPatch, soft: int, size: int
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (soft, resource.RLIM_INFINITY))
    assert connection_pool_size() == size


async def test_a_call_before_start_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="startup"):
        await CoreConnection(LIMITS, 4).call(REQUEST, None)


@pytest.mark.parametrize(
    ("status", "challenge", "fresh"),
    [
        (401, 'Bearer error="invalid_token"', True),
        (401, 'Bearer error="insufficient_scope"', False),
        (401, None, False),
        (403, 'Bearer error="invalid_token"', False),
    ],
)
def test_only_a_401_invalid_token_asks_for_a_fresh_token(
    status: int, challenge: str | None, fresh: bool
) -> None:
    fields = [] if challenge is None else [(b"WWW-Authenticate", challenge.encode())]
    answer = Answer(FakeResponse(status, fields), b"")  # type: ignore[arg-type]
    assert answer.wants_fresh_token is fresh
