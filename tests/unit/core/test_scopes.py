"""The scope check (`latchkey/core/security/scopes.py`): the catalogue, what each role allows, and what a
token's stored scopes grant."""

from __future__ import annotations

import pytest

from latchkey.core.security.scopes import (
    ROLE_SCOPES,
    SCOPES,
    check_requested,
    granted,
    require_scope,
    role_scopes,
)
from latchkey.problems import ProblemError


def test_roles_allow_scopes_in_catalogue_order() -> None:
    assert role_scopes("admin") == list(SCOPES)
    assert role_scopes("member") == ["profile", "projects:read", "projects:write"]
    assert role_scopes("nobody") == []
    assert all(ROLE_SCOPES[role] <= set(SCOPES) for role in ROLE_SCOPES)


def test_a_token_never_grants_more_than_the_role_allows_now() -> None:
    assert granted("profile admin", "member") == {"profile"}
    assert granted("profile admin", "admin") == {"profile", "admin"}
    assert granted("profile", "retired-role") == frozenset()
    assert granted("", "admin") == frozenset()


def test_a_missing_scope_is_403_with_the_rfc_6750_challenge() -> None:
    require_scope(frozenset({"profile"}), "profile")
    with pytest.raises(ProblemError) as caught:
        require_scope(frozenset({"profile"}), "admin")
    assert (caught.value.status, caught.value.code) == (403, "insufficient_scope")
    assert caught.value.headers["WWW-Authenticate"] == (
        'Bearer realm="latchkey", error="insufficient_scope", scope="admin"'
    )


@pytest.mark.parametrize("asked", [[], ["nope"], ["profile", "profile"]])
def test_requested_scopes_are_known_present_and_distinct(asked: list[str]) -> None:
    with pytest.raises(ProblemError) as caught:
        check_requested(asked)
    assert (caught.value.status, caught.value.code) == (422, "invalid_scopes")


def test_scopes_beyond_the_role_may_be_requested() -> None:
    assert check_requested(["admin", "profile"]) == ("admin", "profile")
