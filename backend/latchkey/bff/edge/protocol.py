"""The BFF's HTTP protocol: the bounded-head protocol both apps share, keeping absolute-form targets visible.

httptools hands the app only the path of `GET http://evil/api/x HTTP/1.1`, so the app could not tell it
from `GET /api/x`. SPEC §5 refuses absolute URLs as request targets; this marks such a request in its
ASGI scope (`ABSOLUTE_FORM`) and `BffApp` answers it 400 `invalid_path` before anything else runs.
`latchkey bff` serves the app with this protocol.
"""

from __future__ import annotations

from latchkey.http_server import BoundedHeadProtocol

ABSOLUTE_FORM = "latchkey.absolute_form_target"


class StrictTargetProtocol(BoundedHeadProtocol):
    def on_headers_complete(self) -> None:
        # Origin-form targets start with "/"; "*" is OPTIONS' asterisk-form. Anything else names a host.
        if not self.url.startswith(b"/") and self.url != b"*":
            self.scope[ABSOLUTE_FORM] = True  # type: ignore[literal-required]
        super().on_headers_complete()
