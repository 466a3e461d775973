"""The unit layer: no sockets, no processes. Every test here runs in this process on plain objects, raw
ASGI calls, an in-memory clock or store; one that tries to connect, listen or start a process fails."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest


class NetworkUsed(AssertionError):
    """A unit test touched the network or started a process."""


def _refuse(what: str) -> Any:
    def refuse(*_: Any, **__: Any) -> Any:
        raise NetworkUsed(f"unit tests may not {what}; move the test out of tests/unit/")

    return refuse


@pytest.fixture(autouse=True)
def no_sockets_or_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The event loop's own self-pipe is a socketpair (no connect, bind or listen), so it keeps working.
    for method in ("connect", "connect_ex", "bind", "listen", "sendto"):
        monkeypatch.setattr(socket.socket, method, _refuse(f"call socket.{method}"))
    monkeypatch.setattr(socket, "create_connection", _refuse("open a connection"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
