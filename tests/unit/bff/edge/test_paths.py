"""`edge/paths.py`: the one place that says which part of the BFF a path belongs to."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.edge.paths import Routes
from tests.unit.bff.raw_asgi import bff_settings


@pytest.mark.parametrize(
    ("path", "api", "bff", "framework"),
    [
        ("/api", True, False, False),
        ("/api/", True, False, False),
        ("/api/v1/me", True, False, False),
        ("/apix", False, False, False),
        ("/api.json", False, False, False),
        ("/bff", False, True, True),
        ("/bff/session", False, True, True),
        ("/bffx", False, False, False),
        ("/healthz", False, False, True),
        ("/healthz/x", False, False, True),
        ("/healthzx", False, False, False),
        ("/readyz", False, False, True),
        ("/schema", False, False, True),
        ("/schema/openapi.json", False, False, True),
        ("/", False, False, False),
        ("/projects/api", False, False, False),
        ("/assets/bff.js", False, False, False),
        ("", False, False, False),
    ],
)
def test_paths_are_classified_by_prefix_never_by_substring(
    path: str, api: bool, bff: bool, framework: bool
) -> None:
    routes = Routes("")
    assert (routes.is_api(path), routes.is_bff(path), routes.is_framework(path)) == (api, bff, framework)
    assert routes.is_guarded(path) is (api or bff)


@pytest.mark.parametrize(
    ("path", "api", "bff"),
    [
        ("/app/api/v1/me", True, False),
        ("/app/api", True, False),
        ("/app/bff/login", False, True),
        ("/api/v1/me", False, False),  # not this BFF's mount
        ("/bff/login", False, False),
        ("/apple/api", False, False),
        ("/app", False, False),
    ],
)
def test_under_a_base_path_only_its_own_mounts_count(path: str, api: bool, bff: bool) -> None:
    routes = Routes("/app")
    assert (routes.is_api(path), routes.is_bff(path)) == (api, bff)


def test_the_probes_stay_at_the_root_under_a_base_path() -> None:
    routes = Routes("/app")
    assert routes.is_framework("/healthz") and routes.is_framework("/app/bff")
    assert not routes.is_framework("/app/healthz")


def test_the_mount_is_the_raw_api_prefix() -> None:
    assert Routes("/app").api_mount == b"/app/api"
    assert Routes("").api_mount == b"/api"


@given(st.text(alphabet="/abipfxz.", max_size=14))
def test_no_path_is_both_api_and_bff(path: str) -> None:
    routes = Routes("")
    assert not (routes.is_api(path) and routes.is_bff(path))
    if routes.is_api(path):
        assert path == "/api" or path.startswith("/api/")


# --- configured routes (LATCHKEY_BFF_ROUTES) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/app/billing", 0),
        ("/app/billing/", 0),
        ("/app/billing/v1/invoices", 0),
        ("/app/maps/v2/tiles", 1),
        ("/app/maps/v2", 1),
        ("/app/maps", None),  # a parent of a route is not the route
        ("/app/maps/v3", None),
        ("/app/billingx", None),  # a sibling is not the route
        ("/billing/x", None),  # not under the base path
        ("/app/api/v1/me", None),
    ],
)
def test_a_configured_prefix_is_its_route_and_guarded_but_never_the_spa(path: str, route: int | None) -> None:
    routes = Routes("/app", ("/billing", "/maps/v2"))
    assert routes.route_of(path) == route
    assert routes.is_proxied(path) == (route is not None or routes.is_api(path))
    assert routes.is_guarded(path) == (routes.is_proxied(path) or routes.is_bff(path))
    if route is not None:
        assert not routes.is_api(path) and not routes.is_bff(path)


def test_routes_come_from_the_settings(tmp_path: Any) -> None:
    file = tmp_path / "routes.toml"
    file.write_text('[[route]]\nprefix = "/billing"\nupstream = "http://127.0.0.1:9100"\n')
    routes = Routes.of(bff_settings(LATCHKEY_BFF_BASE_PATH="/app", LATCHKEY_BFF_ROUTES=str(file)))
    assert routes.route_of("/app/billing/x") == 0
    assert Routes.of(bff_settings()).route_of("/billing/x") is None


def test_a_download_link_is_a_navigation_but_asking_for_one_is_guarded() -> None:
    routes = Routes("/base")
    assert routes.is_download("/base/bff/downloads/k1.abc")
    assert not routes.is_guarded("/base/bff/downloads/k1.abc")  # no X-CSRF on a navigation
    # The ticket request itself (POST /bff/downloads) needs X-CSRF like every other /bff call.
    assert routes.is_guarded("/base/bff/downloads")
    assert not routes.is_download("/base/bff/downloads")
    assert not routes.is_download("/base/bff/downloadsx/a")
    assert not routes.is_download("/bff/downloads/k1.abc")  # outside the base path
    assert routes.is_guarded("/base/bff/downloadsx/a")
