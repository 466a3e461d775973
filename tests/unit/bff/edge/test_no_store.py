"""`edge/no_store.py` alone: a `/bff` answer's Cache-Control, whatever the handler set, is `no-store`."""

from __future__ import annotations

from typing import Any

import pytest

from latchkey.bff.edge.no_store import never_cached, no_store_fields


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"cache-control", b"max-age=60")],
        [(b"Cache-Control", b"public"), (b"cache-control", b"max-age=1")],
        [(b"CACHE-CONTROL", b"no-store")],
    ],
)
def test_any_cache_control_is_replaced_by_one_no_store(headers: list[tuple[bytes, bytes]]) -> None:
    fields = no_store_fields([(b"content-type", b"application/json"), *headers])
    assert [value for name, value in fields if name.lower() == b"cache-control"] == [b"no-store"]
    assert fields[0] == (b"content-type", b"application/json")


async def test_only_the_response_start_is_rewritten() -> None:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    wrapped = never_cached(send)
    await wrapped({"type": "http.response.start", "status": 200, "headers": [(b"cache-control", b"public")]})
    body = {"type": "http.response.body", "body": b"cache-control: public", "more_body": False}
    await wrapped(body)
    assert sent[0]["headers"] == [(b"cache-control", b"no-store")]
    assert sent[1] is body
