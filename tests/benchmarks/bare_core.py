"""The bare app of SPEC §9's core cost: `GET /v1/me` on Litestar, the bearer token checked in a dict.

A benchmark fixture, not product code. One Litestar route that looks the `Authorization: Bearer …` token up
in a dict and answers the JSON the core answers for that token's user (401 otherwise): what a Litestar
app on this machine does at the least for an authenticated call, so that the core's own work (token
lookup in the database, its guards and dependencies, its middleware) is what the ratio measures.

Served as the core is (`latchkey core`): the same uvicorn configuration through `latchkey.cli`'s server
function, the same HTTP protocol class (`BoundedHeadProtocol`), one worker, the same log level, and the
same start-up heap freeze. The tokens and answers come from BENCH_ANSWERS, a JSON object of token → body:

    BENCH_ANSWERS='{"lkp_…": {"id": 1, …}}' python -m tests.benchmarks.bare_core --port 8002
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request, get
from litestar.exceptions import NotAuthorizedException

from latchkey.runtime import freeze_startup_heap

CORE_PROTOCOL = "latchkey.http_server:BoundedHeadProtocol"  # the class `latchkey core` serves with


def create_app(answers: Mapping[str, Mapping[str, Any]]) -> Litestar:
    """The bare app answering `answers[token]` to `GET /v1/me` with `Authorization: Bearer <token>`."""
    known = dict(answers)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        freeze_startup_heap()
        yield

    @get("/v1/me")
    async def me(request: Request[Any, Any, Any]) -> Mapping[str, Any]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = known.get(token) if scheme.lower() == "bearer" else None
        if found is None:
            raise NotAuthorizedException("the token is malformed, expired or revoked")
        return found

    return Litestar(route_handlers=[me], lifespan=[lifespan], debug=False, openapi_config=None)


def app() -> Litestar:
    """The uvicorn factory: the answers come from BENCH_ANSWERS."""
    return create_app(json.loads(os.environ["BENCH_ANSWERS"]))


@dataclass(frozen=True)
class _Limits:
    """What `latchkey core` takes from its settings for the server: the core's defaults."""

    log_level: str
    header_timeout: float = 10.0
    max_connections: int = 1000
    redis_url: str | None = None  # one worker: nothing to share


def main(argv: list[str] | None = None) -> int:
    from uvicorn.importer import import_from_string

    from latchkey.cli import _serve  # the very server set-up of `latchkey core`, not a copy of it

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default=os.environ.get("LATCHKEY_LOG_LEVEL", "info").lower())
    args = parser.parse_args(argv)
    limits = _Limits(log_level=args.log_level)
    protocol = import_from_string(CORE_PROTOCOL)
    return _serve("tests.benchmarks.bare_core:app", args.host, args.port, 1, limits, protocol)


if __name__ == "__main__":
    sys.exit(main())
