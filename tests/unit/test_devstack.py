"""The launcher's pure parts (`latchkey/devstack.py`): port blocks per test worker, the commands it runs,
echoed log lines, log tails in failures, and signals turned into `Interrupted`. Starting, readiness and
stopping real processes are exercised by every integration test, `tests/test_just_dev.py` and the e2e run."""

from __future__ import annotations

import io
import signal
import sys
from pathlib import Path

import pytest

from latchkey import devstack
from latchkey.devstack import Interrupted, Process, ProcessFailed, Stack


@pytest.mark.parametrize(
    ("worker", "expected"),
    [
        ("gw0", range(10_000, 15_000)),
        ("gw1", range(15_000, 20_000)),
        ("gw7", range(45_000, 50_000)),
        ("", None),
        ("master", None),
        ("gwx", None),
    ],
)
def test_each_xdist_worker_has_a_port_block_of_its_own(worker: str, expected: range | None) -> None:
    assert devstack.worker_ports(worker) == expected


def test_worker_blocks_stay_below_the_kernels_ephemeral_range() -> None:
    # Linux hands out 32768-60999 by default: blocks of the two workers `just test` runs never overlap it.
    blocks = [devstack.worker_ports(f"gw{n}") for n in range(2)]
    assert all(block is not None and block.stop <= 32768 for block in blocks)
    assert blocks[0] is not None and blocks[1] is not None
    assert not set(blocks[0]) & set(blocks[1])


def test_server_command_runs_the_venvs_latchkey_on_loopback() -> None:
    argv = devstack.server_command("bff", 18000, "--workers", "2")
    assert argv == [devstack.LATCHKEY, "bff", "--host", "127.0.0.1", "--port", "18000", "--workers", "2"]
    assert Path(devstack.LATCHKEY).parent == Path(sys.executable).parent
    assert devstack.local_url(8001, "/healthz") == "http://127.0.0.1:8001/healthz"


def test_an_accounts_password_never_goes_on_the_command_line() -> None:
    argv = devstack.account_command("dev@latchkey.test", "Dev Eloper", "--developer")
    assert argv == [
        "users",
        "create",
        "--email",
        "dev@latchkey.test",
        "--password-stdin",
        "--name",
        "Dev Eloper",
        "--developer",
    ]


def test_echoed_lines_carry_the_label_and_end_with_a_newline() -> None:
    out = io.StringIO()
    devstack.echo_line("bff ", b"INFO: started\n", out)
    devstack.echo_line("vite", b"no newline at the end", out)
    devstack.echo_line("core", b"caf\xc3\xa9 \xff\n", out)
    assert out.getvalue() == "bff  | INFO: started\nvite | no newline at the end\ncore | café \ufffd\n"


def test_tail_keeps_the_last_lines() -> None:
    text = "\n".join(f"line {n}" for n in range(500))
    assert devstack.tail(text, 3) == "line 497\nline 498\nline 499"
    assert devstack.tail("short", 3) == "short"


def test_a_process_that_is_gone_fails_its_readiness_wait_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "core.log"
    log.write_text("".join(f"noise {n}\n" for n in range(200)) + "Traceback: the port is taken\n")
    process = Process("core", ["latchkey", "core"], log_path=log, ready_url="http://127.0.0.1:1/healthz")
    with pytest.raises(ProcessFailed, match=r"(?s)core exited with None:.*the port is taken") as failed:
        process.wait_ready(timeout=1)
    assert "noise 0\n" not in str(failed.value)  # the tail, not the whole log
    assert process.log_tail(1) == "Traceback: the port is taken"


def test_an_echoed_process_keeps_its_last_lines_for_failures() -> None:
    process = Process("vite", ["npm", "run", "dev"])
    assert process.log() == ""
    process._recent.extend(b"line %d\n" % n for n in range(devstack.LOG_TAIL_LINES + 5))
    assert process.log().splitlines()[0] == "line 5"
    assert process.log_tail(2) == f"line {devstack.LOG_TAIL_LINES + 3}\nline {devstack.LOG_TAIL_LINES + 4}"


def test_a_process_never_started_has_nothing_to_stop_or_read(tmp_path: Path) -> None:
    process = Process("bff", ["latchkey", "bff"], log_path=tmp_path / "missing.log")
    assert not process.running
    assert process.pid is None and process.returncode is None
    assert process.log() == ""
    process.stop(grace=0)  # nothing to signal


def test_watch_returns_the_process_that_ended() -> None:
    stack = Stack()
    stack.processes.append(Process("core", ["latchkey", "core"]))
    assert stack.watch(interval=0).name == "core"


def test_readiness_is_probed_over_http_only() -> None:
    with pytest.raises(ValueError, match="not an http"):
        devstack.answers_ok("file:///etc/passwd", {})


def test_the_first_signal_raises_interrupted_and_later_ones_wait() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with devstack.stop_on_signals():
        with pytest.raises(Interrupted) as interrupted:
            signal.raise_signal(signal.SIGTERM)
        assert interrupted.value.signum == signal.SIGTERM
        assert str(interrupted.value) == "SIGTERM"
        signal.raise_signal(signal.SIGINT)  # while the stack stops: ignored
    assert signal.getsignal(signal.SIGTERM) is before
