"""The parts of `just bench` that can break silently: reading wrk's output, same-round ratios, summarizing a
profile, nginx's configuration, and the bare fixtures (against a real core), so a broken harness fails here
rather than in a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.benchmarks import nginx
from tests.benchmarks.run import (
    Fixture,
    Target,
    WrkRun,
    bare_core_fixture,
    forwarder_fixture,
    group_profile,
    parse_wrk,
    personal_access_token,
    rows_of,
    summarize_profile,
)
from tests.support import CoreServer, free_port, login

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


def test_profile_summary_counts_the_lines_of_a_function_as_that_function(tmp_path: Path) -> None:
    """py-spy names a frame by function and line: two lines of one function are one function."""
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "run (uvicorn/server.py:10);resolve_token (latchkey/core/security/auth.py:210);"
        "execute (sqlalchemy/orm/session.py:2300) 6\n"
        "run (uvicorn/server.py:10);resolve_token (latchkey/core/security/auth.py:236) 2\n"
        "_connection_worker_thread (aiosqlite/core.py:59) 2\n"
    )
    lines = summarize_profile(raw)
    assert " 80.0%  resolve_token (latchkey/core/security/auth.py)" in lines
    assert " 60.0%  execute (sqlalchemy/orm/session.py)" in lines
    assert not any(":2" in line for line in lines)
    # Self time goes to the innermost frame's package.
    assert group_profile(raw) == [
        " 60.0%  SQLAlchemy (ORM, Core, the async adaptation)",
        " 20.0%  Latchkey",
        " 20.0%  aiosqlite (its thread, the hops to it and back)",
    ]


def _run(rps: float) -> WrkRun:
    return WrkRun(rps=rps, p50_ms=1.0, p99_ms=2.0, requests=int(rps), errors=0, cpu_us=100.0)


def test_ratios_are_medians_of_same_round_ratios() -> None:
    """Not the ratio of the medians: a slow round slows both sides of its own ratio."""
    targets = [Target("bare_core", "bare", "http://x/"), Target("core_pat", "core", "http://y/")]
    runs = {
        "bare_core": [_run(1000), _run(400), _run(1200)],
        "core_pat": [_run(500), _run(100), _run(540)],
    }
    rows = {row["key"]: row for row in rows_of(targets, runs, "bare_core")}
    assert rows["core_pat"]["rounds_ratio"] == pytest.approx([0.5, 0.25, 0.45])
    assert rows["core_pat"]["ratio"] == pytest.approx(0.45)  # the median ratio; 500 / 1000 would be 0.5
    assert rows["core_pat"]["rps"] == 500
    assert rows["bare_core"]["ratio"] == 1.0
    assert "cpu_roles_us" not in rows["core_pat"]
    roles = Target("scaled", "2 + 2", "http://z/", roles={"core": (1, 2), "BFF": (3,)})
    runs["scaled"] = [_run(800), _run(300), _run(900)]
    for number, run in enumerate(runs["scaled"]):
        run.cpu_roles_us = {"core": 100.0 * (number + 1), "BFF": 50.0}
    (row,) = rows_of([roles], runs, "bare_core")
    assert row["cpu_roles_us"] == {"core": 200.0, "BFF": 50.0}


def test_nginx_config_balances_round_robin_with_keepalive(tmp_path: Path) -> None:
    sites = [
        nginx.Site(port=8100, upstream=[8001, 8002]),
        nginx.Site(port=8101, upstream=[8001], answers={"/v1/me": '{"id": 1}'}),
    ]
    text = nginx.config_text(tmp_path, sites)
    assert "worker_processes 1;" in text and "access_log off;" in text and "daemon off;" in text
    first = text[text.index("upstream u8100") : text.index("upstream u8101")]
    assert "server 127.0.0.1:8001;" in first and "server 127.0.0.1:8002;" in first
    assert "keepalive 64;" in first
    # Round-robin is nginx's default: no other balancing method is named.
    assert not any(method in text for method in ("least_conn", "ip_hash", "hash ", "random"))
    assert "listen 127.0.0.1:8100;" in text and "proxy_pass http://u8100;" in text
    assert "proxy_set_header Host $http_host;" in text
    assert "location = /v1/me {" in text and "return 200 '{\"id\": 1}';" in text
    assert text.count("location = ") == 1
    with pytest.raises(ValueError, match="cannot be written"):
        nginx.config_text(tmp_path, [nginx.Site(port=1, upstream=[2], answers={"/x": "it's"})])
    with pytest.raises(ValueError, match="no upstream"):
        nginx.config_text(tmp_path, [nginx.Site(port=1, upstream=[])])
    config = nginx.write_config(tmp_path / "conf", sites)
    assert config.read_text() == nginx.config_text((tmp_path / "conf").resolve(), sites)
    assert nginx.command(config)[-2:] == ["-c", "nginx.conf"]


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


def _pid(fixture: Fixture) -> tuple[int]:
    assert fixture.process is not None
    return (fixture.process.pid,)


async def test_bare_core_answers_what_the_core_answers_to_its_pat(
    core: CoreServer, http: httpx.AsyncClient, service_client: dict[str, Any], tmp_path: Path
) -> None:
    user = await core.create_user()
    session = await login(http, core, service_client["client_secret"], user["email"])
    pat, me = await personal_access_token(http, core.url, session.access_token)
    assert pat.startswith("lkp_")
    bare = bare_core_fixture(tmp_path, {pat: json.loads(me)})
    bearer = {"Authorization": f"Bearer {pat}"}
    await bare.start("/v1/me", bearer)
    try:
        direct = await http.get(f"{core.url}/v1/me", headers=bearer)
        answer = await http.get(f"{bare.url}/v1/me", headers=bearer)
        assert answer.status_code == direct.status_code == 200
        assert answer.json() == direct.json() == json.loads(me)
        assert answer.headers["content-type"] == direct.headers["content-type"] == "application/json"
        for refused in ({}, {"Authorization": f"Bearer {pat}x"}, {"Authorization": f"Basic {pat}"}):
            assert (await http.get(f"{bare.url}/v1/me", headers=refused)).status_code == 401
        # Served as the core is: its bounded-head protocol refuses an oversized head before the app.
        huge = await http.get(f"{bare.url}/v1/me", headers={**bearer, "X-Big": "a" * 50_000})
        assert (
            huge.status_code
            == (await http.get(f"{core.url}/v1/me", headers={"X-Big": "a" * 50_000})).status_code
        )
        assert huge.status_code == 431
        assert Target("bare_core", "bare", f"{bare.url}/v1/me", bearer, _pid(bare)).cpu_seconds() > 0
    finally:
        bare.stop()
    assert bare.process is not None and bare.process.poll() is not None


async def test_nginx_round_robin_reaches_every_upstream(http: httpx.AsyncClient, tmp_path: Path) -> None:
    """The balancer of the multi-process part (and SPEC §8's tests), in front of two real servers."""
    upstreams = [bare_core_fixture(tmp_path / f"bare-{n}", {"t": {"server": n}}) for n in range(2)]
    bearer = {"Authorization": "Bearer t"}
    port = free_port()
    config = nginx.write_config(
        tmp_path / "nginx", [nginx.Site(port=port, upstream=[u.port for u in upstreams])]
    )
    balancer = Fixture("nginx", nginx.command(config), {}, port, tmp_path / "nginx.log")
    try:
        for upstream in upstreams:
            await upstream.start("/v1/me", bearer)
        await balancer.start("/v1/me", bearer)
        answers = [
            (await http.get(f"{balancer.url}/v1/me", headers=bearer)).json()["server"] for _ in range(6)
        ]
        assert sorted(set(answers)) == [0, 1]
        assert answers.count(0) == answers.count(1) == 3  # one after the other
    finally:
        for fixture in (balancer, *upstreams):
            fixture.stop()
