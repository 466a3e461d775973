"""The proxy's pure steps, alone: the raw-target checks, request ids, and the stream registry's caps."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.proxy import (
    StreamRegistry,
    TooManyStreams,
    _valid_request_id,
    checked_path,
    checked_query,
    stream_cap,
)


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
    assert _valid_request_id(value) is valid


def test_streams_may_hold_three_quarters_of_the_pool() -> None:
    assert [stream_cap(size) for size in (1, 4, 64, 4096)] == [1, 3, 48, 3072]


async def test_streams_are_capped_per_session_then_per_user_then_per_process() -> None:
    registry = StreamRegistry(per_session=2, per_user=3, total=4)
    a1, a2 = registry.reserve("a", 1), registry.reserve("a", 1)
    with pytest.raises(TooManyStreams) as refused:
        registry.reserve("a", 1)
    assert refused.value.limit == "session"
    b1 = registry.reserve("b", 1)  # the same user's second session
    with pytest.raises(TooManyStreams) as refused:
        registry.reserve("b", 1)
    assert refused.value.limit == "user"
    c1 = registry.reserve("c", 2)
    with pytest.raises(TooManyStreams) as refused:
        registry.reserve("d", 3)
    assert refused.value.limit == "process"
    assert (len(registry), registry.user_streams(1), registry.user_streams(2)) == (4, 3, 1)
    # Releasing frees exactly one slot, once.
    registry.release(a1)
    registry.release(a1)
    assert (len(registry), registry.user_streams(1)) == (3, 2)
    registry.reserve("d", 3)
    for slot in (a2, b1, c1):
        registry.release(slot)
    assert registry.user_streams(1) == 0


async def test_ending_a_session_cancels_its_streams_and_their_slots_free_as_they_stop() -> None:
    registry = StreamRegistry(per_session=8, per_user=16, total=100)
    stopped = []

    async def pump(session: str) -> None:
        with registry.reserve(session, 7) as scope, scope:
            await anyio.sleep(30)
        stopped.append(session)

    async with anyio.create_task_group() as group:
        for session in ("a", "a", "b"):
            group.start_soon(pump, session)
        await anyio.sleep(0.01)
        assert len(registry) == 3
        assert registry.close_session("a") == 2
        await anyio.sleep(0.01)
        assert sorted(stopped) == ["a", "a"]
        assert (len(registry), registry.user_streams(7)) == (1, 1)
        assert registry.close_session("nobody") == 0
        registry.close_session("b")
    assert len(registry) == 0
