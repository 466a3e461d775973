"""Download tickets through a real BFF in front of a real core: `POST /bff/downloads` hands the session a
60-second link, `GET /bff/downloads/<ticket>` streams the file as an attachment; hostile tickets, other
sessions, no session, expired tickets and paths that are not a project file's are refused."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from latchkey.bff.downloads import TICKET_SECONDS, DownloadTickets, download_target
from latchkey.bff.sessions.types import hash_session_id
from latchkey.problems import ProblemError
from latchkey.sealing import KeyRing, unseal
from latchkey.settings import parse_key_ring
from tests.support import BffServer, Browser, CoreServer

pytestmark = pytest.mark.database_agnostic

CONTENT = b"quarterly numbers\n" * 1000


async def signed_in(http: httpx.AsyncClient, bff: BffServer, user: dict[str, Any]) -> Browser:
    browser = Browser(http, bff)
    await browser.login(user["email"])
    return browser


async def project_with_file(browser: Browser, name: str = "report.txt") -> str:
    """A new project holding `name`; its /api path."""
    response = await browser.request("POST", "/api/v1/projects", json={"name": "Downloads"})
    assert response.status_code == 201, response.text
    path = f"/api/v1/projects/{response.json()['id']}/files/{name}"
    response = await browser.request("PUT", path, content=CONTENT, headers={"Content-Type": "text/plain"})
    assert response.status_code in (200, 201), response.text
    return path


async def ticket_url(browser: Browser, path: str) -> str:
    response = await browser.request("POST", "/bff/downloads", json={"path": path})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["expires_in"] == TICKET_SECONDS
    assert body["url"].startswith("/bff/downloads/")
    return str(body["url"])


async def navigate(browser: Browser, url: str) -> httpx.Response:
    """What the browser's native download does: a GET with the cookie and no X-CSRF header."""
    return await browser.request("GET", url, csrf=False, headers={"Accept": "text/html,*/*"})


def problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    return str(response.json()["code"])


async def test_a_ticket_downloads_the_file_as_an_attachment(
    core: CoreServer, bff: BffServer, http: httpx.AsyncClient
) -> None:
    browser = await signed_in(http, bff, await core.create_user())
    path = await project_with_file(browser, "report%20Q1.txt")
    url = await ticket_url(browser, path)
    # No token, no readable file name in the link.
    assert "lkp_" not in url and "report" not in url
    response = await navigate(browser, url)
    assert response.status_code == 200, response.text
    assert response.content == CONTENT
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "report%20Q1.txt" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in response.headers["cache-control"]
    # The link works again within its minute (a retried download), for this session only.
    assert (await navigate(browser, url)).content == CONTENT


async def test_a_ticket_is_bound_to_its_session(
    core: CoreServer, bff: BffServer, http: httpx.AsyncClient
) -> None:
    user = await core.create_user()
    owner = await signed_in(http, bff, user)
    url = await ticket_url(owner, await project_with_file(owner))

    # The same user in another session (another browser) cannot use it …
    other_session = await signed_in(http, bff, user)
    response = await navigate(other_session, url)
    assert response.status_code == 403
    assert problem_code(response) == "download_invalid"
    # … nor another user, nor a request without a cookie.
    stranger = await signed_in(http, bff, await core.create_user())
    assert problem_code(await navigate(stranger, url)) == "download_invalid"
    anonymous = Browser(http, bff)
    response = await navigate(anonymous, url)
    assert response.status_code == 401
    assert problem_code(response) == "no_session"


async def test_a_ticket_dies_with_its_session(
    core: CoreServer, bff: BffServer, http: httpx.AsyncClient
) -> None:
    browser = await signed_in(http, bff, await core.create_user())
    url = await ticket_url(browser, await project_with_file(browser))
    cookie = browser.cookie
    assert (await browser.request("POST", "/bff/logout")).status_code in (200, 204)
    browser.cookie = cookie  # a copy of the cookie kept after logout
    response = await navigate(browser, url)
    assert response.status_code == 401, response.text
    assert response.content != CONTENT


