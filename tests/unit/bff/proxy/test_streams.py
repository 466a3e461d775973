"""`proxy/streams.py` alone: the stream caps, slots, and ending a session's streams."""

from __future__ import annotations

import anyio
import pytest

from latchkey.bff.proxy.streams import StreamRegistry, TooManyStreams, stream_cap


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


@pytest.mark.parametrize(("limit", "status"), [("session", 429), ("user", 429), ("process", 503)])
def test_a_refused_stream_is_a_problem_with_retry_after(limit: str, status: int) -> None:
    refused = TooManyStreams(limit)
    assert (refused.status, refused.code, refused.limit) == (status, "too_many_streams", limit)
    assert refused.detail == f"too many open streams for this {limit}; close one or retry later"
    assert refused.headers == {"Retry-After": "5"}


async def test_no_caps_admit_any_number_and_streams_without_a_user_are_not_counted_per_user() -> None:
    registry = StreamRegistry()
    slots = [registry.reserve("s") for _ in range(50)]
    assert (len(registry), registry.user_streams(None)) == (50, 0)
    registry.limit(per_session=50)
    with pytest.raises(TooManyStreams):
        registry.reserve("s")
    registry.limit(per_user=1)
    registry.reserve("s", None)  # no user: only the (now lifted) session and process caps apply
    for slot in slots:
        registry.release(slot)
    assert len(registry) == 1


async def test_a_refused_stream_registers_nothing() -> None:
    registry = StreamRegistry(per_user=1)
    registry.reserve("a", 1)
    with pytest.raises(TooManyStreams), registry.track("b", 1):
        pass
    assert (len(registry), registry.user_streams(1), registry.close_session("b")) == (1, 1, 0)


async def test_a_slot_leaving_its_block_frees_itself_once_even_if_released_before() -> None:
    registry = StreamRegistry(total=1)
    slot = registry.reserve("a", 1)
    with slot as scope:
        assert isinstance(scope, anyio.CancelScope)
        registry.release(slot)
        registry.reserve("b", 2)  # the freed slot is taken at once
    assert (len(registry), registry.user_streams(2)) == (1, 1)
