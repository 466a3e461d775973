"""Render the results of `just bench` (SPEC §9) as docs/benchmarks.md and a hand-drawn SVG chart beside it.

The input is the JSON-serialisable results dict the benchmark runner builds; any section of it may be
missing or None (a part of the run that failed or was skipped). Such a section reads "not measured" and
its targets count as not met: a report never crashes and never passes a target it has no number for.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

NOT_MEASURED = "not measured"
QUICK_NOTE = "(--quick run: shortened, not the reference numbers)"
TUNING_DOC = "performance-tuning.md"

# Floating-point noise (a difference of two medians) must not fail a target sitting exactly on its limit.
_TOLERANCE = 1e-9

_THROUGHPUT_FLOOR = 0.40  # BFF requests/s divided by direct requests/s at 32 connections
_CORE_FLOOR = 0.50  # the core's requests/s (PAT, SQLite) divided by the bare Litestar app's
_BASELINES = frozenset({"direct", "nginx", "bare", "bare_core"})
_CORE_KEYS = ("bare_core", "core_pat", "core_pat_postgres")  # the core-cost rows of the throughput table


# --- reading the results ------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """A finite number, or None for anything else (None, a string, NaN, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _problems(results: Mapping[str, Any]) -> dict[str, str]:
    """What the runner could not start or measure: {"bff_postgres": "OSError: …"}."""
    problems = results.get("problems")
    if isinstance(problems, Mapping):
        return {str(key): str(value) for key, value in problems.items()}
    if isinstance(problems, list):
        return {str(i + 1): str(problem) for i, problem in enumerate(problems)}
    return {}


def _section(results: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = results.get(name)
    return value if isinstance(value, Mapping) and value else None


def _rows(results: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = results.get(name)
    if not isinstance(value, list):
        return []
    return [row for row in value if isinstance(row, Mapping)]


def _row(results: Mapping[str, Any], name: str, key: str) -> Mapping[str, Any] | None:
    return next((row for row in _rows(results, name) if row.get("key") == key), None)


def _field(section: Mapping[str, Any] | None, key: str) -> float | None:
    return _num(section.get(key)) if section is not None else None


def _label(row: Mapping[str, Any]) -> str:
    return str(row.get("label") or row.get("key") or "?")


def _quotient(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def _ratio_or(section: Mapping[str, Any] | None, key: str, numerator: str, denominator: str) -> float | None:
    """`section[key]`, or numerator / denominator when the runner left the ratio out."""
    value = _field(section, key)
    return value if value is not None else _quotient(_field(section, numerator), _field(section, denominator))


def _growth(section: Mapping[str, Any] | None, before: str, after: str) -> float | None:
    """`section["growth_mib"]`, or after - before when the runner left it out."""
    value = _field(section, "growth_mib")
    if value is not None:
        return value
    first, last = _field(section, before), _field(section, after)
    return last - first if first is not None and last is not None else None


def _unseal_vs_fernet(results: Mapping[str, Any]) -> float | None:
    return _ratio_or(_section(results, "cookie"), "unseal_vs_fernet", "unseal_us", "fernet_decrypt_us")


def _storm_ratio(results: Mapping[str, Any]) -> float | None:
    return _ratio_or(_section(results, "storm"), "ratio", "p99_with_ms", "p99_without_ms")


def _streaming_growth(results: Mapping[str, Any]) -> float | None:
    return _growth(_section(results, "streaming"), "baseline_rss_mib", "peak_rss_mib")


def _stability_growth(results: Mapping[str, Any]) -> float | None:
    return _growth(_section(results, "stability"), "rss_before_mib", "rss_after_mib")


# --- formatting ----------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _rps(value: float | None) -> str:
    return _fmt(value, ",.0f")


def _ms(value: float | None) -> str:
    return _fmt(value, ".2f")


def _ratio(value: float | None) -> str:
    return _fmt(value, ".2f", "×")


def _added_ms(value: float | None) -> str:
    return _fmt(value, "+.2f", " ms")


def _count(value: Any) -> str:
    number = _num(value)
    return "—" if number is None else f"{number:,.0f}"


# --- targets -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    name: str
    target: str  # "≤ limit…" or "≥ limit…": the comparison the measured value must pass
    limit: float
    measure: Callable[[Mapping[str, Any]], float | None]
    show: Callable[[float | None], str]
    informational: bool = False

    def evaluate(self, results: Mapping[str, Any]) -> dict[str, Any]:
        value = self.measure(results)
        if value is None:
            met = False
        elif self.target.startswith("≤"):
            met = value <= self.limit + _TOLERANCE
        else:
            met = value >= self.limit - _TOLERANCE
        return {
            "name": self.name,
            "target": self.target,
            "measured": NOT_MEASURED if value is None else self.show(value),
            "met": met,
            "value": value,
            "informational": self.informational,
        }


def _throughput(key: str, field: str) -> Callable[[Mapping[str, Any]], float | None]:
    return lambda results: _field(_row(results, "throughput", key), field)


def _latency(key: str, field: str) -> Callable[[Mapping[str, Any]], float | None]:
    return lambda results: _field(_row(results, "latency_1c", key), field)


def _cookie(field: str) -> Callable[[Mapping[str, Any]], float | None]:
    return lambda results: _field(_section(results, "cookie"), field)


def _us(value: float | None) -> str:
    return _fmt(value, ".2f", " µs")


def _mib(value: float | None) -> str:
    return _fmt(value, ".1f", " MiB")


_FLOOR = f"≥ {_THROUGHPUT_FLOOR:.2f}× direct"
_CORE_GOAL = f"≥ {_CORE_FLOOR:.2f}× bare Litestar"
_TARGETS = (
    _Target("BFF throughput vs direct (32 connections)", _FLOOR, 0.40, _throughput("bff", "ratio"), _ratio),
    _Target("BFF throughput vs bare forwarder", "≥ 0.90× bare", 0.90, _throughput("bff", "vs_bare"), _ratio),
    _Target("BFF added p50 (1 connection)", "≤ +0.80 ms", 0.80, _latency("bff", "added_p50_ms"), _added_ms),
    _Target("BFF added p99 (1 connection)", "≤ +2.00 ms", 2.0, _latency("bff", "added_p99_ms"), _added_ms),
    _Target("Cookie unseal time", "≤ 10 µs", 10.0, _cookie("unseal_us"), _us),
    _Target("Cookie unseal vs Fernet decrypt", "≤ 0.35×", 0.35, _unseal_vs_fernet, _ratio),
    _Target("Proxied p99 during a login storm vs without", "≤ 2.00×", 2.0, _storm_ratio, _ratio),
    _Target("BFF RSS growth streaming 100 MiB each way", "≤ 32 MiB", 32.0, _streaming_growth, _mib),
    _Target("BFF RSS growth over the stability run", "≤ 10 MiB", 10.0, _stability_growth, _mib),
    _Target(
        "Core throughput vs bare Litestar (PAT, SQLite)",
        _CORE_GOAL,
        _CORE_FLOOR,
        _throughput("core_pat", "vs_bare_core"),
        _ratio,
    ),
)

# Variants of the BFF, listed against the same floor when the run measured them.
_INFORMATIONAL = (("bff_postgres", "PostgreSQL sessions"), ("bff_workers2", "--workers 2"))

# SPEC §12: a configured route (`/core-route` → the core, token `user`) on the same BFF as `/api`, judged
# against the same floors as `/api` when the run measured it (runs from before routes existed did not).
_ROUTE = "bff_route"
_ROUTE_TARGETS = (
    _Target(
        "Custom route throughput vs direct (32 connections)",
        _FLOOR,
        _THROUGHPUT_FLOOR,
        _throughput(_ROUTE, "ratio"),
        _ratio,
    ),
    _Target(
        "Custom route throughput vs bare forwarder",
        "≥ 0.90× bare",
        0.90,
        _throughput(_ROUTE, "vs_bare"),
        _ratio,
    ),
)


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each SPEC §9 target as {name, target, measured, met} (plus the raw `value` and `informational`).

    `measured` is the display string (a ratio, a time, or "not measured"); `met` is False whenever the number
    is missing. The custom route's two rows (SPEC §12, same floors as `/api`) follow when the run measured
    it or recorded a problem starting it. The PostgreSQL and two-worker BFF rows follow, judged against the
    same throughput floor, when the throughput table has them or the run recorded a problem starting them;
    then, likewise, the core-cost ratio on PostgreSQL against the SQLite one's floor.
    """
    evaluated = [target.evaluate(results) for target in _TARGETS]
    if _row(results, "throughput", _ROUTE) is not None or _ROUTE in _problems(results):
        evaluated += [target.evaluate(results) for target in _ROUTE_TARGETS]
    for key, variant in _INFORMATIONAL:
        if _row(results, "throughput", key) is None and key not in _problems(results):
            continue
        name = f"BFF ({variant}) throughput vs direct (informational)"
        informational = _Target(name, _FLOOR, _THROUGHPUT_FLOOR, _throughput(key, "ratio"), _ratio, True)
        evaluated.append(informational.evaluate(results))
    # SPEC §9: the same core-cost ratio on PostgreSQL is reported beside the SQLite one.
    key = "core_pat_postgres"
    if _row(results, "throughput", key) is not None or key in _problems(results):
        name = "Core throughput vs bare Litestar (PAT, PostgreSQL; informational)"
        postgres = _Target(name, _CORE_GOAL, _CORE_FLOOR, _throughput(key, "vs_bare_core"), _ratio, True)
        evaluated.append(postgres.evaluate(results))
    return evaluated


# --- markdown ------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_ALIGN = {"l": "---", "r": "---:", "c": ":---:"}


def _table(headers: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A GitHub table; `align` has a letter per column (l, r, c); by default the first left, others right."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = [_ALIGN[letter] for letter in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _not_measured() -> list[str]:
    return [f"_{NOT_MEASURED}_ (this part of the run failed or was skipped)"]


# How each machine fact reads; a value that already names itself ("wrk 4.1.0") is shown as it is.
_MACHINE_FACTS = (
    ("cpu", "{}"),
    ("cores", "{} cores"),
    ("memory_gib", "{} GiB RAM"),
    ("os", "{}"),
    ("kernel", "Linux {}"),
    ("python", "Python {}"),
    ("wrk", "wrk {}"),
    ("nginx", "nginx/{}"),
    ("cryptography", "cryptography {}"),
    ("litestar", "litestar {}"),
    ("aiohttp", "aiohttp {}"),
    ("uvicorn", "uvicorn {}"),
)


def _machine_line(machine: Mapping[str, Any] | None) -> str:
    if machine is None:
        return f"**Machine:** {NOT_MEASURED}"
    facts = []
    for key, template in _MACHINE_FACTS:
        value = machine.get(key)
        if value is None or value == "":
            continue
        name = template.removesuffix("{}").strip(" /")
        named = bool(name) and template.endswith("{}") and str(value).lower().startswith(name.lower())
        facts.append(str(value) if named else template.format(value))
    known = {key for key, _ in _MACHINE_FACTS}
    facts += [f"{key} {value}" for key, value in machine.items() if key not in known and value is not None]
    return "**Machine:** " + " · ".join(facts)


def _settings_line(settings: Mapping[str, Any] | None, elapsed_s: float | None) -> str | None:
    if settings is None:
        return None
    took = f" The whole run took {elapsed_s / 60:.1f} min." if elapsed_s is not None else ""
    rounds = _count(settings.get("rounds"))
    duration = _fmt(_field(settings, "duration_s"), "g", " s")
    latency = _fmt(_field(settings, "latency_duration_s"), "g", " s")
    return (
        f"**Load:** {rounds} interleaved rounds; per round and target, wrk "
        f"-t{_count(settings.get('wrk_threads'))} -c{_count(settings.get('connections'))} for {duration}, "
        f"then -c1 for {latency}.{took}"
    )


def _targets_section(results: dict[str, Any]) -> list[str]:
    rows = [
        [t["name"], t["target"], t["measured"], "✅" if t["met"] else "❌"] for t in evaluate_targets(results)
    ]
    return ["## Targets (SPEC §9)", "", *_table(["Target", "Goal", "Measured", "Met"], rows, align="llrc")]


def _throughput_section(results: Mapping[str, Any], chart_file: str, connections: str) -> list[str]:
    lines = [f"## Throughput at {connections} connections", ""]
    rows = _rows(results, "throughput")
    if rows:
        lines += [
            "Requests per second of the same authenticated call straight to the core and through each hop;",
            "*vs direct* and *vs bare* are medians of the per-round ratios, p50/p99 are wrk's latencies.",
            "*CPU µs/req* is the CPU time (user + system) of the serving process itself per request: the",
            "core's for *direct*, the hop's alone for the others (every BFF worker for `--workers 2`).",
            "",
        ]
        lines += _table(
            ["Path", "req/s", "vs direct", "vs bare", "p50 ms", "p99 ms", "CPU µs/req"],
            [
                [
                    _label(row),
                    _rps(_field(row, "rps")),
                    _ratio(_field(row, "ratio")),
                    _ratio(_field(row, "vs_bare")),
                    _ms(_field(row, "p50_ms")),
                    _ms(_field(row, "p99_ms")),
                    _fmt(_field(row, "cpu_us"), ".0f"),
                ]
                for row in rows
            ],
        )
        route = _row(results, "throughput", _ROUTE)
        if route is not None:
            lines += [
                "",
                "The custom route (SPEC §12: `/core-route` → the core, token `user`, on the same BFF "
                f"process) runs at {_ratio(_field(route, 'vs_api'))} the requests/s of `/api` in the same "
                "rounds.",
            ]
    else:
        lines += _not_measured()
    alt = f"Throughput at {connections} connections and latency at one connection"
    return [*lines, "", f"![{alt}]({chart_file})"]


def _ceiling_section(results: Mapping[str, Any]) -> list[str]:
    """The hops in front of an upstream that answers at once: what each hop costs when it is the limit."""
    rows = _rows(results, "ceiling")
    if not rows:
        return []  # an optional part: absent from runs that did not ask for it
    lines = [
        "## Hop ceiling (an upstream that answers at once)",
        "",
        "The core above spends far more CPU per request than any hop, so it sets the pace of every path.",
        "Here the same hops forward to nginx answering `/v1/me` itself with the core's bytes: the hop is",
        "the limit, and its own cost shows. *vs bare* is the median of the per-round ratios.",
        "",
    ]
    return lines + _table(
        ["Path", "req/s", "vs bare", "p50 ms", "p99 ms", "CPU µs/req"],
        [
            [
                _label(row),
                _rps(_field(row, "rps")),
                _ratio(_field(row, "vs_bare")),
                _ms(_field(row, "p50_ms")),
                _ms(_field(row, "p99_ms")),
                _fmt(_field(row, "cpu_us"), ".0f"),
            ]
            for row in rows
        ],
    )


def _core_cost_section(results: Mapping[str, Any]) -> list[str]:
    """`GET /v1/me` with a PAT straight to the core (SQLite, PostgreSQL) beside the bare Litestar app."""
    lines = ["## Core cost (the core beside a bare Litestar app)", ""]
    rows = [row for key in _CORE_KEYS if (row := _row(results, "throughput", key)) is not None]
    if not rows:
        return lines + _not_measured()
    lines += [
        "`GET /v1/me` with a personal access token straight to the core, in the same interleaved rounds",
        "as the table above, beside a bare Litestar app on the same Litestar, uvicorn and HTTP protocol",
        "class (one worker) that looks the token up in a dict and answers the same JSON. *vs bare Litestar*",
        f"is the median of the per-round ratios; SPEC §9 asks ≥ {_CORE_FLOOR:.2f}× on SQLite and reports",
        "PostgreSQL beside it. *CPU µs/req* is the serving process's own.",
        "",
    ]
    return lines + _table(
        ["Path", "req/s", "vs bare Litestar", "p50 ms", "p99 ms", "CPU µs/req"],
        [
            [
                _label(row),
                _rps(_field(row, "rps")),
                _ratio(1.0 if row.get("key") == "bare_core" else _field(row, "vs_bare_core")),
                _ms(_field(row, "p50_ms")),
                _ms(_field(row, "p99_ms")),
                _fmt(_field(row, "cpu_us"), ".0f"),
            ]
            for row in rows
        ],
    )


def _multiprocess_section(results: Mapping[str, Any]) -> list[str]:
    """SPEC §8's topology, 2 cores + 2 BFFs behind nginx, beside 1 core + 1 BFF."""
    lines = ["## Multi-process (2 cores + 2 BFFs behind nginx, beside 1 + 1)", ""]
    section = _section(results, "multiprocess")
    rows = _rows(section, "rows") if section is not None else []
    if section is None or not rows:
        return lines + _not_measured()
    cores = _num(section.get("cores"))
    lines += [
        "`GET /api/v1/me` through the BFF at "
        f"{_count(section.get('connections'))} connections, {_count(section.get('rounds'))} interleaved "
        "rounds. *2 + 2*: nginx round-robin in front of two BFF processes, which forward to nginx "
        "round-robin in front of two core processes (SPEC §8's tested topology). *1 + 1*: one BFF "
        "forwarding to one core, no nginx. Both on PostgreSQL (one core database and one session database "
        "per topology) with `LATCHKEY_REDIS_URL` set. *vs 1 + 1* is the median of the per-round ratios; "
        "*CPU µs/req* is that of every process of the topology per request, then split by kind.",
        "",
    ]
    roles = ("core", "BFF", "nginx")

    def role_cpu(row: Mapping[str, Any], role: str) -> str:
        by_role = row.get("cpu_roles_us")
        return _fmt(_field(by_role if isinstance(by_role, Mapping) else None, role), ".0f")

    lines += _table(
        ["Topology", "req/s", "vs 1 + 1", "p50 ms", "p99 ms", "CPU µs/req", *(f"{r} CPU" for r in roles)],
        [
            [
                _label(row),
                _rps(_field(row, "rps")),
                _ratio(_field(row, "ratio")),
                _ms(_field(row, "p50_ms")),
                _ms(_field(row, "p99_ms")),
                _fmt(_field(row, "cpu_us"), ".0f"),
                *(role_cpu(row, role) for role in roles),
            ]
            for row in rows
        ],
    )
    if cores is None or cores <= 2:
        machine = f"{cores:.0f} cores" if cores is not None else "a few cores"
        lines += [
            "",
            f"**This shows overhead, not a gain.** On this machine's {machine}, shared by wrk, both nginx",
            "and every process, 2 + 2 processes get no more CPU than 1 + 1: what the ratio measures is the",
            "cost of the two extra nginx hops and of more processes sharing the same cores. Scaling out pays",
            "on machines (or hosts) with cores to spare.",
        ]
    else:
        lines += [
            "",
            f"On this machine's {cores:.0f} cores the extra processes have CPU of their own; wrk and both",
            "nginx still share it, so the gain is below what separate hosts would show.",
        ]
    return lines


def _websocket_section(results: Mapping[str, Any]) -> list[str]:
    """SPEC §12: the echo round trip through the WebSocket relay, beside the upstream called straight."""
    lines = ["## WebSockets (echo through the relay, beside direct)", ""]
    section = _section(results, "websocket")
    rows = _rows(section, "rows") if section is not None else []
    if section is None or not rows:
        return lines + _not_measured()
    sockets = _count(section.get("sockets"))
    lines += [
        f"The team's own API (aiohttp) echoing {_count(section.get('message_bytes'))}-byte text messages, "
        "called straight and through the BFF's relay (a `websocket = true` route, token `user`); the "
        "load is one Python aiohttp client process, the same for both. *p50/p99*: round trips on one "
        f"socket, one message in flight; *msg/s*: {sockets} sockets at once, one message in flight on "
        f"each. Medians over {_count(section.get('rounds'))} interleaved rounds; *added p50* and *vs "
        "direct* are the medians of the per-round differences and ratios.",
        "",
    ]
    return lines + _table(
        ["Path", "p50 ms", "p99 ms", "added p50", f"msg/s ({sockets} sockets)", "vs direct"],
        [
            [
                _label(row),
                _ms(_field(row, "p50_ms")),
                _ms(_field(row, "p99_ms")),
                "—" if row.get("key") == "direct" else _added_ms(_field(row, "added_p50_ms")),
                _rps(_field(row, "msgs_per_s")),
                _ratio(_field(row, "ratio")),
            ]
            for row in rows
        ],
    )


def _callback_section(results: Mapping[str, Any]) -> list[str]:
    """SPEC §11: what a sign-in through the provider costs the BFF itself."""
    lines = ["## Sign-in through the OpenID Provider (the BFF's own cost)", ""]
    section = _section(results, "callback")
    if section is None:
        return lines + _not_measured()
    lines += [
        f"{_count(section.get('sign_ins'))} sign-ins through a real `oidc-provider`: the BFF's CPU time "
        "(its own process, read around its two requests) for `GET /bff/login/oidc` and for the callback, "
        "which redeems the code, checks the ID token, has the core exchange it and writes the session; "
        "the callback's wall time also waits for the provider and the core. CPU: means over the sign-ins "
        "(the kernel counts it in 10 ms ticks); wall: median.",
        "",
    ]
    return lines + _table(
        ["Step", "BFF CPU ms", "wall ms"],
        [
            ["`/bff/login/oidc` (302 to the provider)", _ms(_field(section, "start_cpu_ms")), "—"],
            [
                "`/bff/callback` (303, signed in)",
                _ms(_field(section, "callback_cpu_ms")),
                _ms(_field(section, "callback_wall_ms")),
            ],
        ],
    )


def _latency_section(results: Mapping[str, Any]) -> list[str]:
    lines = ["## Latency at one connection", ""]
    rows = _rows(results, "latency_1c")
    if not rows:
        return lines + _not_measured()
    lines += [
        "wrk -c1: one request at a time, so the latency is the hop's own. *Added* is the median over",
        "rounds of (path - direct) in the same round.",
        "",
    ]
    return lines + _table(
        ["Path", "p50 ms", "p99 ms", "added p50", "added p99"],
        [
            [
                _label(row),
                _ms(_field(row, "p50_ms")),
                _ms(_field(row, "p99_ms")),
                _added_ms(_field(row, "added_p50_ms")),
                _added_ms(_field(row, "added_p99_ms")),
            ]
            for row in rows
        ],
    )


def _cookie_section(results: Mapping[str, Any]) -> list[str]:
    lines = ["## Session cookie", ""]
    cookie = _section(results, "cookie")
    if cookie is None:
        return lines + _not_measured()
    payload = _count(cookie.get("payload_bytes"))
    lines += [f"Microseconds per call on a {payload}-byte payload, beside `cryptography`'s Fernet.", ""]
    return lines + _table(
        ["Operation", "µs per call"],
        [
            ["Latchkey seal", _fmt(_field(cookie, "seal_us"), ".2f")],
            ["Latchkey unseal", _fmt(_field(cookie, "unseal_us"), ".2f")],
            ["Fernet encrypt", _fmt(_field(cookie, "fernet_encrypt_us"), ".2f")],
            ["Fernet decrypt", _fmt(_field(cookie, "fernet_decrypt_us"), ".2f")],
            ["unseal ÷ Fernet decrypt", _ratio(_unseal_vs_fernet(results))],
        ],
    )


def _storm_section(results: Mapping[str, Any]) -> list[str]:
    lines = ["## Login storm", ""]
    storm = _section(results, "storm")
    if storm is None:
        return lines + _not_measured()
    statuses = storm.get("login_statuses")
    shed = ""
    if isinstance(statuses, Mapping) and len(statuses) > 1:
        shed = " (answers: " + ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items())) + ")"
    lines += [
        f"`GET /api/v1/me` through the BFF at 32 connections, alone and while "
        f"{_count(storm.get('login_concurrency'))} browsers sign in back to back through the same BFF "
        f"({_count(storm.get('logins'))} sign-ins succeeded{shed}; a 503 is the core's bounded Argon2id "
        f"queue shedding load); medians over {_count(storm.get('rounds'))} rounds, the ratio is the median "
        "of the per-round ratios.",
        "",
    ]
    return lines + _table(
        ["", "p99 ms", "req/s"],
        [
            ["without a storm", _ms(_field(storm, "p99_without_ms")), _rps(_field(storm, "rps_without"))],
            ["during a storm", _ms(_field(storm, "p99_with_ms")), _rps(_field(storm, "rps_with"))],
            [
                "during ÷ without",
                _ratio(_storm_ratio(results)),
                _ratio(_quotient(_field(storm, "rps_with"), _field(storm, "rps_without"))),
            ],
        ],
    )


def _streaming_section(results: Mapping[str, Any]) -> list[str]:
    lines = ["## Streaming", ""]
    streaming = _section(results, "streaming")
    if streaming is None:
        return lines + _not_measured()
    mib = _count(streaming.get("mib"))
    lines += [f"RSS of the BFF process while {mib} MiB goes up through it, then {mib} MiB comes down.", ""]
    return lines + _table(
        ["Size each way", "RSS before", "peak RSS", "growth", "upload", "download"],
        [
            [
                f"{mib} MiB",
                _mib(_field(streaming, "baseline_rss_mib")),
                _mib(_field(streaming, "peak_rss_mib")),
                _mib(_streaming_growth(results)),
                _fmt(_field(streaming, "upload_s"), ".2f", " s"),
                _fmt(_field(streaming, "download_s"), ".2f", " s"),
            ]
        ],
        align="rrrrrr",
    )


def _stability_section(results: Mapping[str, Any]) -> list[str]:
    lines = ["## Stability", ""]
    stability = _section(results, "stability")
    if stability is None:
        return lines + _not_measured()
    lines += ["RSS of the BFF process before and after a long run of proxied requests.", ""]
    return lines + _table(
        ["Requests", "RSS before", "RSS after", "growth", "errors"],
        [
            [
                _count(stability.get("requests")),
                _mib(_field(stability, "rss_before_mib")),
                _mib(_field(stability, "rss_after_mib")),
                _mib(_stability_growth(results)),
                _count(stability.get("errors")),
            ]
        ],
        align="rrrrr",
    )


def _method_section(results: Mapping[str, Any], tuning_link: str) -> list[str]:
    machine = _section(results, "machine") or {}
    cores = _num(machine.get("cores"))
    box = f"same {cores:.0f}-core machine" if cores is not None else "same machine"
    return [
        "## How it is measured",
        "",
        "- **Interleaved rounds.** Every server stays up for the whole run; a round measures each path once",
        "  in turn (direct, nginx, bare, BFF, …) and the rounds repeat that sequence (A B C … A B C …), so a",
        "  slow minute on the machine lands on every path instead of one. Tables show medians over rounds;",
        "  ratios are medians of the per-round ratios (path ÷ direct, BFF ÷ bare, in the same round) and",
        "  added latency the median of the per-round differences from direct.",
        "- **Load generator.** wrk from Debian's package (version above), against the same authenticated",
        "  call on every path.",
        "- **Servers.** The core, the bare Litestar + aiohttp forwarder, the bare Litestar app of the core",
        "  cost and each BFF are separate uvicorn processes with 1 worker unless their label says otherwise;",
        "  nginx is a plain `proxy_pass` hop.",
        f"- **One machine.** wrk, nginx, the core and the hop under test share the {box}, so a ratio",
        "  includes the CPU the hop takes away from the core: it is what the hop costs on this machine.",
        "",
        "The profile of the BFF's hot path and the history of the tuning behind these numbers are in",
        f"[docs/performance-tuning.md]({tuning_link}).",
    ]


def render_markdown(results: dict[str, Any], chart_file: str, *, tuning_link: str = TUNING_DOC) -> str:
    """The whole docs/benchmarks.md: header, targets, every table, the chart at `chart_file`, the method."""
    settings = _section(results, "settings")
    connections = _count(settings.get("connections")) if settings is not None else "32"
    connections = "32" if connections == "—" else connections
    date = str(results.get("date") or "an unknown date")
    command = str(results.get("command") or "just bench")
    quick = f" {QUICK_NOTE}" if results.get("quick") else ""

    lines = [
        "# Benchmarks",
        "",
        f"Generated by `just bench`{quick} on {date} with `{command}`; do not edit by hand, run it again.",
        "",
        _machine_line(_section(results, "machine")),
    ]
    settings_line = _settings_line(settings, _num(results.get("elapsed_s")))
    if settings_line is not None:
        lines += ["", settings_line]
    problems = _problems(results)
    if problems:
        lines += ["", "**Not measured, because it failed to start or run:**", ""]
        lines += [f"- `{key}`: {_cell(problem)}" for key, problem in problems.items()]
    for section in (
        _targets_section(results),
        _throughput_section(results, chart_file, connections),
        _core_cost_section(results),
        _ceiling_section(results),
        _latency_section(results),
        _cookie_section(results),
        _storm_section(results),
        _streaming_section(results),
        _stability_section(results),
        _multiprocess_section(results),
        _websocket_section(results),
        _callback_section(results),
        _method_section(results, tuning_link),
    ):
        lines += ["", *section]
    return "\n".join(lines) + "\n"


# --- SVG -----------------------------------------------------------------------------------------------

WIDTH = 900
_MARGIN = 24
_FONT = "Helvetica, Arial, sans-serif"
_INK = "#0f172a"
_MUTED = "#475569"
_GRID = "#e2e8f0"
_BFF = "#2563eb"
_CORE = "#0f766e"
_BASELINE = "#94a3b8"
_P50 = "#93c5fd"
_P99 = "#1d4ed8"
_MARKER = "#dc2626"


def _attrs(attributes: Mapping[str, Any]) -> str:
    """XML attributes; a trailing underscore is dropped and other underscores become hyphens."""
    parts = []
    for key, value in attributes.items():
        name = key.rstrip("_").replace("_", "-")
        shown = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        parts.append(f'{name}="{escape(shown, quote=True)}"')
    return " ".join(parts)


def _text(x: float, y: float, content: str, **attributes: Any) -> str:
    return f"<text {_attrs({'x': x, 'y': y, **attributes})}>{escape(content, quote=False)}</text>"


def _rect(x: float, y: float, width: float, height: float, title: str = "", **attributes: Any) -> str:
    attrs = _attrs({"x": x, "y": y, "width": max(width, 0.0), "height": height, **attributes})
    if not title:
        return f"<rect {attrs}/>"
    return f"<rect {attrs}><title>{escape(title, quote=False)}</title></rect>"


def _text_width(content: str, size: float) -> float:
    """A generous estimate of the width of sans-serif text: there is no font metrics without a browser."""
    return len(content) * size * 0.58


def _nice_axis(largest: float, ticks: int = 5) -> tuple[float, float]:
    """(axis maximum, tick step) with a 1-2-2.5-5 step covering `largest` in about `ticks` steps."""
    largest = largest if largest > 0 else 1.0
    raw = largest / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - _TOLERANCE))
    return math.ceil(largest / step - _TOLERANCE) * step, step