async def test_garbage_and_altered_tickets_are_refused(
    core: CoreServer, bff: BffServer, http: httpx.AsyncClient
) -> None:
    browser = await signed_in(http, bff, await core.create_user())
    url = await ticket_url(browser, await project_with_file(browser))
    ticket = url.rsplit("/", 1)[1]
    flipped = ticket[:-3] + ("A" if ticket[-3] != "A" else "B") + ticket[-2:]
    for bad in (
        "x",
        "k1.",
        "k1.AAAA",
        "nokey." + ticket.split(".", 1)[1],
        flipped,
        ticket + "A",
        "." * 40,
        "k1." + "A" * 2000,
        "%2e%2e",
    ):
        response = await navigate(browser, f"/bff/downloads/{bad}")
        assert response.status_code == 403, (bad, response.text)
        assert problem_code(response) == "download_invalid"
    # Nothing but GET (and HEAD).
    response = await browser.request("POST", url)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_an_expired_ticket_is_gone(core: CoreServer, bff: BffServer, http: httpx.AsyncClient) -> None:
    browser = await signed_in(http, bff, await core.create_user())
    path = await project_with_file(browser)
    # A ticket issued 61 s ago by this BFF's keys for this very session: authentic, but too old.
    ring = KeyRing(parse_key_ring(bff.env["LATCHKEY_COOKIE_KEYS"]))
    assert browser.cookie is not None
    sid = unseal(ring, browser.cookie, name=browser.cookie_name).sid
    tickets = DownloadTickets(ring)
    old = tickets.issue(download_target(path), hash_session_id(sid), now=time.time() - TICKET_SECONDS - 1)
    response = await navigate(browser, f"/bff/downloads/{old}")
    assert response.status_code == 410
    assert problem_code(response) == "download_expired"
    # The same forged way, a fresh one works: the refusal above is about age alone.
    fresh = tickets.issue(download_target(path), hash_session_id(sid))
    assert (await navigate(browser, f"/bff/downloads/{fresh}")).content == CONTENT


NOT_FILE_PATHS = [
    "/api/v1/me",
    "/api/v1/me/tokens",
    "/api/v1/projects/1",
    "/api/v1/projects/1/files",
    "/api/v1/projects/1/files/",
    "/api/v1/projects/1/files/a/b",
    "/api/v1/projects/1/files/..",
    "/api/v1/projects/1/files/%2e%2e",
    "/api/v1/projects/1/files/a%2Fb",
    "/api/v1/projects/1/files/a?x=1",
    "/api/v1/projects/01/files/a",
    "/api/v1/projects/x/files/a",
    "/api/v1/projects/1/../../me/files/a",
    "/api/v1/projects/1/files/é",
    "/bff/sessions",
    "https://evil.example/api/v1/projects/1/files/a",
    "//evil.example/api/v1/projects/1/files/a",
    "",
    "/api/v1/projects/1/files/" + "a" * 3000,
]


async def test_only_a_project_file_path_gets_a_ticket(browser: Browser, member: dict[str, Any]) -> None:
    await browser.login(member["email"])
    for path in NOT_FILE_PATHS:
        response = await browser.request("POST", "/bff/downloads", json={"path": path})
        assert response.status_code == 400, (path, response.text)
        assert problem_code(response) == "invalid_path"


async def test_asking_for_a_ticket_needs_a_session_json_and_csrf(
    browser: Browser, member: dict[str, Any]
) -> None:
    path = "/api/v1/projects/1/files/a.txt"
    # No session.
    response = await browser.request("POST", "/bff/downloads", json={"path": path})
    assert response.status_code == 401
    assert problem_code(response) == "no_session"
    await browser.login(member["email"])
    # No X-CSRF: the usual CSRF refusal, before anything else.
    response = await browser.request("POST", "/bff/downloads", json={"path": path}, csrf=False)
    assert response.status_code == 403
    assert problem_code(response) == "csrf_failed"
    # A cross-site POST.
    response = await browser.request(
        "POST", "/bff/downloads", json={"path": path}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert problem_code(response) == "csrf_failed"
    # Not JSON; unknown fields.
    response = await browser.request(
        "POST", "/bff/downloads", content=path, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    response = await browser.request("POST", "/bff/downloads", json={"path": path, "token": "x"})
    assert response.status_code == 400


async def test_a_missing_file_is_the_cores_404(
    core: CoreServer, bff: BffServer, http: httpx.AsyncClient
) -> None:
    browser = await signed_in(http, bff, await core.create_user())
    path = await project_with_file(browser)
    url = await ticket_url(browser, path.rsplit("/", 1)[0] + "/absent.txt")
    response = await navigate(browser, url)
    assert response.status_code == 404
    assert "content-disposition" not in response.headers


def test_download_target_keeps_the_encoded_name() -> None:
    assert download_target("/api/v1/projects/12/files/a%20b.txt") == "/v1/projects/12/files/a%20b.txt"
    with pytest.raises(ProblemError) as refused:
        download_target("/api/v1/projects/12/files/%00")
    assert refused.value.code == "invalid_path"
