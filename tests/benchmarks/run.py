"""`just bench`: SPEC §9 measured in one run on one machine, every comparison a same-round ratio.

    python -m tests.benchmarks.run            # the reference run: docs/benchmarks.{md,svg,json}
    python -m tests.benchmarks.run --quick    # under two minutes, for development: var/bench/

What runs (all on this machine, each server its own process, wrk from Debian's package as the load):
- a core (`latchkey core`, SQLite) and, in front of it, the hops compared with calling it directly:
  nginx `proxy_pass` (the floor of any hop), the bare Litestar + aiohttp forwarder in `forwarder.py` (the
  floor of a Python hop), and Latchkey's BFF three times: SQLite sessions, PostgreSQL sessions, and
  SQLite with `--workers 2`;
- interleaved rounds: every target once per round, in the same order, several rounds; each figure is the
  median over rounds, and each ratio the median of the ratios within a round (so a slow phase of the
  shared machine hits both sides of a ratio alike);
- in the same rounds, the core's own cost: `GET /v1/me` with a personal access token straight to the core
  (SQLite, and a core of its own on PostgreSQL) beside the bare Litestar app of `bare_core.py`;
- then, against the single-worker SQLite BFF: proxied p99 with and without a login storm, cookie
  seal/unseal beside Fernet, peak RSS while 100 MiB goes up and down, and RSS before/after a long run;
- last, on a stack of its own (`topology.py`), SPEC §8's 2 cores + 2 BFFs behind nginx beside 1 + 1;
- and on another (`websocket_echo.py`), the WebSocket echo round trip through the BFF's relay beside the
  same upstream called straight (SPEC §12).

`--only profile` and `--only profile-core` sample the BFF or the core under load with py-spy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psutil

from latchkey import devstack
from tests import support
from tests.benchmarks import nginx as nginx_setup
from tests.benchmarks import oidc_callback, websocket_echo
from tests.benchmarks.report import evaluate_targets, write_report
from tests.benchmarks.topology import Topology, scale_out
from tests.support import (
    BffServer,
    Browser,
    CoreServer,
    RssSampler,
    free_port,
    password_grant,
    random_ip,
    start_bff,
    start_core,
    stop_bff,
    stop_core,
)

ROOT = Path(__file__).resolve().parents[2]
# The PostgreSQL-backed BFF creates (and drops) a database of its own on this server; this kind of
# machine runs one here with trust auth. LATCHKEY_TEST_POSTGRES_URL, as for the tests, overrides it.
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
# The multi-process part's processes share this Redis (SPEC §8: pub/sub only, nothing is stored in it).
REDIS_URL = os.environ.get("LATCHKEY_TEST_REDIS_URL", "").strip() or "redis://127.0.0.1:6379/11"
MiB = 1 << 20
STREAM_MIB = 100


@dataclass(frozen=True)
class Profile:
    """How long each part runs."""

    rounds: int
    duration: int  # seconds per wrk run at 32 connections (wrk takes whole seconds)
    latency_duration: int  # seconds per wrk run at one connection
    storm_duration: int
    stability_requests: int
    cookie_calls: int


FULL = Profile(
    rounds=5,
    duration=8,
    latency_duration=8,
    storm_duration=8,
    stability_requests=200_000,
    cookie_calls=200_000,
)
# Still three interleaved rounds of everything, with the shortest runs wrk takes: under two minutes.
QUICK = Profile(
    rounds=3,
    duration=1,
    latency_duration=1,
    storm_duration=1,
    stability_requests=5_000,
    cookie_calls=20_000,
)
CONNECTIONS = 32
WRK_THREADS = 1  # one load thread: wrk needs far less than a core for these rates, the servers need the rest
STORM_CONCURRENCY = 8
# Browsers per storm account: at most two of an account's sign-ins in flight, below the core's per
# account-and-IP brute-force limit (in-flight attempts count until their password is checked).
STORM_ACCOUNTS = 4


# --- wrk --------------------------------------------------------------------------------------------------


@dataclass
class Target:
    key: str
    label: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    # The serving processes (their children included): CPU per request is measured over all of them.
    pids: tuple[int, ...] = ()
    # The same processes by kind ({"core": …, "BFF": …}), when the CPU of each kind is wanted too.
    roles: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        """User + system CPU so far of the target's process trees (0 when unknown)."""
        return tree_cpu(self.pids)


def tree_cpu(pids: tuple[int, ...]) -> float:
    """User + system CPU seconds so far of these processes and their children."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(pid)
            for process in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    total += times.user + times.system
    return total


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors plus non-2xx/3xx answers: a run with any is not a valid measurement
    cpu_us: float = 0.0  # CPU time of the target's own process(es) per request
    cpu_roles_us: dict[str, float] = field(default_factory=dict)  # the same, by kind of process


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_REQUESTS = re.compile(r"^\s+(\d+) requests in", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(output: str) -> WrkRun:
    """The figures of one `wrk --latency` run (raises ValueError when the output has none)."""
    latency = {int(p): float(v) * _UNITS[u] for p, v, u in _LATENCY.findall(output)}
    rps, requests = _RPS.search(output), _REQUESTS.search(output)
    if rps is None or requests is None or set(latency) != {50, 99}:
        raise ValueError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in _NON_2XX.findall(output))
    for counts in _SOCKET_ERRORS.findall(output):
        errors += sum(int(n) for n in counts)
    return WrkRun(float(rps.group(1)), latency[50], latency[99], int(requests.group(1)), errors)


async def wrk(target: Target, connections: int, duration: int) -> WrkRun:
    args = ["wrk", f"-t{min(WRK_THREADS, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in target.headers.items():
        args += ["-H", f"{name}: {value}"]
    cpu_before = target.cpu_seconds()
    roles_before = {role: tree_cpu(pids) for role, pids in target.roles.items()}
    process = await asyncio.create_subprocess_exec(
        *args, target.url, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await process.communicate()
    run = parse_wrk(output.decode())
    if run.errors:
        raise RuntimeError(f"{target.key}: {run.errors} failed requests out of {run.requests}")
    per_request = 1e6 / max(run.requests, 1)
    run.cpu_us = (target.cpu_seconds() - cpu_before) * per_request
    run.cpu_roles_us = {
        role: (tree_cpu(pids) - roles_before[role]) * per_request for role, pids in target.roles.items()
    }
    return run


# --- the servers ------------------------------------------------------------------------------------------


class Fixture:
    """A benchmark-only server process (nginx, the bare forwarder) on a free port."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.server = devstack.Process(name, argv, env={**os.environ, **env}, cwd=ROOT, log_path=log)

    @property
    def url(self) -> str:
        return devstack.local_url(self.port)

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.server.popen

    async def start(self, probe: str, headers: dict[str, str]) -> None:
        """Start it and wait until `probe` answers 200 (nginx has no /healthz: it proxies to the core)."""
        self.server.ready_url = self.url + probe
        self.server.ready_headers = headers
        await asyncio.to_thread(self.server.start)

    def stop(self) -> None:
        self.server.stop()


