"""The `latchkey` command line: serve the apps, migrate, create users, generate keys."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from latchkey.settings import SettingsError, encode_key, load_bff_settings, load_core_settings

if TYPE_CHECKING:
    from latchkey.settings import CoreSettings


def _fail(message: str, code: int = 2) -> int:
    print(f"latchkey: {message}", file=sys.stderr)
    return code


def _serve(factory: str, host: str, port: int, workers: int, limits: ServerLimits, http: Any) -> int:
    """Run uvicorn as `uvicorn.run` does (one process, or `workers` spawned ones), with the head bounds
    of `latchkey.http_server` and the connection bound from the settings."""
    from uvicorn import Server
    from uvicorn.supervisors import Multiprocess

    from latchkey.http_server import MAX_WEBSOCKET_MESSAGE, ServerConfig

    config = ServerConfig(
        factory,
        factory=True,
        http=http,
        host=host,
        port=port,
        workers=workers,
        # X-Forwarded-For is trusted per request by the apps (the core: only from the BFF's own client;
        # the BFF: only from LATCHKEY_TRUSTED_PROXIES), never by the server for every peer.
        proxy_headers=False,
        server_header=False,
        log_level=limits.log_level,
        timeout_graceful_shutdown=5,
        limit_concurrency=limits.max_connections,
        # A WebSocket frame larger than the relay relays is refused by the server before it is buffered
        # (uvicorn's default would hold 16 MiB first); bff/proxy/websocket.py closes with 1009 beyond.
        ws_max_size=MAX_WEBSOCKET_MESSAGE + 1024,
        header_timeout=limits.header_timeout,
    )
    server = Server(config)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    if workers == 1 and not server.started:
        return 3  # uvicorn's start-up failure status (the app's lifespan failed, the port was taken…)
    return 0


class ServerLimits(Protocol):
    """What the server takes from either app's settings."""

    @property
    def header_timeout(self) -> float: ...

    @property
    def max_connections(self) -> int: ...

    @property
    def log_level(self) -> str: ...

    @property
    def redis_url(self) -> str | None: ...


def _serve_app(args: argparse.Namespace, load: Callable[[], ServerLimits], factory: str, http: str) -> int:
    """Check the app's settings here (a bad one is one line and exit 2), then serve `factory` with the
    HTTP protocol class named by `http` (each worker builds its own app from the environment)."""
    try:
        settings = load()
    except SettingsError as exc:
        return _fail(str(exc))
    from uvicorn.importer import import_from_string

    if args.workers > 1 and settings.redis_url is None:
        print(MANY_WORKERS_WITHOUT_REDIS.format(workers=args.workers), file=sys.stderr, flush=True)
    return _serve(factory, args.host, args.port, args.workers, settings, import_from_string(http))


MANY_WORKERS_WITHOUT_REDIS = (
    "latchkey: warning: --workers {workers} without LATCHKEY_REDIS_URL: each process sees only its own "
    "events and notifications (caches live at most 1 s); set LATCHKEY_REDIS_URL for more than one process"
)


def cmd_core(args: argparse.Namespace) -> int:
    return _serve_app(
        args, load_core_settings, "latchkey.core.app:app_from_env", "latchkey.http_server:BoundedHeadProtocol"
    )


def cmd_bff(args: argparse.Namespace) -> int:
    return _serve_app(
        args,
        load_bff_settings,
        "latchkey.bff.app:app_from_env",
        "latchkey.bff.edge.protocol:StrictTargetProtocol",
    )


def _database_url(name: str) -> str:
    """The DB URL of one app, needing only that variable (migrating needs no keys)."""
    from latchkey.settings import BffSettings, CoreSettings, load_one

    url: str = load_one(CoreSettings if name == "core" else BffSettings, "database_url", os.environ)
    return url


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from latchkey.migrate import upgrade

    targets = ["core", "bff"] if args.target == "all" else [args.target]
    try:
        settings = {name: _database_url(name) for name in targets}
    except SettingsError as exc:
        return _fail(str(exc))
    for name in targets:
        asyncio.run(upgrade(name, settings[name]))
        print(f"{name}: database at head")
    return 0


