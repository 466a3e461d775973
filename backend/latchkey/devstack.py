"""The one launcher for local stacks: `just dev` and `just serve` (`latchkey.devenv`), Playwright's web server
(`e2e/serve.py`), the tests' server fixtures (`tests/support.py`) and `just bench` start, watch and stop
their processes here.

A `Process` is one command with its environment, working directory and log: a file, or its lines echoed on
our stdout behind its name (`core | …`). It runs in a process group of its own, so stopping it reaches what
it spawned too (uvicorn's workers, npm's Vite), and a Ctrl-C meant for the supervisor does not reach it
before the supervisor decides. Given a readiness URL, `start()` returns once that answers 200, and raises
`ProcessFailed` with the log's tail as soon as the process exits instead. A `Stack` starts processes in
order and stops them together: SIGTERM to every group, SIGKILL to any still running after the grace period.
The `latchkey` command line (migrations, accounts) runs through `run_latchkey` and `create_account`.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Self

HOST = "127.0.0.1"
# The console script beside the running interpreter: the same venv, whatever PATH says.
LATCHKEY = str(Path(sys.executable).with_name("latchkey"))
START_TIMEOUT = 30.0  # seconds for a server to answer its readiness URL
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
POLL_INTERVAL = 0.02  # a refused connection costs microseconds: poll often, start-up ends sooner
LOG_TAIL_LINES = 100
CLI_TIMEOUT = 120.0

# Readiness probes go straight to the loopback server, never through an http_proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Echoed lines of several processes never interleave within a line.
_echo_lock = threading.Lock()


class ProcessFailed(RuntimeError):
    """A process exited (or never became ready); the message carries its log's tail."""


