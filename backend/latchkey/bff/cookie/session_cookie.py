"""The session cookie of a request and of an answer: finding and unsealing it (→ the session id), and
sealing a new session's id into a `Set-Cookie` value. What the cookie's attributes are is the policy's
business (`policy.py`); what its bytes are is `latchkey/sealing.py`'s."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from latchkey.bff.cookie.policy import CookiePolicy
from latchkey.problems import ProblemError
from latchkey.sealing import InvalidSeal, KeyRing, SealExpired, SessionCookie, seal, unseal


class SessionCookies:
    """Reads and writes the sealed session cookie under the policy's name and attributes."""

    def __init__(self, policy: CookiePolicy, ring: KeyRing) -> None:
        self.policy = policy
        self.ring = ring

    def session_id(self, headers: Iterable[tuple[bytes, bytes]], now: float) -> bytes:
        """The session id in the request's valid cookie, or 401 `no_session` / `session_expired`.

        Several values under our name (a stale cookie on a parent path, say) are each tried: any valid
        one wins, and only when none is valid but one is authentic and past its end is it `expired`."""
        values = self.policy.values_in([value for name, value in headers if name == b"cookie"])
        expired = False
        for value in values:
            try:
                return unseal(self.ring, value, name=self.policy.name, now=now).sid
            except SealExpired:
                expired = True
            except InvalidSeal:
                continue
        if expired:
            raise ProblemError(401, "session_expired", "the session has expired; sign in again")
        raise ProblemError(401, "no_session", "sign in first")

    def issue(self, sid: bytes, *, now: datetime, expires_at: datetime) -> str:
        """The `Set-Cookie` value carrying a new session's sealed id until its absolute end."""
        issued, ends = now.timestamp(), expires_at.timestamp()
        value = seal(
            self.ring,
            SessionCookie(sid=sid, issued_at=int(issued), expires_at=int(ends)),
            name=self.policy.name,
        )
        return self.policy.set_header(value, expires_at=ends, now=issued)
