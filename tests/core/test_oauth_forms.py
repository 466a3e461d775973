"""The OAuth endpoints' form bodies: the client is authenticated before any body byte is read, bodies are
capped (Content-Length or chunked), and parsing does bounded work — measured on a real core process.

An outside review took the core from 119 MB to 537 MB RSS, and stalled /healthz for 4.8 s, with 8 MiB of
`z=&` pairs and no credentials at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from latchkey.core.oauth.forms import MAX_FORM_BYTES, MAX_FORM_FIELDS
from latchkey.core.security import credentials
from latchkey.core.security.credentials import Kind
from tests.support import PASSWORD, CoreServer, RssSampler, random_ip, start_core, stop_core

pytestmark = pytest.mark.database_agnostic

MIB = 1024 * 1024
FORM = "application/x-www-form-urlencoded"
ENDPOINTS = ("/v1/oauth/token", "/v1/oauth/revoke")


@dataclass
class FormCore:
    server: CoreServer
    secret: str
    email: str


@pytest.fixture(scope="module")
async def form_core(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FormCore]:
    """A core of this module's own, so its memory figures are not blurred by other tests' work."""
    server = await start_core(backend, tmp_path_factory.mktemp(f"form-core-{backend}"))
    try:
        client = await server.create_user(developer=True, forwards_client_ip=True, name="BFF")
        user = await server.create_user()
        yield FormCore(server, client["client_secret"], user["email"])
    finally:
        await stop_core(server)


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["error"] == body["code"] == error, body
    assert response.headers["cache-control"] == "no-store"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Secret")


def pairs_body(size: int) -> bytes:
    """`z=&z=&…`: the cheapest bytes that make a form parser allocate the most."""
    return (b"z=&" * (size // 3 + 1))[:size]


async def chunked(size: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    """The same body without a Content-Length (chunked transfer encoding)."""
    piece = pairs_body(chunk)
    sent = 0
    while sent < size:
        yield piece[: min(chunk, size - sent)]
        sent += chunk


async def post_form(
    http: httpx.AsyncClient,
    core: FormCore,
    path: str,
    content: bytes | AsyncIterator[bytes],
    secret: str | None,
    **headers: str,
) -> httpx.Response:
    all_headers = {"Content-Type": FORM, "X-Forwarded-For": random_ip(), **headers}
    if secret is not None:
        all_headers["Authorization"] = f"Secret {secret}"
    return await http.post(f"{core.server.url}{path}", content=content, headers=all_headers)


async def test_huge_forms_cost_no_memory_and_never_stall_the_server(form_core: FormCore) -> None:
    """8 and 24 MiB bodies, announced or chunked, with and without a client secret, to both endpoints:
    401 or 413 without buffering the body, while /healthz keeps answering quickly."""
    server = form_core.server
    assert server.process is not None
    unregistered = credentials.generate(Kind.CLIENT_SECRET)
    cases: list[tuple[str, int, bool, str | None, int, str]] = []
    for path in ENDPOINTS:
        for size in (8 * MIB, 24 * MIB):
            for announced in (True, False):
                cases.append((path, size, announced, None, 401, "invalid_client"))
                cases.append((path, size, announced, unregistered, 401, "invalid_client"))
                cases.append((path, size, announced, form_core.secret, 413, "payload_too_large"))

    async with httpx.AsyncClient(timeout=60) as http:
        # Warm up every path taken below, so the baseline already holds their code and buffers.
        for path in ENDPOINTS:
            for secret in (None, form_core.secret):
                await post_form(http, form_core, path, pairs_body(MAX_FORM_BYTES + 1), secret)
                await post_form(http, form_core, path, chunked(MAX_FORM_BYTES * 4), secret)

        latencies: list[float] = []
        stop = asyncio.Event()

        async def probe_healthz() -> None:
            async with httpx.AsyncClient(timeout=30) as prober:
                while not stop.is_set():
                    started = time.monotonic()
                    response = await prober.get(f"{server.url}/healthz")
                    latencies.append(time.monotonic() - started)
                    assert response.status_code == 200
                    await asyncio.sleep(0.02)

        async with RssSampler(server.process.pid) as rss:
            prober = asyncio.create_task(probe_healthz())
            try:
                for path, size, announced, secret, status, error in cases:
                    content = pairs_body(size) if announced else chunked(size)
                    response = await post_form(http, form_core, path, content, secret)
                    assert_oauth_error(response, status, error)
            finally:
                stop.set()
                await prober
    worst = max(latencies)
    figure = (
        f"core RSS growth over {len(cases)} huge forms: {rss.growth / MIB:.1f} MiB "
        f"(baseline {rss.baseline / MIB:.1f} MiB, peak {rss.peak / MIB:.1f} MiB); "
        f"/healthz worst {worst * 1000:.0f} ms over {len(latencies)} probes"
    )
    print(figure)
    # Far less than the smallest body: none of them was buffered, let alone parsed.
    assert rss.growth < 4 * MIB, figure
    assert worst < 0.5, figure
    assert len(latencies) >= 5, figure


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_the_size_limit_is_exact_and_holds_for_every_framing(
    form_core: FormCore, http: httpx.AsyncClient, path: str
) -> None:
    secret = form_core.secret
    # Exactly at the limit the body is read and parsed (too many fields is the answer here, not 413).
    at_limit = await post_form(http, form_core, path, pairs_body(MAX_FORM_BYTES), secret)
    assert_oauth_error(at_limit, 400, "invalid_request")
    over = MAX_FORM_BYTES + 1
    assert_oauth_error(
        await post_form(http, form_core, path, pairs_body(over), secret), 413, "payload_too_large"
    )
    assert_oauth_error(
        await post_form(http, form_core, path, chunked(over, 1000), secret), 413, "payload_too_large"
    )
    # Small odd-sized chunks, and one big chunk: the limit counts bytes, not chunks.
    for chunk in (7, over):
        response = await post_form(http, form_core, path, chunked(over, chunk), secret)
        assert_oauth_error(response, 413, "payload_too_large")
    # A long value rather than many fields is the same.
    long_value = b"token=" + b"a" * MAX_FORM_BYTES
    assert_oauth_error(await post_form(http, form_core, path, long_value, secret), 413, "payload_too_large")
    # Without credentials, the size is never looked at: 401 first.
    assert_oauth_error(await post_form(http, form_core, path, pairs_body(over), None), 401, "invalid_client")
    # The content type is checked before anything else (415 without credentials too).
    wrong_type = await http.post(
        f"{form_core.server.url}{path}", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert_oauth_error(wrong_type, 415, "unsupported_media_type")


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_parameter_count_is_bounded(form_core: FormCore, http: httpx.AsyncClient, path: str) -> None:
    secret, email = form_core.secret, form_core.email
    if path.endswith("token"):
        fields = ["grant_type=password", f"username={email.replace('@', '%40')}", "password=" + PASSWORD]
    else:
        fields = ["token=" + credentials.generate(Kind.REFRESH)]
    filler = [f"x{n}=" for n in range(MAX_FORM_FIELDS - len(fields))]
    fits = "&".join([*fields, *filler])
    # Exactly MAX_FORM_FIELDS parameters: an ordinary answer (unknown parameters are ignored).
    response = await post_form(http, form_core, path, fits.encode(), secret)
    assert response.status_code == 200, response.text
    for body in (
        fits + "&y=",  # one named field too many
        fits + "&",  # an empty field counts too
        "&" * MAX_FORM_FIELDS,
        ";".join(["a=b"] * 10) + "&" + "&".join(["c="] * MAX_FORM_FIELDS),
    ):
        assert_oauth_error(
            await post_form(http, form_core, path, body.encode(), secret), 400, "invalid_request"
        )


async def test_repeated_and_ambiguous_parameters_are_refused(
    form_core: FormCore, http: httpx.AsyncClient
) -> None:
    secret, email = form_core.secret, form_core.email
    base = f"grant_type=password&username={email.replace('@', '%40')}&password={PASSWORD.replace(' ', '+')}"
    assert (await post_form(http, form_core, "/v1/oauth/token", base.encode(), secret)).status_code == 200
    for body in (
        base + "&grant_type=password",
        base + "&grant%5Ftype=password",  # the same name, percent-encoded
        base + "&password=other",
        base + "&client_secret=" + secret,
        base + "&client%5Fid=bff",
        base + "&username=" + email,
        base.replace("password=", "password=%FF%FE", 1),  # not UTF-8 once decoded
        base.encode().decode() + "&x=" + "caf\u00e9",  # a raw non-ASCII byte in the body
    ):
        response = await post_form(http, form_core, "/v1/oauth/token", body.encode(), secret)
        assert_oauth_error(response, 400, "invalid_request")
    revoke = "token=x&token=y"
    assert_oauth_error(
        await post_form(http, form_core, "/v1/oauth/revoke", revoke.encode(), secret), 400, "invalid_request"
    )


async def test_malformed_content_length_is_a_clean_4xx(form_core: FormCore) -> None:
    """Framing the HTTP server refuses never reaches the app; what reaches it is never a 500."""
    reader, writer = await asyncio.open_connection("127.0.0.1", form_core.server.port)
    try:
        writer.write(
            b"POST /v1/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode() + b"\r\n"
            b"Authorization: Secret " + form_core.secret.encode() + b"\r\n"
            b"Content-Length: 99999999999999999999\r\n\r\n"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()
    status = int(head.split(b" ", 2)[1])
    assert 400 <= status < 500, head[:200]


async def test_openapi_documents_413_on_both_form_endpoints(
    form_core: FormCore, http: httpx.AsyncClient
) -> None:
    document = (await http.get(f"{form_core.server.url}/schema/openapi.json")).json()
    for path in ENDPOINTS:
        operation: dict[str, Any] = document["paths"][path]["post"]
        assert {"400", "401", "413", "415"} <= set(operation["responses"])
        assert set(operation["requestBody"]["content"]) == {FORM}
