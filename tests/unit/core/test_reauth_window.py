"""The re-authentication window alone: inside it passes, at its edge passes, past it or without a password
login (a PAT) it is 403 `reauth_required`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from latchkey.core.security.reauth import require_recent_login
from latchkey.problems import ProblemError

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("ago", [0, 1, 299, 300])
def test_a_login_within_the_window_passes(ago: int) -> None:
    require_recent_login(NOW - timedelta(seconds=ago), NOW, 300)


@pytest.mark.parametrize(
    "auth_time", [None, NOW - timedelta(seconds=301), NOW - timedelta(days=400)], ids=["pat", "301s", "old"]
)
def test_no_recent_login_is_reauth_required(auth_time: datetime | None) -> None:
    with pytest.raises(ProblemError) as refused:
        require_recent_login(auth_time, NOW, 300)
    assert (refused.value.status, refused.value.code) == (403, "reauth_required")


def test_a_login_in_the_future_is_not_past_the_window() -> None:
    # Clock skew between processes: a grant stamped slightly ahead is still recent, never refused.
    require_recent_login(NOW + timedelta(seconds=2), NOW, 300)
