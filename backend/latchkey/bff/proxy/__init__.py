"""The `{base}/api/{path}` forwarder, as a pipeline of small steps, one module each:

- `targets`: the raw path, query, method and request id the proxy accepts;
- `outbound`: the request fields the core receives (allow-list, Connection, forwarding, Authorization);
- `body`: the upload's framing, size limit and deadline;
- `upstream`: the pooled client to the core, the call, and its failures as problems;
- `inbound`: the response fields the browser receives (allow-list, Location, Vary, no-store);
- `streams`: the admitted response streams, their caps, and ending a session's;
- `relay`: the answer sent down, whole or pumped;
- `forwarder`: `ApiProxy`, the steps in order;
- `gate`: the port to the session side (`SessionGate`, `Grant`).
"""

from __future__ import annotations

from latchkey.bff.proxy.forwarder import ApiProxy
from latchkey.bff.proxy.gate import Grant, SessionGate
from latchkey.bff.proxy.streams import StreamRegistry, StreamSlot, TooManyStreams, stream_cap
from latchkey.bff.proxy.targets import checked_path, checked_query

__all__ = [
    "ApiProxy",
    "Grant",
    "SessionGate",
    "StreamRegistry",
    "StreamSlot",
    "TooManyStreams",
    "checked_path",
    "checked_query",
    "stream_cap",
]
