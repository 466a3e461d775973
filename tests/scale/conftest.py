"""What the scale-out tests (SPEC §8) start and read: several core and BFF processes sharing one database
— PostgreSQL when LATCHKEY_TEST_POSTGRES_URL is set, else one SQLite file — and a Redis, the event streams
they serve, how long a change takes to reach them, and what they log about Redis.

Each module starts its processes once (`launcher`, module-scoped); they are stopped and their databases
dropped when the module ends. The shared Redis at 127.0.0.1:6379 is never stopped or flushed: the apps
namespace their channels by their database URL, so modules (and other test runs) on it stay apart. A
module that breaks Redis starts one of its own (`PrivateRedis`).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from latchkey import devstack
from tests.benchmarks.topology import balancer as nginx_balancer
from tests.core.test_events import EventStream, Message
from tests.support import (
    PASSWORD,
    POSTGRES_URL,
    BffServer,
    CoreServer,
    Session,
    bff_env,
    core_env,
    drop_database,
    free_port,
    login,
    migrated_database_url,
    new_key,
    unique_email,
)

# One database for every process of a deployment: PostgreSQL when configured (CI), else a SQLite file.
BACKEND = "postgres" if POSTGRES_URL else "sqlite"
SHARED_REDIS = "redis://127.0.0.1:6379/0"
# SPEC §8: a change reaches every process within this many seconds.
CROSS_PROCESS_LIMIT = 1.0
# SPEC §8: without the broadcast (no Redis, or Redis down) a process trusts what it cached at most this
# long (the core's tokens, the BFF's sessions); a test proving that the broadcast did the work beats it.
LOCAL_TTL = 1.0
POLL_INTERVAL = 0.02
COOKIE_NAME = "__Host-latchkey"


# --- processes -------------------------------------------------------------------------------------------


class Launcher:
    """Starts one module's processes (cores and BFFs sharing a database, nginx in front of them) and, at
    `close`, stops them all at once and drops their databases."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[devstack.Process] = []
        self._servers: list[CoreServer | BffServer] = []
        self._databases: list[str] = []

    async def _database(self, name: str) -> str:
        url = await migrated_database_url(BACKEND, self.workdir, name)  # so `migrate` has nothing to do
        self._databases.append(url)
        return url

    async def _start(self, servers: Sequence[CoreServer | BffServer]) -> None:
        await asyncio.to_thread(servers[0].migrate)  # one database for all of them
        self._servers.extend(servers)
        await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers))

    async def cores(self, count: int, *, args: tuple[str, ...] = (), **overrides: str) -> list[CoreServer]:
        """`count` core processes on one new database, with one secret key and files directory."""
        env = core_env(await self._database("core"), self.workdir, **overrides)
        servers = [CoreServer(env=dict(env), workdir=self.workdir, args=args) for _ in range(count)]
        await self._start(servers)
        return servers

    async def bffs(
        self, core: CoreServer, client_secret: str, upstreams: Sequence[str], **overrides: str
    ) -> list[BffServer]:
        """One BFF process per upstream URL, on one new session database, with one key ring."""
        url = await self._database("bff")
        keys = f"k1:{new_key()}"
        servers = [
            BffServer(
                env=bff_env(
                    core,
                    url,
                    client_secret,
                    LATCHKEY_CORE_URL=upstream,
                    LATCHKEY_COOKIE_KEYS=keys,
                    **overrides,
                ),
                workdir=self.workdir,
            )
            for upstream in upstreams
        ]
        await self._start(servers)
        return servers

    async def balancer(self, name: str, ports: Sequence[int]) -> str:
        """nginx round-robin over `ports` (tests/benchmarks/nginx.py); its URL."""
        process, url = nginx_balancer(self.workdir / name, name, list(ports), "/healthz")
        self.processes.append(process)
        await asyncio.to_thread(process.start)
        return url

    async def close(self) -> None:
        launched = [server.launched for server in self._servers if server.launched is not None]
        await asyncio.to_thread(devstack.stop_all, [*self.processes, *launched])
        for url in self._databases:
            await drop_database(url)


@pytest.fixture(scope="module")
async def launcher(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Launcher]:
    started = Launcher(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]))
    try:
        yield started
    finally:
        await started.close()


class PrivateRedis:
    """A `redis-server` of this test's own on a free port, without persistence, to kill and restart."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: devstack.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart, on the same port) and wait until it answers PING."""
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = devstack.Process(
            "redis", argv, cwd=self.workdir, log_path=self.workdir / f"redis-{self.port}.log"
        )
        self.process.start()
        deadline = time.monotonic() + devstack.START_TIMEOUT
        while not self.answers():
            if not self.process.running or time.monotonic() > deadline:
                raise devstack.ProcessFailed(f"redis-server did not start:\n{self.process.log_tail()}")
            time.sleep(devstack.POLL_INTERVAL)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: connections drop at once, as when Redis's host dies."""
        assert self.process is not None and self.process.popen is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.popen.wait(5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path_factory.mktemp("redis"))
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


