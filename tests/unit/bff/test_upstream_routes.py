"""`bff/upstream_routes.py`: the LATCHKEY_BFF_ROUTES file (SPEC §12). A good file gives its routes; a
hostile one (every field, overlaps, unknown keys, not TOML, unreadable) is refused with one line naming
the route and the field, which the settings loader reports as one SettingsError line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.bff.upstream_routes import (
    DEFAULT_TIMEOUT,
    RouteFileError,
    UpstreamRoute,
    load_routes,
    parse_routes,
)
from latchkey.settings import SettingsError
from tests.unit.bff.raw_asgi import bff_settings

GOOD = 'prefix = "/billing"\nupstream = "http://127.0.0.1:9100"\n'


def one_route(**fields: str) -> str:
    """A file of one route: the good fields, with `fields` (TOML values as written) replacing or adding."""
    values = {"prefix": '"/billing"', "upstream": '"http://127.0.0.1:9100"', **fields}
    return "[[route]]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())


def refusal(text: str) -> str:
    with pytest.raises(RouteFileError) as caught:
        parse_routes(text)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_full_file_reads_into_routes() -> None:
    routes = parse_routes(
        one_route(token='"user_or_none"', methods='["get", "POST"]', websocket="true", timeout="2.5")
        + '[[route]]\nprefix = "/maps/v2"\nupstream = "https://maps.example/base/"\n'
    )
    assert routes == (
        UpstreamRoute(
            "/billing",
            "http://127.0.0.1:9100",
            token="user_or_none",
            methods=frozenset({"GET", "POST"}),
            websocket=True,
            timeout=2.5,
        ),
        UpstreamRoute("/maps/v2", "https://maps.example/base"),
    )
    assert routes[1].token == "user" and routes[1].methods is None and routes[1].timeout == DEFAULT_TIMEOUT
    assert routes[0].allows("POST") and not routes[0].allows("DELETE")
    assert routes[1].allows("PATCH")


def test_an_empty_file_has_no_routes() -> None:
    assert parse_routes("") == ()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # prefix
        ({"prefix": '"billing"'}, "route 1 (billing): prefix: "),
        ({"prefix": '"/billing/"'}, "route 1 (/billing/): prefix: "),
        ({"prefix": '"/"'}, "route 1 (/): prefix: "),
        ({"prefix": '""'}, "route 1 (): prefix: must be a path"),
        ({"prefix": "7"}, "route 1: prefix: must be a path"),
        ({"prefix": '"/a//b"'}, "route 1 (/a//b): prefix: "),
        ({"prefix": '"/a/../b"'}, "route 1 (/a/../b): prefix: "),
        ({"prefix": '"/a/.b"'}, "route 1 (/a/.b): prefix: "),
        ({"prefix": '"/a b"'}, "route 1 (/a b): prefix: "),
        ({"prefix": '"/a%2Fb"'}, "route 1 (/a%2Fb): prefix: "),
        ({"prefix": '"/a\\\\b"'}, "route 1 (/a\\b): prefix: "),
        ({"prefix": '"/é"'}, "route 1 (/é): prefix: "),
        ({"prefix": '"/api"'}, "route 1 (/api): prefix: '/api' overlaps /api"),
        ({"prefix": '"/api/x"'}, "overlaps /api"),
        ({"prefix": '"/bff"'}, "overlaps /bff"),
        ({"prefix": '"/healthz"'}, "overlaps /healthz"),
        ({"prefix": '"/readyz/deep"'}, "overlaps /readyz"),
        ({"prefix": '"/schema"'}, "overlaps /schema"),
        # upstream
        ({"upstream": '"ftp://127.0.0.1"'}, "route 1 (/billing): upstream: "),
        ({"upstream": '"127.0.0.1:9100"'}, "route 1 (/billing): upstream: "),
        ({"upstream": '"http://"'}, "route 1 (/billing): upstream: "),
        ({"upstream": '"http://h:9100/?q=1"'}, "upstream: 'http://h:9100/?q=1' may not carry a query"),
        ({"upstream": '"http://h:9100/#x"'}, "route 1 (/billing): upstream: "),
        ({"upstream": '"http://user:pw@h:9100"'}, "may not carry a query, a fragment or credentials"),
        ({"upstream": '"http://h:99999"'}, "upstream: 'http://h:99999' has a bad port"),
        ({"upstream": "1"}, "route 1 (/billing): upstream: must be an http(s) URL"),
        ({"upstream": '"http://h:9100/a\\nb"'}, "may not hold spaces or control characters"),
        ({"upstream": '"http://h:9100/\\t"'}, "may not hold spaces or control characters"),
        ({"upstream": '"http://h:9100/a b"'}, "may not hold spaces or control characters"),
        # token
        ({"token": '"admin"'}, "route 1 (/billing): token: must be user, user_or_none or none, got 'admin'"),
        ({"token": '"USER"'}, "token: must be user, user_or_none or none"),
        ({"token": "true"}, "token: must be user, user_or_none or none"),
        # methods
        ({"methods": '"GET"'}, "route 1 (/billing): methods: must be a non-empty list"),
        ({"methods": "[]"}, "methods: must be a non-empty list"),
        ({"methods": "[1]"}, "methods: must be a non-empty list"),
        ({"methods": '["GET", "TRACE", "CONNECT"]'}, "methods: unknown method(s) CONNECT, TRACE"),
        ({"methods": '["G\\nET"]'}, "methods: unknown method(s) 'G\\nET'"),
        # websocket
        ({"websocket": '"yes"'}, "route 1 (/billing): websocket: must be true or false"),
        ({"websocket": "1"}, "websocket: must be true or false"),
        # timeout
        ({"timeout": "0"}, "route 1 (/billing): timeout: must be a number of seconds in (0, 3600]"),
        ({"timeout": "-1"}, "timeout: must be a number of seconds"),
        ({"timeout": "3601"}, "timeout: must be a number of seconds"),
        ({"timeout": "true"}, "timeout: must be a number of seconds"),
        ({"timeout": '"30"'}, "timeout: must be a number of seconds"),
        ({"timeout": "nan"}, "timeout: must be a number of seconds"),
        ({"timeout": "inf"}, "timeout: must be a number of seconds"),
        # unknown keys
        ({"host": '"evil"'}, "route 1 (/billing): unknown field(s) host"),
        ({"Prefix": '"/x"', "headers": "{}"}, "unknown field(s) Prefix, headers"),
        ({'"a\\nb"': "1"}, "unknown field(s) 'a\\nb'"),
        ({"prefix": '"/a\\nb"'}, "route 1 ('/a\\nb'): prefix: "),
    ],
)
def test_each_bad_field_is_named_with_its_route(fields: dict[str, str], expected: str) -> None:
    assert expected in refusal(one_route(**fields))


@pytest.mark.parametrize("missing", ["prefix", "upstream"])
def test_a_required_field_missing_is_named(missing: str) -> None:
    text = "[[route]]\n" + "".join(line + "\n" for line in GOOD.splitlines() if not line.startswith(missing))
    assert refusal(text).endswith(f": {missing}: required")


def test_the_failing_route_is_counted_from_one() -> None:
    text = one_route() + one_route(prefix='"/shop"', token='"guest"')
    assert refusal(text).startswith("route 2 (/shop): token: ")


@pytest.mark.parametrize(
    ("second", "clash"),
    [
        ("/billing", "route 2 (/billing): prefix: overlaps route 1 (/billing)"),
        ("/billing/v2", "route 2 (/billing/v2): prefix: overlaps route 1 (/billing)"),
        ("/bill", None),
        ("/billing-v2", None),
    ],
)
def test_prefixes_may_not_overlap_each_other(second: str, clash: str | None) -> None:
    text = one_route() + one_route(prefix=f'"{second}"')
    if clash is None:
        assert [route.prefix for route in parse_routes(text)] == ["/billing", second]
    else:
        assert refusal(text) == clash


def test_a_route_under_another_is_refused_in_either_order() -> None:
    text = one_route(prefix='"/a/b"') + one_route(prefix='"/a"')
    assert refusal(text) == "route 2 (/a): prefix: overlaps route 1 (/a/b)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[route]\nprefix = 1", "not valid TOML: "),
        ("prefix = '/x'\n", "unknown top-level key(s) prefix; routes are [[route]] tables"),
        ("[routes]\nprefix = '/x'\n", "unknown top-level key(s) routes"),
        ("route = 3\n", "route: must be an array of tables ([[route]])"),
        ("[route]\nprefix = '/x'\n", "route: must be an array of tables"),
        ("route = [1]\n", "route 1: must be a table ([[route]])"),
    ],
)
def test_a_file_that_is_not_a_list_of_route_tables_is_refused(text: str, expected: str) -> None:
    assert expected in refusal(text)


def test_load_reads_the_named_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text("[[route]]\n" + GOOD, encoding="utf-8")
    assert [route.prefix for route in load_routes(str(path))] == ["/billing"]


def test_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(RouteFileError, match=r"cannot read '.*nope\.toml': FileNotFoundError"):
        load_routes(missing)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RouteFileError, match=r"cannot read .*: IsADirectoryError"):
        load_routes(str(tmp_path))


def test_a_path_through_a_file_is_refused(tmp_path: Path) -> None:
    # (Permissions cannot make a file unreadable to root, which CI runs as; a path that cannot be opened
    # for another reason takes the same way out.)
    blocker = tmp_path / "routes.toml"
    blocker.write_text("[[route]]\n" + GOOD)
    with pytest.raises(RouteFileError, match=r"cannot read .*: NotADirectoryError"):
        load_routes(str(blocker / "inner.toml"))


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_bytes(b"\xff\xfe[[route]]\n")
    with pytest.raises(RouteFileError, match=r"cannot read .*: UnicodeDecodeError"):
        load_routes(str(path))


def test_the_settings_refuse_a_bad_file_in_one_line_naming_the_variable_route_and_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(one_route() + one_route(prefix='"/shop"', methods='["GET", "BREW"]'))
    with pytest.raises(SettingsError) as caught:
        bff_settings(LATCHKEY_BFF_ROUTES=str(path))
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "invalid configuration (LATCHKEY_BFF_ROUTES): "
        "LATCHKEY_BFF_ROUTES: route 2 (/shop): methods: unknown method(s) BREW"
    )


def test_the_settings_carry_the_routes(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(one_route(token='"none"'))
    assert bff_settings(LATCHKEY_BFF_ROUTES=str(path)).routes == (
        UpstreamRoute("/billing", "http://127.0.0.1:9100", token="none"),
    )
    assert bff_settings().routes == ()


def outcome(text: str) -> str:
    """The refusal's message, or `ok` when the text holds routes."""
    try:
        parse_routes(text)
    except RouteFileError as refused:
        return str(refused)
    return "ok"


@given(st.text(max_size=200))
def test_any_text_is_routes_or_a_one_line_refusal(text: str) -> None:
    assert "\n" not in outcome(text)


@given(st.text(max_size=20), st.sampled_from(["prefix", "upstream", "token", "methods", "nonsense"]))
def test_any_string_in_any_field_is_a_route_or_a_one_line_refusal(value: str, key: str) -> None:
    quoted = '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if key == "methods":
        quoted = f"[{quoted}]"
    text = one_route(**{key: quoted}) if key != "nonsense" else one_route(**{quoted: "1"})
    assert "\n" not in outcome(text)
