"""SPEC §8's scale-out topology, for the benchmarks' multi-process part (and for any test that wants it).

`scale_out(workdir, cores=2, bffs=2)`: nginx round-robin in front of the BFF processes, which forward to
nginx round-robin in front of the core processes. Every core shares one PostgreSQL database (and one secret
key and files directory), every BFF one PostgreSQL session database (and one cookie key ring and client
secret), and all of them get `LATCHKEY_REDIS_URL`. With one process of an app there is no nginx in front of
it: `cores=1, bffs=1` is the plain deployment, browser → BFF → core.

A bench user is seeded and signed in through the front; `Topology.cookie` is its session cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from latchkey import devstack
from tests.benchmarks import nginx
from tests.support import (
    BffServer,
    CoreServer,
    bff_env,
    cookie_from,
    core_env,
    create_postgres_database,
    drop_postgres_database,
    free_port,
)

COOKIE_NAME = "__Host-latchkey"


@dataclass
class Topology:
    url: str  # the front: nginx before the BFFs, or the one BFF
    core_url: str  # what the BFFs forward to: nginx before the cores, or the one core
    cores: list[CoreServer]
    bffs: list[BffServer]
    balancers: list[devstack.Process] = field(default_factory=list)  # nginx before the cores, the BFFs
    email: str = ""
    password: str = ""
    cookie: str = ""

    def roles(self) -> dict[str, tuple[int, ...]]:
        """The serving processes by kind: cores, BFFs and the nginx in front of them (if any)."""
        found = {
            "core": _pids([server.process for server in self.cores]),
            "BFF": _pids([server.process for server in self.bffs]),
            "nginx": _pids([balancer.popen for balancer in self.balancers]),
        }
        return {role: pids for role, pids in found.items() if pids}

    def pids(self) -> tuple[int, ...]:
        """Every serving process."""
        return tuple(pid for pids in self.roles().values() for pid in pids)


def _pids(processes: list[subprocess.Popen[bytes] | None]) -> tuple[int, ...]:
    return tuple(process.pid for process in processes if process is not None)


def balancer(workdir: Path, name: str, upstream: list[int], probe: str) -> tuple[devstack.Process, str]:
    """nginx round-robin over `upstream` on a free port, ready once `probe` answers 200 through it."""
    port = free_port()
    config = nginx.write_config(workdir, [nginx.Site(port=port, upstream=upstream)])
    url = devstack.local_url(port)
    process = devstack.Process(
        name, nginx.command(config), cwd=workdir, log_path=workdir / "stdout.log", ready_url=url + probe
    )
    return process, url


async def sign_in(url: str, email: str, password: str) -> str:
    """A browser's sign-in through the BFF (or the nginx in front of the BFFs): the session cookie."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{url}/bff/login", json={"username": email, "password": password}, headers={"X-CSRF": "1"}
        )
        cookie = cookie_from(response, COOKIE_NAME)
        if response.status_code != 200 or cookie is None:
            raise RuntimeError(
                f"sign-in through {url} answered {response.status_code}: {response.text[:200]}"
            )
        me = await client.get(
            f"{url}/api/v1/me", headers={"Cookie": f"{COOKIE_NAME}={cookie}", "X-CSRF": "1"}
        )
        if me.status_code != 200:
            raise RuntimeError(f"GET /api/v1/me through {url} answered {me.status_code}")
        return cookie


@contextlib.asynccontextmanager
async def scale_out(
    workdir: Path, *, cores: int = 2, bffs: int = 2, redis_url: str | None = None, **core_overrides: str
) -> AsyncIterator[Topology]:
    """Start the topology (see the module's docstring); stop it and drop its two databases after."""
    if cores < 1 or bffs < 1:
        raise ValueError("at least one core and one BFF")
    shared = {"LATCHKEY_REDIS_URL": redis_url} if redis_url else {}
    cleanup: list[Callable[[], Awaitable[None]]] = []

    def stop_later(process: devstack.Process | CoreServer | BffServer) -> None:
        async def stop() -> None:
            await asyncio.to_thread(process.stop)

        cleanup.append(stop)

    def drop_later(url: str) -> None:
        cleanup.append(lambda: drop_postgres_database(url))

    async def start_all(servers: list[CoreServer] | list[BffServer]) -> None:
        await asyncio.to_thread(servers[0].migrate)  # one database for all of them
        for server in servers:
            stop_later(server)
        await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers))

    try:
        workdir.mkdir(parents=True, exist_ok=True)
        core_database = await create_postgres_database()
        drop_later(core_database)
        env = core_env(core_database, workdir, **shared, **core_overrides)
        core_servers = [CoreServer(env=env, workdir=_dir(workdir / f"core-{n}")) for n in range(cores)]
        await start_all(core_servers)
        topology = Topology(url="", core_url=core_servers[0].url, cores=core_servers, bffs=[])
        if cores > 1:
            front, topology.core_url = balancer(
                workdir / "nginx-cores", "nginx-cores", [s.port for s in core_servers], "/healthz"
            )
            stop_later(front)
            topology.balancers.append(front)
            await asyncio.to_thread(front.start)

        first = core_servers[0]
        service, user = await asyncio.gather(
            first.create_user(developer=True, forwards_client_ip=True, name="BFF service"),
            first.create_user(name="Bench"),
        )
        session_database = await create_postgres_database()
        drop_later(session_database)
        bff_settings = bff_env(
            first, session_database, service["client_secret"], LATCHKEY_CORE_URL=topology.core_url, **shared
        )
        topology.bffs = [BffServer(env=bff_settings, workdir=_dir(workdir / f"bff-{n}")) for n in range(bffs)]
        await start_all(topology.bffs)
        topology.url = topology.bffs[0].url
        if bffs > 1:
            front, topology.url = balancer(
                workdir / "nginx-bffs", "nginx-bffs", [s.port for s in topology.bffs], "/healthz"
            )
            stop_later(front)
            topology.balancers.append(front)
            await asyncio.to_thread(front.start)

        topology.email, topology.password = user["email"], user["password"]
        topology.cookie = await sign_in(topology.url, topology.email, topology.password)
        yield topology
    finally:
        for step in reversed(cleanup):
            with contextlib.suppress(Exception):
                await step()


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