def _truncate(content: str, width: float, size: float) -> str:
    if _text_width(content, size) <= width:
        return content
    keep = max(int(width / (size * 0.58)) - 1, 1)
    return content[:keep].rstrip() + "…"


@dataclass
class _Panel:
    """A chart starting at `top`: horizontal bars against an x axis, their labels in a column on the left."""

    top: float
    label_width: float

    @property
    def left(self) -> float:
        return _MARGIN + self.label_width + 12

    @property
    def right(self) -> float:
        return WIDTH - _MARGIN

    def x(self, value: float, axis_max: float) -> float:
        return self.left + (self.right - self.left) * max(value, 0.0) / axis_max

    def axis(
        self, top: float, y: float, axis_max: float, step: float, label: str, tick: Callable[[float], str]
    ) -> list[str]:
        """Grid lines from `top` down to the axis at `y`, tick labels and the axis title below it."""
        out = []
        count = round(axis_max / step)
        for i in range(count + 1):
            value = i * step
            x = self.x(value, axis_max)
            out.append(f"<line {_attrs({'x1': x, 'y1': top, 'x2': x, 'y2': y, 'stroke': _GRID})}/>")
            out.append(_text(x, y + 16, tick(value), text_anchor="middle", fill=_MUTED, font_size=11))
        out.append(
            f"<line {_attrs({'x1': self.left, 'y1': y, 'x2': self.right, 'y2': y, 'stroke': _MUTED})}/>"
        )
        middle = (self.left + self.right) / 2
        out.append(_text(middle, y + 34, label, text_anchor="middle", fill=_MUTED, font_size=12))
        return out