def nginx_binary() -> str:
    return nginx_setup.binary()


def nginx_fixture(workdir: Path, upstream_port: int, me: bytes) -> tuple[Fixture, int]:
    """nginx with one worker, keep-alive to the core, no logs: the plainest proxy_pass hop.

    A second port is the *instant upstream* of the ceiling measurement: `GET /v1/me` answered by nginx
    itself with the core's own answer for the bench user (`me`), everything else passed to the core (so a
    BFF in front of it can still sign in)."""
    port, instant_port = free_port(), free_port()
    sites = [
        nginx_setup.Site(port=port, upstream=[upstream_port]),
        nginx_setup.Site(port=instant_port, upstream=[upstream_port], answers={"/v1/me": me.decode()}),
    ]
    config = nginx_setup.write_config(workdir, sites)
    return Fixture("nginx", nginx_setup.command(config), {}, port, workdir / "stdout.log"), instant_port


def bare_core_fixture(workdir: Path, answers: dict[str, Any]) -> Fixture:
    """The bare Litestar app of the core-cost target (bare_core.py), answering `answers[token]`."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [sys.executable, "-m", "tests.benchmarks.bare_core", "--port", str(port), "--log-level", "warning"]
    return Fixture("bare-core", argv, {"BENCH_ANSWERS": json.dumps(answers)}, port, workdir / "bare-core.log")


def forwarder_fixture(workdir: Path, upstream: str) -> Fixture:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.benchmarks.forwarder:app",
        "--factory",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-server-header",
    ]
    return Fixture("forwarder", argv, {"BENCH_UPSTREAM": upstream}, port, workdir / "forwarder.log")


@dataclass
class Stack:
    core: CoreServer
    bff: BffServer
    bff_postgres: BffServer | None
    bff_workers2: BffServer | None
    nginx: Fixture
    forwarder: Fixture
    token: str
    email: str
    password: str
    storm_accounts: list[tuple[str, str]]
    cookies: dict[str, str]
    problems: dict[str, str]
    bff_baseline: BffServer | None = None
    baseline_label: str = ""
    # The ceiling: the same hops in front of an upstream that answers at once (see nginx_fixture).
    instant_port: int = 0
    instant_forwarder: Fixture | None = None
    bff_instant: BffServer | None = None
    # The core's own cost: a personal access token straight to the core (SQLite, and a core of its own on
    # PostgreSQL), beside the bare Litestar app that checks the token in a dict (bare_core.py).
    pat: str = ""
    core_postgres: CoreServer | None = None
    pat_postgres: str = ""
    bare_core: Fixture | None = None

    def ceiling_targets(self) -> list[Target]:
        """The bare forwarder and the BFF in front of the instant upstream, beside that upstream alone."""
        if self.instant_forwarder is None or self.bff_instant is None:
            return []
        bearer = {"Authorization": f"Bearer {self.token}"}
        return [
            Target(
                "direct",
                "instant upstream alone (nginx answering)",
                f"http://127.0.0.1:{self.instant_port}/v1/me",
                bearer,
                _pid(self.nginx),
            ),
            Target(
                "bare",
                "bare Litestar + aiohttp forwarder → instant upstream",
                f"{self.instant_forwarder.url}/v1/me",
                bearer,
                _pid(self.instant_forwarder),
            ),
            self.bff_target("bff", "Latchkey BFF → instant upstream", self.bff_instant, "bff_instant"),
        ]

    def targets(self) -> list[Target]:
        bearer = {"Authorization": f"Bearer {self.token}"}
        found = [
            Target("direct", "core, direct (bearer)", f"{self.core.url}/v1/me", bearer, _pid(self.core)),
            Target("nginx", "nginx proxy_pass hop", f"{self.nginx.url}/v1/me", bearer, _pid(self.nginx)),
            Target(
                "bare",
                "bare Litestar + aiohttp forwarder",
                f"{self.forwarder.url}/v1/me",
                bearer,
                _pid(self.forwarder),
            ),
            self.bff_target("bff", "Latchkey BFF (SQLite sessions)", self.bff),
            # SPEC §12: a configured route to the core itself (see CUSTOM_ROUTE), beside /api in each round.
            self.bff_target(
                "bff_route",
                f"Latchkey BFF, custom route {CUSTOM_ROUTE} → core",
                self.bff,
                "bff",
                path=f"{CUSTOM_ROUTE}/v1/me",
            ),
        ]
        if self.bff_postgres is not None:
            found.append(
                self.bff_target("bff_postgres", "Latchkey BFF (PostgreSQL sessions)", self.bff_postgres)
            )
        if self.bff_workers2 is not None:
            found.append(self.bff_target("bff_workers2", "Latchkey BFF --workers 2", self.bff_workers2))
        if self.bff_baseline is not None:
            found.append(self.bff_target("bff_baseline", self.baseline_label, self.bff_baseline))
        if self.bare_core is not None:
            found += self.core_cost_targets()
        return found

    def pat_target(self) -> Target:
        """`GET /v1/me` with a personal access token straight to the SQLite core."""
        bearer = {"Authorization": f"Bearer {self.pat}"}
        return Target("core_pat", "core, PAT (SQLite)", f"{self.core.url}/v1/me", bearer, _pid(self.core))

    def core_cost_targets(self) -> list[Target]:
        """The bare Litestar app and the cores it is compared with (SPEC §9 core cost)."""
        if self.bare_core is None:
            return []
        found = [
            Target(
                "bare_core",
                "bare Litestar, token in a dict",
                f"{self.bare_core.url}/v1/me",
                {"Authorization": f"Bearer {self.pat}"},
                _pid(self.bare_core),
            ),
            self.pat_target(),
        ]
        if self.core_postgres is not None:
            found.append(
                Target(
                    "core_pat_postgres",
                    "core, PAT (PostgreSQL)",
                    f"{self.core_postgres.url}/v1/me",
                    {"Authorization": f"Bearer {self.pat_postgres}"},
                    _pid(self.core_postgres),
                )
            )
        return found

    def bff_target(
        self, key: str, label: str, server: BffServer, cookie: str | None = None, path: str = "/api/v1/me"
    ) -> Target:
        headers = {"Cookie": f"__Host-latchkey={self.cookies[cookie or key]}", "X-CSRF": "1"}
        return Target(key, label, f"{server.url}{path}", headers, _pid(server))


# A configured route (SPEC §12) on the main BFF whose upstream is the core itself, token `user`: the same
# upstream work as `/api/v1/me`, so its ratio to `/api` in the same round is the cost of a configured
# route alone (dispatch by prefix, its own pool) — an echo upstream would measure that upstream instead.
CUSTOM_ROUTE = "/core-route"


def custom_routes(core_url: str) -> str:
    """The LATCHKEY_BFF_ROUTES file of the main BFF."""
    return f'[[route]]\nprefix = "{CUSTOM_ROUTE}"\nupstream = "{core_url}"\ntoken = "user"\n'


def _pid(server: BffServer | CoreServer | Fixture) -> tuple[int, ...]:
    return (server.process.pid,) if server.process is not None else ()


async def bff_login(server: BffServer, email: str, password: str) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        browser = Browser(client, server)
        await browser.login(email, password)
        assert browser.cookie is not None
        me = await browser.request("GET", "/api/v1/me")
        if me.status_code != 200:
            raise RuntimeError(f"GET /api/v1/me through the BFF answered {me.status_code}")
        return browser.cookie


@contextlib.asynccontextmanager
async def stack(
    workdir: Path, baseline: str | None = None, *, core_cost: bool = False
) -> AsyncIterator[Stack]:
    """Every server the run compares, started side by side; all stopped (and databases dropped) after.

    `baseline`: a git revision whose BFF code runs as one more target (SQLite sessions), for measuring a
    change side by side with the code before it. `core_cost`: also the bare Litestar app and a core on
    PostgreSQL, for the core-cost targets."""
    started: list[Callable[[], Awaitable[None]]] = []
    problems: dict[str, str] = {}
    try:
        # Access tokens outlive the run, so no refresh happens inside a measurement.
        core = await start_core("sqlite", workdir / "core", LATCHKEY_ACCESS_TOKEN_TTL="7200")
        started.append(lambda: stop_core(core))
        service, user, *storm_users = await asyncio.gather(
            core.create_user(developer=True, forwards_client_ip=True, name="BFF service"),
            core.create_user(name="Bench"),
            *(core.create_user(name=f"Storm {n}") for n in range(STORM_ACCOUNTS)),
        )
        secret = service["client_secret"]
        async with httpx.AsyncClient(timeout=30) as client:
            grant = await password_grant(
                client, core, secret, user["email"], user["password"], ip=random_ip()
            )
            grant.raise_for_status()
            bearer = {"Authorization": f"Bearer {grant.json()['access_token']}"}
            me = await client.get(f"{core.url}/v1/me", headers=bearer)
            me.raise_for_status()
            pat, pat_me = await personal_access_token(client, core.url, grant.json()["access_token"])
        nginx, instant_port = nginx_fixture(workdir / "nginx", core.port, me.content)
        forwarder = forwarder_fixture(workdir / "forwarder", core.url)
        instant_forwarder = forwarder_fixture(
            workdir / "instant-forwarder", f"http://127.0.0.1:{instant_port}"
        )

        async def optional_bff(
            key: str, backend: str, args: tuple[str, ...] = (), **overrides: str
        ) -> BffServer | None:
            try:
                server = await start_bff(backend, workdir / key, core, secret, args=args, **overrides)
            except Exception as exc:  # reported as "not measured", the rest of the run goes on
                problems[key] = f"{type(exc).__name__}: {exc}"
                return None
            started.append(lambda: stop_bff(server))
            return server

        async def start_fixture(fixture: Fixture, probe_headers: dict[str, str] = bearer) -> None:
            await fixture.start("/v1/me", probe_headers)

            async def stop() -> None:
                fixture.stop()

            started.append(stop)

        async def optional_core(key: str, backend: str) -> tuple[CoreServer, str] | None:
            try:
                found = await core_with_pat(backend, workdir / key)
            except Exception as exc:  # reported as "not measured", the rest of the run goes on
                problems[key] = f"{type(exc).__name__}: {exc}"
                return None
            started.append(lambda: stop_core(found[0]))
            return found

        bare_core = bare_core_fixture(workdir / "bare-core", {pat: json.loads(pat_me)}) if core_cost else None
        await start_fixture(nginx)  # before the instant upstream's clients start
        postgres_core: tuple[CoreServer, str] | None = None
        if bare_core is not None:
            postgres_core, _ = await asyncio.gather(
                optional_core("core_pat_postgres", "postgres"),
                start_fixture(bare_core, {"Authorization": f"Bearer {pat}"}),
            )
        routes = workdir / "routes.toml"
        routes.write_text(custom_routes(core.url))
        bff, bff_postgres, bff_workers2, bff_instant, _, _ = await asyncio.gather(
            start_bff("sqlite", workdir / "bff", core, secret, LATCHKEY_BFF_ROUTES=str(routes)),
            optional_bff("bff_postgres", "postgres"),
            optional_bff("bff_workers2", "sqlite", ("--workers", "2")),
            optional_bff("bff_instant", "sqlite", LATCHKEY_CORE_URL=f"http://127.0.0.1:{instant_port}"),
            start_fixture(forwarder),
            start_fixture(instant_forwarder),
        )
        started.append(lambda: stop_bff(bff))
        servers = {
            "bff": bff,
            "bff_postgres": bff_postgres,
            "bff_workers2": bff_workers2,
            "bff_instant": bff_instant,
        }
        bff_baseline = None
        if baseline is not None:
            source = workdir / "baseline"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(source), baseline],
                check=True,
                capture_output=True,
            )

            async def remove_worktree() -> None:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(source)],
                    check=False,
                    capture_output=True,
                )

            started.append(remove_worktree)
            # The console script imports `latchkey` from the baseline's tree: PYTHONPATH wins over the
            # editable install.
            bff_baseline = await start_bff(
                "sqlite", workdir / "bff_baseline", core, secret, PYTHONPATH=str(source / "backend")
            )
            started.append(lambda: stop_bff(bff_baseline))
            servers["bff_baseline"] = bff_baseline
        cookies = {}
        for key, server in servers.items():
            if server is not None:
                cookies[key] = await bff_login(server, user["email"], user["password"])
        yield Stack(
            core=core,
            bff=bff,
            bff_postgres=bff_postgres,
            bff_workers2=bff_workers2,
            nginx=nginx,
            forwarder=forwarder,
            token=grant.json()["access_token"],
            email=user["email"],
            password=user["password"],
            storm_accounts=[(account["email"], account["password"]) for account in storm_users],
            cookies=cookies,
            problems=problems,
            bff_baseline=bff_baseline,
            baseline_label=f"BFF at {baseline} (baseline)",
            instant_port=instant_port,
            instant_forwarder=instant_forwarder,
            bff_instant=bff_instant,
            pat=pat,
            core_postgres=postgres_core[0] if postgres_core else None,
            pat_postgres=postgres_core[1] if postgres_core else "",
            bare_core=bare_core,
        )
    finally:
        for stop in reversed(started):
            with contextlib.suppress(Exception):
                await stop()


PAT_REQUEST = {"name": "bench", "scopes": ["profile"], "expires_in_days": 1}


async def personal_access_token(
    client: httpx.AsyncClient, core_url: str, access_token: str
) -> tuple[str, bytes]:
    """A new PAT (`profile` scope) of the access token's user, and the core's `GET /v1/me` answer to it."""
    created = await client.post(
        f"{core_url}/v1/me/tokens", json=PAT_REQUEST, headers={"Authorization": f"Bearer {access_token}"}
    )
    created.raise_for_status()
    token: str = created.json()["token"]
    me = await client.get(f"{core_url}/v1/me", headers={"Authorization": f"Bearer {token}"})
    me.raise_for_status()
    return token, me.content


async def core_with_pat(backend: str, workdir: Path) -> tuple[CoreServer, str]:
    """A core of its own on `backend`, a user on it, and a PAT of that user."""
    core = await start_core(backend, workdir, LATCHKEY_ACCESS_TOKEN_TTL="7200")
    try:
        service, user = await asyncio.gather(
            core.create_user(developer=True, forwards_client_ip=True, name="BFF service"),
            core.create_user(name="Bench"),
        )
        async with httpx.AsyncClient(timeout=30) as client:
            grant = await password_grant(
                client, core, service["client_secret"], user["email"], user["password"], ip=random_ip()
            )
            grant.raise_for_status()
            pat, _ = await personal_access_token(client, core.url, grant.json()["access_token"])
    except BaseException:
        await stop_core(core)
        raise
    return core, pat


# --- the measurements -------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return float(statistics.median(values))


async def rounds(
    targets: list[Target], profile: Profile, log: Callable[[str], None]
) -> dict[str, list[WrkRun]]:
    """wrk -c32 on every target, A B C … per round, after a one-second warm-up of each: the runs by key."""
    for target in targets:  # warm-up: pools filled, caches primed
        await wrk(target, CONNECTIONS, 1)
    runs: dict[str, list[WrkRun]] = {target.key: [] for target in targets}
    for number in range(profile.rounds):
        for target in targets:
            run = await wrk(target, CONNECTIONS, profile.duration)
            runs[target.key].append(run)
            log(
                f"  round {number + 1} {target.key:17s} {run.rps:8.0f} req/s  p50 {run.p50_ms:6.2f} ms"
                f"  p99 {run.p99_ms:6.2f} ms  {run.cpu_us:5.0f} µs CPU/request"
            )
    return runs


def same_round_ratio(mine: list[WrkRun], base: list[WrkRun]) -> tuple[float, list[float]]:
    """The median of the per-round requests/s ratios mine ÷ base, and those ratios."""
    ratios = [run.rps / other.rps for run, other in zip(mine, base, strict=True)]
    return median(ratios), ratios


def rows_of(targets: list[Target], runs: dict[str, list[WrkRun]], reference: str) -> list[dict[str, Any]]:
    """A row per target: medians over rounds, and `ratio`, the same-round ratio to `reference`."""
    rows = []
    for target in targets:
        mine = runs[target.key]
        ratio, ratios = same_round_ratio(mine, runs[reference])
        rows.append(
            {
                "key": target.key,
                "label": target.label,
                "rps": median([run.rps for run in mine]),
                "p50_ms": median([run.p50_ms for run in mine]),
                "p99_ms": median([run.p99_ms for run in mine]),
                "ratio": ratio,
                # CPU of the serving process(es) themselves per request.
                "cpu_us": median([run.cpu_us for run in mine]),
                "rounds_rps": [run.rps for run in mine],
                "rounds_ratio": ratios,
            }
        )
        if target.roles:
            rows[-1]["cpu_roles_us"] = {
                role: median([run.cpu_roles_us[role] for run in mine]) for role in target.roles
            }
    return rows


async def throughput(
    targets: list[Target], profile: Profile, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Interleaved rounds on every target; medians, and medians of same-round ratios: each path to direct,
    each BFF to the bare forwarder, each core with a PAT to the bare Litestar app."""
    runs = await rounds(targets, profile, log)
    rows = rows_of(targets, runs, "direct")
    for row in rows:
        key = row["key"]
        # For "direct" the CPU is the core's; for a hop, the hop's alone (the core's is not counted).
        row["vs_bare"] = same_round_ratio(runs[key], runs["bare"])[0] if key.startswith("bff") else None
        if key.startswith("core_pat") and "bare_core" in runs:
            row["vs_bare_core"], row["rounds_vs_bare_core"] = same_round_ratio(runs[key], runs["bare_core"])
        if key == "bff_route" and "bff" in runs:
            # The configured route beside /api on the same BFF process, same rounds.
            row["vs_api"], row["rounds_vs_api"] = same_round_ratio(runs[key], runs["bff"])
    return rows


