"""The re-authentication window (SPEC §4): sensitive actions need a recent password login.

A session's access token carries its chain's `auth_time`, the moment of the password grant, unchanged
through refreshes. Creating or refreshing a PAT, viewing or rotating the client secret, changing the
password and admin writes are allowed only while that moment lies within `LATCHKEY_REAUTH_WINDOW`
seconds; a PAT (no `auth_time`) never qualifies. The BFF's `/bff/reauthenticate` opens a new window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from latchkey.problems import ProblemError


def require_recent_login(auth_time: datetime | None, now: datetime, window_seconds: int) -> None:
    """403 `reauth_required` unless the password login at `auth_time` is within the window at `now`."""
    if auth_time is None or now - auth_time > timedelta(seconds=window_seconds):
        raise ProblemError(403, "reauth_required", "sign in with your password again to do this")
