"""`just bench` end to end, shortened: the whole stack (core, three BFFs, nginx, the bare forwarder) starts,
wrk measures each hop at one connection, the cookie and streaming parts run, and the report is written.
CI installs wrk and nginx (`.ci/run`) as `just bench` does, so a broken benchmark fails `just test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_quick_bench_measures_every_hop_and_writes_its_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.run",
            "--quick",
            "--only",
            "latency,cookie,streaming",
            "--rounds",
            "1",  # every part and hop once: what a smoke run needs (CI time), not a measurement
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    assert results["command"] == "just bench --quick --only latency,cookie,streaming --rounds 1"
    assert results["settings"]["rounds"] == 1
    # Every server of the stack started; the PostgreSQL BFF wherever the PostgreSQL suite runs (CI).
    allowed = set() if os.environ.get("LATCHKEY_TEST_POSTGRES_URL") else {"bff_postgres"}
    assert set(results["problems"]) <= allowed, results["problems"]

    rows = {row["key"]: row for row in results["latency_1c"]}
    assert set(rows) == {"direct", "nginx", "bare", "bff"}
    assert all(0 < row["p50_ms"] <= row["p99_ms"] for row in rows.values())
    assert rows["direct"]["added_p50_ms"] is None
    assert rows["bff"]["added_p50_ms"] is not None

    cookie = results["cookie"]
    assert 0 < cookie["unseal_us"] < 50 and cookie["fernet_decrypt_us"] > 0
    streaming = results["streaming"]
    assert streaming["mib"] == 100 and streaming["growth_mib"] < 32

    report = (tmp_path / "benchmarks.md").read_text()
    assert "![Throughput at 32 connections and latency at one connection](benchmarks.svg)" in report
    assert "Cookie unseal time" in report
    ET.parse(tmp_path / "benchmarks.svg")
