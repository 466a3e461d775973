"""The forwarder's one look at an answer of the core: a `204` to `POST /v1/me/password` through a session
calls the session side (which ends the user's other sessions) before the browser hears; nothing else does."""

from __future__ import annotations

from typing import Any

from latchkey.bff.proxy import ApiProxy, StreamRegistry
from latchkey.bff.proxy.body import Upload
from latchkey.bff.proxy.outbound import UpstreamRequest
from latchkey.bff.proxy.upstream import Answer
from tests.unit.bff.proxy.fakes import FakeCore, small
from tests.unit.bff.proxy.test_forwarder import SESSION, Gate
from tests.unit.bff.raw_asgi import bff_settings, call

SETTINGS = bff_settings(
    LATCHKEY_BFF_BASE_PATH="/base", LATCHKEY_COOKIE_PATH="/base", LATCHKEY_CORE_URL="http://core:8001"
)
JSON = {**SESSION, "X-CSRF": "1"}


def proxy_answering(status: int) -> tuple[ApiProxy, list[Any], list[str]]:
    """A proxy whose core answers `status` to everything; the grants the hook got; the order of events."""
    changed: list[Any] = []
    order: list[str] = []

    def script(request: UpstreamRequest, upload: Upload | None) -> Answer:
        order.append("core")
        return small(status)

    async def password_changed(grant: Any) -> None:
        order.append("hook")
        changed.append(grant)

    proxy = ApiProxy(
        SETTINGS,
        Gate(),
        StreamRegistry(),
        upstream=FakeCore(script),  # type: ignore[arg-type]
        password_changed=password_changed,
    )
    return proxy, changed, order


async def test_an_accepted_password_change_calls_the_hook_with_the_sessions_grant_before_answering() -> None:
    proxy, changed, order = proxy_answering(204)
    answer = await call(proxy, "POST", "/base/api/v1/me/password", JSON)
    assert answer.status == 204
    assert [(grant.session_key, grant.user_id) for grant in changed] == [("s1", 7)]
    assert order == ["core", "hook"]


async def test_a_refused_change_or_another_call_calls_nothing() -> None:
    for status, method, path in (
        (400, "POST", "/base/api/v1/me/password"),  # wrong current password
        (403, "POST", "/base/api/v1/me/password"),  # reauth_required
        (204, "DELETE", "/base/api/v1/me/password"),
        (204, "POST", "/base/api/v1/me/password/x"),
        (204, "POST", "/base/api/v1/me/passwords"),
        (204, "DELETE", "/base/api/v1/me/tokens/3"),
    ):
        proxy, changed, _ = proxy_answering(status)
        answer = await call(proxy, method, path, JSON)
        assert answer.status == status, (method, path)
        assert changed == [], (status, method, path)


async def test_a_query_string_does_not_hide_the_change() -> None:
    proxy, changed, _ = proxy_answering(204)
    answer = await call(proxy, "POST", "/base/api/v1/me/password", JSON, query=b"x=1")
    assert answer.status == 204
    assert len(changed) == 1