def _legend(x: float, y: float, items: list[tuple[str, str]]) -> list[str]:
    """Swatches (a colour, or "dashed" for the target marker) with their captions, left to right."""
    out = []
    for colour, caption in items:
        if colour == "dashed":
            line = {"x1": x, "y1": y - 4, "x2": x + 14, "y2": y - 4, "stroke": _MARKER, "stroke_width": 2}
            out.append(f"<line {_attrs({**line, 'stroke_dasharray': '4 3'})}/>")
        else:
            out.append(_rect(x, y - 10, 14, 12, fill=colour, rx=2))
        out.append(_text(x + 20, y, caption, fill=_INK, font_size=12))
        x += 20 + _text_width(caption, 12) + 18
    return out


def _not_measured_svg(panel: _Panel, y: float) -> list[str]:
    middle = (panel.left + panel.right) / 2
    return [_text(middle, y + 24, NOT_MEASURED, text_anchor="middle", fill=_MUTED, font_style="italic")]


def _throughput_panel(results: Mapping[str, Any], panel: _Panel, connections: str) -> tuple[list[str], float]:
    """Bars of requests/s at `connections` connections, the ratio to direct on each, the 0.40x marker."""
    rows = _rows(results, "throughput")
    out = [
        _text(
            _MARGIN, panel.top, f"Throughput at {connections} connections", font_size=15, font_weight="bold"
        ),
        _text(_MARGIN, panel.top + 17, "requests per second, higher is better", fill=_MUTED, font_size=12),
    ]
    direct = _field(_row(results, "throughput", "direct"), "rps")
    legend = [(_BFF, "Latchkey BFF")]
    if any(str(row.get("key", "")).startswith("core_pat") for row in rows):
        legend.append((_CORE, "Latchkey core, PAT"))
    legend.append((_BASELINE, "baselines"))
    if direct is not None:
        legend.append(("dashed", f"{_THROUGHPUT_FLOOR:.2f}× direct (target floor)"))
    out += _legend(panel.left, panel.top + 40, legend)
    top = panel.top + 56
    if not rows:
        return [*out, *_not_measured_svg(panel, top)], top + 48

    row_height, bar_height = 30, 20
    values = [v for v in (_field(row, "rps") for row in rows) if v is not None]
    axis_max, step = _nice_axis(max(values, default=0.0))
    bottom = top + row_height * len(rows) + 4
    out += panel.axis(top, bottom, axis_max, step, "requests per second", lambda v: f"{v:,.0f}")
    captions: list[str] = []
    for i, row in enumerate(rows):
        y = top + 4 + i * row_height
        label = _label(row)
        middle = y + bar_height / 2 + 4
        out.append(
            _text(
                panel.left - 8,
                middle,
                _truncate(label, panel.label_width, 13),
                text_anchor="end",
                fill=_INK,
                font_size=13,
            )
        )
        rps = _field(row, "rps")
        if rps is None:
            out.append(_text(panel.left + 6, middle, NOT_MEASURED, fill=_MUTED, font_style="italic"))
            continue
        ratio = _field(row, "ratio")
        caption = f"{rps:,.0f} req/s" + (f" · {ratio:.2f}×" if ratio is not None else "")
        end = panel.x(rps, axis_max)
        key = str(row.get("key", ""))
        colour = _BASELINE if key in _BASELINES else _CORE if key.startswith("core_pat") else _BFF
        title = f"{label}: {caption}"
        out.append(
            _rect(
                panel.left,
                y,
                end - panel.left,
                bar_height,
                title,
                class_="bar bar-throughput",
                fill=colour,
                rx=2,
            )
        )
        # Beside the bar when it fits in the chart, else inside its end; drawn last, over the marker.
        style = {"font_size": 12, "font_weight": "bold", "paint_order": "stroke", "stroke_width": 3}
        if end + 6 + _text_width(caption, 12) <= WIDTH - 4:
            captions.append(_text(end + 6, middle, caption, fill=_INK, stroke="#ffffff", **style))
        else:
            ink = _INK if colour == _BASELINE else "#ffffff"
            captions.append(
                _text(end - 7, middle, caption, text_anchor="end", fill=ink, stroke=colour, **style)
            )
    if direct is not None:
        x = panel.x(_THROUGHPUT_FLOOR * direct, axis_max)
        marker = {"x1": x, "y1": top - 2, "x2": x, "y2": bottom, "stroke": _MARKER, "stroke_width": 2}
        out.append(
            f"<line {_attrs({**marker, 'stroke_dasharray': '6 4', 'class': 'target-marker'})}>"
            f"<title>{_THROUGHPUT_FLOOR:.2f}× direct = {_THROUGHPUT_FLOOR * direct:,.0f} req/s</title></line>"
        )
    out += captions
    return out, bottom + 40


