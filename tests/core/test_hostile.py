"""Hostile input against the live core: oversized, mistyped, malformed and garbage requests are clear 4xx
answers (problem+json, or RFC 6749 JSON under /v1/oauth/), never a 500 and never a stack trace."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latchkey.core.security import credentials
from latchkey.core.security.credentials import BASE62, Kind
from tests.support import PASSWORD, CoreServer, Session, login, random_ip, unique_email

pytestmark = pytest.mark.database_agnostic

PROBLEM = "application/problem+json"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def assert_sane(response: httpx.Response) -> None:
    """No server error, no stack trace; errors are problem+json with a code (RFC 6749 JSON under oauth)."""
    assert response.status_code < 500, (response.request.method, response.request.url, response.text)
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    if response.status_code >= 400:
        oauth = response.request.url.path.startswith("/v1/oauth/")
        content_type = response.headers.get("content-type", "")
        if oauth:
            assert content_type.startswith("application/json"), content_type
            assert response.json()["error"]
        else:
            assert content_type.startswith(PROBLEM), (content_type, response.text)
            assert response.json()["code"]


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert_sane(response)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["code"] == code


@pytest.fixture(scope="module")
async def admin(core: CoreServer) -> dict[str, Any]:
    return await core.create_user(admin=True, developer=True, name="Hostile Admin")


@pytest.fixture(scope="module")
async def admin_session(core: CoreServer, service_client: dict[str, Any], admin: dict[str, Any]) -> Session:
    async with httpx.AsyncClient(timeout=30) as client:
        return await login(client, core, service_client["client_secret"], admin["email"])


@pytest.fixture(scope="module")
async def victim(core: CoreServer, admin_session: Session) -> dict[str, Any]:
    """A user the fuzzed admin PATCHes land on (nobody else uses it)."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{core.url}/v1/admin/users",
            json={"email": unique_email("victim"), "password": PASSWORD},
            headers=admin_session.headers,
        )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


@pytest.fixture(scope="module")
async def project(core: CoreServer, admin_session: Session) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{core.url}/v1/projects", json={"name": "hostile"}, headers=admin_session.headers
        )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
def json_endpoints(victim: dict[str, Any], project: dict[str, Any]) -> list[tuple[str, str]]:
    """Endpoints that take a JSON body (none of them changes a password or anything shared)."""
    return [
        ("POST", "/v1/admin/users"),
        ("PATCH", f"/v1/admin/users/{victim['id']}"),
        ("POST", "/v1/projects"),
        ("PATCH", f"/v1/projects/{project['id']}"),
        ("POST", "/v1/me/tokens"),
    ]


# --- bodies ----------------------------------------------------------------------------------------------


