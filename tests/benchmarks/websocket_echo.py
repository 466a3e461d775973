"""`just bench`'s WebSocket part (SPEC §12): the echo round trip of the team's own API
(`tests/upstream_app.py`, aiohttp) through the BFF's relay, against the same upstream called straight.

On a stack of its own: a core (SQLite), the upstream process, and a BFF whose routes file relays
`/live/…` to that upstream. The load is this process, an aiohttp client (so both sides of each ratio pay
for the same Python client). Interleaved rounds, each target once per round:
- latency: one socket, one 64-byte text message in flight at a time for a few seconds; p50/p99 of the
  round trips, and the BFF's *added* p50 (the median over rounds of BFF - direct in the same round);
- throughput: `SOCKETS` sockets at once, each with one message in flight; messages/s, and the BFF's
  ratio to direct (the median of the per-round ratios).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from latchkey import devstack
from tests.support import Browser, free_port, start_bff, start_core, stop_bff, stop_core

ROOT = Path(__file__).resolve().parents[2]
SOCKETS = 8
MESSAGE = "x" * 64
COOKIE_NAME = "__Host-latchkey"
ROUTES = """
[[route]]
prefix = "/live"
upstream = "http://127.0.0.1:{port}"
token = "user"
websocket = true
"""


@dataclass(frozen=True)
class EchoTarget:
    key: str
    label: str
    url: str
    headers: dict[str, str]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def echo_for(socket: aiohttp.ClientWebSocketResponse, seconds: float, times: list[float] | None) -> int:
    """Round trips on one socket, one message in flight, for `seconds`; their durations into `times`."""
    done = 0
    deadline = time.perf_counter() + seconds
    while True:
        started = time.perf_counter()
        if started >= deadline:
            return done
        await socket.send_str(MESSAGE)
        answer = await socket.receive()
        if answer.type is not aiohttp.WSMsgType.TEXT or answer.data != MESSAGE:
            raise RuntimeError(f"the echo answered {answer.type.name} {str(answer.data)[:80]}")
        if times is not None:
            times.append(time.perf_counter() - started)
        done += 1


async def latency(client: aiohttp.ClientSession, target: EchoTarget, seconds: float) -> dict[str, float]:
    async with client.ws_connect(target.url, headers=target.headers) as socket:
        await echo_for(socket, 0.2, None)  # warm up
        times: list[float] = []
        await echo_for(socket, seconds, times)
    return {"p50_ms": percentile(times, 0.5) * 1000, "p99_ms": percentile(times, 0.99) * 1000}


async def throughput(client: aiohttp.ClientSession, target: EchoTarget, seconds: float) -> float:
    sockets = [await client.ws_connect(target.url, headers=target.headers) for _ in range(SOCKETS)]
    try:
        await asyncio.gather(*(echo_for(socket, 0.2, None) for socket in sockets))
        started = time.perf_counter()
        counts = await asyncio.gather(*(echo_for(socket, seconds, None) for socket in sockets))
        return sum(counts) / (time.perf_counter() - started)
    finally:
        for socket in sockets:
            await socket.close()


def rows_of(targets: list[EchoTarget], rounds: list[dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """One row per target: medians over rounds; the BFF's added p50 and ratio are per-round differences
    and quotients against direct, then their median."""
    rows: list[dict[str, Any]] = []
    for target in targets:
        mine = [found[target.key] for found in rounds]
        direct = [found["direct"] for found in rounds]
        row: dict[str, Any] = {
            "key": target.key,
            "label": target.label,
            "p50_ms": statistics.median(r["p50_ms"] for r in mine),
            "p99_ms": statistics.median(r["p99_ms"] for r in mine),
            "msgs_per_s": statistics.median(r["msgs_per_s"] for r in mine),
            "ratio": statistics.median(
                m["msgs_per_s"] / d["msgs_per_s"] for m, d in zip(mine, direct, strict=True)
            ),
            "added_p50_ms": statistics.median(
                m["p50_ms"] - d["p50_ms"] for m, d in zip(mine, direct, strict=True)
            ),
            "rounds_msgs_per_s": [r["msgs_per_s"] for r in mine],
        }
        rows.append(row)
    return rows


async def measure(workdir: Path, rounds: int, seconds: float, log: Callable[[str], None]) -> dict[str, Any]:
    """The WebSocket part's results: rows for direct and the BFF, and how they were taken."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "tests.upstream_app", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    core = bff = None
    try:
        deadline = time.monotonic() + 20
        while devstack.port_is_free(port):
            if upstream.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the upstream app did not start")
            await asyncio.sleep(0.05)
        routes = workdir / "routes.toml"
        routes.write_text(ROUTES.format(port=port))
        core = await start_core("sqlite", workdir / "core", LATCHKEY_ACCESS_TOKEN_TTL="7200")
        service, user = await asyncio.gather(
            core.create_user(developer=True, forwards_client_ip=True, name="BFF service"),
            core.create_user(name="Bench"),
        )
        bff = await start_bff(
            "sqlite", workdir / "bff", core, service["client_secret"], LATCHKEY_BFF_ROUTES=str(routes)
        )
        async with httpx.AsyncClient(timeout=30) as http:
            browser = Browser(http, bff)
            await browser.login(user["email"], user["password"])
        targets = [
            EchoTarget("direct", "upstream, direct", f"http://127.0.0.1:{port}/ws", {}),
            EchoTarget(
                "bff",
                "through the BFF's relay",
                f"{bff.url}/live/ws",
                {"Cookie": f"{COOKIE_NAME}={browser.cookie}", "Origin": bff.url},
            ),
        ]
        found: list[dict[str, dict[str, float]]] = []
        async with aiohttp.ClientSession() as client:
            for index in range(rounds):
                this_round: dict[str, dict[str, float]] = {}
                for target in targets:
                    figures = await latency(client, target, seconds)
                    figures["msgs_per_s"] = await throughput(client, target, seconds)
                    this_round[target.key] = figures
                    log(
                        f"  round {index + 1} {target.key:6s} p50 {figures['p50_ms']:.3f} ms, "
                        f"{figures['msgs_per_s']:.0f} msg/s at {SOCKETS} sockets"
                    )
                found.append(this_round)
        return {
            "rows": rows_of(targets, found),
            "sockets": SOCKETS,
            "message_bytes": len(MESSAGE),
            "rounds": rounds,
            "seconds": seconds,
        }
    finally:
        if bff is not None:
            await stop_bff(bff)
        if core is not None:
            await stop_core(core)
        upstream.terminate()
        upstream.wait(10)
