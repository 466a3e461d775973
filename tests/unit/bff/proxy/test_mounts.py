"""`proxy/mounts.py` and a configured route's `Forwarder` (SPEC §12) as raw ASGI calls, with a stand-in
gate and a scripted upstream (no socket): the mount's terms, token policies, methods, the per-user caching
fields, the refresh and retry, and streams without a session."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
import pytest

from latchkey.bff.edge.forwarded import ClientAddress
from latchkey.bff.proxy import ApiProxy, StreamRegistry
from latchkey.bff.proxy.body import Upload
from latchkey.bff.proxy.forwarder import Forwarder
from latchkey.bff.proxy.mounts import core_mount, route_mount
from latchkey.bff.proxy.outbound import UpstreamRequest
from latchkey.bff.proxy.upstream import Answer
from latchkey.bff.upstream_routes import TokenPolicy, UpstreamRoute
from latchkey.problems import ProblemError
from tests.unit.bff.proxy.fakes import FakeCore, FakeResponse, small, streaming
from tests.unit.bff.proxy.test_forwarder import CHALLENGE, Gate, Grant
from tests.unit.bff.raw_asgi import Browser, bff_settings, call, call_scope, http_scope

SETTINGS = bff_settings(
    LATCHKEY_BFF_BASE_PATH="/base",
    LATCHKEY_COOKIE_PATH="/base",
    LATCHKEY_CORE_URL="http://core:8001",
    LATCHKEY_UPSTREAM_TIMEOUT="7",
)
SESSION = {"Cookie": "session=s1", "X-Request-ID": "rid-1"}


class EndedGate(Gate):
    """A gate whose `ended` cookie names a session that has ended (401 session_revoked), and whose
    `down` cookie finds the store unreachable (503)."""

    async def authorize(self, scope: Any) -> Grant:
        for name, value in scope["headers"]:
            if name == b"cookie" and value == b"session=ended":
                self.authorized += 1
                raise ProblemError(401, "session_revoked", "the session has ended")
            if name == b"cookie" and value == b"session=down":
                self.authorized += 1
                raise ProblemError(503, "database_unavailable", "the session store is not answering")
        return await super().authorize(scope)


def forwarder(
    script: Any,
    token: TokenPolicy = "user",
    *,
    upstream: str = "http://team:9100/base-path",
    methods: frozenset[str] | None = None,
    pool_size: int = 64,
) -> tuple[Forwarder, EndedGate, FakeCore, StreamRegistry]:
    route = UpstreamRoute("/team", upstream, token=token, methods=methods, timeout=3)
    gate, core, streams = EndedGate(), FakeCore(script, pool_size), StreamRegistry()
    mount = route_mount(SETTINGS, route)
    return Forwarder(mount, gate, streams, core, ClientAddress(())), gate, core, streams  # type: ignore[arg-type]


def echo(request: UpstreamRequest, upload: Upload | None) -> Answer:
    return small(200, [(b"content-type", b"application/json")], b"{}")


def fields_of(request: UpstreamRequest) -> dict[str, str]:
    return dict(request.fields)


# --- the mounts ----------------------------------------------------------------------------------------


def test_the_core_mount_is_api_with_every_method_the_session_token_and_the_global_timeout() -> None:
    mount = core_mount(SETTINGS)
    assert (mount.name, mount.mount, mount.upstream, mount.token) == (
        "core",
        b"/base/api",
        "http://core:8001",
        "user",
    )
    assert mount.methods.allow == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    assert mount.limits.timeout == 7
    assert mount.per_user


def test_a_route_mount_takes_the_routes_terms_under_the_base_path() -> None:
    route = UpstreamRoute("/team", "http://team:9100/v2", token="none", methods=frozenset({"POST", "GET"}))
    mount = route_mount(SETTINGS, replace(route, timeout=2.5))
    assert (mount.name, mount.mount, mount.upstream) == ("/team", b"/base/team", "http://team:9100/v2")
    assert mount.methods.allow == "GET, POST"
    assert mount.limits.timeout == 2.5
    assert mount.limits.max_bytes == SETTINGS.max_body_bytes
    assert not mount.per_user
    # A Location on the upstream (its base path cut) comes back under the route's mount.
    assert mount.location(b"http://team:9100/v2/reports/1") == b"/base/team/reports/1"
    assert mount.location(b"/v2/reports/1") == b"/base/team/reports/1"
    assert mount.location(b"https://elsewhere.example/x") == b"https://elsewhere.example/x"


def test_the_proxy_has_one_forwarder_and_pool_per_route(tmp_path: Any) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(
        '[[route]]\nprefix = "/a"\nupstream = "http://a:1"\n\n[[route]]\nprefix = "/b"\nupstream = "http://b:2"\n'
    )
    settings = bff_settings(LATCHKEY_BFF_ROUTES=str(routes))
    streams = StreamRegistry()
    proxy = ApiProxy(settings, Gate(), streams)
    assert [forwarder.mount.mount for forwarder in proxy.forwarders] == [b"/api", b"/a", b"/b"]
    connections = [forwarder.upstream for forwarder in proxy.forwarders]
    assert len({id(connection) for connection in connections}) == 3
    assert [connection.name for connection in connections] == ["core", "/a", "/b"]
    assert streams.total == (sum(connection.pool_size for connection in connections) * 3) // 4


# --- the pipeline on a route ---------------------------------------------------------------------------


async def test_a_user_route_appends_the_raw_rest_to_the_upstreams_base_path_with_the_token() -> None:
    proxy, _, core, _ = forwarder(echo)
    answer = await call(
        proxy,
        "GET",
        "/base/team/a b",
        {**SESSION, "Authorization": "Bearer mine", "X-CSRF": "1"},
        raw_path=b"/base/team/a%20b",
        query=b"x=%2F",
    )
    assert answer.status == 200
    request = core.calls[0][0]
    assert str(request.url) == "http://team:9100/base-path/a%20b?x=%2F"
    fields = fields_of(request)
    assert fields["authorization"] == "Bearer tok-s1"
    assert "cookie" not in fields and "x-csrf" not in fields
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["vary"] == "Cookie"


async def test_a_user_route_without_a_session_is_401_and_never_called() -> None:
    proxy, _, core, _ = forwarder(echo)
    answer = await call(proxy, "GET", "/base/team/x", {"X-Request-ID": "rid-1"})
    assert (answer.status, answer.code, core.calls) == (401, "no_session", [])


@pytest.mark.parametrize("cookie", [None, "session=ended"])
async def test_user_or_none_without_a_valid_session_goes_on_with_no_authorization(cookie: str | None) -> None:
    proxy, _, core, _ = forwarder(echo, "user_or_none")
    headers = {"Authorization": "Bearer mine"} | ({"Cookie": cookie} if cookie else {})
    answer = await call(proxy, "GET", "/base/team/x", headers)
    assert answer.status == 200
    assert "authorization" not in fields_of(core.calls[0][0])
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["vary"] == "Cookie"


async def test_user_or_none_with_a_session_sends_its_token() -> None:
    proxy, _, core, _ = forwarder(echo, "user_or_none")
    assert (await call(proxy, "GET", "/base/team/x", SESSION)).status == 200
    assert fields_of(core.calls[0][0])["authorization"] == "Bearer tok-s1"


async def test_user_or_none_does_not_hide_a_session_store_outage() -> None:
    proxy, _, core, _ = forwarder(echo, "user_or_none")
    answer = await call(proxy, "GET", "/base/team/x", {"Cookie": "session=down"})
    assert (answer.status, answer.code, core.calls) == (503, "database_unavailable", [])


async def test_none_never_looks_up_the_session_and_keeps_the_upstreams_caching() -> None:
    def cached(request: UpstreamRequest, upload: Upload | None) -> Answer:
        return small(
            200,
            [(b"cache-control", b"public, max-age=60"), (b"vary", b"Accept"), (b"set-cookie", b"a=1")],
            b"{}",
        )

    proxy, gate, core, _ = forwarder(cached, "none")
    answer = await call(proxy, "GET", "/base/team/x", {**SESSION, "Authorization": "Bearer mine"})
    assert gate.authorized == 0
    assert "authorization" not in fields_of(core.calls[0][0])
    assert answer.headers["cache-control"] == "public, max-age=60"
    assert answer.headers["vary"] == "Accept"
    assert "set-cookie" not in answer.headers
    assert answer.headers["x-request-id"] == "rid-1"


async def test_methods_outside_the_routes_list_are_405_with_its_allow_before_the_session() -> None:
    proxy, gate, core, _ = forwarder(echo, methods=frozenset({"GET", "POST"}))
    answer = await call(proxy, "DELETE", "/base/team/x", SESSION)
    assert (answer.status, answer.code) == (405, "method_not_allowed")
    assert answer.headers["allow"] == "GET, POST"
    assert (gate.authorized, core.calls) == (0, [])


async def test_an_invalid_token_gets_one_refresh_and_one_retry() -> None:
    def refuse_first(request: UpstreamRequest, upload: Upload | None) -> Answer:
        if fields_of(request)["authorization"] == "Bearer tok-s1":
            return small(401, CHALLENGE, b"{}")
        return small(200, [], b"{}")

    proxy, gate, core, _ = forwarder(refuse_first, "user_or_none")
    answer = await call(proxy, "GET", "/base/team/x", SESSION)
    assert answer.status == 200
    assert gate.refreshed == ["s1"]
    assert [fields_of(request)["authorization"] for request, _ in core.calls] == [
        "Bearer tok-s1",
        "Bearer tok-s1-r1",
    ]


async def test_without_a_token_an_upstream_401_passes_through_unrefreshed() -> None:
    proxy, gate, core, _ = forwarder(lambda request, upload: small(401, CHALLENGE, b"{}"), "none")
    answer = await call(proxy, "GET", "/base/team/x", SESSION)
    assert answer.status == 401
    assert (gate.refreshed, len(core.calls)) == ([], 1)


async def test_a_stream_without_a_session_is_admitted_counted_and_released() -> None:
    seen: list[int] = []

    def stream(request: UpstreamRequest, upload: Upload | None) -> Answer:
        return streaming(FakeResponse(200, [(b"content-type", b"text/plain")], [b"a", b"b"]))

    proxy, _, _, streams = forwarder(stream, "none")
    original = streams.reserve

    def reserve(session_key: str, user_id: object = None) -> Any:
        seen.append(len(streams))
        assert session_key.startswith("anonymous-") and user_id is None
        return original(session_key, user_id)

    streams.reserve = reserve  # type: ignore[method-assign]
    answer = await call(proxy, "GET", "/base/team/x", {})
    assert (answer.status, answer.body) == (200, b"ab")
    assert (seen, len(streams)) == ([0], 0)


async def test_a_routes_streams_are_capped_by_its_own_pool() -> None:
    proxy, _, core, streams = forwarder(
        lambda request, upload: streaming(FakeResponse(200, [], [b"a"], hang=True)), "none", pool_size=1
    )
    streams.limit(total=100)  # the process has room: the route's own pool (1 → 1 stream) is the limit
    async with anyio.create_task_group() as group:
        # A browser that stays: its stream holds the route's one slot until cancelled.
        group.start_soon(
            call_scope, proxy, http_scope("GET", "/base/team/held"), Browser(then_disconnect=False)
        )
        with anyio.fail_after(5):
            while len(streams) < 1:
                await anyio.sleep(0.001)
        answer = await call(proxy, "GET", "/base/team/x", {})
        assert (answer.status, answer.code) == (503, "too_many_streams")
        group.cancel_scope.cancel()
    assert len(core.calls) == 2