async def test_oversized_bodies_are_413(core_factory: Any, http: httpx.AsyncClient) -> None:
    small = await core_factory(LATCHKEY_MAX_BODY_BYTES="4096")
    admin = await small.create_user(admin=True, developer=True)
    session = await login(http, small, admin["client_secret"], admin["email"])
    url = f"{small.url}/v1/admin/users"

    def body(size: int) -> bytes:
        document = json.dumps({"email": unique_email("big"), "password": PASSWORD})
        return (document[:-1] + " " * (size - len(document)) + "}").encode()

    # Just under the limit is fine (whitespace is valid JSON).
    fits = await http.post(
        url, content=body(4000), headers={**session.headers, "content-type": "application/json"}
    )
    assert fits.status_code == 201, fits.text

    headers = {**session.headers, "content-type": "application/json"}
    assert_problem(await http.post(url, content=body(8192), headers=headers), 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield b'{"email": "x@example.test", "password": "'
        for _ in range(64):
            yield b"a" * 1024
        yield b'"}'

    assert_problem(await http.post(url, content=chunks(), headers=headers), 413, "payload_too_large")
    huge = await http.post(f"{small.url}/v1/projects", content=body(1_000_000), headers=headers)
    assert_problem(huge, 413, "payload_too_large")

    # The token endpoint answers in RFC 6749 JSON.
    form = await http.post(
        f"{small.url}/v1/oauth/token",
        content=b"grant_type=password&username=x&password=" + b"a" * 8192,
        headers={
            "Authorization": f"Secret {admin['client_secret']}",
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert form.status_code == 413
    assert_sane(form)
    # And the server is still fine.
    assert (await http.get(f"{small.url}/v1/me", headers=session.headers)).status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "text/json",
        "application/xml",
        "",
        "*/*",
        "application/json-patch",
    ],
)
async def test_json_endpoints_refuse_other_content_types_with_415(
    core: CoreServer,
    http: httpx.AsyncClient,
    admin_session: Session,
    json_endpoints: list[tuple[str, str]],
    content_type: str | None,
) -> None:
    for method, path in json_endpoints:
        headers = dict(admin_session.headers)
        if content_type is not None:
            headers["content-type"] = content_type
        response = await http.request(method, f"{core.url}{path}", content=b'{"name": "x"}', headers=headers)
        assert_problem(response, 415, "unsupported_media_type")


async def test_token_endpoint_refuses_json_with_415(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    response = await http.post(
        f"{core.url}/v1/oauth/token",
        json={"grant_type": "password", "username": "a", "password": "b"},
        headers={"Authorization": f"Secret {service_client['client_secret']}"},
    )
    assert response.status_code == 415
    assert_sane(response)


MALFORMED_JSON = [
    b"",
    b"{",
    b"{bad",
    b"[1, 2",
    b'{"email": "a@b.c"} trailing',
    b"\xff\xfe\x00{",
    b'{"email": "\\ud800"}',
    b'{"email": "\x01\x02"}',
    b"{'single': 'quotes'}",
    b'{"a": 1e99999}',
    b"NaN",
    b'{"name": "x", "name": "y"',
]


async def test_malformed_json_is_400_problem(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, json_endpoints: list[tuple[str, str]]
) -> None:
    headers = {**admin_session.headers, "content-type": "application/json"}
    for method, path in json_endpoints:
        for body in MALFORMED_JSON:
            response = await http.request(method, f"{core.url}{path}", content=body, headers=headers)
            assert_problem(response, 400)


@pytest.mark.parametrize("depth", [2_000, 100_000])
async def test_deeply_nested_json_is_400_problem(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, depth: int
) -> None:
    headers = {**admin_session.headers, "content-type": "application/json"}
    for body in [b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth]:
        response = await http.post(f"{core.url}/v1/admin/users", content=body, headers=headers)
        assert_problem(response, 400)


async def test_wrongly_shaped_json_is_4xx_problem(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session, json_endpoints: list[tuple[str, str]]
) -> None:
    shapes: list[Any] = [
        None,
        [],
        0,
        "text",
        True,
        {"": None},
        {"email": {"$ne": None}},
        {"name": [1]},
        {"name": 2**80},
        {"expires_in_days": 2**80, "name": "n", "scopes": ["profile"]},
        {"scopes": "admin"},
        {"name": "\x00", "description": "\x00"},
        {"name": "a" * 100_000},
        {"email": "a@b.c", "password": 1},
    ]
    for method, path in json_endpoints:
        for shape in shapes:
            response = await http.request(
                method, f"{core.url}{path}", json=shape, headers=admin_session.headers
            )
            assert_sane(response)
            assert 400 <= response.status_code < 500, (path, shape, response.text)


MALFORMED_FORMS = [
    b"",
    b"%zz",
    b"grant_type",
    b"=&=&&&",
    b"\xff\xfe\xfd",
    b"grant_type=magic",
    b"grant_type=password",
    b"grant_type=password&username=&password=",
    b"grant_type=password&grant_type=refresh_token",
    b"grant_type=refresh_token&refresh_token=lkr_short",
    b"grant_type=refresh_token&refresh_token=%00%01",
    b"grant_type=password&username=%00&password=%00%00%00%00%00%00%00%00",
    b"grant_type=password&username=a%ZZ@b&password=x",
    b"grant_type=password&username=" + b"u" * 5000 + b"&password=" + b"p" * 5000,
    b"grant_type=password&username=x@example.test&password=y&client_secret=z",
    b"grant_type[]=password",
]


async def test_malformed_token_forms_are_400_oauth_json(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any]
) -> None:
    for body in MALFORMED_FORMS:
        response = await http.post(
            f"{core.url}/v1/oauth/token",
            content=body,
            headers={
                "Authorization": f"Secret {service_client['client_secret']}",
                "content-type": "application/x-www-form-urlencoded",
                "X-Forwarded-For": random_ip(),
            },
        )
        assert_sane(response)
        assert response.status_code == 400, (body[:60], response.text)
        assert response.json()["error"] == response.json()["code"]
        assert response.headers["cache-control"] == "no-store"


# --- headers ---------------------------------------------------------------------------------------------


async def test_large_ordinary_headers_are_served(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session
) -> None:
    ordinary = {"Cookie": "c=" + "x" * 4000, "User-Agent": "u" * 1000, "X-Request-ID": "r" * 200}
    response = await http.get(f"{core.url}/v1/me", headers={**admin_session.headers, **ordinary})
    assert response.status_code == 200


async def test_huge_headers_are_refused_and_the_server_survives(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session
) -> None:
    # SPEC §10: oversized headers are 431 (or the connection is dropped); never served, never a 500.
    attempts = [
        {"X-Junk": "j" * 100_000},
        {"Authorization": "Bearer " + "a" * 100_000},
        {f"X-Many-{i}": "v" * 100 for i in range(1000)},
        {"Cookie": "; ".join(f"c{i}=" + "x" * 50 for i in range(2000))},
    ]
    for headers in attempts:
        try:
            response = await http.get(f"{core.url}/v1/me", headers={**admin_session.headers, **headers})
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            continue
        assert_sane(response)
        assert response.status_code in (400, 431), (list(headers)[:1], response.status_code)
    assert (await http.get(f"{core.url}/v1/me", headers=admin_session.headers)).status_code == 200


async def test_odd_headers(
    core: CoreServer,
    http: httpx.AsyncClient,
    admin: dict[str, Any],
    admin_session: Session,
    service_client: dict[str, Any],
) -> None:
    token = admin_session.access_token
    me = f"{core.url}/v1/me"
    # Two credentials at once.
    two = await http.get(
        me, headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    )
    assert_problem(two, 400, "invalid_request")
    # The scheme is case-insensitive (RFC 9110 §11.1); the token itself is not.
    assert (await http.get(me, headers={"Authorization": f"bEaReR {token}"})).status_code == 200
    assert_problem(await http.get(me, headers={"Authorization": f"Bearer {token.swapcase()}"}), 401)
    for value in [
        "Bearer",
        "Bearer  " + token + " extra",
        "Basic dXNlcjpwYXNz",
        f"Secret {service_client['client_secret']}",
        f"Bearer {token},Bearer {token}",
        f"Token {token}",
    ]:
        response = await http.get(me, headers={"Authorization": value})
        assert_sane(response)
        assert response.status_code in (200, 401), (value, response.status_code)
    # Non-ASCII bytes in headers.
    for raw in [b"Bearer \xff\xfe\xfd", b"\xc3\xa9\xc3\xa9", b"Bearer lka_\xe2\x82\xac"]:
        assert_problem(await http.get(me, headers={"Authorization": raw}), 401)
    latin = await http.get(
        me, headers={**admin_session.headers, "X-Note": b"caf\xe9", "Accept": b"\xff/\xff"}
    )
    assert_sane(latin)
    # Garbage client addresses on the token endpoint (trusted only from Secret callers) do not break it.
    # (Right passwords: a failure here would count against the shared core's loopback address.)
    for forwarded in ["not-an-ip", ", ,", "::zz", "999.999.999.999", "1.2.3.4, 5.6.7.8", "[::1]:80"]:
        response = await http.post(
            f"{core.url}/v1/oauth/token",
            data={"grant_type": "password", "username": admin["email"], "password": PASSWORD},
            headers={
                "Authorization": f"Secret {service_client['client_secret']}",
                "X-Forwarded-For": forwarded,
            },
        )
        assert_sane(response)
        assert response.status_code == 200, response.text
    # Odd methods and content negotiation.
    for method in ["TRACE", "PROPFIND", "PURGE"]:
        response = await http.request(method, me, headers=admin_session.headers)
        assert_sane(response)
        assert response.status_code == 405
    # A method the HTTP parser does not know never reaches the app: the server's own 400.
    unknown = await http.request("FOO", me, headers=admin_session.headers)
    assert unknown.status_code == 400
    assert "Traceback" not in unknown.text
    response = await http.get(me, headers={**admin_session.headers, "Accept": "application/xml"})
    assert_sane(response)


def _raw_request(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)  # no more bytes are coming: a short body must not hang the server
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


async def test_broken_http_framing(core: CoreServer, http: httpx.AsyncClient, admin_session: Session) -> None:
    auth = f"Authorization: Bearer {admin_session.access_token}\r\n".encode()
    payloads = [
        b"POST /v1/projects HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
        b"Content-Length: -1\r\nConnection: close\r\n\r\n{}",
        b"POST /v1/projects HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
        b"Content-Length: abc\r\nConnection: close\r\n\r\n{}",
        b"POST /v1/projects HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"POST /v1/projects HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
        b"Content-Length: 100\r\nConnection: close\r\n\r\n{}",  # body shorter than announced
        b"GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Bad\r\nConnection: close\r\n\r\n",
        b"GET /v1/me\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GARBAGE\r\n\r\n",
    ]
    for payload in payloads:
        answer = await asyncio.to_thread(_raw_request, core.port, payload)
        assert b"Traceback" not in answer
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert status < 500 or status == 501, answer[:200]  # 501: unknown transfer coding, if any
    assert (await http.get(f"{core.url}/v1/me", headers=admin_session.headers)).status_code == 200


# --- garbage credentials (property-based, against the live server) --------------------------------------

_HEADER_BYTES = st.sampled_from([9, *range(32, 127), *range(128, 256)])
_AUTH_VALUES = st.one_of(
    st.binary(max_size=300).map(lambda b: bytes(ch for ch in b if ch == 9 or 32 <= ch != 127).strip()),
    st.lists(_HEADER_BYTES, max_size=200).map(lambda chars: bytes(chars).strip()),
    st.tuples(
        st.sampled_from(
            ["Bearer ", "bearer ", "BEARER  ", "Secret ", "Basic ", "", "Bearer lka_", "Bearer lkp_"]
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
    ).map(lambda parts: "".join(parts).strip().encode()),
    st.tuples(
        st.sampled_from(["lka_", "lkp_", "lkr_", "lks_", "lkx_", "LKA_", "lka-"]),
        st.text(alphabet=BASE62, min_size=40, max_size=55),
    ).map(lambda parts: f"Bearer {''.join(parts)}".encode()),
    st.sampled_from(list(Kind)).map(lambda kind: f"Bearer {credentials.generate(kind)}".encode()),
)


def test_garbage_authorization_is_401(core: CoreServer, admin_session: Session) -> None:
    real = admin_session.access_token
    with httpx.Client(timeout=30) as client:

        @FUZZ
        @given(
            value=_AUTH_VALUES,
            path=st.sampled_from(["/v1/me", "/v1/projects", "/v1/admin/users", "/v1/me/tokens"]),
        )
        def check(value: bytes, path: str) -> None:
            response = client.get(f"{core.url}{path}", headers={"Authorization": value})
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")

        check()

        @FUZZ
        @given(position=st.integers(min_value=0, max_value=len(real) - 1), char=st.sampled_from(BASE62))
        def check_mutated(position: int, char: str) -> None:
            mutated = real[:position] + char + real[position + 1 :]
            response = client.get(f"{core.url}/v1/me", headers={"Authorization": f"Bearer {mutated}"})
            assert_sane(response)
            assert response.status_code == (200 if mutated == real else 401)

        check_mutated()


# --- fuzzed bodies ---------------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
_FIELDS = [
    "email",
    "password",
    "name",
    "role",
    "is_developer",
    "disabled",
    "description",
    "scopes",
    "expires_in_days",
]
_JSON_OBJECTS = st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=5)


def test_fuzzed_json_bodies_never_500(
    core: CoreServer, admin_session: Session, json_endpoints: list[tuple[str, str]]
) -> None:
    with httpx.Client(timeout=30, headers=admin_session.headers) as client:

        @FUZZ
        @given(endpoint=st.sampled_from(json_endpoints), body=st.one_of(_JSON_OBJECTS, _JSON))
        def check(endpoint: tuple[str, str], body: Any) -> None:
            method, path = endpoint
            response = client.request(method, f"{core.url}{path}", json=body)
            assert_sane(response)

        check()


_FORM_KEYS = st.sampled_from(["grant_type", "username", "password", "refresh_token", "scope", "token", "x"])
_FORM_VALUES = st.one_of(
    st.sampled_from(["password", "refresh_token", "", "client_credentials"]),
    st.text(max_size=60),
    st.sampled_from(list(Kind)).map(credentials.generate),
)


def test_fuzzed_token_forms_never_500(core: CoreServer, service_client: dict[str, Any]) -> None:
    headers = {"Authorization": f"Secret {service_client['client_secret']}"}
    with httpx.Client(timeout=30, headers=headers) as client:

        @FUZZ
        @given(form=st.lists(st.tuples(_FORM_KEYS, _FORM_VALUES), max_size=5), revoke=st.booleans())
        def check(form: list[tuple[str, str]], revoke: bool) -> None:
            path = "/v1/oauth/revoke" if revoke else "/v1/oauth/token"
            # A fresh client address each time, so these failures never share a brute-force bucket.
            response = client.post(
                f"{core.url}{path}",
                content=str(httpx.QueryParams(form)).encode(),
                headers={"content-type": "application/x-www-form-urlencoded", "X-Forwarded-For": random_ip()},
            )
            assert_sane(response)

        check()


# --- routes ----------------------------------------------------------------------------------------------


async def test_unknown_routes_are_404_problems(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session
) -> None:
    for method, path in [
        ("GET", "/nope"),
        ("GET", "/v1/nope"),
        ("POST", "/v1/admin/nope"),
        ("PATCH", "/v1/admin/users/abc"),
        ("PATCH", "/v1/admin/users/1.5"),
        ("GET", "/v1/oauth/nope"),
        ("GET", "/v2/me"),
        ("GET", "/" + "a/" * 500),
        ("GET", "/v1/%00"),
        ("GET", "/v1/me/..%2f..%2fetc%2fpasswd"),
    ]:
        for headers in [{}, admin_session.headers]:
            response = await http.request(method, f"{core.url}{path}", headers=headers)
            assert_sane(response)
            assert response.status_code == 404, (method, path, response.status_code)


async def test_wrong_methods_are_405_problems(
    core: CoreServer, http: httpx.AsyncClient, admin_session: Session
) -> None:
    for method, path in [("DELETE", "/v1/admin/users"), ("PUT", "/v1/me"), ("GET", "/v1/oauth/token")]:
        response = await http.request(method, f"{core.url}{path}", headers=admin_session.headers)
        assert_problem(response, 405)


async def test_odd_query_strings(core: CoreServer, http: httpx.AsyncClient, admin_session: Session) -> None:
    for query in [
        "limit=%zz",
        "limit=1&limit=2",
        "cursor=%00",
        "cursor=" + "a" * 5000,
        "limit=99999999999999999999",
        "%%%",
        "limit=1;drop",
        "cursor[]=1",
    ]:
        for path in ["/v1/admin/users", "/v1/projects", "/v1/me/tokens"]:
            response = await http.get(f"{core.url}{path}?{query}", headers=admin_session.headers)
            assert_sane(response)
            assert response.status_code in (200, 400), (path, query, response.text)


async def test_many_parallel_garbage_requests_do_not_hurt(core: CoreServer, http: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(
            http.get(f"{core.url}/v1/me", headers={"Authorization": f"Bearer {secrets.token_urlsafe(40)}"})
            for _ in range(100)
        )
    )
    for response in responses:
        assert_problem(response, 401, "invalid_token")
