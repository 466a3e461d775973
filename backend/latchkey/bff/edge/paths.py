"""Which part of the BFF a path belongs to, decided once from LATCHKEY_BFF_BASE_PATH and LATCHKEY_BFF_ROUTES:
`{base}/api` (the proxy to the core), `{base}{prefix}` of a configured route (the proxy to that route's
upstream), `{base}/bff` (the BFF's own routes), the probes and `/schema`, or the SPA.

Paths are judged after `edge/canonical.py` refused empty segments, so the path tested here is the path
that is routed. A prefix matches itself and what lies under it (`/api`, `/api/…`), never a sibling
(`/apix`).
"""

from __future__ import annotations

from latchkey.settings import BffSettings

# Paths Litestar serves besides `{base}/bff`: the probes and the OpenAPI document (never under the base).
FRAMEWORK_PATHS = ("/healthz", "/readyz", "/schema")
# Under `{base}/bff`: page navigations of the provider sign-in, and the provider's back-channel call.
NAVIGATIONS = ("/login/oidc", "/callback", "/backchannel-logout")
# Under `{base}/bff`: a download ticket's link (`bff/downloads.py`), also a navigation (no X-CSRF).
DOWNLOAD_LINKS = "/downloads/"


def _under(path: str, exact: str, prefix: str) -> bool:
    return path.startswith(prefix) or path == exact


class Routes:
    """The BFF's path classification: `is_api`, `route_of` (a configured route's index), `is_proxied`,
    `is_bff`, `is_guarded` (CSRF and CORS apply) and `is_framework` (Litestar's, even when the SPA is
    served)."""

    __slots__ = (
        "_api_prefix",
        "_bff_prefix",
        "_download_prefix",
        "_framework_exact",
        "_framework_prefixes",
        "_navigations",
        "_routes",
        "api",
        "bff",
    )

    def __init__(self, base_path: str, route_prefixes: tuple[str, ...] = ()) -> None:
        self.api = f"{base_path}/api"
        self.bff = f"{base_path}/bff"
        self._api_prefix = self.api + "/"
        self._bff_prefix = self.bff + "/"
        owned = (self.bff, *FRAMEWORK_PATHS)
        self._framework_exact = frozenset(owned)
        self._framework_prefixes = tuple(f"{path}/" for path in owned)
        # The sign-in's page navigations and the provider's server-to-server call (SPEC §11): no fetch()
        # of the SPA, so no X-CSRF; each defends itself (the flow cookie's state, the logout token).
        self._navigations = frozenset(f"{self.bff}{path}" for path in NAVIGATIONS)
        # A download ticket's link: the ticket itself is the defence (bound to the session, 60 s).
        self._download_prefix = self.bff + DOWNLOAD_LINKS
        # (index, exact, prefix/) of each configured route; they never overlap (upstream_routes.py).
        self._routes = tuple(
            (index, f"{base_path}{prefix}", f"{base_path}{prefix}/")
            for index, prefix in enumerate(route_prefixes)
        )

    @classmethod
    def of(cls, settings: BffSettings) -> Routes:
        return cls(settings.base_path, tuple(route.prefix for route in settings.routes))

    @property
    def api_mount(self) -> bytes:
        """The proxy's mount as raw bytes, to cut from the raw target and put before a Location."""
        return self.api.encode()

    def is_api(self, path: str) -> bool:
        """Forwarded to the core by the proxy."""
        return _under(path, self.api, self._api_prefix)

    def route_of(self, path: str) -> int | None:
        """The index (in LATCHKEY_BFF_ROUTES) of the configured route serving `path`, if any."""
        for index, exact, prefix in self._routes:
            if path.startswith(prefix) or path == exact:
                return index
        return None

    def is_proxied(self, path: str) -> bool:
        """Forwarded by the proxy: to the core, or to a configured route's upstream."""
        return self.is_api(path) or self.route_of(path) is not None

    def is_bff(self, path: str) -> bool:
        """The BFF's own routes (sessions, login, logout)."""
        return _under(path, self.bff, self._bff_prefix)

    def is_download(self, path: str) -> bool:
        """A download ticket's link, `{base}/bff/downloads/<ticket>` (`bff/downloads.py`)."""
        return path.startswith(self._download_prefix)

    def is_guarded(self, path: str) -> bool:
        """Called by the SPA with its cookie: CSRF and CORS apply (not to the sign-in's navigations nor to
        a download ticket's link)."""
        return self.is_proxied(path) or (
            self.is_bff(path) and path not in self._navigations and not path.startswith(self._download_prefix)
        )

    def is_framework(self, path: str) -> bool:
        """Served by Litestar even when the SPA is: never falls back to index.html."""
        return path in self._framework_exact or path.startswith(self._framework_prefixes)
