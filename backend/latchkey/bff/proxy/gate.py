"""The proxy's port to the session side: what it asks of a session (`SessionGate`) and what it gets back
(`Grant`). The BFF's session service implements it; the proxy's tests plug in a stand-in."""

from __future__ import annotations

from typing import Protocol, TypeVar

from litestar.types import Scope


class Grant(Protocol):
    """What a valid session gives the proxy."""

    @property
    def access_token(self) -> str: ...

    @property
    def session_key(self) -> str:
        """A stable id of the session (its open streams are tracked under it)."""
        ...

    @property
    def user_id(self) -> int:
        """The session's user (streams are also capped per user)."""
        ...


GrantT = TypeVar("GrantT", bound=Grant)


class SessionGate(Protocol[GrantT]):
    """The session side of the proxy (the BFF's session manager), generic in its grant type so an
    implementation may take back exactly the grants it hands out."""

    async def authorize(self, scope: Scope) -> GrantT:
        """The grant of the request's session; raises ProblemError (401 no_session, …) without one."""
        ...

    async def after_upstream_401(self, grant: GrantT) -> GrantT:
        """A refreshed grant after the core answered 401 invalid_token; ProblemError when it cannot."""
        ...
