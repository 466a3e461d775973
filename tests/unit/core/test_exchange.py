"""Which ID-token claims vouch for an email address (`core/oauth/exchange.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from latchkey.core.oauth.exchange import email_verified


@pytest.mark.parametrize("claims", [{"email_verified": True}, {"xms_edov": True}])
def test_oidcs_flag_or_entras_domain_owner_claim_vouches(claims: dict[str, Any]) -> None:
    assert email_verified(claims)


@pytest.mark.parametrize(
    "claims", [{}, {"email_verified": False}, {"email_verified": "true"}, {"xms_edov": 1}, {"xms_edov": "1"}]
)
def test_anything_else_does_not(claims: dict[str, Any]) -> None:
    assert not email_verified(claims)