class CommandFailed(RuntimeError):
    """A `latchkey` command exited non-zero; the message carries its stderr."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while `stop_on_signals()` was in effect."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --- ports ------------------------------------------------------------------------------------------------


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def worker_ports(worker: str, first: int = 10_000, size: int = 5_000) -> range | None:
    """The ports a pytest-xdist worker (`gw0`, `gw1`, …) picks from: a block of its own below the kernel's
    ephemeral range, so two workers are never handed the same free port between choosing it and a server
    binding it. None outside xdist (any free port will do)."""
    if not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    start = first + int(worker[2:]) * size
    return range(start, start + size)


def free_port(within: range | None = None, host: str = HOST) -> int:
    """A port nothing listens on: any the kernel hands out, or a random one of `within`."""
    if within is None:
        with socket.socket() as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    for _ in range(200):
        port = within[secrets.randbelow(len(within))]
        if port_is_free(port, host):
            return port
    raise RuntimeError(f"no free port in {within.start}-{within.stop - 1}")


def local_url(port: int, path: str = "", host: str = HOST) -> str:
    return f"http://{host}:{port}{path}"


# --- the latchkey command line ----------------------------------------------------------------------------


def server_command(app: str, port: int, *args: str, host: str = HOST) -> list[str]:
    """`latchkey core|bff --host … --port …` plus extra options (e.g. `--workers 2`)."""
    return [LATCHKEY, app, "--host", host, "--port", str(port), *args]


def run_latchkey(
    args: Sequence[str], env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One `latchkey` command (migrations, accounts, keys) with `env` as its whole environment."""
    return subprocess.run(
        [LATCHKEY, *args],
        input=stdin,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def account_command(email: str, name: str, *flags: str) -> list[str]:
    """`latchkey users create` for one account, its password read from stdin (never from argv)."""
    return ["users", "create", "--email", email, "--password-stdin", "--name", name, *flags]


def create_account(
    env: Mapping[str, str] | None, email: str, password: str, name: str, *flags: str
) -> dict[str, Any]:
    """Seed an account through the CLI, as an operator does; returns the CLI's JSON (a developer's
    `client_secret` included)."""
    result = run_latchkey(account_command(email, name, *flags), env, password + "\n")
    if result.returncode != 0:
        raise CommandFailed(f"creating {email} failed: {result.stderr.strip()}")
    created: dict[str, Any] = json.loads(result.stdout)
    return created


# --- processes --------------------------------------------------------------------------------------------


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def echo_line(label: str, line: bytes, out: IO[str]) -> None:
    """One line of a process's output behind its label, as `just dev` shows it: `core | …`."""
    with _echo_lock:
        out.write(f"{label} | {line.decode(errors='replace')}")
        if not line.endswith(b"\n"):
            out.write("\n")
        out.flush()


@dataclass
class Process:
    """One command of a stack (see the module's docstring)."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None  # the whole environment; None: ours
    cwd: Path | None = None
    log_path: Path | None = None  # appended to; None: echoed on stdout behind `label`
    label: str = ""  # defaults to the name; `just dev` pads every label to one width
    ready_url: str | None = None
    ready_headers: Mapping[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _recent: collections.deque[bytes] = field(
        default_factory=lambda: collections.deque(maxlen=LOG_TAIL_LINES), init=False, repr=False
    )
    _echo: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Spawn the command, then wait for its readiness URL (when it has one)."""
        if self.log_path is None:
            self.popen = self._spawn(subprocess.PIPE)
            self._echo = threading.Thread(target=self._echo_output, name=f"echo-{self.name}", daemon=True)
            self._echo.start()
        else:
            with self.log_path.open("ab") as log:
                self.popen = self._spawn(log)
        if self.ready_url is not None:
            try:
                self.wait_ready(timeout)
            except ProcessFailed:
                self.stop()
                raise

    def _spawn(self, stdout: int | IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(self.argv),
            env=None if self.env is None else dict(self.env),
            cwd=self.cwd,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _echo_output(self) -> None:
        assert self.popen is not None
        assert self.popen.stdout is not None
        label = self.label or self.name
        for line in iter(self.popen.stdout.readline, b""):
            self._recent.append(line)
            echo_line(label, line, sys.stdout)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        assert self.ready_url is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ProcessFailed(f"{self.name} exited with {self.returncode}:\n{self.log_tail()}")
            if answers_ok(self.ready_url, self.ready_headers):
                return
            time.sleep(POLL_INTERVAL)
        late = f"{self.name} did not answer {self.ready_url} in {timeout:g} s"
        raise ProcessFailed(f"{late}:\n{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def log(self) -> str:
        """Everything the process wrote so far (its last lines, when echoed rather than logged to a file)."""
        if self.log_path is None:
            return b"".join(self._recent).decode(errors="replace")
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return tail(self.log(), lines)

    def send_signal(self, signum: int) -> None:
        """Signal the process's whole group (it and whatever it spawned)."""
        if self.popen is not None and self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signum)

    def stop(self, grace: float = STOP_GRACE) -> None:
        stop_all([self], grace)


def answers_ok(address: str, headers: Mapping[str, str]) -> bool:
    """Whether a GET of the http(s) URL answers 200 within a second."""
    if not address.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {address}")
    request = urllib.request.Request(address, headers=dict(headers))  # noqa: S310 (scheme checked above)
    try:
        with _opener.open(request, timeout=1) as answer:
            return bool(answer.status == 200)
    except (OSError, http.client.HTTPException):  # refused, reset, or not HTTP yet
        return False


def stop_all(processes: Sequence[Process], grace: float = STOP_GRACE) -> None:
    """SIGTERM every group at once (a graceful shutdown), SIGKILL those still running after `grace`."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        if process.popen is None:
            continue
        try:
            process.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.popen.wait(5)
    for process in processes:
        if process._echo is not None:
            process._echo.join(5)  # the last lines are echoed before we return


class Stack:
    """Processes started in order and stopped together (also when one of them fails to start)."""

    def __init__(self) -> None:
        self.processes: list[Process] = []

    def start(self, process: Process, timeout: float = START_TIMEOUT) -> Process:
        self.processes.append(process)
        process.start(timeout)
        return process

    def watch(self, interval: float = 0.2) -> Process:
        """Block until a process exits on its own; return it."""
        while True:
            for process in self.processes:
                if not process.running:
                    return process
            time.sleep(interval)

    def stop(self, grace: float = STOP_GRACE) -> None:
        stop_all(self.processes, grace)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Make the first SIGINT or SIGTERM raise `Interrupted` in the main thread, so the `finally` blocks
    and `with Stack()` exits on the way out stop every process; later ones are ignored while they do."""
    interrupted = False

    def interrupt(signum: int, _: FrameType | None) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
