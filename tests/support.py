"""Test support: databases that tests create and drop, real core and BFF processes on free ports (started
and stopped by `latchkey.devstack`, the launcher `just dev` and the e2e server use too), seeding."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy.engine import make_url

from latchkey import cli, devstack
from latchkey.settings import encode_key, load_core_settings

POSTGRES_URL = os.environ.get("LATCHKEY_TEST_POSTGRES_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
PASSWORD = "correct horse battery staple"
_WORKER_PORTS = devstack.worker_ports(os.environ.get("PYTEST_XDIST_WORKER", ""))


def free_port() -> int:
    """A free port of this pytest-xdist worker's own block (any free port outside xdist)."""
    return devstack.free_port(_WORKER_PORTS)


def new_key() -> str:
    return encode_key(secrets.token_bytes(32))


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.test"


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def create_postgres_database(template: str | None = None) -> str:
    """A fresh PostgreSQL database for one test run (empty, or a copy of `template`); returns its SQLAlchemy
    URL."""
    import asyncpg

    name = f"latchkey_t_{uuid.uuid4().hex[:16]}"
    statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        for attempt in range(50):
            try:
                await conn.execute(statement)
                break
            except asyncpg.ObjectInUseError:  # another copy of the same template is being made right now
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = make_url(url).database
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def new_database_url(backend: str, directory: Path, name: str = "core") -> str:
    if backend == "postgres":
        return await create_postgres_database()
    return f"sqlite+aiosqlite:///{directory / (name + '-' + uuid.uuid4().hex[:8] + '.db')}"


async def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        await drop_postgres_database(url)


