"""Raw ASGI calls for the BFF's unit tests: a scope built from a method, a target and fields, a `receive`
fed from a list of messages, and the answer collected from `send`. No server, no socket."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio

from latchkey.settings import BffSettings, load_bff_settings
from tests.support import new_key

OWN = "http://bff.test"
LISTED = "https://app.example.test"


def bff_settings(**env: str) -> BffSettings:
    base = {
        "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "a" * 49,
        "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
        "LATCHKEY_ALLOWED_ORIGINS": LISTED,
    }
    return load_bff_settings({**base, **env})


@dataclass
class Answer:
    status: int
    fields: list[tuple[bytes, bytes]]
    body: bytes
    messages: list[dict[str, Any]]

    @property
    def headers(self) -> dict[str, str]:
        """Fields by lower-case name, repeated ones joined with `, `."""
        joined: dict[str, str] = {}
        for name, value in self.fields:
            key = name.decode().lower()
            joined[key] = f"{joined[key]}, {value.decode()}" if key in joined else value.decode()
        return joined

    @property
    def code(self) -> str:
        return str(json.loads(self.body)["code"])


@dataclass
class Browser:
    """The browser's side of one request: the body messages it sends, then (optionally) a disconnect."""

    body: Iterable[dict[str, Any]] = ()
    then_disconnect: bool = True
    received: int = 0
    _queue: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue = list(self.body) or [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        if self._queue:
            return self._queue.pop(0)
        if self.then_disconnect:
            return {"type": "http.disconnect"}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


def http_scope(
    method: str,
    path: str,
    headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None,
    *,
    query: bytes = b"",
    raw_path: bytes | None = None,
    host: bytes = b"bff.test",
) -> dict[str, Any]:
    if isinstance(headers, list):
        raw_headers = [(b"host", host), *headers]
    else:
        raw_headers = [(b"host", host)] + [
            (name.lower().encode(), value.encode()) for name, value in (headers or {}).items()
        ]
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": query,
        "headers": raw_headers,
        "scheme": "http",
        "client": ("203.0.113.5", 5000),
    }


async def call_scope(app: Any, scope: dict[str, Any], browser: Browser | None = None) -> Answer:
    browser = browser or Browser()
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, browser.receive, send)
    if not messages:
        return Answer(0, [], b"", messages)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return Answer(start["status"], list(start["headers"]), body, messages)


async def call(
    app: Any,
    method: str,
    path: str,
    headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None,
    **scope: Any,
) -> Answer:
    return await call_scope(app, http_scope(method, path, headers, **scope))
