"""The BFF's own cost of a sign-in through the OpenID Provider (SPEC §11), for `just bench --only callback`.

A real provider (`oidc-provider`, tests/oidc.py), a core and a BFF configured for it. Each sign-in is what
a browser does: `GET /bff/login/oidc` (302 to the provider with the flow cookie), the provider's login page,
then `GET /bff/callback` (the code redeemed at the provider, the ID token checked, the core's token
exchange and `/v1/me`, the session written, 303). The BFF's CPU time is read from its process around the
two BFF requests only, so the provider's and the core's work (other processes) is not in it; the callback's
wall time includes their answers. The kernel counts CPU time in 10 ms ticks, so the CPU figures are means
over every sign-in (the first, which fetches the provider's discovery document and keys, left out).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from latchkey import devstack
from tests.oidc import ProviderAccount, ProviderBrowser, ProviderClient, ProviderConfig, start_provider
from tests.support import BffServer, bff_env, free_port, new_database_url, start_core, stop_bff, stop_core

PASSWORD = "correct horse battery staple"


def _cpu_ms(process: psutil.Process) -> float:
    times = process.cpu_times()
    return (times.user + times.system) * 1000


async def measure(workdir: Path, sign_ins: int, log: Callable[[str], None]) -> dict[str, Any]:
    port, bff_port = free_port(), free_port()
    client = ProviderClient.for_bff(devstack.local_url(bff_port))
    accounts = [ProviderAccount(email=f"bench{n}@example.test", password=PASSWORD) for n in range(sign_ins)]
    config = ProviderConfig(issuer=devstack.local_url(port), clients=[client], accounts=accounts)
    provider = await asyncio.to_thread(start_provider, workdir / "oidc", port, config)
    oidc = {"LATCHKEY_OIDC_ISSUER": config.issuer, "LATCHKEY_OIDC_CLIENT_ID": client.client_id}
    core = await start_core("sqlite", workdir / "core", **oidc)
    bff: BffServer | None = None
    try:
        service = await core.create_user(developer=True, forwards_client_ip=True, name="BFF")
        env = bff_env(
            core,
            await new_database_url("sqlite", workdir / "bff", "bff"),
            service["client_secret"],
            **oidc,
            LATCHKEY_OIDC_CLIENT_SECRET=client.client_secret,
            LATCHKEY_LOG_LEVEL="warning",
        )
        (workdir / "bff").mkdir(parents=True, exist_ok=True)
        bff = BffServer(env=env, workdir=workdir / "bff", port=bff_port)
        await asyncio.to_thread(bff.migrate)
        await asyncio.to_thread(bff.start)
        assert bff.process is not None
        process = psutil.Process(bff.process.pid)
        starts: list[float] = []
        callbacks: list[float] = []
        walls: list[float] = []
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            for index, account in enumerate(accounts):
                async with ProviderBrowser(config.issuer) as browser:
                    before = _cpu_ms(process)
                    started = await http.get(f"{bff.url}/bff/login/oidc", params={"return_to": "/"})
                    starts.append(_cpu_ms(process) - before)
                    assert started.status_code == 302, started.text
                    cookie = started.headers["set-cookie"].split(";", 1)[0]
                    back = await browser.sign_in(started.headers["location"], account.email, account.password)
                    before, clock = _cpu_ms(process), time.perf_counter()
                    answer = await http.get(back.url, headers={"Cookie": cookie})
                    walls.append((time.perf_counter() - clock) * 1000)
                    callbacks.append(_cpu_ms(process) - before)
                    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
                if index == 0:  # the first fetched the provider's discovery document and keys
                    starts.clear()
                    callbacks.clear()
                    walls.clear()
        # The kernel counts CPU time in clock ticks (10 ms): per request, only the mean over many is exact.
        callback_cpu = sum(callbacks) / len(callbacks)
        log(f"  {len(callbacks)} sign-ins: the BFF's CPU per callback {callback_cpu:.2f} ms (mean)")
        return {
            "sign_ins": len(callbacks),
            "start_cpu_ms": round(sum(starts) / len(starts), 3),
            "callback_cpu_ms": round(callback_cpu, 3),
            "callback_wall_ms": round(statistics.median(walls), 3),
        }
    finally:
        if bff is not None:
            await stop_bff(bff)
        await stop_core(core)
        await asyncio.to_thread(provider.stop)
