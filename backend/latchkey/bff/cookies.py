"""The session cookie's policy: its attributes, setting and clearing it, and finding it in a request."""

from __future__ import annotations

from email.utils import formatdate

from latchkey.settings import BffSettings

_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


class CookiePolicy:
    """Renders `Set-Cookie` values with every attribute of SPEC §5, computed once from the settings."""

    def __init__(self, settings: BffSettings) -> None:
        self.name = settings.cookie_name
        attributes = [f"Path={settings.cookie_path}"]
        if settings.cookie_domain is not None:
            attributes.append(f"Domain={settings.cookie_domain}")
        if settings.cookie_secure:
            attributes.append("Secure")
        attributes += ["HttpOnly", f"SameSite={_SAMESITE[settings.cookie_samesite]}"]
        self._attributes = "; ".join(attributes)
        self._prefix = self.name.encode("latin-1") + b"="

    def set_header(self, value: str, *, expires_at: float, now: float) -> str:
        """`Set-Cookie` for `value`, with Max-Age and Expires both at the session's absolute end."""
        max_age = max(0, int(expires_at - now))
        expires = formatdate(expires_at, usegmt=True)
        return f"{self.name}={value}; Max-Age={max_age}; Expires={expires}; {self._attributes}"

    def clear_header(self) -> str:
        """`Set-Cookie` that removes the cookie: same name, path and domain, Max-Age=0."""
        return f"{self.name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; {self._attributes}"

    def values_in(self, cookie_headers: list[bytes]) -> list[str]:
        """Every value sent under our name, tolerating malformed unrelated cookies beside it."""
        found: list[str] = []
        prefix = self._prefix
        for header in cookie_headers:
            for part in header.split(b";"):
                part = part.strip()
                if part.startswith(prefix):
                    try:
                        found.append(part[len(prefix) :].decode("ascii"))
                    except UnicodeDecodeError:
                        continue
        return found
