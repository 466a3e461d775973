"""Stand-ins for the core's side of the proxy: an aiohttp-like response and a `CoreConnection` that
answers from a script, so the pipeline runs without a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
from multidict import CIMultiDict
from yarl import URL

from latchkey.bff.proxy.body import Upload
from latchkey.bff.proxy.outbound import UpstreamRequest
from latchkey.bff.proxy.upstream import Answer


class FakeContent:
    def __init__(self, chunks: list[bytes], then: BaseException | None, hang: bool) -> None:
        self._chunks, self._then, self._hang = chunks, then, hang

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._then is not None:
            raise self._then
        if self._hang:
            await anyio.sleep_forever()


class FakeResponse:
    """What the proxy reads of an aiohttp.ClientResponse."""

    def __init__(
        self,
        status: int = 200,
        fields: list[tuple[bytes, bytes]] | None = None,
        chunks: list[bytes] | None = None,
        *,
        content_length: int | None = None,
        then: BaseException | None = None,
        hang: bool = False,
    ) -> None:
        self.status = status
        self.raw_headers = tuple(fields or [])
        self.headers = CIMultiDict((name.decode(), value.decode()) for name, value in self.raw_headers)
        self.content = FakeContent(chunks or [], then, hang)
        self.content_length = content_length
        self.url = URL("http://core:8001/v1/stream")
        self.released = self.closed = False

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


Script = Callable[[UpstreamRequest, Upload | None], Answer]


@dataclass
class FakeCore:
    """A `CoreConnection` whose calls are answered by `script` (or raise what it raises)."""

    script: Script
    pool_size: int = 64
    calls: list[tuple[UpstreamRequest, Upload | None]] = field(default_factory=list)
    started: bool = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False

    async def call(self, request: UpstreamRequest, upload: Upload | None) -> Answer:
        self.calls.append((request, upload))
        if upload is not None:
            async for _ in upload.chunks():
                pass
        return self.script(request, upload)


def small(status: int = 200, fields: list[tuple[bytes, bytes]] | None = None, body: bytes = b"") -> Answer:
    return Answer(FakeResponse(status, fields), body)  # type: ignore[arg-type]


def streaming(response: FakeResponse) -> Answer:
    return Answer(response, None)  # type: ignore[arg-type]
