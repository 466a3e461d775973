"""`proxy/forwarder.py`: the whole pipeline as raw ASGI calls, with a stand-in gate and a scripted core
(no socket). The steps are tested alone beside this file; here, their order and the answers' bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from latchkey.bff.proxy import ApiProxy, StreamRegistry
from latchkey.bff.proxy.body import Upload
from latchkey.bff.proxy.outbound import UpstreamRequest
from latchkey.bff.proxy.upstream import Answer, BrowserGone
from latchkey.problems import ProblemError
from tests.unit.bff.proxy.fakes import FakeCore, FakeResponse, small, streaming
from tests.unit.bff.raw_asgi import Browser, bff_settings, call, call_scope, http_scope

CHALLENGE = [(b"www-authenticate", b'Bearer error="invalid_token"')]


@dataclass(frozen=True)
class Grant:
    access_token: str
    session_key: str
    user_id: int


@dataclass
class Gate:
    """A session named by its `session` cookie; `revoked` cannot refresh; no cookie is 401."""

    authorized: int = 0
    refreshed: list[str] = field(default_factory=list)

    async def authorize(self, scope: Any) -> Grant:
        self.authorized += 1
        for name, value in scope["headers"]:
            if name == b"cookie" and value.startswith(b"session="):
                session = value[len(b"session=") :].decode()
                return Grant(f"tok-{session}", session, 7)
        raise ProblemError(401, "no_session", "log in first", headers={"WWW-Authenticate": "Cookie"})

    async def after_upstream_401(self, grant: Grant) -> Grant:
        self.refreshed.append(grant.session_key)
        if grant.session_key == "revoked":
            raise ProblemError(401, "session_revoked", "the session has ended")
        return Grant(grant.access_token + "-r1", grant.session_key, grant.user_id)


def proxy_with(script: Any, **env: str) -> tuple[ApiProxy, Gate, FakeCore, StreamRegistry]:
    gate, core, streams = Gate(), FakeCore(script), StreamRegistry()
    settings = bff_settings(
        LATCHKEY_BFF_BASE_PATH="/base",
        LATCHKEY_COOKIE_PATH="/base",
        LATCHKEY_CORE_URL="http://core:8001",
        LATCHKEY_MAX_BODY_BYTES="2048",
        **env,
    )
    return ApiProxy(settings, gate, streams, upstream=core), gate, core, streams  # type: ignore[arg-type]


def unreachable(request: UpstreamRequest, upload: Upload | None) -> Answer:
    raise AssertionError("the core must not be called")


SESSION = {"Cookie": "session=s1", "X-Request-ID": "rid-1"}


def problem_fields(body: bytes, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"vary", b"Cookie"),
        (b"x-request-id", b"rid-1"),
        *extra,
    ]


# --- refusals before the core is called, byte for byte -------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b"/base/api", b"/base/api/v1/%2e%2e/admin", b"/base/api//x", b"/base/api/a\\b"]
)
async def test_a_hostile_target_is_400_before_the_session_is_looked_up(raw: bytes) -> None:
    proxy, gate, core, _ = proxy_with(unreachable)
    answer = await call_scope(proxy, http_scope("GET", raw.decode(), SESSION, raw_path=raw))
    assert answer.status == 400
    assert answer.body == (
        b'{"type": "about:blank", "title": "Bad Request", "status": 400, "code": "invalid_path", '
        b'"detail": "the request path is not allowed"}'
    )
    assert answer.fields == problem_fields(answer.body)
    assert (gate.authorized, core.calls) == (0, [])


async def test_an_unknown_method_is_405_with_allow_last() -> None:
    proxy, gate, _, _ = proxy_with(unreachable)
    answer = await call(proxy, "TRACE", "/base/api/v1/me", SESSION)
    assert (answer.status, answer.code) == (405, "method_not_allowed")
    assert answer.fields == problem_fields(
        answer.body, (b"allow", b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
    )
    assert "detail" not in json.loads(answer.body)
    assert gate.authorized == 0


async def test_no_session_is_the_gates_problem_with_its_own_fields_after_the_proxys() -> None:
    proxy, _, core, _ = proxy_with(unreachable)
    answer = await call(proxy, "GET", "/base/api/v1/me", {"X-Request-ID": "rid-1"})
    assert (answer.status, answer.code) == (401, "no_session")
    assert answer.fields == problem_fields(answer.body, (b"www-authenticate", b"Cookie"))
    assert core.calls == []


async def test_the_session_is_checked_before_the_body_is_framed() -> None:
    proxy, _, _, _ = proxy_with(unreachable)
    answer = await call(proxy, "POST", "/base/api/v1/files", {"Content-Length": "999999"})
    assert answer.code == "no_session"  # not payload_too_large: a stranger learns nothing of the limit


@pytest.mark.parametrize(
    ("length", "status", "code"), [("x", 400, "bad_request"), ("2049", 413, "payload_too_large")]
)
async def test_a_bad_or_too_large_length_is_refused_unread(length: str, status: int, code: str) -> None:
    proxy, gate, core, _ = proxy_with(unreachable)
    browser = Browser(then_disconnect=False)
    answer = await call_scope(
        proxy, http_scope("POST", "/base/api/v1/files", {**SESSION, "Content-Length": length}), browser
    )
    assert (answer.status, answer.code, gate.authorized, core.calls) == (status, code, 1, [])
    assert browser.received == 0
    assert answer.fields == problem_fields(answer.body)


async def test_a_fresh_request_id_replaces_a_hostile_one_everywhere() -> None:
    proxy, _, core, _ = proxy_with(lambda request, upload: small())
    answer = await call(proxy, "GET", "/base/api/v1/me", {"Cookie": "session=s1", "X-Request-ID": "a b"})
    rid = answer.headers["x-request-id"]
    assert rid != "a b" and len(rid) == 32
    assert ("x-request-id", rid) in core.calls[0][0].fields


# --- the call and the answer ------------------------------------------------------------------------------


async def test_the_core_gets_the_allow_listed_request_with_the_sessions_token() -> None:
    proxy, _, core, _ = proxy_with(lambda request, upload: small())
    await call_scope(
        proxy,
        http_scope(
            "GET",
            "/base/api/v1/projects",
            {
                **SESSION,
                "Accept": "application/json",
                "Authorization": "Bearer browser",
                "X-CSRF": "1",
                "X-Forwarded-For": "6.6.6.6",
                "Connection": "keep-alive, Accept",
            },
            query=b"limit=5",
        ),
    )
    request, upload = core.calls[0]
    assert (request.method, str(request.url), upload) == ("GET", "http://core:8001/v1/projects?limit=5", None)
    assert request.fields == [
        ("authorization", "Bearer tok-s1"),
        ("x-forwarded-for", "203.0.113.5"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "bff.test"),
        ("x-request-id", "rid-1"),
        ("accept-encoding", "identity"),
    ]  # Accept was named in Connection: hop-by-hop


async def test_a_small_answer_is_sent_whole_with_the_browsers_fields() -> None:
    answer_fields = [
        (b"Content-Type", b"application/json"),
        (b"Set-Cookie", b"x=1"),
        (b"Location", b"/v1/p/1"),
    ]
    proxy, _, _, streams = proxy_with(lambda request, upload: small(201, answer_fields, b"{}"))
    answer = await call(proxy, "GET", "/base/api/v1/p", SESSION)
    assert (answer.status, answer.body) == (201, b"{}")
    assert answer.fields == [
        (b"content-type", b"application/json"),
        (b"location", b"/base/api/v1/p/1"),
        (b"vary", b"Cookie"),
        (b"cache-control", b"no-store"),
        (b"x-request-id", b"rid-1"),
    ]
    assert len(answer.messages) == 2 and len(streams) == 0


async def test_an_upload_is_streamed_up_and_its_length_forwarded() -> None:
    proxy, _, core, _ = proxy_with(lambda request, upload: small(204))
    browser = Browser([{"type": "http.request", "body": b"abc", "more_body": False}])
    answer = await call_scope(
        proxy, http_scope("PUT", "/base/api/v1/f", {**SESSION, "Content-Length": "3"}), browser
    )
    request, upload = core.calls[0]
    assert answer.status == 204
    assert ("content-length", "3") in request.fields
    assert upload is not None and upload.finished


# --- the replay after 401 invalid_token --------------------------------------------------------------------


async def test_a_401_invalid_token_is_refreshed_and_replayed_once() -> None:
    first, second = small(401, CHALLENGE), small(200, body=b"ok")
    answers = iter([first, second])
    proxy, gate, core, _ = proxy_with(lambda request, upload: next(answers))
    answer = await call(proxy, "GET", "/base/api/v1/me", SESSION)
    assert (answer.status, answer.body, gate.refreshed) == (200, b"ok", ["s1"])
    assert [request.fields[0] for request, _ in core.calls] == [
        ("authorization", "Bearer tok-s1"),
        ("authorization", "Bearer tok-s1-r1"),
    ]
    assert core.calls[0][0].fields[1:] == core.calls[1][0].fields[1:]
    # The refused answer's connection goes back to the pool; the one sent is closed when done.
    assert first.response.released and second.response.closed  # type: ignore[attr-defined]


async def test_a_401_after_an_upload_is_passed_through_once_refreshed() -> None:
    proxy, gate, core, _ = proxy_with(lambda request, upload: small(401, CHALLENGE, b"{}"))
    browser = Browser([{"type": "http.request", "body": b"abc", "more_body": False}])
    answer = await call_scope(
        proxy, http_scope("POST", "/base/api/v1/f", {**SESSION, "Content-Length": "3"}), browser
    )
    assert (answer.status, gate.refreshed, len(core.calls)) == (401, ["s1"], 1)
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_refresh_that_fails_is_the_gates_problem() -> None:
    first = small(401, CHALLENGE)
    proxy, _, core, _ = proxy_with(lambda request, upload: first)
    answer = await call(
        proxy, "GET", "/base/api/v1/me", {"Cookie": "session=revoked", "X-Request-ID": "rid-1"}
    )
    assert (answer.status, answer.code, len(core.calls)) == (401, "session_revoked", 1)
    assert answer.fields == problem_fields(answer.body)
    assert first.response.closed  # type: ignore[attr-defined]


async def test_another_401_is_passed_through_untouched() -> None:
    proxy, gate, _, _ = proxy_with(lambda request, upload: small(401, [(b"WWW-Authenticate", b"Bearer")]))
    assert (await call(proxy, "GET", "/base/api/v1/me", SESSION)).status == 401
    assert gate.refreshed == []


# --- failures ----------------------------------------------------------------------------------------------


async def test_a_core_failure_is_answered_as_its_problem() -> None:
    def fail(request: UpstreamRequest, upload: Upload | None) -> Answer:
        raise ProblemError(504, "upstream_timeout", "the API did not answer in time")

    proxy, _, _, _ = proxy_with(fail)
    answer = await call(proxy, "GET", "/base/api/v1/me", SESSION)
    assert (answer.status, answer.code) == (504, "upstream_timeout")
    assert answer.fields == problem_fields(answer.body)


async def test_nothing_is_sent_once_the_browser_is_gone() -> None:
    def gone(request: UpstreamRequest, upload: Upload | None) -> Answer:
        raise BrowserGone

    proxy, _, _, _ = proxy_with(gone)
    assert (await call(proxy, "GET", "/base/api/v1/me", SESSION)).messages == []


async def test_other_scopes_are_ignored() -> None:
    proxy, gate, _, _ = proxy_with(unreachable)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    await proxy({"type": "websocket", "path": "/base/api/x", "headers": []}, Browser().receive, send)  # type: ignore[arg-type]
    assert (sent, gate.authorized) == ([], 0)


# --- streams -----------------------------------------------------------------------------------------------


async def test_a_stream_is_admitted_for_as_long_as_it_runs_and_ends_with_its_session() -> None:
    response = FakeResponse(200, [(b"content-type", b"text/event-stream")], [b"data: 1\n\n"], hang=True)
    proxy, _, _, streams = proxy_with(lambda request, upload: streaming(response))
    browser = Browser(then_disconnect=False)
    async with anyio.create_task_group() as group:
        results: list[Any] = []

        async def run() -> None:
            results.append(
                await call_scope(proxy, http_scope("GET", "/base/api/v1/events", SESSION), browser)
            )

        group.start_soon(run)
        await anyio.sleep(0.01)
        assert (len(streams), streams.user_streams(7)) == (1, 1)
        assert streams.close_session("s1") == 1
    answer = results[0]
    assert answer.body == b"data: 1\n\n" and answer.messages[-1]["more_body"] is False
    assert len(streams) == 0 and response.closed


@pytest.mark.parametrize(
    ("cap", "status"), [("LATCHKEY_MAX_STREAMS_PER_SESSION", 429), ("LATCHKEY_MAX_STREAMS_PER_USER", 429)]
)
async def test_a_stream_over_a_cap_is_refused_with_retry_after(cap: str, status: int) -> None:
    response = FakeResponse(200, chunks=[b"x"])
    proxy, _, _, streams = proxy_with(lambda request, upload: streaming(response), **{cap: "1"})
    held = streams.reserve("s1", 7)
    answer = await call(proxy, "GET", "/base/api/v1/download", SESSION)
    assert (answer.status, answer.code) == (status, "too_many_streams")
    assert answer.fields == problem_fields(answer.body, (b"retry-after", b"5"))
    assert response.closed and len(streams) == 1
    streams.release(held)


async def test_a_small_answer_never_takes_a_stream_slot() -> None:
    proxy, _, _, streams = proxy_with(
        lambda request, upload: small(200, body=b"x"), LATCHKEY_MAX_STREAMS_PER_SESSION="1"
    )
    held = streams.reserve("s1", 7)
    assert (await call(proxy, "GET", "/base/api/v1/me", SESSION)).status == 200
    streams.release(held)


async def test_startup_and_shutdown_open_and_close_the_core_connection() -> None:
    proxy, _, core, _ = proxy_with(unreachable)
    await proxy.startup()
    assert core.started
    await proxy.shutdown()
    assert not core.started
