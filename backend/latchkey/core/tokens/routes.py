"""Routes of the tokens domain (being written)."""

from litestar import Router

router = Router(path="/v1", route_handlers=[])