async def one_connection(
    targets: list[Target], profile: Profile, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """wrk -c1 on the core and the three hops; the added latency is taken within each round."""
    chosen = [target for target in targets if target.key in ("direct", "nginx", "bare", "bff")]
    runs: dict[str, list[WrkRun]] = {target.key: [] for target in chosen}
    for number in range(profile.rounds):
        for target in chosen:
            run = await wrk(target, 1, profile.latency_duration)
            runs[target.key].append(run)
            log(f"  round {number + 1} {target.key:13s} p50 {run.p50_ms:6.3f} ms  p99 {run.p99_ms:6.3f} ms")
    direct = runs["direct"]
    rows = []
    for target in chosen:
        mine = runs[target.key]
        added = target.key != "direct"
        rows.append(
            {
                "key": target.key,
                "label": target.label,
                "p50_ms": median([run.p50_ms for run in mine]),
                "p99_ms": median([run.p99_ms for run in mine]),
                "added_p50_ms": median([r.p50_ms - d.p50_ms for r, d in zip(mine, direct, strict=True)])
                if added
                else None,
                "added_p99_ms": median([r.p99_ms - d.p99_ms for r, d in zip(mine, direct, strict=True)])
                if added
                else None,
            }
        )
    return rows


def cookie_costs(calls: int) -> dict[str, Any]:
    """seal/unseal beside Fernet on the same 48-byte payload, interleaved, median of 5 repeats each."""
    from cryptography.fernet import Fernet

    from latchkey.sealing import KeyRing, SessionCookie, new_session_id, seal, unseal

    ring = KeyRing([("k1", os.urandom(32))])
    now = int(time.time())
    cookie = SessionCookie(sid=new_session_id(), issued_at=now, expires_at=now + 28_800)
    name = "__Host-latchkey"
    sealed = seal(ring, cookie, name=name)
    payload = cookie.sid + now.to_bytes(8, "big") + (now + 28_800).to_bytes(8, "big")
    fernet = Fernet(Fernet.generate_key())
    token = fernet.encrypt(payload)
    assert unseal(ring, sealed, name=name) == cookie and fernet.decrypt(token, ttl=28_800) == payload
    cases: dict[str, Callable[[], object]] = {
        "seal_us": lambda: seal(ring, cookie, name=name),
        "unseal_us": lambda: unseal(ring, sealed, name=name),
        "fernet_encrypt_us": lambda: fernet.encrypt(payload),
        # With a ttl, as the cookie's expiry is checked on every unseal.
        "fernet_decrypt_us": lambda: fernet.decrypt(token, ttl=28_800),
    }
    samples: dict[str, list[float]] = {key: [] for key in cases}
    for _ in range(5):
        for key, call in cases.items():
            samples[key].append(timeit.timeit(call, number=calls) / calls * 1e6)
    result: dict[str, Any] = {key: median(values) for key, values in samples.items()}
    result["payload_bytes"] = len(payload)
    result["cookie_chars"] = len(sealed)
    result["unseal_vs_fernet"] = median(
        [u / f for u, f in zip(samples["unseal_us"], samples["fernet_decrypt_us"], strict=True)]
    )
    return result


async def login_storm(
    server: BffServer, accounts: list[tuple[str, str]], stop: asyncio.Event
) -> dict[str, int]:
    """STORM_CONCURRENCY browsers signing in back to back through the BFF until `stop` is set."""
    statuses: dict[str, int] = {}

    async def one_browser(client: httpx.AsyncClient, email: str, password: str) -> None:
        while not stop.is_set():
            response = await client.post(
                f"{server.url}/bff/login",
                json={"username": email, "password": password},
                headers={"X-CSRF": "1"},
            )
            statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
            if response.status_code != 200:
                # Shed (503, the core's bounded hasher) or limited (429): back off as the SPA does.
                await asyncio.sleep(0.05)

    limits = httpx.Limits(max_connections=STORM_CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(
            *(one_browser(client, *accounts[n % len(accounts)]) for n in range(STORM_CONCURRENCY))
        )
    return statuses


async def storm(
    stack_: Stack, target: Target, profile: Profile, log: Callable[[str], None]
) -> dict[str, Any]:
    """Proxied p99 at 32 connections without, then with, a login storm through the same BFF; per round."""
    without: list[WrkRun] = []
    with_storm: list[WrkRun] = []
    totals: dict[str, int] = {}
    for number in range(profile.rounds):
        without.append(await wrk(target, CONNECTIONS, profile.storm_duration))
        stop = asyncio.Event()
        storming = asyncio.ensure_future(login_storm(stack_.bff, stack_.storm_accounts, stop))
        await asyncio.sleep(0.5)  # the storm is under way before the measurement starts
        with_storm.append(await wrk(target, CONNECTIONS, profile.storm_duration))
        stop.set()
        for status, count in (await storming).items():
            totals[status] = totals.get(status, 0) + count
        log(
            f"  round {number + 1} p99 {without[-1].p99_ms:6.2f} ms without, "
            f"{with_storm[-1].p99_ms:6.2f} ms with the storm"
        )
    return {
        "p99_without_ms": median([run.p99_ms for run in without]),
        "p99_with_ms": median([run.p99_ms for run in with_storm]),
        "ratio": median([w.p99_ms / o.p99_ms for w, o in zip(with_storm, without, strict=True)]),
        "rps_without": median([run.rps for run in without]),
        "rps_with": median([run.rps for run in with_storm]),
        "logins": totals.get("200", 0),
        "login_statuses": totals,
        "login_errors": sum(count for status, count in totals.items() if status != "200"),
        "login_concurrency": STORM_CONCURRENCY,
        "rounds": profile.rounds,
    }


async def streaming(stack_: Stack) -> dict[str, Any]:
    """100 MiB up through the BFF into a project file, then 100 MiB down, checked by SHA-256."""
    server = stack_.bff
    assert server.process is not None
    block = os.urandom(MiB)
    sent = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for index in range(STREAM_MIB):
            piece = block[index:] + block[:index]
            sent.update(piece)
            yield piece

    async with httpx.AsyncClient(timeout=120) as client:
        browser = Browser(client, server)
        browser.cookie = stack_.cookies["bff"]
        created = await browser.request("POST", "/api/v1/projects", json={"name": "bench streaming"})
        created.raise_for_status()
        path = f"/api/v1/projects/{created.json()['id']}/files/big.bin"
        headers = browser.headers({"Content-Type": "application/octet-stream"})
        async with RssSampler(server.process.pid) as memory:
            started = time.monotonic()
            up = await client.put(
                server.url + path,
                content=body(),
                headers={**headers, "Content-Length": str(STREAM_MIB * MiB)},
            )
            upload_s = time.monotonic() - started
            if up.status_code != 201 or up.json()["sha256"] != sent.hexdigest():
                raise RuntimeError(f"upload failed: {up.status_code} {up.text[:200]}")
            received = hashlib.sha256()
            started = time.monotonic()
            async with client.stream("GET", server.url + path, headers=browser.headers()) as down:
                async for piece in down.aiter_raw():
                    received.update(piece)
            download_s = time.monotonic() - started
            if down.status_code != 200 or received.hexdigest() != sent.hexdigest():
                raise RuntimeError(f"download failed: {down.status_code}")
    return {
        "mib": STREAM_MIB,
        "baseline_rss_mib": memory.baseline / MiB,
        "peak_rss_mib": memory.peak / MiB,
        "growth_mib": memory.growth / MiB,
        "upload_s": upload_s,
        "download_s": download_s,
    }


async def stability(
    stack_: Stack, target: Target, requests: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """The BFF's RSS before and after `requests` proxied calls at 32 connections."""
    assert stack_.bff.process is not None
    process = psutil.Process(stack_.bff.process.pid)
    before = process.memory_info().rss
    done = 0
    rate = 500.0  # requests/s guessed for the first run; then the last run's
    while done < requests:
        seconds = max(1, min(30, math.ceil((requests - done) / rate)))
        run = await wrk(target, CONNECTIONS, seconds)
        done += run.requests
        rate = max(run.rps, 1.0)
        log(f"  {done} requests, RSS {process.memory_info().rss / MiB:.1f} MiB")
    await asyncio.sleep(1)
    after = process.memory_info().rss
    return {
        "requests": done,
        "rss_before_mib": before / MiB,
        "rss_after_mib": after / MiB,
        "growth_mib": (after - before) / MiB,
        "errors": 0,  # wrk() refuses any run with a failed request
    }


def thread_cpu(pid: int) -> dict[int, float]:
    """User + system CPU seconds so far of each thread of `pid`, by thread id (the main thread's is pid)."""
    return {thread.id: thread.user_time + thread.system_time for thread in psutil.Process(pid).threads()}


async def profile_process(
    pid: int, target: Target, seconds: int, out: Path, name: str, log: Callable[[str], None]
) -> list[str]:
    """py-spy samples `pid` while wrk loads `target`, three times: every active thread (`name`.txt,
    collapsed stacks), only the thread holding the GIL (`name`-gil.txt: Python's own CPU, without the
    waits that py-spy can take for work), and a flame graph (`name`.svg). The summary, also in
    `name`-top.txt, has the CPU per request of the event-loop thread and of the others (measured, not
    sampled), the self time by package and the top inclusive functions."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    passes = (
        ("raw", f"{name}.txt", ()),
        ("raw", f"{name}-gil.txt", ("--gil",)),
        ("flamegraph", f"{name}.svg", ()),
    )
    threads: dict[str, float] = {}
    runs = []
    for fmt, file, flags in passes:
        sampler = await asyncio.create_subprocess_exec(
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "500",
            "--nonblocking",
            *flags,
            "--format",
            fmt,
            "--output",
            str(out / file),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)
        before = thread_cpu(pid)
        runs.append(await wrk(target, CONNECTIONS, seconds))
        after = thread_cpu(pid)
        await sampler.wait()
        if sampler.returncode != 0 or not (out / file).exists():
            raise RuntimeError(f"py-spy failed on {target.key} (exit {sampler.returncode})")
        per_request = 1e6 / max(runs[-1].requests, 1)
        spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
        for label, value in (
            ("event-loop thread", spent.get(pid, 0.0)),
            ("other threads", sum(v for tid, v in spent.items() if tid != pid)),
        ):
            threads[label] = threads.get(label, 0.0) + value * per_request / len(passes)
    rps, cpu_us = median([run.rps for run in runs]), median([run.cpu_us for run in runs])
    summary = [
        f"py-spy, 500 Hz, {len(passes)} x {seconds} s of wrk -c{CONNECTIONS}: {target.label}, {target.url}",
        f"{rps:.0f} req/s, {cpu_us:.0f} µs CPU/request (median of the runs)",
        "",
        "CPU per request by thread (psutil, mean of the runs):",
        *(f"  {value:6.0f} µs  {label}" for label, value in threads.items()),
        "",
        "Self time by where the sampled line is, every active thread:",
        *(f"  {line}" for line in group_profile(out / f"{name}.txt")),
        "",
        "Self time by where the sampled line is, the thread holding the GIL only (--gil):",
        *(f"  {line}" for line in group_profile(out / f"{name}-gil.txt")),
        "",
        "Inclusive (samples with the function anywhere on the stack), the thread holding the GIL only:",
        *(f"  {line}" for line in summarize_profile(out / f"{name}-gil.txt", top=40)),
        "",
        "Inclusive, every active thread:",
        *(f"  {line}" for line in summarize_profile(out / f"{name}.txt", top=25)),
    ]
    (out / f"{name}-top.txt").write_text("\n".join(summary) + "\n")
    log(f"  {out / name}{{.txt,-gil.txt,.svg}}: collapsed stacks, GIL-only stacks, flame graph")
    for line in summary:
        log("  " + line)
    return summary


def _samples(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) output: each stack, root first, as function names without line numbers."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit() and stack:
            stacks.append(([_LINE_NUMBER.sub(")", frame) for frame in stack.split(";")], int(count)))
    return stacks


_LINE_NUMBER = re.compile(r":\d+\)$")


def summarize_profile(path: Path, top: int = 25) -> list[str]:
    """The functions with the most samples anywhere on the stack (inclusive), from py-spy's raw output;
    the lines of one function count as that function, and a function once per stack."""
    inclusive: dict[str, int] = {}
    total = 0
    for frames, samples in _samples(path):
        total += samples
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + samples
    ranked = sorted(inclusive.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [f"{100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in ranked]


# Where a sampled line is, by the path of its file, first match wins.
PROFILE_GROUPS = (
    ("sqlalchemy/", "SQLAlchemy (ORM, Core, the async adaptation)"),
    ("aiosqlite/", "aiosqlite (its thread, the hops to it and back)"),
    ("sqlite3/", "sqlite3"),
    ("asyncpg/", "asyncpg"),
    ("litestar/", "Litestar (routing, guards, DI, responses)"),
    ("msgspec/", "msgspec"),
    ("uvicorn/", "uvicorn + httptools (the server side)"),
    ("latchkey/", "Latchkey"),
    ("asyncio/", "event loop, threads (asyncio, threading, concurrent)"),
    ("threading.py", "event loop, threads (asyncio, threading, concurrent)"),
    ("concurrent/", "event loop, threads (asyncio, threading, concurrent)"),
    ("queue.py", "event loop, threads (asyncio, threading, concurrent)"),
)


def group_profile(path: Path) -> list[str]:
    """Self time (the innermost frame of each sample) grouped by PROFILE_GROUPS, largest first."""
    groups: dict[str, int] = {}
    total = 0
    for frames, samples in _samples(path):
        total += samples
        leaf = frames[-1]
        group = next((name for part, name in PROFILE_GROUPS if part in leaf), "other")
        groups[group] = groups.get(group, 0) + samples
    ranked = sorted(groups.items(), key=lambda item: (-item[1], item[0]))
    return [f"{100 * n / max(total, 1):5.1f}%  {group}" for group, n in ranked]


async def multiprocess(
    workdir: Path, profile: Profile, redis_url: str, log: Callable[[str], None]
) -> dict[str, Any]:
    """`GET /api/v1/me` at 32 connections through SPEC §8's topology, 2 cores + 2 BFFs behind nginx,
    beside 1 core + 1 BFF; everything on PostgreSQL with Redis; interleaved rounds."""

    def target(key: str, label: str, topology: Topology) -> Target:
        headers = {"Cookie": f"__Host-latchkey={topology.cookie}", "X-CSRF": "1"}
        url = f"{topology.url}/api/v1/me"
        return Target(key, label, url, headers, topology.pids(), topology.roles())

    async with (
        scale_out(workdir / "single", cores=1, bffs=1, redis_url=redis_url) as single,
        scale_out(workdir / "scaled", cores=2, bffs=2, redis_url=redis_url) as scaled,
    ):
        targets = [
            target("single", "1 core + 1 BFF", single),
            target("scaled", "2 cores + 2 BFFs, nginx in front of each pair", scaled),
        ]
        runs = await rounds(targets, profile, log)
    return {
        "rows": rows_of(targets, runs, "single"),
        "cores": os.cpu_count(),
        "connections": CONNECTIONS,
        "rounds": profile.rounds,
        "redis": redis_url,
    }


# --- the run ----------------------------------------------------------------------------------------------


def _command_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    os_name = platform.system()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    facts: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "kernel": platform.release(),
        "os": os_name,
        "python": platform.python_version(),
        "wrk": _command_version(["wrk", "-v"]).split(" [")[0],
        "nginx": _command_version([nginx_binary(), "-v"]).replace("nginx version: ", ""),
    }
    for package in ("cryptography", "litestar", "aiohttp", "uvicorn", "uvloop", "httptools", "SQLAlchemy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            facts[package.lower()] = importlib.metadata.version(package)
    return facts


PARTS = (
    "throughput",
    "ceiling",
    "latency",
    "storm",
    "cookie",
    "streaming",
    "stability",
    "multiprocess",
    "websocket",
    "callback",
)
# Parts that start a stack of their own rather than measuring the main one.
OWN_STACK_PARTS = frozenset({"multiprocess", "websocket", "callback"})
EXTRA_PARTS = ("profile", "profile-core")  # py-spy under load: only when asked for by name


async def measure(
    servers: Stack,
    results: dict[str, Any],
    profile: Profile,
    parts: tuple[str, ...],
    out: Path,
    log: Callable[[str], None],
) -> None:
    """Every part asked for that runs against the main stack, in order, into `results`."""
    targets = servers.targets()
    bff = next(target for target in targets if target.key == "bff")
    if "throughput" in parts:
        log(f"throughput at {CONNECTIONS} connections ({profile.rounds} interleaved rounds)")
        results["throughput"] = await throughput(targets, profile, log)
    if "ceiling" in parts and servers.ceiling_targets():
        log("ceiling: the hops in front of an upstream that answers at once")
        results["ceiling"] = await throughput(servers.ceiling_targets(), profile, log)
    if "latency" in parts:
        log("latency at one connection")
        results["latency_1c"] = await one_connection(targets, profile, log)
    if "storm" in parts:
        log("login storm")
        results["storm"] = await storm(servers, bff, profile, log)
    if "cookie" in parts:
        log("cookie seal/unseal beside Fernet")
        results["cookie"] = cookie_costs(profile.cookie_calls)
    if "streaming" in parts:
        log(f"streaming {STREAM_MIB} MiB up and down")
        results["streaming"] = await streaming(servers)
    if "profile" in parts:
        # The single-worker BFF in front of the instant upstream, so that the BFF is the limit.
        log("profile of the BFF under load (py-spy)")
        loaded = next((t for t in servers.ceiling_targets() if t.key == "bff"), bff)
        server = servers.bff_instant or servers.bff
        assert server.process is not None
        await profile_process(server.process.pid, loaded, max(profile.duration, 5), out, "profile-bff", log)
    if "profile-core" in parts:
        log("profile of the core under load: GET /v1/me with a PAT (py-spy)")
        assert servers.core.process is not None
        pid = servers.core.process.pid
        await profile_process(pid, servers.pat_target(), max(profile.duration, 10), out, "profile-core", log)
    if "stability" in parts:
        log(f"stability: {profile.stability_requests} proxied requests")
        results["stability"] = await stability(servers, bff, profile.stability_requests, log)


async def run(
    profile: Profile,
    quick: bool,
    command: str,
    parts: tuple[str, ...],
    out: Path,
    log: Callable[[str], None],
    baseline: str | None = None,
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "quick": quick,
        "machine": machine_facts(),
        "settings": {
            "rounds": profile.rounds,
            "duration_s": profile.duration,
            "connections": CONNECTIONS,
            "wrk_threads": WRK_THREADS,
            "latency_duration_s": profile.latency_duration,
        },
    }
    started = time.monotonic()
    results["problems"] = {}
    with tempfile.TemporaryDirectory(prefix="latchkey-bench-") as temp:
        if set(parts) - OWN_STACK_PARTS:
            log("starting the core, the BFFs, nginx and the bare forwarders …")
            async with stack(Path(temp), baseline, core_cost="throughput" in parts) as servers:
                results["problems"] = servers.problems
                await measure(servers, results, profile, parts, out, log)
        if "multiprocess" in parts:
            log(f"multi-process: 2 cores + 2 BFFs behind nginx beside 1 + 1 ({profile.rounds} rounds)")
            try:
                results["multiprocess"] = await multiprocess(
                    Path(temp) / "multiprocess", profile, REDIS_URL, log
                )
            except Exception as exc:  # reported as "not measured", like a server that fails to start
                results["problems"]["multiprocess"] = f"{type(exc).__name__}: {exc}"
                log(f"  not measured: {type(exc).__name__}: {exc}")
        if "websocket" in parts:
            log(f"WebSocket echo through the BFF's relay beside direct ({profile.rounds} rounds)")
            try:
                results["websocket"] = await websocket_echo.measure(
                    Path(temp) / "websocket", profile.rounds, min(profile.duration, 4), log
                )
            except Exception as exc:  # reported as "not measured", like a server that fails to start
                results["problems"]["websocket"] = f"{type(exc).__name__}: {exc}"
                log(f"  not measured: {type(exc).__name__}: {exc}")
        if "callback" in parts:
            log("sign-in through the OpenID Provider: the BFF's own cost of a callback")
            try:
                results["callback"] = await oidc_callback.measure(
                    Path(temp) / "callback", 6 if quick else 21, log
                )
            except Exception as exc:  # reported as "not measured", like a server that fails to start
                results["problems"]["callback"] = f"{type(exc).__name__}: {exc}"
                log(f"  not measured: {type(exc).__name__}: {exc}")
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shortened run (under two minutes)")
    parser.add_argument("--out", type=Path, help="directory for benchmarks.{md,svg,json}")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the BFF of this git revision, side by side (to measure a change)",
    )
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {','.join(PARTS)} (default: all), and "
        f"{' and '.join(EXTRA_PARTS)} (py-spy on the BFF, on the core)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        choices=range(1, 11),
        metavar="N",
        help="interleaved rounds instead of the profile's (the test suite's smoke run takes one)",
    )
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.rounds is not None:
        profile = replace(profile, rounds=args.rounds)
    support.POSTGRES_URL = support.POSTGRES_URL or DEFAULT_POSTGRES_URL
    parts = tuple(part.strip() for part in args.only.split(",") if part.strip())
    if unknown := set(parts) - {*PARTS, *EXTRA_PARTS}:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    out: Path = args.out or (ROOT / "var" / "bench" if args.quick else ROOT / "docs")
    out.mkdir(parents=True, exist_ok=True)
    command = "just bench --quick" if args.quick else "just bench"

    def log(line: str) -> None:
        print(line, flush=True)

    if parts != PARTS:
        command += f" --only {','.join(parts)}"
    if args.rounds is not None:
        command += f" --rounds {args.rounds}"
    if args.baseline:
        command += f" --baseline {args.baseline}"
    results = asyncio.run(run(profile, args.quick, command, parts, out, log, args.baseline))
    (out / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, out / "benchmarks.md", out / "benchmarks.svg")
    log(f"\n{'target':48s} {'measured':>14s}")
    for target in evaluate_targets(results):
        mark = "met" if target["met"] else "MISSED"
        log(f"{target['name'] + ' ' + target['target']:48s} {target['measured']:>14s}  {mark}")
    log(f"\nwrote {out / 'benchmarks.md'} and {out / 'benchmarks.svg'} in {results['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
