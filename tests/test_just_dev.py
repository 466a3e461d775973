"""`just dev` from a fresh clone reaches a working login page, and Ctrl-C stops everything it started.

The repository is cloned (its committed HEAD) into a temporary directory, where `just dev` installs its own
venv and npm packages, writes `var/dev.env`, and runs the core (:8001), the BFF (:8000) and Vite (:5173).
A login through Vite's port (its proxy forwards /bff to the BFF) with the demo account from the clone's
`var/dev.env` must succeed. To check uncommitted work, set LATCHKEY_JUST_DEV_SOURCE to a directory to copy
instead of cloning (e.g. the working tree).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
PORTS = {"core": 8001, "bff": 8000, "vite": 5173}
START_TIMEOUT = 900  # a fresh clone installs its venv and npm packages first
UNCOPIED = (".git", ".venv", "node_modules", "var", "dist", ".state", "test-results", "playwright-report")

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


def clean_env() -> dict[str, str]:
    """The caller's environment without this checkout's venv or any LATCHKEY_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LATCHKEY_", "VIRTUAL_ENV", "PYTEST"))}
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
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


def test_just_dev_from_a_fresh_clone(tmp_path: Path) -> None:
    just = shutil.which("just")
    assert just, "`just` is not on PATH (pip install rust-just)"
    taken = {name: port for name, port in PORTS.items() if listening(port)}
    assert not taken, f"ports {taken} are already in use: stop what listens there (a `just dev`?) and rerun"

    clone = tmp_path / "latchkey"
    fresh_copy(clone)
    log_path = tmp_path / "just-dev.log"

    def log_tail() -> str:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-60:])

    with log_path.open("wb") as log:
        dev = subprocess.Popen(
            [just, "dev"],
            cwd=clone,
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        dev_env = clone / "var" / "dev.env"
        # The seeded accounts are written before the servers start: ports open without them are not ours.
        while not (seeded(dev_env) and all(listening(port) for port in PORTS.values())):
            assert dev.poll() is None, f"`just dev` exited with {dev.returncode}:\n{log_tail()}"
            assert time.monotonic() < deadline, f"`just dev` did not open {PORTS} in time:\n{log_tail()}"
            time.sleep(0.5)

        accounts = read_env(dev_env)
        with httpx.Client(base_url=f"http://127.0.0.1:{PORTS['vite']}", timeout=30) as http:
            page = http.get("/login")
            assert page.status_code == 200, log_tail()
            assert 'id="root"' in page.text

            login = http.post(
                "/bff/login",
                headers={"X-CSRF": "1"},
                json={
                    "username": accounts["LATCHKEY_DEMO_EMAIL"],
                    "password": accounts["LATCHKEY_DEMO_PASSWORD"],
                },
            )
            assert login.status_code == 200, f"{login.status_code} {login.text}\n{log_tail()}"
            assert login.json()["user"]["email"] == accounts["LATCHKEY_DEMO_EMAIL"]
            set_cookie = login.headers.get("set-cookie", "")
            assert "HttpOnly" in set_cookie, set_cookie
            cookie = set_cookie.split(";", 1)[0]
            session = http.get("/bff/session", headers={"X-CSRF": "1", "Cookie": cookie})
            assert session.status_code == 200, session.text

        # Ctrl-C in the terminal: SIGINT to the whole foreground process group.
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(30)
        deadline = time.monotonic() + 15
        while any(listening(port) for port in PORTS.values()):
            still = {name: port for name, port in PORTS.items() if listening(port)}
            assert time.monotonic() < deadline, f"still listening after Ctrl-C: {still}\n{log_tail()}"
            time.sleep(0.2)
    finally:
        if dev.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(10)
        kill_leftovers(clone)
