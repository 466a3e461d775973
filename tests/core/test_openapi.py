"""The core's OpenAPI document (`latchkey/core/openapi.py`) documents every error answer with its media
type and headers, states the limits the code enforces, and `OPTIONS` names the methods each path takes."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from litestar import Litestar

from latchkey.core.app import create_app
from latchkey.core.security.auth import Bearer, declared_auth
from latchkey.core.validation import TOKEN_NAME_MAX
from latchkey.problems import PROBLEM_JSON
from latchkey.settings import load_core_settings
from tests.support import CoreServer, new_key

pytestmark = [
    pytest.mark.database_agnostic,
    pytest.mark.filterwarnings("ignore::litestar.exceptions.base_exceptions.LitestarDeprecationWarning"),
]

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def app() -> Litestar:
    return create_app(load_core_settings({"LATCHKEY_CORE_SECRET_KEY": new_key()}))


@pytest.fixture(scope="module")
def document(app: Litestar) -> dict[str, Any]:
    return app.openapi_schema.to_schema()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def bearer_operations(app: Litestar) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(declared_auth(handler), Bearer):
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
                found.update((method, path) for method in handler.http_methods if method != "OPTIONS")
    return found


def test_only_api_operations_are_documented(document: dict[str, Any]) -> None:
    assert not [path for path in document["paths"] if path.startswith("/schema")]


def test_every_error_answer_is_documented_with_its_media_type(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            expected = "application/json" if path.startswith("/v1/oauth/") else PROBLEM_JSON
            assert set(response["content"]) == {expected}, (method, path, status)
            if status == "401":
                assert response["headers"]["WWW-Authenticate"]["required"] is True, (method, path)
            if status == "429":
                assert response["headers"]["Retry-After"]["required"] is True, (method, path)


def test_every_bearer_route_documents_its_authentication_answers(
    app: Litestar, document: dict[str, Any]
) -> None:
    checked = 0
    for method, path in bearer_operations(app):
        responses = document["paths"][path][method.lower()]["responses"]
        # 400 for two Authorization headers (and bad parameters), 401 without a valid token, 403 when the
        # token lacks what the route declares.
        assert {"400", "401", "403"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if method in ("POST", "PATCH") and "requestBody" in document["paths"][path][method.lower()]:
            assert {"413", "415"} <= set(responses), (method, path)
        checked += 1
    assert checked >= 20


def test_enforced_limits_are_declared(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    token = schemas["CreateTokenRequest"]["properties"]
    assert token["expires_in_days"]["minimum"] == 1
    assert token["expires_in_days"]["maximum"] == 366
    assert token["scopes"]["minItems"] == 1
    assert token["scopes"]["uniqueItems"] is True
    assert re.search(token["name"]["pattern"], "x" * TOKEN_NAME_MAX)
    assert not re.search(token["name"]["pattern"], "x" * (TOKEN_NAME_MAX + 1))
    password = schemas["CreateUserRequest"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (8, 1024)
    change = schemas["ChangePasswordRequest"]["properties"]["new_password"]
    assert (change["minLength"], change["maxLength"]) == (8, 1024)
    for name in ("CreateUserRequest", "UpdateUserRequest", "CreateProjectRequest", "UpdateProjectRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in document["paths"]["/v1/me/tokens"]["get"]["parameters"]
    }
    assert (parameters["limit"]["minimum"], parameters["limit"]["maximum"]) == (1, 100)
    assert parameters["cursor"]["pattern"] == "^[A-Za-z0-9_-]+$"


async def test_options_allows_every_method_of_the_path(
    app: Litestar, document: dict[str, Any], core: CoreServer, http: httpx.AsyncClient
) -> None:
    for path, item in document["paths"].items():
        documented = {method.upper() for method in item if method in METHODS}
        url = core.url + re.sub(r"\{\w+\}", "1", path)
        response = await http.options(url)
        assert response.status_code == 204, (path, response.text)
        allowed = {method.strip() for method in response.headers["allow"].split(",")}
        assert allowed == documented | {"OPTIONS"}, path
