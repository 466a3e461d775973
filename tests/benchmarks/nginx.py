"""nginx as the benchmarks (and the scale-out tests) run it: one worker, no logs, keep-alive upstreams.

A `Site` is one `server` block: it listens on a port and passes every request round-robin to the ports of
its upstream (nginx's default balancing), over pooled HTTP/1.1 keep-alive connections, keeping the client's
`Host`. It may answer some paths itself (the benchmarks' *instant upstream*: `/v1/me` answered at once
with the core's bytes). `write_config` writes the nginx.conf of a set of sites into a work directory and
`command` is the argv that runs it in the foreground, for `latchkey.devstack.Process`:

    sites = [Site(port=free_port(), upstream=(core_a.port, core_b.port))]
    process = devstack.Process("nginx", command(write_config(workdir, sites)), log_path=workdir / "out.log")
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_UNQUOTABLE = frozenset("'$\\\n")


@dataclass(frozen=True)
class Site:
    """One listening port forwarding round-robin to `upstream` (ports on 127.0.0.1)."""

    port: int
    upstream: Sequence[int]
    # Exact paths nginx answers itself with 200 and this JSON body, instead of passing them on.
    answers: Mapping[str, str] = field(default_factory=dict)


def binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise RuntimeError("nginx is not installed (just bench installs it with apt-get)")
    return found


def _site(site: Site) -> str:
    if not site.upstream:
        raise ValueError(f"site on port {site.port} has no upstream")
    servers = "".join(f"        server 127.0.0.1:{port};\n" for port in site.upstream)
    answers = ""
    for path, body in site.answers.items():
        if _UNQUOTABLE & set(body + path):
            raise ValueError(f"the answer for {path} cannot be written into nginx.conf as it is")
        answers += (
            f"        location = {path} {{\n"
            "            default_type application/json;\n"
            f"            return 200 '{body}';\n"
            "        }\n"
        )
    return f"""
    upstream u{site.port} {{
{servers}        keepalive 64;
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{site.port};
{answers}        location / {{
            proxy_pass http://u{site.port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }}
    }}
"""


def config_text(workdir: Path, sites: Sequence[Site]) -> str:
    """nginx.conf for `sites`: one worker, in the foreground, no access log, every path under `workdir`."""
    temp = " ".join(f"{kind}_temp_path {workdir / kind};" for kind in _TEMP_KINDS)
    return f"""worker_processes 1;
daemon off;
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {temp}
{"".join(_site(site) for site in sites)}}}
"""


def write_config(workdir: Path, sites: Sequence[Site]) -> Path:
    """Write `workdir/nginx.conf` (creating `workdir`); returns its path."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "nginx.conf"
    path.write_text(config_text(workdir.resolve(), sites))
    return path


def command(config: Path) -> list[str]:
    """The argv running nginx in the foreground on `config` (its directory is nginx's prefix)."""
    prefix = config.resolve().parent
    return [binary(), "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", config.name]