async def readiness(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """`/readyz` of a process, which must answer 200."""
    response = await client.get(f"{url}/readyz")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_redis(urls: Sequence[str], state: str, timeout: float = 10.0) -> None:
    """Wait until `/readyz` of every URL reports `"redis": state` (each process connects in the
    background); `/readyz` answers 200 throughout."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        for url in urls:
            while (await readiness(client, url))["redis"] != state:
                assert time.monotonic() < deadline, f"{url}/readyz never reported redis {state!r}"
                await asyncio.sleep(0.05)


# --- accounts --------------------------------------------------------------------------------------------


@dataclass
class Accounts:
    """Who the tests act as on one deployment: the BFF's service account (its client secret plays the BFF's
    part in password grants), and an administrator who creates members through the admin API (one CLI
    start per module rather than one per member)."""

    service: dict[str, Any]
    admin: dict[str, Any]
    admin_session: Session

    @property
    def client_secret(self) -> str:
        return str(self.service["client_secret"])

    async def member(self, client: httpx.AsyncClient, core: CoreServer | str) -> dict[str, Any]:
        """A new member account; its JSON plus `password`."""
        url = core if isinstance(core, str) else core.url
        response = await client.post(
            f"{url}/v1/admin/users",
            json={"email": unique_email(), "password": PASSWORD, "name": "Member"},
            headers=self.admin_session.headers,
        )
        assert response.status_code == 201, response.text
        member: dict[str, Any] = response.json()
        member["password"] = PASSWORD
        return member

    async def login(self, client: httpx.AsyncClient, core: CoreServer, email: str) -> Session:
        """A password grant through `core` (its access and refresh tokens)."""
        return await login(client, core, self.client_secret, email)


async def seed(core: CoreServer) -> Accounts:
    """The service account and an administrator, created through the CLI as operators do."""
    service, admin = await asyncio.gather(
        core.create_user(developer=True, forwards_client_ip=True, name="Service"),
        core.create_user(admin=True, name="Admin"),
    )
    async with httpx.AsyncClient(timeout=30) as client:
        session = await login(client, core, service["client_secret"], admin["email"])
    return Accounts(service, admin, session)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the browser's side of a BFF -------------------------------------------------------------------------


def cookie_headers(cookie: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a browser tab sends to the BFF: the session cookie and `X-CSRF: 1`."""
    headers = {"X-CSRF": "1", **(extra or {})}
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE_NAME}={cookie}"
    return headers


async def sign_in(client: httpx.AsyncClient, url: str, email: str, password: str = PASSWORD) -> str:
    """`POST /bff/login` through `url`; the session cookie."""
    response = await client.post(
        f"{url}/bff/login", json={"username": email, "password": password}, headers=cookie_headers(None)
    )
    assert response.status_code == 200, response.text
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE_NAME:
            return rest.partition(";")[0]
    raise AssertionError("the login set no session cookie")


# --- timings ---------------------------------------------------------------------------------------------


async def seconds_until_refused(
    request: Callable[[], Awaitable[httpx.Response]], since: float, limit: float = CROSS_PROCESS_LIMIT
) -> tuple[float, httpx.Response]:
    """Repeat `request` until it answers 401; the seconds from `since` (a `time.monotonic()` reading) to
    that answer, and the answer. Fails as soon as it still answers 200 `limit` seconds after `since`."""
    while True:
        response = await request()
        elapsed = time.monotonic() - since
        if response.status_code == 401:
            return elapsed, response
        assert response.status_code == 200, response.text
        assert elapsed < limit, f"still accepted {elapsed:.2f} s after the change"
        await asyncio.sleep(POLL_INTERVAL)


# --- event streams ---------------------------------------------------------------------------------------


@asynccontextmanager
async def event_stream(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str]
) -> AsyncIterator[EventStream]:
    """`GET url` as Server-Sent Events (straight to a core, or through a BFF), once the server says the
    subscription is live (`: connected`): from then on no change is missed."""
    async with client.stream("GET", url, headers={**headers, "Accept": "text/event-stream"}) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventStream(response)
        first = await stream.next()
        assert first is not None
        assert first.comments == ["connected"]
        yield stream


async def next_event_within(stream: EventStream, limit: float) -> Message:
    """The stream's next event, which must come within `limit` seconds."""
    try:
        return await stream.next_event(limit)
    except TimeoutError:
        raise AssertionError(f"no event within {limit:.2f} s") from None


async def event_about(stream: EventStream, project_id: int, timeout: float) -> Message:
    """The stream's next event about project `project_id` (events about others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = await stream.next_event(max(0.01, deadline - time.monotonic()))
        if message.json["project"]["id"] == project_id:
            return message


async def seconds_until_closed(stream: EventStream, since: float, limit: float) -> float:
    """Read the stream until the server closes it (comments may arrive before, events may not); the seconds
    from `since` to its end. Fails if it is still open `limit` seconds after `since`."""
    try:
        assert await stream.ended(max(0.01, limit - (time.monotonic() - since)))
    except TimeoutError:
        raise AssertionError(f"the stream was still open {limit:.2f} s after the change") from None
    return time.monotonic() - since


def client_port(stream: EventStream | httpx.Response) -> int:
    """The local port of the connection a response arrived on (to tell which worker serves it)."""
    response = stream.response if isinstance(stream, EventStream) else stream
    address = response.extensions["network_stream"].get_extra_info("client_addr")
    return int(address[1])
