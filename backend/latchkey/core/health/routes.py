"""`GET /healthz` (the process answers) and `GET /readyz` (the database answers; Redis's state beside)."""

from __future__ import annotations

from litestar import get
from sqlalchemy import text

from latchkey.core.openapi import problem_responses
from latchkey.core.security.auth import PUBLIC
from latchkey.core.state import Context
from latchkey.problems import ProblemError


@get("/healthz", opt=PUBLIC, include_in_schema=True, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", opt=PUBLIC, responses=problem_responses(503, s503="`database_unavailable`"))
async def readyz(ctx: Context) -> dict[str, str]:
    """200 while the database answers. `redis` says whether notifications reach the other processes
    (`up`), cannot now (`down`: the core keeps answering, SPEC §8) or are not configured (`off`)."""
    try:
        async with ctx.db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ProblemError(503, "database_unavailable", "the database is not answering") from exc
    return {"status": "ready", "redis": ctx.broadcast.state()}