async def create_account(
    settings: CoreSettings,
    *,
    email: str,
    password: str,
    name: str = "",
    admin: bool = False,
    developer: bool = False,
    forwards_client_ip: bool = False,
) -> dict[str, object]:
    """What `latchkey users create` does, callable in-process (the test suite seeds its accounts so, without
    a CLI start each): checks the password policy (`ProblemError`), hashes it off the event loop, writes the
    account and returns the JSON the command prints (a developer's `client_secret` included)."""
    from latchkey.core.accounts.service import check_password_policy, create_user
    from latchkey.core.security.passwords import hash_password_sync
    from latchkey.core.security.secret_box import SecretBox
    from latchkey.db import Database
    from latchkey.problems import ProblemError

    if forwards_client_ip and not developer:
        raise ProblemError(
            422, "not_a_developer", "only a developer account (a client with a secret) forwards"
        )
    check_password_policy(password)
    password_hash = await asyncio.to_thread(hash_password_sync, password)
    db = Database(settings.database_url)
    try:
        async with db.write() as session:
            new = await create_user(
                session,
                SecretBox(settings.secret_key),
                email=email,
                password_hash=password_hash,
                name=name,
                role="admin" if admin else "member",
                is_developer=developer,
                forwards_client_ip=forwards_client_ip,
            )
            out: dict[str, object] = {
                "id": new.user.id,
                "email": new.user.email,
                "role": new.user.role,
                "is_developer": new.user.is_developer,
            }
            if new.user.forwards_client_ip:
                out["forwards_client_ip"] = True
            if new.client_secret is not None:
                out["client_secret"] = new.client_secret
            return out
    finally:
        await db.dispose()


def cmd_users_create(args: argparse.Namespace) -> int:
    from latchkey.problems import ProblemError

    try:
        settings = load_core_settings(os.environ)
    except SettingsError as exc:
        return _fail(str(exc))
    if args.forwards_client_ip and not args.developer:
        return _fail("--forwards-client-ip needs --developer (only a client with a secret forwards)")
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        result = asyncio.run(
            create_account(
                settings,
                email=args.email,
                password=password,
                name=args.name or "",
                admin=args.admin,
                developer=args.developer,
                forwards_client_ip=args.forwards_client_ip,
            )
        )
    except ProblemError as exc:
        return _fail(exc.detail or exc.code, 1)
    print(json.dumps(result))
    return 0


def cmd_users_forwards_client_ip(args: argparse.Namespace) -> int:
    from sqlalchemy import select, update

    from latchkey.core.accounts.service import normalize_email
    from latchkey.core.models import User
    from latchkey.db import Database
    from latchkey.problems import ProblemError

    try:
        settings = load_core_settings(os.environ)
        email = normalize_email(args.email)
    except SettingsError as exc:
        return _fail(str(exc))
    except ProblemError as exc:
        return _fail(exc.detail or exc.code, 1)

    async def run() -> dict[str, object] | None:
        db = Database(settings.database_url)
        try:
            async with db.write() as session:
                user = await session.scalar(select(User).where(User.email == email))
                if user is None:
                    return None
                if not user.is_developer and not args.off:
                    raise ProblemError(409, "not_a_developer", f"{email} is not a developer account")
                await session.execute(
                    update(User).where(User.id == user.id).values(forwards_client_ip=not args.off)
                )
                return {"id": user.id, "email": user.email, "forwards_client_ip": not args.off}
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except ProblemError as exc:
        return _fail(exc.detail or exc.code, 1)
    if result is None:
        return _fail(f"no user {email}", 1)
    print(json.dumps(result))
    return 0


def cmd_keys_generate(_: argparse.Namespace) -> int:
    kid = secrets.token_hex(4)
    print(f"{kid}:{encode_key(secrets.token_bytes(32))}")
    return 0


