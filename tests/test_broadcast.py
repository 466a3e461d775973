"""The broadcast through a real, private Redis (never the shared one): delivery between two ends,
namespaces, an outage (state, one log line, what is published meanwhile arrives after) and reconnection
by itself."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from latchkey.broadcast import LOCAL_TTL, TRUSTED_TTL, Broadcast
from tests.support import free_port

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def ends(redis: PrivateRedis) -> AsyncIterator[tuple[Broadcast, Broadcast]]:
    first = Broadcast(redis.url, app="core", namespace="ns")
    second = Broadcast(redis.url, app="core", namespace="ns")
    for end in (first, second):
        end.subscribe("t", lambda _: None)
    yield first, second
    await first.close()
    await second.close()


async def eventually(check: Any, timeout: float) -> float:
    """Seconds until `check()` holds; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_a_message_reaches_the_other_end_within_a_second_and_only_once_here(
    ends: tuple[Broadcast, Broadcast],
) -> None:
    first, second = ends
    heard_first: list[dict[str, Any]] = []
    heard_second: list[dict[str, Any]] = []
    first.subscribe("events", heard_first.append)
    second.subscribe("events", heard_second.append)
    await first.start()
    await second.start()
    assert await first.wait_connected(5) and await second.wait_connected(5)
    assert first.state() == "up" and first.cache_ttl() == TRUSTED_TTL

    first.publish("events", {"user": 1, "n": 1})
    assert heard_first == [{"user": 1, "n": 1}]  # at once, in the caller's task
    assert await eventually(lambda: heard_second == [{"user": 1, "n": 1}], 1.0) < 1.0
    await asyncio.sleep(0.2)
    assert heard_first == [{"user": 1, "n": 1}]  # its own echo is not delivered again

    for n in range(2, 50):
        second.publish("events", {"user": 2, "n": n})
    await eventually(lambda: len(heard_first) == 49, 1.0)
    assert [message["n"] for message in heard_first[1:]] == list(range(2, 50))  # in order


async def test_namespaces_and_apps_keep_deployments_apart(redis: PrivateRedis) -> None:
    ends = [
        Broadcast(redis.url, app="core", namespace="a"),
        Broadcast(redis.url, app="core", namespace="b"),
        Broadcast(redis.url, app="bff", namespace="a"),
        Broadcast(redis.url, app="core", namespace="a"),
    ]
    heard: list[list[dict[str, Any]]] = [[] for _ in ends]
    for end, bucket in zip(ends, heard, strict=True):
        end.subscribe("t", bucket.append)
        await end.start()
    try:
        for end in ends:
            assert await end.wait_connected(5)
        ends[0].publish("t", {"x": 1})
        await eventually(lambda: heard[3] == [{"x": 1}], 1.0)
        await asyncio.sleep(0.3)
        assert heard[1] == [] and heard[2] == []
    finally:
        for end in ends:
            await end.close()


async def test_an_outage_is_one_log_line_and_what_is_published_meanwhile_arrives_after(
    redis: PrivateRedis, ends: tuple[Broadcast, Broadcast], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = ends
    heard: list[dict[str, Any]] = []
    second.subscribe("revoked", heard.append)
    first.subscribe("revoked", lambda _: None)
    flushes: list[str] = []
    second.on_change(lambda: flushes.append(second.state()))
    await first.start()
    await second.start()
    assert await first.wait_connected(5) and await second.wait_connected(5)
    flushes.clear()

    caplog.set_level(logging.WARNING, logger="latchkey.broadcast")
    redis.kill()
    await eventually(lambda: first.state() == "down" and second.state() == "down", 3.0)
    assert second.cache_ttl() == LOCAL_TTL
    assert flushes == ["down"]
    first.publish("revoked", {"user": 9})  # Redis is down: queued, and delivered here at once
    await asyncio.sleep(1.5)  # several reconnection attempts
    outage_lines = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(outage_lines) == 2  # one per end, not one per attempt
    assert all("hunter" not in r.getMessage() for r in caplog.records)

    redis.start()
    await eventually(lambda: first.state() == "up" and second.state() == "up", 5.0)
    assert flushes == ["down", "up"]
    await eventually(lambda: heard == [{"user": 9}], 2.0)
    assert any("Redis is back" in r.getMessage() for r in caplog.records)
    first.publish("revoked", {"user": 10})
    await eventually(lambda: heard == [{"user": 9}, {"user": 10}], 1.0)


async def test_an_unreachable_redis_at_start_up_delays_nothing_and_is_reached_later(tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path)  # not started yet
    end = Broadcast(redis.url, app="bff", namespace="n")
    end.subscribe("t", lambda _: None)
    started = time.monotonic()
    await end.start()
    assert time.monotonic() - started < 0.1
    try:
        await asyncio.sleep(0.3)
        assert end.state() == "down"
        redis.start()
        await eventually(lambda: end.state() == "up", 5.0)
    finally:
        await end.close()
        redis.kill()