def _latency_panel(results: Mapping[str, Any], panel: _Panel) -> tuple[list[str], float]:
    """Grouped bars of p50 and p99 at one connection, with the added latency over direct on each."""
    rows = _rows(results, "latency_1c")
    out = [
        _text(_MARGIN, panel.top, "Latency at one connection", font_size=15, font_weight="bold"),
        _text(_MARGIN, panel.top + 17, "milliseconds, lower is better", fill=_MUTED, font_size=12),
        *_legend(panel.left, panel.top + 40, [(_P50, "p50"), (_P99, "p99")]),
    ]
    top = panel.top + 56
    if not rows:
        return [*out, *_not_measured_svg(panel, top)], top + 48

    row_height, bar_height, gap = 34, 12, 2
    values = [v for row in rows for v in (_field(row, "p50_ms"), _field(row, "p99_ms")) if v is not None]
    # Room to the right of the longest bar for its caption.
    axis_max, step = _nice_axis(max(values, default=0.0) * 1.3)
    bottom = top + row_height * len(rows) + 2
    out += panel.axis(top, bottom, axis_max, step, "milliseconds", lambda v: f"{round(v, 6):g}")
    for i, row in enumerate(rows):
        y = top + 4 + i * row_height
        label = _label(row)
        out.append(
            _text(
                panel.left - 8,
                y + bar_height + gap / 2 + 4,
                _truncate(label, panel.label_width, 13),
                text_anchor="end",
                fill=_INK,
                font_size=13,
            )
        )
        for j, (field, colour) in enumerate((("p50", _P50), ("p99", _P99))):
            bar_y = y + j * (bar_height + gap)
            value = _field(row, f"{field}_ms")
            if value is None:
                out.append(
                    _text(panel.left + 6, bar_y + 10, f"{field} {NOT_MEASURED}", fill=_MUTED, font_size=11)
                )
                continue
            added = _field(row, f"added_{field}_ms")
            caption = f"{value:.2f} ms" + (f" ({added:+.2f})" if added is not None else "")
            end = panel.x(value, axis_max)
            out.append(
                _rect(
                    panel.left,
                    bar_y,
                    end - panel.left,
                    bar_height,
                    f"{label} {field}: {caption}",
                    class_=f"bar bar-latency bar-{field}",
                    fill=colour,
                    rx=1,
                )
            )
            out.append(_text(end + 5, bar_y + 10, caption, fill=_INK, font_size=11))
    return out, bottom + 40


