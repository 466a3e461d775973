"""The broadcast without Redis (the process alone), its namespaces and its cache lifetimes. Delivery
across processes through a real Redis, outages and reconnection: tests/test_broadcast.py."""

from __future__ import annotations

from typing import Any

import pytest

from latchkey.broadcast import LOCAL_TTL, TRUSTED_TTL, Broadcast, namespace, redact


def test_without_redis_a_message_reaches_this_process_at_once_and_nothing_is_queued() -> None:
    broadcast = Broadcast(None, app="core", namespace="n")
    heard: list[dict[str, Any]] = []
    broadcast.subscribe("topic", heard.append)
    broadcast.subscribe("other", lambda _: pytest.fail("another topic's handler ran"))
    broadcast.publish("topic", {"user": 1})
    assert heard == [{"user": 1}]
    broadcast.publish("topic", {"user": 2}, local=False)
    assert heard == [{"user": 1}]
    assert broadcast.state() == "off"
    assert not broadcast._outbox


def test_a_failing_handler_does_not_keep_the_message_from_the_others() -> None:
    broadcast = Broadcast(None, app="bff", namespace="n")
    heard: list[dict[str, Any]] = []

    def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    broadcast.subscribe("t", broken)
    broadcast.subscribe("t", heard.append)
    broadcast.publish("t", {"session": "x"})
    assert heard == [{"session": "x"}]


def test_caches_trust_themselves_long_only_while_redis_carries_invalidations() -> None:
    assert Broadcast(None, app="core", namespace="n").cache_ttl() == LOCAL_TTL == 1.0
    configured = Broadcast("redis://127.0.0.1:1/0", app="core", namespace="n")
    changes: list[str] = []
    configured.on_change(lambda: changes.append(configured.state()))
    assert configured.state() == "down"
    assert configured.cache_ttl() == LOCAL_TTL
    configured._set_connected(True)
    assert configured.cache_ttl() == TRUSTED_TTL
    configured._set_connected(True)  # no change, no call
    configured._set_connected(False)
    assert changes == ["up", "down"]
    assert configured.cache_ttl() == LOCAL_TTL


def test_while_redis_is_configured_messages_queue_for_it() -> None:
    broadcast = Broadcast("redis://127.0.0.1:1/0", app="core", namespace="n")
    broadcast.publish("t", {"user": 7})
    assert len(broadcast._outbox) == 1
    _, topic, payload = broadcast._outbox[0]
    assert topic == "t"
    assert b'"message":{"user":7}' in payload and broadcast.origin.encode() in payload


def test_a_deployment_namespace_ignores_the_password_and_tells_databases_apart() -> None:
    one = namespace("postgresql+asyncpg://app:secret@db.internal:5432/latchkey")
    assert one == namespace("postgresql+asyncpg://app:rotated@db.internal:5432/latchkey")
    assert one != namespace("postgresql+asyncpg://app:secret@db.internal:5432/other")
    assert one != namespace("sqlite+aiosqlite:///var/core.db")
    assert len(one) == 16 and "secret" not in one


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://cache:6379/0"),
        ("rediss://user:hunter2@cache/1", "rediss://cache/1"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
    ],
)
def test_a_logged_redis_url_never_shows_its_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_malformed_notifications_are_ignored_and_our_own_echo_is_not_delivered_twice() -> None:
    broadcast = Broadcast("redis://127.0.0.1:1/0", app="core", namespace="n")
    heard: list[dict[str, Any]] = []
    broadcast.subscribe("t", heard.append)
    channel = b"latchkey:core:n:t"
    broadcast._received(channel, b"not json")
    broadcast._received(channel, b'{"origin": 1}')
    broadcast._received(channel, b'{"origin": "' + broadcast.origin.encode() + b'", "message": {"a": 1}}')
    assert heard == []
    broadcast._received(channel, b'{"origin": "elsewhere", "message": {"a": 2}}')
    assert heard == [{"a": 2}]
