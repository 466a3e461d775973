"""`just dev` from a fresh clone starts the stack and seeds the accounts, a login through Vite works, the
OpenID Provider signs the demo account in with the same password, and Ctrl-C stops everything it started.

The repository is cloned (its committed HEAD) into a temporary directory, where `just dev` writes
`var/dev.env`, migrates, seeds, and runs the core (:8001), the BFF (:8000), the OpenID Provider (:8002) and
Vite (:5173) with prefixed logs. A login through Vite's port (its proxy forwards /bff to the BFF) with the
demo account from the clone's `var/dev.env` must succeed. To check uncommitted work, set
LATCHKEY_JUST_DEV_SOURCE to a directory to copy instead of cloning (e.g. the working tree).

Installing packages is `just setup`'s job, not what this proves, and took most of a minute: when the clone's
pyproject.toml and package-lock.json are this checkout's, the clone gets this checkout's installed packages,
stamped as `just setup` stamps them, so it finds nothing to do. Its `.venv` is a venv of its own (made in a
fraction of a second) that sees this venv's packages but imports `latchkey` from the clone's sources; its
`node_modules` links to this checkout's packages (the workspace links point into the clone). Otherwise the
clone installs its own, as a new developer's would. LATCHKEY_TEST_NODE_PATH, when set, becomes the stack's
NODE_PATH (where the provider finds `oidc-provider`, as in tests/oidc.py). One `just dev` serves the module;
the last test presses Ctrl-C.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from latchkey.devstack import Process
from tests.oidc import ProviderAccount, ProviderBrowser, ProviderClient, sign_in_and_exchange

REPO = Path(__file__).resolve().parent.parent
PORTS = {"core": 8001, "bff": 8000, "oidc": 8002, "vite": 5173}
START_TIMEOUT = 900  # a clone that installs its own venv and npm packages takes minutes
UNCOPIED = (".git", ".venv", "node_modules", "var", "dist", ".state", "test-results", "playwright-report")
SEED_MARKERS = (
    "LATCHKEY_DEMO_EMAIL=",
    "LATCHKEY_DEMO_PASSWORD=",
    "LATCHKEY_DEV_EMAIL=",
    "LATCHKEY_DEV_PASSWORD=",
    "LATCHKEY_BFF_CLIENT_SECRET=",
    "LATCHKEY_OIDC_ISSUER=http://127.0.0.1:8002\n",
    "LATCHKEY_OIDC_CLIENT_ID=",
    "LATCHKEY_OIDC_CLIENT_SECRET=",
    'LATCHKEY_OIDC_NAME="Latchkey Demo ID"\n',
)

pytestmark = pytest.mark.slow


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def fresh_copy(target: Path) -> None:
    source = os.environ.get("LATCHKEY_JUST_DEV_SOURCE")
    if source:
        ignore = shutil.ignore_patterns(*UNCOPIED, "__pycache__", "*.egg-info", ".*_cache", "*.db*")
        shutil.copytree(source, target, ignore=ignore, symlinks=True)
        return
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, timeout=120)


def same_file(name: str, clone: Path) -> bool:
    return (clone / name).is_file() and (clone / name).read_bytes() == (REPO / name).read_bytes()


def stamp(manifest: Path) -> str:
    """What `just setup` writes once it has installed from `manifest` (its SHA-256)."""
    return hashlib.sha256(manifest.read_bytes()).hexdigest() + "\n"


def share_the_venv(clone: Path) -> None:
    """A venv of the clone's own that sees this venv's packages and the clone's `latchkey` sources."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = venv / "lib" / version / "site-packages"
    # Plain paths, so this venv's own .pth files (its editable install of *this* checkout) are not read.
    shared = sysconfig.get_paths()["purelib"]
    (site_packages / "latchkey-dev.pth").write_text(f"{clone / 'backend'}\n{shared}\n")
    script = (REPO / ".venv" / "bin" / "latchkey").read_text().split("\n", 1)[1]
    (venv / "bin" / "latchkey").write_text(f"#!{venv / 'bin' / 'python'}\n{script}")
    (venv / "bin" / "latchkey").chmod(0o755)
    (venv / ".latchkey-installed").write_text(stamp(clone / "pyproject.toml"))


def share_node_modules(clone: Path) -> None:
    """`node_modules` of links to this checkout's packages; the workspace links (relative) stay relative, so
    they point into the clone, and Vite's caches (`.vite*`) are the clone's own."""
    source = REPO / "node_modules"
    target = clone / "node_modules"
    target.mkdir()
    for entry in source.iterdir():
        if entry.name.startswith(".vite") or entry.name == ".latchkey-installed":
            continue
        link = os.readlink(entry) if entry.is_symlink() else str(entry)
        (target / entry.name).symlink_to(link)
    (target / ".latchkey-installed").write_text(stamp(clone / "package-lock.json"))