def render_svg(results: dict[str, Any]) -> str:
    """A self-contained SVG: throughput bars at 32 connections above p50/p99 bars at one connection."""
    labels = [_label(row) for name in ("throughput", "latency_1c") for row in _rows(results, name)]
    label_width = min(max([_text_width(label, 13) for label in labels] + [120.0]), 300.0)
    settings = _section(results, "settings")
    connections = _count(settings.get("connections")) if settings is not None else "32"
    connections = "32" if connections == "—" else connections

    title = f"Latchkey benchmarks · {results.get('date') or 'unknown date'}"
    if results.get("quick"):
        title += " · --quick run"
    subtitle = ["wrk on the same machine"]
    rounds = _field(settings, "rounds")
    if rounds is not None:
        subtitle.append(f"medians of {rounds:.0f} interleaved rounds")
    machine = _section(results, "machine")
    if machine is not None and _num(machine.get("cores")) is not None:
        subtitle.append(f"{_num(machine.get('cores')):.0f} cores")
    subtitle.append(str(results.get("command") or "just bench"))

    body = [
        _text(_MARGIN, 34, title, font_size=18, font_weight="bold", fill=_INK),
        _text(_MARGIN, 54, " · ".join(subtitle), font_size=12, fill=_MUTED),
    ]
    throughput, y = _throughput_panel(results, _Panel(92, label_width), connections)
    latency, height = _latency_panel(results, _Panel(y + 36, label_width))
    body += [*throughput, *latency]
    height = math.ceil(height)
    root = {
        "xmlns": "http://www.w3.org/2000/svg",
        "width": WIDTH,
        "height": height,
        "viewBox": f"0 0 {WIDTH} {height}",
        "font_family": _FONT,
        "font_size": 13,
        "role": "img",
    }
    return "\n".join(
        [
            f"<svg {_attrs(root)}>",
            f"<title>{escape(title, quote=False)}</title>",
            _rect(0, 0, WIDTH, height, fill="#ffffff"),
            *body,
            "</svg>",
            "",
        ]
    )


# --- files ---------------------------------------------------------------------------------------------


def write_report(results: dict[str, Any], markdown_path: Path, chart_path: Path) -> None:
    """Write the chart and the markdown, which links the chart by its path relative to the markdown."""
    markdown_path, chart_path = Path(markdown_path), Path(chart_path)
    chart_file = Path(os.path.relpath(chart_path.resolve(), markdown_path.resolve().parent)).as_posix()
    chart_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    chart_path.write_text(render_svg(results), encoding="utf-8")
    markdown_path.write_text(render_markdown(results, chart_file), encoding="utf-8")
