"""Both servers exclude their start-up heap from the cyclic garbage collector once started
(`latchkey/runtime.py`): full collections under load then walk only what requests created."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from latchkey.bff.app import create_app as create_bff
from latchkey.core.app import create_app as create_core
from latchkey.runtime import freeze_startup_heap
from latchkey.settings import load_bff_settings, load_core_settings
from tests.support import new_key


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()  # the test process keeps collecting as usual


async def lifespan(app: Any, during: Any) -> None:
    """Drive an ASGI app through start-up, run `during()`, then shut it down."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    assert (await asyncio.wait_for(outbox.get(), 10))["type"] == "lifespan.startup.complete"
    during()
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await asyncio.wait_for(outbox.get(), 10))["type"] == "lifespan.shutdown.complete"
    await task


def test_freezing_moves_the_heap_out_of_collections(unfrozen: None) -> None:
    survivor = [object() for _ in range(10)]
    freeze_startup_heap()
    assert gc.get_freeze_count() > 1000
    # Objects made afterwards are still tracked and collected as usual.
    cycle: list[Any] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
    assert survivor


# Litestar 2.25 announces 3.0 changes while building handlers in-process (the served apps only log them).
LITESTAR_3_NOTICES = pytest.mark.filterwarnings(
    "ignore::litestar.exceptions.base_exceptions.LitestarDeprecationWarning"
)


@LITESTAR_3_NOTICES
async def test_the_core_freezes_its_heap_once_started(unfrozen: None, tmp_path: Path) -> None:
    settings = load_core_settings(
        {
            "LATCHKEY_CORE_SECRET_KEY": new_key(),
            "LATCHKEY_CORE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'core.db'}",
            "LATCHKEY_CORE_FILES_DIR": str(tmp_path / "files"),
        }
    )
    app = create_core(settings)
    assert gc.get_freeze_count() == 0
    await lifespan(app, _assert_frozen)


@LITESTAR_3_NOTICES
async def test_the_bff_freezes_its_heap_once_started(unfrozen: None, tmp_path: Path) -> None:
    settings = load_bff_settings(
        {
            "LATCHKEY_ENV": "dev",
            "LATCHKEY_COOKIE_SECURE": "false",
            "LATCHKEY_BFF_CLIENT_SECRET": "lks_" + "A1" * 24 + "B",
            "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
            "LATCHKEY_BFF_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bff.db'}",
        }
    )
    app = create_bff(settings)
    assert gc.get_freeze_count() == 0
    await lifespan(app, _assert_frozen)


def _assert_frozen() -> None:
    assert gc.get_freeze_count() > 1000