def clean_env() -> dict[str, str]:
    """The caller's environment without this checkout's venv or any LATCHKEY_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LATCHKEY_", "VIRTUAL_ENV", "PYTEST"))}
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    if os.environ.get("LATCHKEY_TEST_NODE_PATH"):
        env["NODE_PATH"] = os.environ["LATCHKEY_TEST_NODE_PATH"]
    return env


def seeded(dev_env: Path) -> bool:
    return dev_env.is_file() and "LATCHKEY_DEMO_PASSWORD=" in dev_env.read_text()


def read_env(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            entries[key] = value
    return entries


def kill_leftovers(clone: Path) -> None:
    """Kill any process still running from the clone (only ours: their working directory is in it)."""
    for process in psutil.process_iter(["pid", "cwd"]):
        cwd = process.info.get("cwd") or ""
        if cwd == str(clone) or cwd.startswith(f"{clone}{os.sep}"):
            with contextlib.suppress(psutil.Error):
                process.kill()


def wait_for(condition: Callable[[], bool], what: str, dev: JustDev, timeout: float) -> None:
    """Poll `condition()` every 50 ms while `just dev` runs."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert dev.process.running, f"`just dev` exited with {dev.process.returncode}:\n{dev.log_tail()}"
        assert time.monotonic() < deadline, f"{what} did not happen in time:\n{dev.log_tail()}"
        time.sleep(0.05)


@dataclass
class JustDev:
    clone: Path
    process: Process  # `just dev` in a process group of its own, as a terminal runs it

    @property
    def dev_env(self) -> Path:
        return self.clone / "var" / "dev.env"

    def log(self) -> str:
        return self.process.log()

    def log_tail(self) -> str:
        return self.process.log_tail(60)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JustDev]:
    """`just dev` running in a fresh clone, with every port open and the accounts seeded."""
    just = shutil.which("just")
    assert just, "`just` is not on PATH (pip install rust-just)"
    taken = {name: port for name, port in PORTS.items() if listening(port)}
    assert not taken, f"ports {taken} are already in use: stop what listens there (a `just dev`?) and rerun"

    workdir = tmp_path_factory.mktemp("just-dev")
    clone = workdir / "latchkey"
    fresh_copy(clone)
    if same_file("pyproject.toml", clone) and (REPO / ".venv" / "bin" / "latchkey").is_file():
        share_the_venv(clone)
    if same_file("package-lock.json", clone) and (REPO / "node_modules" / ".latchkey-installed").is_file():
        share_node_modules(clone)
    dev = JustDev(
        clone, Process("just dev", [just, "dev"], clean_env(), clone, log_path=workdir / "just-dev.log")
    )
    dev.process.start()
    try:
        # The seeded accounts are written before the servers start: ports open without them are not ours.
        wait_for(
            lambda: seeded(dev.dev_env) and all(listening(port) for port in PORTS.values()),
            f"`just dev` opening {PORTS}",
            dev,
            START_TIMEOUT,
        )
        yield dev
    finally:
        dev.process.stop()
        kill_leftovers(clone)


def test_just_dev_seeds_the_accounts_and_shows_each_servers_log(dev: JustDev) -> None:
    written = dev.dev_env.read_text()
    missing = [marker for marker in SEED_MARKERS if marker not in written]
    assert not missing, f"var/dev.env lacks {missing}"
    assert dev.dev_env.stat().st_mode & 0o777 == 0o600
    accounts = read_env(dev.dev_env)
    demo = f"{accounts['LATCHKEY_DEMO_EMAIL']} / {accounts['LATCHKEY_DEMO_PASSWORD']}"
    assert f"demo user:  {demo}" in dev.log(), dev.log_tail()
    # Every server's lines reach the terminal behind its name, the names padded to one width.
    labels = ("core | ", "bff  | ", "oidc | ", "vite | ")
    wait_for(lambda: all(label in dev.log() for label in labels), f"log lines behind {labels}", dev, 15)


