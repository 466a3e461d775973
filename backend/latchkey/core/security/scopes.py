"""The scope check: which scopes exist, which each role allows, and what a token's scopes grant.

A token's stored scopes never grant more than its user's role allows *now*: they are narrowed on every
request (`granted`), so a member's PAT asking for `admin` starts to work only if the user becomes an admin,
and an admin demoted to member loses `admin` on their next request.
"""

from __future__ import annotations

from collections.abc import Sequence

from latchkey.problems import ProblemError

SCOPES = ("profile", "projects:read", "projects:write", "admin")
ROLE_SCOPES = {
    "member": frozenset({"profile", "projects:read", "projects:write"}),
    "admin": frozenset(SCOPES),
}
# The realm every core challenge (`WWW-Authenticate: Bearer …` / `Secret …`) names.
REALM = 'realm="latchkey"'


def role_scopes(role: str) -> list[str]:
    """Every scope `role` allows, in catalogue order (an unknown role allows none)."""
    allowed = ROLE_SCOPES.get(role, frozenset())
    return [scope for scope in SCOPES if scope in allowed]


def granted(stored: str, role: str) -> frozenset[str]:
    """What a token's space-separated `stored` scopes grant a user of `role`: their intersection."""
    return frozenset(stored.split()) & ROLE_SCOPES.get(role, frozenset())


def require_scope(scopes: frozenset[str], scope: str) -> None:
    """403 `insufficient_scope` (with the RFC 6750 challenge naming `scope`) unless `scopes` hold it."""
    if scope not in scopes:
        raise ProblemError(
            403,
            "insufficient_scope",
            f"this request needs the {scope!r} scope",
            headers={"WWW-Authenticate": f'Bearer {REALM}, error="insufficient_scope", scope="{scope}"'},
        )


def check_requested(scopes: Sequence[str]) -> tuple[str, ...]:
    """Scopes asked for a new token: a non-empty list of known scopes without duplicates (422
    `invalid_scopes`). Beyond the role is allowed: `granted` narrows them on every request."""
    if not scopes:
        raise ProblemError(422, "invalid_scopes", "give at least one scope")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ProblemError(
            422, "invalid_scopes", f"unknown scopes {unknown}; known scopes are {list(SCOPES)}"
        )
    if len(set(scopes)) != len(scopes):
        raise ProblemError(422, "invalid_scopes", "a scope is listed twice")
    return tuple(scopes)
