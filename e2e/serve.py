"""The servers the Playwright suite drives (Playwright's `webServer` runs this with the project's venv).

In a fresh temporary directory: generate keys with `latchkey keys generate`, migrate the SQLite databases
with `latchkey db upgrade`, seed the accounts with `latchkey users create` (as an operator would: no
test-only HTTP backdoor), write what the tests need to `e2e/.state/stack.json`, then run

    core  :18001  ← BFF :18000   the main stack; the BFF serves the built SPA (frontend/dist)
    core  :18011  ← BFF :18010   same core database, LATCHKEY_REAUTH_WINDOW=REAUTH_WINDOW (re-auth test)
    core  :18001  ← BFF :18020   LATCHKEY_SESSION_IDLE_TIMEOUT=IDLE_TIMEOUT (idle session end test)
    core  :18001  ← BFF :18030   the second app's: LATCHKEY_ALLOWED_ORIGINS=http://localhost:18040 and
                                 LATCHKEY_BFF_ROUTES with /echo-api (HTTP, token user) and /live
                                 (WebSocket) to the team API :18031 (`python -m tests.upstream_app`)
    e2e/second-app/dist on http://localhost:18040 (listed) and http://localhost:18041 (not listed)
    OpenID Provider on 127.0.0.2:18050 (e2e/oidc/provider.mjs): the member and the developer with their
                    passwords, and an account only the provider knows (the core creates it at its first
                    sign-in: LATCHKEY_OIDC_CREATE_USERS); its one client is the main BFF and its peer
                    (callbacks, post-logout redirects; the back-channel logout goes to the main BFF)
    core  :18011  ← BFF :18002   a peer of the main BFF: the same session database and key ring, both on
                                 LATCHKEY_REDIS_URL, so a back-channel logout sent to :18000 ends the
                                 session on :18002 too; its core's short re-auth window makes the provider
                                 re-authentication (prompt=login) testable

The second app and its BFF use the host name `localhost`, the others `127.0.0.1`: the app's origin differs
from its BFF's (another port) but is the same site, so the BFF's SameSite=Strict cookie goes along (a
cross-site app would need SameSite=None and third-party cookies: docs/react.md); and the cookie jars of
`localhost` and `127.0.0.1` are apart, so the second app's `__Host-latchkey` cookie never meets the others'.

The main BFF starts last, so when Playwright sees it answer every other server is up. SIGTERM or SIGINT
(or any server exiting) stops them all and removes the directory. The SPA and the second app must be
built before (`just e2e` builds both). Starting,
readiness and stopping are `latchkey.devstack`'s, the launcher `just dev` and the tests use too.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from latchkey.devstack import (
    HOST,
    CommandFailed,
    Interrupted,
    Process,
    ProcessFailed,
    Stack,
    create_account,
    local_url,
    port_is_free,
    run_latchkey,
    server_command,
    stop_on_signals,
)

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "frontend" / "dist"
SECOND_APP_DIST = ROOT / "e2e" / "second-app" / "dist"
STATE = ROOT / "e2e" / ".state"

# Every port moves by LATCHKEY_E2E_PORT_OFFSET (default 0), so two checkouts can run their e2e suites at
# once; tests/support.ts reads the same variable. The second app is built for the BFF at offset 0.
OFFSET = int(os.environ.get("LATCHKEY_E2E_PORT_OFFSET", "0"))
CORE_PORT, BFF_PORT = 18001 + OFFSET, 18000 + OFFSET
REAUTH_CORE_PORT, REAUTH_BFF_PORT = 18011 + OFFSET, 18010 + OFFSET
IDLE_BFF_PORT = 18020 + OFFSET
SECOND_BFF_PORT, UPSTREAM_PORT = 18030 + OFFSET, 18031 + OFFSET
SECOND_APP_PORT, UNLISTED_APP_PORT = 18040 + OFFSET, 18041 + OFFSET
OIDC_PORT, PEER_BFF_PORT = 18050 + OFFSET, 18002 + OFFSET
# The provider's own host: another loopback address, so its cookies live in a jar of their own, as a real
# provider's do on its own site (on 127.0.0.1 the BFF's `Clear-Site-Data: "cookies"` at logout would also
# drop the provider's session cookie, and its logout confirmation would never be seen).
OIDC_HOST = "127.0.0.2"
OIDC_NAME = "Latchkey Test ID"
OIDC_CLIENT_ID = "latchkey-e2e"
PROVIDER_SCRIPT = ROOT / "e2e" / "oidc" / "provider.mjs"
# The shared Redis of the machine (SPEC §8 notifications between the main BFF and its peer).
REDIS_URL = os.environ.get("LATCHKEY_E2E_REDIS_URL", "redis://127.0.0.1:6379")
# The host name of the second app and its BFF (see the module's docstring).
SECOND_HOST = "localhost"
SECOND_APP_ORIGIN = f"http://{SECOND_HOST}:{SECOND_APP_PORT}"
REAUTH_WINDOW = 4  # seconds: the re-auth test waits this out, so keep it short
IDLE_TIMEOUT = 3  # seconds
SESSION_MAX_AGE = 28800  # the default, stated so the cookie test can check the expiry against it


def fail(message: str) -> NoReturn:
    print(f"e2e/serve.py: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def latchkey(args: list[str], env: dict[str, str]) -> str:
    result = run_latchkey(args, env)
    if result.returncode != 0:
        fail(f"`latchkey {' '.join(args[:2])}` failed: {result.stderr.strip()}")
    return result.stdout.strip()


class E2eStack(Stack):
    """The servers in a work directory, each logging to `<name>.log` there, in production mode."""

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir
        self.base = {**os.environ, "LATCHKEY_ENV": "production", "LATCHKEY_LOG_LEVEL": "warning"}

    def env(self, **values: str) -> dict[str, str]:
        return {**self.base, **values}

    def serve(self, name: str, app: str, env: dict[str, str], port: int) -> None:
        """Start `latchkey <app>` on `port` and wait until it answers /healthz."""
        self.run_command(name, server_command(app, port), env, local_url(port, "/healthz"))

    def run_command(
        self, name: str, argv: list[str], env: dict[str, str], ready_url: str, cwd: Path | None = None
    ) -> None:
        """Start any server of the stack and wait until `ready_url` answers 2xx."""
        self.start(
            Process(
                name,
                argv,
                env=env,
                cwd=cwd or self.workdir,
                log_path=self.workdir / f"{name}.log",
                ready_url=ready_url,
            )
        )


def new_key(env: dict[str, str]) -> tuple[str, str]:
    """A `kid:key` entry from the CLI, and its bare key."""
    entry = latchkey(["keys", "generate"], env)
    return entry, entry.split(":", 1)[1]


def create_user(env: dict[str, str], email: str, name: str, *flags: str) -> dict[str, str]:
    password = secrets.token_urlsafe(12)
    try:
        created = create_account(env, email, password, name, *flags)
    except CommandFailed as exc:
        fail(str(exc))
    return {**created, "name": name, "password": password}


def main() -> None:
    if not (DIST / "index.html").is_file():
        fail("frontend/dist/index.html is missing: run `npm run build` first")
    if not (SECOND_APP_DIST / "index.html").is_file():
        fail("e2e/second-app/dist/index.html is missing: run `npm run build:second-app` first")
    ports = [CORE_PORT, BFF_PORT, REAUTH_CORE_PORT, REAUTH_BFF_PORT, IDLE_BFF_PORT]
    ports += [SECOND_BFF_PORT, UPSTREAM_PORT, SECOND_APP_PORT, UNLISTED_APP_PORT, PEER_BFF_PORT]
    busy = [p for p in ports if not port_is_free(p)]
    busy += [OIDC_PORT] if not port_is_free(OIDC_PORT, OIDC_HOST) else []
    if busy:
        fail(f"ports {busy} are in use (another e2e run?)")

    workdir = Path(tempfile.mkdtemp(prefix="latchkey-e2e-"))
    try:
        with stop_on_signals(), E2eStack(workdir) as stack:
            run(stack, workdir)
    except Interrupted as interrupted:
        raise SystemExit(128 + interrupted.signum) from None
    except ProcessFailed as exc:
        fail(str(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def provider_config(workdir: Path, issuer: str, client_secret: str, accounts: list[dict[str, str]]) -> Path:
    """The provider's config (see e2e/oidc/provider.mjs): one client, the main BFF; mode 0600."""
    bff, peer = f"http://{HOST}:{BFF_PORT}", f"http://{HOST}:{PEER_BFF_PORT}"
    config = {
        "issuer": issuer,
        "name": OIDC_NAME,
        "clients": [
            {
                "client_id": OIDC_CLIENT_ID,
                "client_secret": client_secret,
                "client_name": "Latchkey e2e",
                "redirect_uris": [f"{bff}/bff/callback", f"{peer}/bff/callback"],
                "post_logout_redirect_uris": [f"{bff}/", f"{peer}/"],
                "backchannel_logout_uri": f"{bff}/bff/backchannel-logout",
            }
        ],
        "accounts": [
            {
                "sub": f"e2e-{secrets.token_hex(8)}",
                "email": account["email"],
                "email_verified": True,
                "name": account["name"],
                "password": account["password"],
            }
            for account in accounts
        ],
    }
    path = workdir / "oidc-provider.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def run(stack: E2eStack, workdir: Path) -> None:
    _, core_secret_key = new_key(stack.base)
    issuer = f"http://{OIDC_HOST}:{OIDC_PORT}"
    core = stack.env(
        LATCHKEY_CORE_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'core.db'}",
        LATCHKEY_CORE_FILES_DIR=str(workdir / "files"),
        LATCHKEY_CORE_SECRET_KEY=core_secret_key,
        LATCHKEY_OIDC_ISSUER=issuer,
        LATCHKEY_OIDC_CLIENT_ID=OIDC_CLIENT_ID,
        LATCHKEY_OIDC_CREATE_USERS="true",
    )
    latchkey(["db", "upgrade", "core"], core)
    member = create_user(core, "mia@e2e.latchkey.test", "Mia Member")
    developer = create_user(core, "devi@e2e.latchkey.test", "Devi Developer", "--developer")
    # Makes a fresh account for each test that changes an account's state (password, lockout, sessions).
    admin = create_user(core, "ada@e2e.latchkey.test", "Ada Admin", "--admin")
    service = create_user(
        core, "bff-service@e2e.latchkey.test", "BFF service", "--developer", "--forwards-client-ip"
    )
    # Known to the provider only: the core creates the account (without a password) at its first sign-in.
    newcomer = {
        "email": "pia@e2e.latchkey.test",
        "name": "Pia Provider",
        "password": secrets.token_urlsafe(12),
    }
    oidc_secret = secrets.token_urlsafe(32)
    oidc_config = provider_config(workdir, issuer, oidc_secret, [member, developer, newcomer])

    def bff(name: str, core_port: int, **extra: str) -> dict[str, str]:
        env = stack.env(
            LATCHKEY_BFF_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / (name + '.db')}",
            LATCHKEY_CORE_URL=f"http://{HOST}:{core_port}",
            LATCHKEY_BFF_CLIENT_SECRET=service["client_secret"],
            LATCHKEY_COOKIE_KEYS=new_key(stack.base)[0],
            LATCHKEY_SESSION_MAX_AGE=str(SESSION_MAX_AGE),
            LATCHKEY_BFF_STATIC_DIR=str(DIST),
            **extra,
        )
        latchkey(["db", "upgrade", "bff"], env)
        return env

    main_bff = bff(
        "bff",
        CORE_PORT,
        LATCHKEY_OIDC_ISSUER=issuer,
        LATCHKEY_OIDC_CLIENT_ID=OIDC_CLIENT_ID,
        LATCHKEY_OIDC_CLIENT_SECRET=oidc_secret,
        LATCHKEY_OIDC_NAME=OIDC_NAME,
        LATCHKEY_REDIS_URL=REDIS_URL,
    )
    # The main BFF's peer: its environment (database, cookie keys, provider, Redis) on another port, in
    # front of the core with the short re-auth window (same database and keys: the tokens are good on both).
    peer_bff = {**main_bff, "LATCHKEY_CORE_URL": f"http://{HOST}:{REAUTH_CORE_PORT}"}
    reauth_bff = bff("bff-reauth", REAUTH_CORE_PORT)
    idle_bff = bff("bff-idle", CORE_PORT, LATCHKEY_SESSION_IDLE_TIMEOUT=str(IDLE_TIMEOUT))
    routes = workdir / "routes.toml"
    routes.write_text(
        "# The team's own API beside the core's /api (SPEC §12): the second app calls both.\n"
        "[[route]]\n"
        'prefix = "/echo-api"\n'
        f'upstream = "http://{HOST}:{UPSTREAM_PORT}"\n'
        'token = "user"\n'
        "\n"
        "[[route]]\n"
        'prefix = "/live"\n'
        f'upstream = "http://{HOST}:{UPSTREAM_PORT}"\n'
        'token = "user"\n'
        "websocket = true\n"
    )
    second_bff = bff(
        "bff-second",
        CORE_PORT,
        LATCHKEY_ALLOWED_ORIGINS=SECOND_APP_ORIGIN,
        LATCHKEY_BFF_ROUTES=str(routes),
    )

    STATE.mkdir(parents=True, exist_ok=True)
    state = STATE / "stack.json"
    state.unlink(missing_ok=True)
    described = {
        "bff": f"http://{HOST}:{BFF_PORT}",
        "core": f"http://{HOST}:{CORE_PORT}",
        "reauthBff": f"http://{HOST}:{REAUTH_BFF_PORT}",
        "idleBff": f"http://{HOST}:{IDLE_BFF_PORT}",
        "secondBff": f"http://{SECOND_HOST}:{SECOND_BFF_PORT}",
        "secondApp": SECOND_APP_ORIGIN,
        "unlistedApp": f"http://{SECOND_HOST}:{UNLISTED_APP_PORT}",
        "peerBff": f"http://{HOST}:{PEER_BFF_PORT}",
        "provider": {"issuer": issuer, "name": OIDC_NAME, "clientId": OIDC_CLIENT_ID},
        "reauthWindow": REAUTH_WINDOW,
        "idleTimeout": IDLE_TIMEOUT,
        "sessionMaxAge": SESSION_MAX_AGE,
        "cookieName": "__Host-latchkey",
        "accounts": {"member": member, "developer": developer, "newcomer": newcomer, "admin": admin},
        # The BFF's own confidential client, for tests that call the core directly as a script would.
        "serviceSecret": service["client_secret"],
    }
    state.write_text(json.dumps(described, indent=2) + "\n")
    state.chmod(0o600)

    node = shutil.which("node") or "node"
    provider_env = {**stack.base, "NODE_PATH": str(ROOT / "node_modules")}
    provider_argv = [node, str(PROVIDER_SCRIPT), "--config", str(oidc_config), "--port", str(OIDC_PORT)]
    provider_argv += ["--host", OIDC_HOST]
    discovery = local_url(OIDC_PORT, "/.well-known/openid-configuration", host=OIDC_HOST)
    stack.run_command("oidc-provider", provider_argv, provider_env, discovery, cwd=ROOT)
    stack.serve("core", "core", core, CORE_PORT)
    # A second core on the same database whose re-auth window is short: same users, same tokens.
    stack.serve(
        "core-reauth", "core", {**core, "LATCHKEY_REAUTH_WINDOW": str(REAUTH_WINDOW)}, REAUTH_CORE_PORT
    )
    stack.serve("bff-reauth", "bff", reauth_bff, REAUTH_BFF_PORT)
    stack.serve("bff-idle", "bff", idle_bff, IDLE_BFF_PORT)
    # The team's API (an aiohttp process from the Python tests), the second BFF, and the second app's
    # static files on a listed and an unlisted origin.
    upstream_argv = [sys.executable, "-m", "tests.upstream_app", "--port", str(UPSTREAM_PORT)]
    stack.run_command("upstream", upstream_argv, stack.base, local_url(UPSTREAM_PORT, "/echo"), cwd=ROOT)
    stack.serve("bff-second", "bff", second_bff, SECOND_BFF_PORT)
    for name, port in (("second-app", SECOND_APP_PORT), ("unlisted-app", UNLISTED_APP_PORT)):
        static = [sys.executable, "-m", "http.server", str(port), "--bind", HOST]
        static += ["--directory", str(SECOND_APP_DIST)]
        stack.run_command(name, static, stack.base, local_url(port, "/"))
    stack.serve("bff-peer", "bff", peer_bff, PEER_BFF_PORT)
    stack.serve("bff", "bff", main_bff, BFF_PORT)  # last: Playwright waits for this one
    print(f"e2e stack ready in {workdir} (BFF http://{HOST}:{BFF_PORT})", flush=True)
    exited = stack.watch()
    fail(f"{exited.name} exited with {exited.returncode}:\n{exited.log()}")


if __name__ == "__main__":
    main()
