"""What each proxied mount forwards to, and on what terms: the core's `{base}/api` (token `user`, every
method, LATCHKEY_UPSTREAM_TIMEOUT) and each route of LATCHKEY_BFF_ROUTES (its upstream, token policy,
methods and timeout; SPEC §12). Built once at start-up, so a request reads its mount's fields and
computes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from latchkey.bff.proxy.body import BodyLimits
from latchkey.bff.proxy.inbound import BrowserLocation
from latchkey.bff.proxy.targets import RouteMethods
from latchkey.bff.upstream_routes import TokenPolicy, UpstreamRoute
from latchkey.settings import BffSettings


@dataclass(frozen=True, slots=True)
class Mount:
    """One proxied prefix of the BFF and the upstream behind it."""

    name: str  # what the logs call the upstream: `core`, or the route's prefix
    mount: bytes  # the raw prefix (with the base path) cut from the request target
    upstream: str  # the upstream's URL, no trailing slash: the rest of the target is appended as received
    token: TokenPolicy
    methods: RouteMethods
    limits: BodyLimits
    location: BrowserLocation
    # Whether answers depend on the session (`Cache-Control: no-store` and `Vary: Cookie`): all but `none`.
    per_user: bool


def core_mount(settings: BffSettings) -> Mount:
    """`{base}/api` → LATCHKEY_CORE_URL, with the session's token, every method."""
    mount = f"{settings.base_path}/api".encode()
    return Mount(
        name="core",
        mount=mount,
        upstream=settings.core_url.rstrip("/"),
        token="user",
        methods=RouteMethods(None),
        limits=BodyLimits(settings.max_body_bytes, settings.upstream_timeout),
        location=BrowserLocation(settings.core_url, mount),
        per_user=True,
    )


def route_mount(settings: BffSettings, route: UpstreamRoute) -> Mount:
    """`{base}{prefix}` → the route's upstream, on the route's terms."""
    mount = f"{settings.base_path}{route.prefix}".encode()
    return Mount(
        name=route.prefix,
        mount=mount,
        upstream=route.upstream,
        token=route.token,
        methods=RouteMethods(route.methods),
        limits=BodyLimits(settings.max_body_bytes, route.timeout),
        location=BrowserLocation(route.upstream, mount),
        per_user=route.token != "none",
    )
