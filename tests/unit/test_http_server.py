"""The bounded-head protocol (`latchkey/http_server.py`) driven byte by byte through a fake transport: no
socket, no server. What it refuses, when, and that it never buffers past its allowance."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from uvicorn.server import ServerState

from latchkey.http_server import MAX_HEAD_BYTES, BoundedHeadProtocol, ServerConfig, raw_problem


@dataclass
class FakeTransport:
    """What the protocol writes, and whether it closed the connection."""

    written: bytearray = field(default_factory=bytearray)
    closed: bool = False
    reading: bool = True

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("203.0.113.9", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_write_buffer_limits(self, *_: Any, **__: Any) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def connection(**limits: Any) -> tuple[BoundedHeadProtocol, FakeTransport]:
    config = ServerConfig(hello, lifespan="off", log_level="critical", **limits)
    config.load()
    protocol = BoundedHeadProtocol(config, ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def status_and_code(written: bytes) -> tuple[int, str | None]:
    head, _, body = bytes(written).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, (json.loads(body)["code"] if b"problem+json" in head else None)


async def test_an_honest_request_is_served() -> None:
    protocol, transport = connection()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 OK")
    assert not transport.closed


async def test_a_huge_header_is_refused_after_the_allowance_without_buffering_more() -> None:
    protocol, transport = connection()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    chunk = b"a" * 65536
    fed = 0
    while not transport.closed and fed < 64 * 1024 * 1024:
        protocol.data_received(chunk)
        fed += len(chunk)
    assert status_and_code(transport.written) == (431, "headers_too_large")
    assert transport.closed
    assert fed <= MAX_HEAD_BYTES + len(chunk)  # it stopped at the first chunk past the bound
    assert protocol._head_bytes <= MAX_HEAD_BYTES


async def test_a_long_target_is_414() -> None:
    protocol, transport = connection()
    protocol.data_received(b"GET /" + b"a" * (MAX_HEAD_BYTES + 10) + b" HTTP/1.1\r\n\r\n")
    assert status_and_code(transport.written) == (414, "uri_too_long")


async def test_too_many_fields_are_431() -> None:
    protocol, transport = connection(max_headers=10)
    protocol.data_received(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(11)) + b"\r\n")
    assert status_and_code(transport.written) == (431, "headers_too_large")
    assert transport.closed


async def test_a_smaller_byte_bound_is_honoured_and_a_body_does_not_count() -> None:
    protocol, transport = connection(max_head_bytes=200)
    body = b"x" * 5000
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + body)
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 OK")
    protocol2, transport2 = connection(max_head_bytes=200)
    protocol2.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n")
    assert status_and_code(transport2.written) == (431, "headers_too_large")


async def test_pipelined_heads_are_each_counted_afresh() -> None:
    protocol, transport = connection(max_head_bytes=300)
    one = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n"
    protocol.data_received(one * 3)
    for _ in range(20):
        await settle()
    assert bytes(transport.written).count(b"HTTP/1.1 200 OK") == 3
    assert not transport.closed


async def test_a_slow_head_times_out_with_408_and_a_silent_one_is_closed() -> None:
    protocol, transport = connection(header_timeout=0.05)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost")
    await asyncio.sleep(0.1)
    assert status_and_code(transport.written) == (408, "request_timeout")
    assert transport.closed
    _, silent = connection(header_timeout=0.05)
    await asyncio.sleep(0.1)
    assert silent.closed
    assert bytes(silent.written) == b""


async def test_a_finished_head_stops_the_timer() -> None:
    protocol, transport = connection(header_timeout=0.05)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.1)
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 OK")
    assert b"408" not in bytes(transport.written)


async def test_past_the_connection_bound_a_request_is_503_problem() -> None:
    protocol, transport = connection(limit_concurrency=1)
    protocol.connections.add(object())  # type: ignore[arg-type]  # another connection already held
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_and_code(transport.written) == (503, "server_busy")
    assert b"retry-after: 1" in bytes(transport.written)


def test_raw_problems_are_complete_http_answers() -> None:
    answer = raw_problem(431, "headers_too_large", "too big")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
    assert f"content-length: {len(body)}".encode() in head
    assert b"connection: close" in head
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "code": "headers_too_large",
        "detail": "too big",
    }


@pytest.mark.parametrize(
    "garbage", [b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"G\rET / HTTP/1.1\r\n\r\n"]
)
async def test_garbage_is_a_plain_400(garbage: bytes) -> None:
    protocol, transport = connection()
    protocol.data_received(garbage)
    assert bytes(transport.written).startswith(b"HTTP/1.1 400 ")
    assert transport.closed
