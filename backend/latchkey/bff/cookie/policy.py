"""Everything about the session cookie's attributes, in one place (SPEC §3, §5).

The parsers of `LATCHKEY_COOKIE_*` values, the rules that tie them together (`cookie_rules`: the
`__Host-` / `__Secure-` prefixes, SameSite=None needs Secure, the Path must cover the base path) and the
computed default name; then `CookiePolicy`, which renders `Set-Cookie` values with those attributes and
finds the cookie among a request's others. `latchkey/settings.py` only declares the fields and calls in
here, so a reader looking for a cookie rule finds it beside the cookie, not in the environment loader.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:  # settings imports this module: only the annotations name it
    from latchkey.settings import BffSettings, Problems

SameSite = Literal["strict", "lax", "none"]
_SAMESITE: dict[str, str] = {"strict": "Strict", "lax": "Lax", "none": "None"}
HOST_PREFIX = "__host-"  # RFC 6265bis §4.1.3: compared case-insensitively
SECURE_PREFIX = "__secure-"


# --- parsers of the environment's values (each raises ValueError with the reason) -------------------------


def same_site(value: str) -> SameSite:
    lowered = value.lower()
    if lowered not in _SAMESITE:
        raise ValueError(f"must be strict, lax or none, got {value!r}")
    return cast("SameSite", lowered)


def cookie_path(value: str) -> str:
    if not value.startswith("/") or any(ch in value for ch in ";, \t") or not value.isprintable():
        raise ValueError("must start with / and hold no ; , or spaces")
    return value


def cookie_domain(value: str) -> str:
    domain = value.lower().removeprefix(".")
    labels = domain.split(".")
    if not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
        raise ValueError(f"{value!r} is not a domain name")
    return domain


def cookie_name(value: str) -> str:
    if not all(ch.isascii() and (ch.isalnum() or ch in "!#$%&'*+-.^_`|~") for ch in value):
        raise ValueError(f"{value!r} is not a valid cookie name")
    return value


# --- the rules that tie the attributes together ----------------------------------------------------------


def path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4: does `request_path` path-match `cookie_path`?"""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def default_cookie_name(*, secure: bool, domain: str | None, path: str) -> str:
    """The strongest prefix the attributes allow: `__Host-` needs Secure, no Domain and Path `/`."""
    if secure and domain is None and path == "/":
        return "__Host-latchkey"
    return "__Secure-latchkey" if secure else "latchkey"


def cookie_rules(values: dict[str, Any], problems: Problems) -> None:
    """The rules that tie the cookie's settings together, and the computed cookie name (written into
    `values`). Every variable involved in a broken rule is named in `problems`."""
    secure = bool(values["cookie_secure"])
    if not secure and values["env"] != "dev":
        problems.append(("LATCHKEY_COOKIE_SECURE", "may be false only when LATCHKEY_ENV=dev"))
    if values["cookie_samesite"] == "none" and not secure:
        problems.append(("LATCHKEY_COOKIE_SAMESITE", "none requires LATCHKEY_COOKIE_SECURE=true"))
        problems.append(("LATCHKEY_COOKIE_SECURE", "must be true with LATCHKEY_COOKIE_SAMESITE=none"))
    base, path, domain = values["base_path"], values["cookie_path"], values["cookie_domain"]
    if not path_matches(base or "/", path):
        problems.append(("LATCHKEY_COOKIE_PATH", f"{path!r} does not cover the base path"))
        problems.append(("LATCHKEY_BFF_BASE_PATH", f"{base or '/'!r} is outside the cookie path"))
    name = values.get("cookie_name") or default_cookie_name(secure=secure, domain=domain, path=path)
    values["cookie_name"] = name
    if name.lower().startswith(HOST_PREFIX) and (not secure or domain is not None or path != "/"):
        problems.append(("LATCHKEY_COOKIE_NAME", "a __Host- cookie needs Secure, no Domain and Path /"))
        for variable, bad in (
            ("LATCHKEY_COOKIE_SECURE", not secure),
            ("LATCHKEY_COOKIE_DOMAIN", domain is not None),
            ("LATCHKEY_COOKIE_PATH", path != "/"),
        ):
            if bad:
                problems.append((variable, "conflicts with the __Host- cookie name"))
    elif name.lower().startswith(SECURE_PREFIX) and not secure:
        problems.append(("LATCHKEY_COOKIE_NAME", "a __Secure- cookie needs Secure"))
        problems.append(("LATCHKEY_COOKIE_SECURE", "conflicts with the __Secure- cookie name"))


# --- rendering and finding the cookie ---------------------------------------------------------------------


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
        self._clear_site_data = _clear_site_data(host_only=settings.cookie_domain is None)

    def set_header(self, value: str, *, expires_at: float, now: float) -> str:
        """`Set-Cookie` for `value`, with Max-Age and Expires both at the session's absolute end."""
        max_age = max(0, int(expires_at - now))
        expires = formatdate(expires_at, usegmt=True)
        return f"{self.name}={value}; Max-Age={max_age}; Expires={expires}; {self._attributes}"

    def clear_header(self) -> str:
        """`Set-Cookie` that removes the cookie: same name, path and domain, Max-Age=0."""
        return f"{self.name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; {self._attributes}"

    def logout_headers(self) -> dict[str, str]:
        """The headers of every answer that ends the browser's session by the user's hand."""
        return {"Set-Cookie": self.clear_header(), "Clear-Site-Data": self._clear_site_data}

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


def _clear_site_data(*, host_only: bool) -> str:
    """SPEC §10: a logout also clears the browser's cache and storage for this origin, and its cookies
    unless the cookie lives on a shared parent domain (clearing would log the user out of its other
    sites). The SPA keeps nothing in storage it would miss; BroadcastChannel is not storage."""
    if host_only:
        return '"cache", "storage", "cookies"'
    return '"cache", "storage"'
