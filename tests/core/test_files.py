"""`/v1/projects/{id}/files`: streamed uploads and downloads, names, limits, and memory while streaming."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import CoreServer, RssSampler, Session, login

pytestmark = pytest.mark.database_agnostic

MIB = 1024 * 1024


def files_url(core: CoreServer, project_id: int, name: str | None = None) -> str:
    base = f"{core.url}/v1/projects/{project_id}/files"
    return base if name is None else f"{base}/{name}"


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code, response.json()


def stored_blobs(core: CoreServer) -> set[str]:
    objects = Path(core.env["LATCHKEY_CORE_FILES_DIR"]) / "objects"
    return {path.name for path in objects.iterdir()} if objects.exists() else set()


def partial_uploads(core: CoreServer) -> list[Path]:
    incoming = Path(core.env["LATCHKEY_CORE_FILES_DIR"]) / "incoming"
    return list(incoming.iterdir()) if incoming.exists() else []


async def new_project(
    http: httpx.AsyncClient, core: CoreServer, session: Session, name: str = "Files"
) -> int:
    response = await http.post(f"{core.url}/v1/projects", json={"name": name}, headers=session.headers)
    assert response.status_code == 201, response.text
    project_id: int = response.json()["id"]
    return project_id


async def upload(
    http: httpx.AsyncClient,
    core: CoreServer,
    session: Session,
    project_id: int,
    name: str,
    content: bytes,
    content_type: str | None = "application/octet-stream",
) -> httpx.Response:
    headers = dict(session.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await http.put(files_url(core, project_id, name), content=content, headers=headers)


async def test_upload_download_replace_delete(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    project_id = await new_project(http, core, member_session)
    content = bytes(range(256)) * 1000 + b"\r\n\x00end"

    response = await upload(http, core, member_session, project_id, "data.bin", content, "image/png")
    assert response.status_code == 201, response.text
    first = response.json()
    assert set(first) == {"name", "size", "sha256", "content_type", "created_at", "updated_at"}
    assert first["name"] == "data.bin"
    assert first["size"] == len(content)
    assert first["sha256"] == hashlib.sha256(content).hexdigest()
    assert first["content_type"] == "image/png"

    response = await http.get(files_url(core, project_id, "data.bin"), headers=member_session.headers)
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(content))
    # User content is served as a download, never rendered as a page of the app's origin.
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]

    listed = (await http.get(files_url(core, project_id), headers=member_session.headers)).json()
    assert listed == {"items": [first], "next_cursor": None}

    replacement = b"shorter, and text"
    response = await upload(http, core, member_session, project_id, "data.bin", replacement, "text/plain")
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["size"] == len(replacement)
    assert second["sha256"] == hashlib.sha256(replacement).hexdigest()
    assert second["content_type"] == "text/plain"
    assert second["created_at"] == first["created_at"]
    assert datetime.fromisoformat(second["updated_at"]) > datetime.fromisoformat(first["updated_at"])

    response = await http.get(files_url(core, project_id, "data.bin"), headers=member_session.headers)
    assert response.content == replacement
    assert response.headers["content-type"] == "text/plain"  # as recorded, no charset added
    listed = (await http.get(files_url(core, project_id), headers=member_session.headers)).json()
    assert listed["items"] == [second]

    response = await http.delete(files_url(core, project_id, "data.bin"), headers=member_session.headers)
    assert response.status_code == 204
    assert_problem(
        await http.get(files_url(core, project_id, "data.bin"), headers=member_session.headers),
        404,
        "not_found",
    )
    assert_problem(
        await http.delete(files_url(core, project_id, "data.bin"), headers=member_session.headers),
        404,
        "not_found",
    )
    assert (await http.get(files_url(core, project_id), headers=member_session.headers)).json()["items"] == []


async def test_empty_file_unicode_name_and_default_content_type(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    project_id = await new_project(http, core, member_session)
    name = "résumé 2024 (final).txt"
    response = await upload(http, core, member_session, project_id, name, b"", content_type=None)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
    assert response.json()["size"] == 0
    assert response.json()["sha256"] == hashlib.sha256(b"").hexdigest()
    assert response.json()["content_type"] == "application/octet-stream"

    response = await http.get(files_url(core, project_id, name), headers=member_session.headers)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert response.headers["content-type"] == "application/octet-stream"
    assert "r%C3%A9sum%C3%A9" in response.headers["content-disposition"]

    longest = "n" * 255
    assert (await upload(http, core, member_session, project_id, longest, b"x")).status_code == 201
    names = [
        item["name"]
        for item in (await http.get(files_url(core, project_id), headers=member_session.headers)).json()[
            "items"
        ]
    ]
    assert names == sorted([name, longest])


async def test_file_pagination(core: CoreServer, http: httpx.AsyncClient, member_session: Session) -> None:
    project_id = await new_project(http, core, member_session)
    names = [f"file-{i}" for i in range(5)]
    for name in reversed(names):
        assert (await upload(http, core, member_session, project_id, name, name.encode())).status_code == 201
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (
            await http.get(files_url(core, project_id), params=params, headers=member_session.headers)
        ).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    response = await http.get(
        files_url(core, project_id), params={"cursor": "nope"}, headers=member_session.headers
    )
    assert_problem(response, 400, "invalid_cursor")


async def test_invalid_file_names(core: CoreServer, http: httpx.AsyncClient, member_session: Session) -> None:
    project_id = await new_project(http, core, member_session)
    # Percent-encoded, so the client sends them as they are; the server decodes them before routing, so
    # each reaches the handler as the name on the right.
    invalid = {
        "%2E%2E": "..",
        "%2E": ".",
        "a%2Fb": "a/b",  # an encoded slash arrives as a name containing "/"
        "a%5Cb": "a\\b",
        "a%00b": "a\x00b",
        "line%0Abreak": "line\nbreak",
        "tab%09": "tab\t",
        "x" * 256: "x" * 256,
    }
    for encoded in invalid:
        for method in ("PUT", "GET", "DELETE"):
            response = await http.request(
                method, files_url(core, project_id, encoded), content=b"data", headers=member_session.headers
            )
            assert_problem(response, 400, "invalid_file_name")
    # A literal sub-path is a name with a slash too, not a directory.
    response = await upload(http, core, member_session, project_id, "dir/file", b"data")
    assert_problem(response, 400, "invalid_file_name")
    assert (await http.get(files_url(core, project_id), headers=member_session.headers)).json()["items"] == []

    # Dots inside a name are fine, and the name never touches the disk as a path.
    response = await upload(http, core, member_session, project_id, "..hidden..", b"ok")
    assert response.status_code == 201
    assert response.json()["name"] == "..hidden.."


async def test_invalid_content_type(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    project_id = await new_project(http, core, member_session)
    response = await upload(http, core, member_session, project_id, "f", b"x", "text/" + "x" * 300)
    assert_problem(response, 400, "invalid_content_type")
    response = await upload(http, core, member_session, project_id, "f", b"x", "text/plain; charset=latin-1")
    assert response.status_code == 201
    assert response.json()["content_type"] == "text/plain; charset=latin-1"


async def test_files_of_another_users_project(
    core: CoreServer,
    http: httpx.AsyncClient,
    service_client: dict[str, Any],
    member_session: Session,
) -> None:
    project_id = await new_project(http, core, member_session)
    assert (await upload(http, core, member_session, project_id, "secret.txt", b"mine")).status_code == 201
    stranger = await core.create_user()
    other = await login(http, core, service_client["client_secret"], stranger["email"])

    assert_problem(await upload(http, core, other, project_id, "secret.txt", b"theirs"), 404, "not_found")
    assert_problem(await upload(http, core, other, project_id, "new.txt", b"theirs"), 404, "not_found")
    for method in ("GET", "DELETE"):
        response = await http.request(
            method, files_url(core, project_id, "secret.txt"), headers=other.headers
        )
        assert_problem(response, 404, "not_found")
    assert_problem(await http.get(files_url(core, project_id), headers=other.headers), 404, "not_found")
    assert_problem(await upload(http, core, member_session, 2**31 + 5, "x", b"x"), 404, "not_found")

    response = await http.get(files_url(core, project_id, "secret.txt"), headers=member_session.headers)
    assert response.content == b"mine"


async def test_deleting_a_project_removes_its_files_from_disk(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    project_id = await new_project(http, core, member_session)
    before = stored_blobs(core)
    for name in ("a", "b"):
        assert (
            await upload(http, core, member_session, project_id, name, name.encode() * 100)
        ).status_code == 201
    assert (await upload(http, core, member_session, project_id, "a", b"again")).status_code == 200
    assert len(stored_blobs(core) - before) == 2  # the replaced blob is gone already

    response = await http.delete(f"{core.url}/v1/projects/{project_id}", headers=member_session.headers)
    assert response.status_code == 204
    assert stored_blobs(core) - before == set()
    assert_problem(
        await http.get(files_url(core, project_id, "a"), headers=member_session.headers), 404, "not_found"
    )


async def test_body_limit(core_factory: Any, http: httpx.AsyncClient) -> None:
    server: CoreServer = await core_factory(LATCHKEY_MAX_BODY_BYTES="65536")
    developer = await server.create_user(developer=True)
    user = await server.create_user()
    session = await login(http, server, developer["client_secret"], user["email"])
    project_id = await new_project(http, server, session)

    exact = random.randbytes(65536)
    response = await upload(http, server, session, project_id, "exact", exact)
    assert response.status_code == 201, response.text
    kept = stored_blobs(server)
    assert len(kept) == 1

    # Announced too large: refused before a byte is read.
    response = await upload(http, server, session, project_id, "announced", exact + b"!")
    assert_problem(response, 413, "payload_too_large")

    # Chunked, no length announced: refused once the limit is crossed mid-stream.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"z" * 16384

    response = await http.put(
        files_url(server, project_id, "chunked"),
        content=chunks(),
        headers={**session.headers, "Content-Type": "application/octet-stream"},
    )
    assert_problem(response, 413, "payload_too_large")

    # Replacing an existing file with too much leaves the old contents in place.
    response = await upload(http, server, session, project_id, "exact", exact * 2)
    assert_problem(response, 413, "payload_too_large")
    assert (await http.get(files_url(server, project_id, "exact"), headers=session.headers)).content == exact

    assert partial_uploads(server) == []
    assert stored_blobs(server) == kept
    names = [
        item["name"]
        for item in (await http.get(files_url(server, project_id), headers=session.headers)).json()["items"]
    ]
    assert names == ["exact"]


@pytest.mark.slow
async def test_100_mib_streams_up_and_down_in_bounded_memory(core_factory: Any) -> None:
    """100 MiB goes up and comes back identical while the core's RSS grows far less than the file."""
    server: CoreServer = await core_factory()  # a fresh process, so other tests do not blur the figure
    developer = await server.create_user(developer=True)
    user = await server.create_user()
    size, chunk = 100 * MIB, MIB
    async with httpx.AsyncClient(timeout=120) as http:
        session = await login(http, server, developer["client_secret"], user["email"])
        project_id = await new_project(http, server, session, "Big")
        # Warm up the upload and download paths so the baseline includes their code and buffers.
        assert (await upload(http, server, session, project_id, "warm-up", b"w" * MIB)).status_code == 201
        assert (
            len((await http.get(files_url(server, project_id, "warm-up"), headers=session.headers)).content)
            == MIB
        )

        sent = hashlib.sha256()

        async def body() -> AsyncIterator[bytes]:
            generator = random.Random(2024)
            for _ in range(size // chunk):
                data = generator.randbytes(chunk)
                sent.update(data)
                yield data

        assert server.process is not None
        started = time.monotonic()
        async with RssSampler(server.process.pid) as rss:
            response = await http.put(
                files_url(server, project_id, "big.bin"),
                content=body(),
                headers={**session.headers, "Content-Type": "application/x-big"},
            )
            assert response.status_code == 201, response.text
            uploaded = time.monotonic()
            received = hashlib.sha256()
            length = 0
            async with http.stream(
                "GET", files_url(server, project_id, "big.bin"), headers=session.headers
            ) as down:
                assert down.status_code == 200
                assert down.headers["content-length"] == str(size)
                async for data in down.aiter_raw():
                    received.update(data)
                    length += len(data)
        finished = time.monotonic()

    assert response.json()["size"] == size
    assert response.json()["sha256"] == sent.hexdigest()
    assert length == size
    assert received.hexdigest() == sent.hexdigest()
    figure = (
        f"core RSS growth while streaming 100 MiB up and down: {rss.growth / MIB:.1f} MiB "
        f"(baseline {rss.baseline / MIB:.1f} MiB, peak {rss.peak / MIB:.1f} MiB; "
        f"upload {uploaded - started:.1f} s, download {finished - uploaded:.1f} s)"
    )
    print(figure)
    assert rss.growth < 40 * MIB, figure


async def test_aborted_upload_leaves_nothing_behind(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    project_id = await new_project(http, core, member_session)
    before = stored_blobs(core)
    reader, writer = await asyncio.open_connection("127.0.0.1", core.port)
    head = (
        f"PUT /v1/projects/{project_id}/files/aborted HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {member_session.access_token}\r\nContent-Length: {10 * MIB}\r\n\r\n"
    )
    writer.write(head.encode() + b"a" * (3 * MIB))
    await writer.drain()
    deadline = time.monotonic() + 5
    while not partial_uploads(core) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert partial_uploads(core), "the core should be streaming the body into a temporary file"
    writer.close()  # hang up mid-body
    await writer.wait_closed()
    del reader

    deadline = time.monotonic() + 5
    while partial_uploads(core) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert partial_uploads(core) == []
    assert stored_blobs(core) == before
    listed = (await http.get(files_url(core, project_id), headers=member_session.headers)).json()
    assert listed["items"] == []
    assert "Traceback" not in core.log()


BIDI = [
    "\u202a",  # LEFT-TO-RIGHT EMBEDDING
    "\u202b",  # RIGHT-TO-LEFT EMBEDDING
    "\u202c",  # POP DIRECTIONAL FORMATTING
    "\u202d",  # LEFT-TO-RIGHT OVERRIDE
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u2067",  # RIGHT-TO-LEFT ISOLATE
    "\u2068",  # FIRST STRONG ISOLATE
    "\u2069",  # POP DIRECTIONAL ISOLATE
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u061c",  # ARABIC LETTER MARK
]


def _percent(text: str, *, upper: bool) -> str:
    encoded = "".join(f"%{byte:02X}" if byte > 127 else chr(byte) for byte in text.encode())
    return encoded if upper else encoded.lower()


async def test_bidirectional_controls_in_file_names_are_refused(
    core: CoreServer, http: httpx.AsyncClient, member_session: Session
) -> None:
    """`invoice<RLO>fdp.exe` shows as `invoiceexe.pdf`: every bidi control is refused, wherever it sits and
    however the URL carries it."""
    project_id = await new_project(http, core, member_session)
    for char in BIDI:
        for name in (f"invoice{char}fdp.exe", f"{char}a", f"a{char}"):
            spellings = [
                name,  # httpx percent-encodes the raw character itself
                _percent(name, upper=True),
                _percent(name, upper=False),
            ]
            for spelling in spellings:
                for method in ("PUT", "GET", "DELETE"):
                    response = await http.request(
                        method,
                        files_url(core, project_id, spelling),
                        content=b"data",
                        headers=member_session.headers,
                    )
                    assert_problem(response, 400, "invalid_file_name")
    # Raw UTF-8 bytes in the request target (no client encoding at all) are refused as well.
    for char in ("\u202e", "\u2067", "\u061c"):
        target = f"/v1/projects/{project_id}/files/x{char}y.txt".encode()
        request = (
            b"PUT " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n"
            b"Authorization: Bearer " + member_session.access_token.encode() + b"\r\n\r\ndata"
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", core.port)
        try:
            writer.write(request)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), WAIT_SECONDS)
        finally:
            writer.close()
        status = int(answer.split(b" ", 2)[1])
        assert status == 400, answer[:300]
    listed = await http.get(files_url(core, project_id), headers=member_session.headers)
    assert listed.json()["items"] == []
    # Right-to-left text itself is fine: only the invisible formatting characters are refused.
    response = await upload(http, core, member_session, project_id, "\u05e9\u05dc\u05d5\u05dd.txt", b"ok")
    assert response.status_code == 201, response.text


WAIT_SECONDS = 5