def test_a_login_through_vite_works(dev: JustDev) -> None:
    accounts = read_env(dev.dev_env)
    with httpx.Client(base_url=f"http://127.0.0.1:{PORTS['vite']}", timeout=30) as http:
        page = http.get("/login")
        assert page.status_code == 200, dev.log_tail()
        assert 'id="root"' in page.text

        login = http.post(
            "/bff/login",
            headers={"X-CSRF": "1"},
            json={
                "username": accounts["LATCHKEY_DEMO_EMAIL"],
                "password": accounts["LATCHKEY_DEMO_PASSWORD"],
            },
        )
        assert login.status_code == 200, f"{login.status_code} {login.text}\n{dev.log_tail()}"
        assert login.json()["user"]["email"] == accounts["LATCHKEY_DEMO_EMAIL"]
        set_cookie = login.headers.get("set-cookie", "")
        assert "HttpOnly" in set_cookie, set_cookie
        cookie = set_cookie.split(";", 1)[0]
        session = http.get("/bff/session", headers={"X-CSRF": "1", "Cookie": cookie})
        assert session.status_code == 200, session.text


async def test_the_openid_provider_signs_the_demo_account_in(dev: JustDev) -> None:
    """The provider on :8002 is the issuer var/dev.env names, knows the BFF as its client, and takes the demo
    account's core password."""
    settings = read_env(dev.dev_env)
    issuer = settings["LATCHKEY_OIDC_ISSUER"]
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        discovery = await http.get(f"{issuer}/.well-known/openid-configuration")
        assert discovery.status_code == 200, dev.log_tail()
        assert discovery.json()["issuer"] == issuer == "http://127.0.0.1:8002"
        client = ProviderClient(
            client_id=settings["LATCHKEY_OIDC_CLIENT_ID"],
            client_secret=settings["LATCHKEY_OIDC_CLIENT_SECRET"],
            redirect_uris=["http://127.0.0.1:8000/bff/callback"],
        )
        demo = ProviderAccount(settings["LATCHKEY_DEMO_EMAIL"], settings["LATCHKEY_DEMO_PASSWORD"])
        async with ProviderBrowser(issuer) as browser:
            signed = await sign_in_and_exchange(browser, client, demo, http=http)
    assert signed.redirect.asked_for_password
    assert signed.claims["email"] == demo.email and signed.claims["email_verified"] is True


async def test_the_login_page_offers_both_ways_in_and_the_provider_sign_in_works(dev: JustDev) -> None:
    """Through Vite, as the newcomer's browser goes: the login methods name the demo provider, and a sign-in
    through it (the provider's own login page) ends in a BFF session of the demo account."""
    settings = read_env(dev.dev_env)
    vite = f"http://127.0.0.1:{PORTS['vite']}"
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        methods = await http.get(f"{vite}/bff/login/methods", headers={"X-CSRF": "1"})
        assert methods.status_code == 200, dev.log_tail()
        assert methods.json() == {
            "methods": ["password", "oidc"],
            "oidc": {"name": "Latchkey Demo ID", "login_url": "/bff/login/oidc"},
        }
        started = await http.get(f"{vite}/bff/login/oidc", params={"return_to": "/projects"})
        assert started.status_code == 302, started.text
        flow_cookie = started.headers["set-cookie"].split(";", 1)[0]
        async with ProviderBrowser(settings["LATCHKEY_OIDC_ISSUER"]) as browser:
            back = await browser.sign_in(
                started.headers["location"],
                settings["LATCHKEY_DEMO_EMAIL"],
                settings["LATCHKEY_DEMO_PASSWORD"],
            )
        assert back.url.startswith(f"{vite}/bff/callback?"), back.url
        finished = await http.get(back.url, headers={"Cookie": flow_cookie})
        assert finished.status_code == 303 and finished.headers["location"] == "/projects", finished.text
        session = next(
            value.split(";", 1)[0]
            for value in finished.headers.get_list("set-cookie")
            if not value.startswith(flow_cookie.split("=", 1)[0])
        )
        me = await http.get(f"{vite}/api/v1/me", headers={"Cookie": session, "X-CSRF": "1"})
        assert me.status_code == 200 and me.json()["email"] == settings["LATCHKEY_DEMO_EMAIL"]


def test_ctrl_c_stops_everything(dev: JustDev) -> None:
    """Last: it ends the module's `just dev`."""
    # Ctrl-C in the terminal: SIGINT to the whole foreground process group.
    dev.process.send_signal(signal.SIGINT)
    assert dev.process.popen is not None
    dev.process.popen.wait(30)
    deadline = time.monotonic() + 15
    while any(listening(port) for port in PORTS.values()):
        still = {name: port for name, port in PORTS.items() if listening(port)}
        assert time.monotonic() < deadline, f"still listening after Ctrl-C: {still}\n{dev.log_tail()}"
        time.sleep(0.05)