def run_cli(
    args: list[str], env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A `latchkey` command with our environment plus `env`."""
    return devstack.run_latchkey(args, {**os.environ, **env}, stdin)


class RssSampler:
    """The peak resident set of a process, sampled every few milliseconds while entered."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.peak = self.process.memory_info().rss
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        """Peak over the baseline taken when the sampler was made, in bytes."""
        return self.peak - self.baseline


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL (None for other databases)."""
    database = make_url(url).database
    return Path(database) if url.startswith("sqlite") and database else None


def copy_sqlite(source: Path, target: Path) -> None:
    for suffix in ("", "-wal"):  # the log too, should the CLI have left one
        if source.with_name(source.name + suffix).exists():
            shutil.copyfile(source.with_name(source.name + suffix), target.with_name(target.name + suffix))


_templates: dict[str, Path] = {}
_templates_lock = threading.Lock()


def migrated_sqlite_template(app: str, variable: str, env: Mapping[str, str]) -> Path:
    """A SQLite database migrated by `latchkey db upgrade <app>` for this process's life (made once)."""
    with _templates_lock:
        if app not in _templates:
            directory = Path(tempfile.mkdtemp(prefix="latchkey-migrated-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            path = directory / f"{app}.db"
            migrated = run_cli(["db", "upgrade", app], {**env, variable: f"sqlite+aiosqlite:///{path}"})
            assert migrated.returncode == 0, migrated.stderr
            _templates[app] = path
        return _templates[app]


_postgres_templates: dict[str, str] = {}
_at_head: set[str] = set()  # databases copied from a migrated template: `migrate` has nothing to do


def _drop_postgres_templates() -> None:
    for url in _postgres_templates.values():
        asyncio.run(drop_postgres_database(url))


def migrated_postgres_template(app: str, variable: str, env: Mapping[str, str]) -> str:
    """A PostgreSQL database migrated by `latchkey db upgrade <app>` for this process's life (made once,
    dropped at exit): servers' databases are `CREATE DATABASE … TEMPLATE` copies of it (blocking)."""
    with _templates_lock:
        if app not in _postgres_templates:
            url = asyncio.run(create_postgres_database())
            if not _postgres_templates:
                atexit.register(_drop_postgres_templates)
            _postgres_templates[app] = url
            migrated = run_cli(["db", "upgrade", app], {**env, variable: url})
            assert migrated.returncode == 0, migrated.stderr
        return _postgres_templates[app]


async def migrated_database_url(backend: str, directory: Path, app: str) -> str:
    """A new database already at head for `app` ("core" or "bff"): a copy of a template this test process
    migrated with `latchkey db upgrade` once (a SQLite file copy; PostgreSQL's `CREATE DATABASE … TEMPLATE`),
    which is what a fresh database plus the command gives, without a CLI start for each of the suite's
    hundreds of databases. `ServerProcess.migrate` knows it has nothing to do on one."""
    variable = CoreServer.DATABASE_VARIABLE if app == "core" else BffServer.DATABASE_VARIABLE
    if backend == "postgres":
        template = await asyncio.to_thread(migrated_postgres_template, app, variable, {})
        url = await create_postgres_database(template=make_url(template).database)
    else:
        url = await new_database_url(backend, directory, app)
        source = await asyncio.to_thread(migrated_sqlite_template, app, variable, {})
        target = sqlite_path(url)
        assert target is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(copy_sqlite, source, target)
    _at_head.add(url)
    return url


# Every server this test process started: those a failing fixture never reached stopping are stopped at exit.
_launched: list[devstack.Process] = []
atexit.register(lambda: devstack.stop_all([process for process in _launched if process.running]))


@dataclass
class ServerProcess:
    """A real `latchkey <app>` process on a free port, logging to a file in its work dir (appended to, so a
    server restarted on the same port keeps the earlier lines)."""

    APP = ""
    DATABASE_VARIABLE = ""

    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()  # extra CLI arguments, e.g. ("--workers", "2")
    launched: devstack.Process | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return devstack.local_url(self.port)

    @property
    def database_url(self) -> str:
        return self.env[self.DATABASE_VARIABLE]

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return None if self.launched is None else self.launched.popen

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.APP}-{self.port}.log"

    def migrate(self) -> None:
        """`latchkey db upgrade <app>` on the server's database, as operators run it. A SQLite database not
        created yet becomes a copy of one this test process migrated so, once per app: the same schema,
        without a CLI start (most of a second) for each of the suite's hundreds of servers."""
        if self.database_url in _at_head:
            return
        target = sqlite_path(self.database_url)
        if target is None or target.exists():
            migrated = run_cli(["db", "upgrade", self.APP], self.env)
            assert migrated.returncode == 0, migrated.stderr
            return
        copy_sqlite(migrated_sqlite_template(self.APP, self.DATABASE_VARIABLE, self.env), target)

    def start(self) -> None:
        """Start the server and wait until /healthz answers (`ProcessFailed`, with its log, otherwise)."""
        self.launched = devstack.Process(
            self.APP,
            devstack.server_command(self.APP, self.port, *self.args),
            env={**os.environ, **self.env, "LATCHKEY_LOG_LEVEL": "warning"},
            cwd=self.workdir,
            log_path=self.log_path,
            ready_url=devstack.local_url(self.port, "/healthz"),
        )
        _launched.append(self.launched)
        self.launched.start()

    def stop(self) -> None:
        if self.launched is not None:
            self.launched.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class CoreServer(ServerProcess):
    """A real `latchkey core` process."""

    APP = "core"
    DATABASE_VARIABLE = "LATCHKEY_CORE_DATABASE_URL"

    def cli(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(args, self.env, stdin)

    async def create_user(
        self,
        *,
        email: str | None = None,
        password: str = PASSWORD,
        name: str = "Test User",
        admin: bool = False,
        developer: bool = False,
        forwards_client_ip: bool = False,
    ) -> dict[str, Any]:
        """Seed a user as `latchkey users create` does (`test_cli` runs the command itself), in this process:
        the same function, without a CLI start for each of the suite's thousand accounts. Returns the
        command's JSON plus the password."""
        data: dict[str, Any] = await cli.create_account(
            load_core_settings({**os.environ, **self.env}),
            email=email or unique_email(),
            password=password,
            name=name,
            admin=admin,
            developer=developer,
            forwards_client_ip=forwards_client_ip,
        )
        data["password"] = password
        return data


def core_env(database_url: str, workdir: Path, **overrides: str) -> dict[str, str]:
    env = {
        "LATCHKEY_ENV": "production",
        "LATCHKEY_CORE_DATABASE_URL": database_url,
        "LATCHKEY_CORE_SECRET_KEY": new_key(),
        "LATCHKEY_CORE_FILES_DIR": str(workdir / "files"),
    }
    env.update(overrides)
    return env


async def start_core(backend: str, workdir: Path, **overrides: str) -> CoreServer:
    """Create a database, migrate it with the CLI, and start a core process on it."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = overrides.pop("LATCHKEY_CORE_DATABASE_URL", None) or await migrated_database_url(
        backend, workdir, "core"
    )
    server = CoreServer(env=core_env(url, workdir, **overrides), workdir=workdir)
    await asyncio.to_thread(server.migrate)
    await asyncio.to_thread(server.start)
    return server


async def stop_core(server: CoreServer, *, drop: bool = True) -> None:
    await asyncio.to_thread(server.stop)
    if drop:
        await drop_database(server.database_url)


@dataclass
class Session:
    """Tokens from a password grant."""

    access_token: str
    refresh_token: str
    raw: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def password_grant(
    client: httpx.AsyncClient,
    server: CoreServer,
    client_secret: str,
    username: str,
    password: str = PASSWORD,
    *,
    ip: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Secret {client_secret}"}
    if ip is not None:
        headers["X-Forwarded-For"] = ip
    return await client.post(
        f"{server.url}/v1/oauth/token",
        data={"grant_type": "password", "username": username, "password": password},
        headers=headers,
    )


async def login(
    client: httpx.AsyncClient, server: CoreServer, client_secret: str, username: str, password: str = PASSWORD
) -> Session:
    """A password grant that must succeed (from a random documentation-range IP, so tests never share
    a brute-force bucket)."""
    response = await password_grant(client, server, client_secret, username, password, ip=random_ip())
    assert response.status_code == 200, response.text
    body = response.json()
    return Session(body["access_token"], body["refresh_token"], body)


def random_ip() -> str:
    return f"198.51.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


# --- the BFF ---------------------------------------------------------------------------------------------

TOKEN_PATTERN = re.compile(rb"lk[aprs]_[A-Za-z0-9]{49}")
# PATs and client secrets may appear only in the answers of the routes that exist to show them.
SHOWS_PATS = ("/api/v1/me/tokens",)
SHOWS_SECRETS = ("/api/v1/me/client-secret",)


def assert_no_token_leak(path: str, headers: Mapping[str, str] | httpx.Headers, body: bytes) -> None:
    """No access or refresh token ever reaches the browser; PATs and secrets only where shown on purpose."""
    blob = body + b"\n" + "\n".join(f"{k}: {v}" for k, v in headers.items()).encode()
    for match in TOKEN_PATTERN.findall(blob):
        kind = match[:4]
        allowed = (kind == b"lkp_" and path.startswith(SHOWS_PATS)) or (
            kind == b"lks_" and path.startswith(SHOWS_SECRETS)
        )
        assert allowed, f"{match[:4]!r} token leaked to the browser on {path}"


@dataclass
class BffServer(ServerProcess):
    """A real `latchkey bff` process in front of a real core."""

    APP = "bff"
    DATABASE_VARIABLE = "LATCHKEY_BFF_DATABASE_URL"


def bff_env(core: CoreServer, database_url: str, client_secret: str, **overrides: str) -> dict[str, str]:
    env = {
        "LATCHKEY_ENV": "production",
        "LATCHKEY_BFF_DATABASE_URL": database_url,
        "LATCHKEY_CORE_URL": core.url,
        "LATCHKEY_BFF_CLIENT_SECRET": client_secret,
        "LATCHKEY_COOKIE_KEYS": f"k1:{new_key()}",
    }
    env.update(overrides)
    return env


async def start_bff(
    backend: str,
    workdir: Path,
    core: CoreServer,
    client_secret: str,
    *,
    args: tuple[str, ...] = (),
    **overrides: str,
) -> BffServer:
    """Create a session database, migrate it with the CLI, and start a BFF process on it."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = overrides.pop("LATCHKEY_BFF_DATABASE_URL", None) or await migrated_database_url(
        backend, workdir, "bff"
    )
    server = BffServer(env=bff_env(core, url, client_secret, **overrides), workdir=workdir, args=args)
    await asyncio.to_thread(server.migrate)
    await asyncio.to_thread(server.start)
    return server


async def stop_bff(server: BffServer, *, drop: bool = True) -> None:
    await asyncio.to_thread(server.stop)
    if drop:
        await drop_database(server.database_url)


def cookie_from(response: httpx.Response, name: str) -> str | None:
    """The value our Set-Cookie gives (None when it clears the cookie)."""
    for header in response.headers.get_list("set-cookie"):
        first = header.split(";", 1)[0]
        cookie_name, _, value = first.partition("=")
        if cookie_name.strip() == name:
            return value or None
    return None


class Browser:
    """What a browser tab does, by hand: keeps our cookie (httpx won't send a Secure cookie over http),
    sends `X-CSRF: 1`, and checks every response for leaked tokens."""

    def __init__(
        self, client: httpx.AsyncClient, bff: BffServer, cookie_name: str = "__Host-latchkey"
    ) -> None:
        self.client = client
        self.bff = bff
        self.cookie_name = cookie_name
        self.cookie: str | None = None

    def headers(self, extra: Mapping[str, str] | None = None, *, csrf: bool = True) -> dict[str, str]:
        headers = {"X-CSRF": "1"} if csrf else {}
        if self.cookie is not None:
            headers["Cookie"] = f"{self.cookie_name}={self.cookie}"
        headers.update(extra or {})
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        csrf: bool = True,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        response = await self.client.request(
            method, self.bff.url + path, headers=self.headers(headers, csrf=csrf), **kwargs
        )
        assert_no_token_leak(path, response.headers, response.content)
        for header in response.headers.get_list("set-cookie"):
            if header.startswith(self.cookie_name + "="):
                self.cookie = cookie_from(response, self.cookie_name)
        return response

    async def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        response = await self.request("POST", "/bff/login", json={"username": email, "password": password})
        assert response.status_code == 200, response.text
        return response
