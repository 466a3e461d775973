"""Process-level tuning shared by the core and the BFF servers.

`freeze_startup_heap`: CPython's cyclic garbage collector periodically walks every tracked object of the
oldest generation. A server's heap after start-up (modules, the framework's routing tables, SQLAlchemy's
mappers, the OpenAPI schema: hundreds of thousands of objects) never becomes garbage, yet at thousands of
requests a second each full collection walked it again: 27 to 52 ms pauses about every 1.5 s in the BFF,
which were its whole p99 tail (docs/performance-tuning.md). Freezing moves that heap to a permanent
generation the collector ignores; objects created afterwards (per request, per session) are collected as
before, so nothing leaks that would not leak anyway.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect what start-up left as garbage, then exclude the surviving heap from later collections.

    Call once, at the end of the application's start-up, in each worker process.
    """
    gc.collect()
    gc.freeze()