def cmd_settings(_: argparse.Namespace) -> int:
    from latchkey.settings import settings_markdown

    print(settings_markdown(), end="")
    return 0


def cmd_openapi(_: argparse.Namespace) -> int:
    """Print the core's OpenAPI document as built from its code (no server, no database, no real keys)."""
    import warnings

    from latchkey.core.app import create_app

    settings = load_core_settings({"LATCHKEY_CORE_SECRET_KEY": encode_key(secrets.token_bytes(32))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Litestar's notices about its 3.0 changes, printed while building
        document = create_app(settings).openapi_schema.to_schema()
    print(json.dumps(document, indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latchkey", description="Latchkey: core API and BFF.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    core = sub.add_parser("core", help="serve the core API with uvicorn", description="Serve the core API.")
    core.add_argument("--host", default="127.0.0.1")
    core.add_argument("--port", type=int, default=8001)
    core.add_argument("--workers", type=int, default=1)
    core.set_defaults(func=cmd_core)

    bff = sub.add_parser("bff", help="serve the BFF with uvicorn", description="Serve the BFF.")
    bff.add_argument("--host", default="127.0.0.1")
    bff.add_argument("--port", type=int, default=8000)
    bff.add_argument("--workers", type=int, default=1)
    bff.set_defaults(func=cmd_bff)

    db = sub.add_parser("db", help="database migrations", description="Database migrations.")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply Alembic migrations", description="Apply migrations.")
    up.add_argument("target", nargs="?", choices=["core", "bff", "all"], default="all")
    up.set_defaults(func=cmd_db_upgrade)

    users = sub.add_parser("users", help="manage users", description="Manage users.")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = users_sub.add_parser(
        "create", help="create a user (password on stdin)", description="Create a user; prints JSON."
    )
    create.add_argument("--email", required=True)
    create.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from the first line of stdin",
    )
    create.add_argument("--name", default="")
    create.add_argument("--admin", action="store_true", help="give the admin role")
    create.add_argument("--developer", action="store_true", help="a developer account (gets a client secret)")
    create.add_argument(
        "--forwards-client-ip",
        action="store_true",
        help="the BFF's service account: its X-Forwarded-For is believed (the browser's address, counted "
        "by the brute-force limits); needs --developer. Other clients are counted by their own address",
    )
    create.set_defaults(func=cmd_users_create)
    forwards = users_sub.add_parser(
        "forwards-client-ip",
        help="mark (or, with --off, unmark) an existing developer as the BFF's service account",
        description="Mark an existing developer account as the BFF's service account: its X-Forwarded-For "
        "is believed (the browser's address, counted by the brute-force limits). Run it once for the BFF's "
        "account when upgrading from a version without the flag. Prints JSON.",
    )
    forwards.add_argument("--email", required=True)
    forwards.add_argument("--off", action="store_true", help="stop believing its X-Forwarded-For")
    forwards.set_defaults(func=cmd_users_forwards_client_ip)

    settings = sub.add_parser(
        "settings",
        help="print every LATCHKEY_* variable with its default and meaning (Markdown)",
        description="Print every LATCHKEY_* variable of both apps with its default and meaning, as the "
        "Markdown table of docs/configuration.md.",
    )
    settings.set_defaults(func=cmd_settings)

    openapi = sub.add_parser(
        "openapi",
        help="print the core's OpenAPI document (JSON)",
        description="Print the core API's OpenAPI document as built from the code (the SPA's types).",
    )
    openapi.set_defaults(func=cmd_openapi)

    keys = sub.add_parser("keys", help="key material", description="Key material.")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    gen = keys_sub.add_parser(
        "generate",
        help="print a new key entry kid:base64url32",
        description="Print a new cookie key entry for LATCHKEY_COOKIE_KEYS (its part after ':' is also a "
        "valid LATCHKEY_CORE_SECRET_KEY).",
    )
    gen.set_defaults(func=cmd_keys_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
