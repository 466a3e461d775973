"""Routes of the projects domain (being written)."""

from litestar import Router

router = Router(path="/v1", route_handlers=[])
