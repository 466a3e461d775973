"""`edge/paths.py`: the one place that says which part of the BFF a path belongs to."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.edge.paths import Routes


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
