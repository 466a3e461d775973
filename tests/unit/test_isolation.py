"""The unit layer's own guard: a test here cannot open a socket or start a process."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from tests.unit.conftest import NetworkUsed


def test_connecting_fails() -> None:
    with pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 9))
    with socket.socket() as sock, pytest.raises(NetworkUsed):
        sock.connect(("127.0.0.1", 9))


def test_listening_fails() -> None:
    with socket.socket() as sock, pytest.raises(NetworkUsed):
        sock.bind(("127.0.0.1", 0))


def test_starting_a_process_fails() -> None:
    with pytest.raises(NetworkUsed):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


async def test_asyncio_connections_fail_but_the_loop_works() -> None:
    await asyncio.sleep(0)
    with pytest.raises(NetworkUsed):
        await asyncio.open_connection("127.0.0.1", 9)
