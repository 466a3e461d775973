"""The parts of `just bench` that can break silently: reading wrk's output, summarizing a profile, and the
bare forwarder fixture (against a real core), so a broken harness fails here rather than in a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.benchmarks.run import Fixture, Target, forwarder_fixture, parse_wrk, summarize_profile
from tests.support import CoreServer, login

WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:41234/api/v1/me
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    58.12ms   20.01ms 310.55ms   71.30%
    Req/Sec   552.10     60.22   680.00     70.00%
  Latency Distribution
     50%   55.70ms
     75%   66.10ms
     90%   81.00ms
     99%    1.21s
  4417 requests in 8.01s, 2.11MB read
Requests/sec:    551.44
Transfer/sec:    269.61KB
"""


def test_wrk_output_is_read_with_its_units() -> None:
    run = parse_wrk(WRK_OUTPUT)
    assert run.rps == pytest.approx(551.44)
    assert run.p50_ms == pytest.approx(55.70)
    assert run.p99_ms == pytest.approx(1210.0)  # seconds become milliseconds
    assert run.requests == 4417
    assert run.errors == 0
    micro = parse_wrk(WRK_OUTPUT.replace("55.70ms", "870.00us"))
    assert micro.p50_ms == pytest.approx(0.87)


def test_failed_requests_are_counted() -> None:
    failing = WRK_OUTPUT.replace(
        "Requests/sec:",
        "  Non-2xx or 3xx responses: 12\n"
        "  Socket errors: connect 1, read 2, write 0, timeout 3\n"
        "Requests/sec:",
    )
    assert parse_wrk(failing).errors == 18


@pytest.mark.parametrize(
    "output",
    [
        "",
        "unable to connect to 127.0.0.1:1 Connection refused\n",
        WRK_OUTPUT.replace("     99%    1.21s\n", ""),
        WRK_OUTPUT.replace("Requests/sec:", "Requests per second:"),
    ],
)
def test_output_without_figures_is_refused(output: str) -> None:
    with pytest.raises(ValueError, match="unexpected wrk output"):
        parse_wrk(output)


def test_profile_summary_counts_each_frame_once_per_stack(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text("main;loop;proxy;loop 3\nmain;loop;unseal 1\nnot a sample line\n")
    lines = summarize_profile(raw)
    # Most samples first, ties by name: the same profile always reads the same.
    assert lines[:2] == ["100.0%  loop", "100.0%  main"]  # recursion does not count `loop` twice
    assert " 75.0%  proxy" in lines
    assert " 25.0%  unseal" in lines


async def test_bare_forwarder_forwards_the_bearer_call(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], tmp_path: Path
) -> None:
    user = await core.create_user()
    session = await login(http, core, service_client["client_secret"], user["email"])
    forwarder = forwarder_fixture(tmp_path, core.url)
    await forwarder.start("/healthz", {})
    try:
        direct = await http.get(f"{core.url}/v1/me", headers=session.headers)
        hop = await http.get(f"{forwarder.url}/v1/me", headers=session.headers)
        assert hop.status_code == direct.status_code == 200
        assert hop.json() == direct.json()
        assert hop.json()["email"] == user["email"]
        refused = await http.get(f"{forwarder.url}/v1/me")
        assert refused.status_code == 401
        # The harness measures the forwarder's own CPU per request from its process.
        target = Target("bare", "bare", f"{forwarder.url}/v1/me", session.headers, _pid(forwarder))
        assert target.cpu_seconds() > 0
    finally:
        forwarder.stop()
    assert forwarder.process is not None and forwarder.process.poll() is not None


def _pid(fixture: Fixture) -> int:
    assert fixture.process is not None
    return fixture.process.pid
