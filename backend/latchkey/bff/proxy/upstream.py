"""The proxy's client to one upstream (the core, or a configured route's): a pooled aiohttp session, and
one call to it — send the request, wait for the upstream's headers (and a small body) within the mount's
deadline (LATCHKEY_UPSTREAM_TIMEOUT, or the route's `timeout`), and turn a failure into the problem the
browser is told (502, 504, or 413 when the upload outgrew the limit).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass

import aiohttp

from latchkey.bff.proxy.body import BodyLimits, Upload
from latchkey.bff.proxy.inbound import NO_BODY_STATUS
from latchkey.bff.proxy.outbound import UpstreamRequest
from latchkey.problems import ProblemError

log = logging.getLogger("latchkey.bff.proxy")

# Safe to send twice when a pooled connection turned out to be closed under us (RFC 9110 §9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
# Bodies up to this size with a known length are read inside the header deadline and sent in one
# message; larger or unframed ones stream with a disconnect watcher.
SMALL_BODY = 64 * 1024


class BrowserGone(Exception):
    """The browser left during its upload: there is no one to answer."""


def connection_pool_size() -> int:
    """Upstream connections allowed: half the process's descriptors (each open stream holds one, and
    its browser connection another), at most 4096."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(32, min(4096, soft // 2 - 64))


def has_no_body(method: str, status: int) -> bool:
    """Whether an answer carries no body, whatever its fields say."""
    return method == "HEAD" or status in NO_BODY_STATUS or status < 200


def is_small(content_length: int | None) -> bool:
    """Whether a body is read whole inside the header deadline rather than streamed."""
    return content_length is not None and content_length <= SMALL_BODY


def attempts_for(method: str, upload: Upload | None) -> int:
    """Sends allowed when a pooled connection turns out closed: two when the request is idempotent
    and has no body to take from the browser a second time."""
    return 2 if upload is None and method in IDEMPOTENT else 1


def call_failure(
    request: UpstreamRequest,
    upload: Upload | None,
    exc: Exception,
    limits: BodyLimits,
    upstream: str = "core",
) -> Exception:
    """What a failed call becomes: BrowserGone when the browser left mid-upload, else the problem the
    browser is told (413 when its upload outgrew the limit, 504 past the deadline, 502 otherwise)."""
    if upload is not None and upload.client_gone:
        return BrowserGone()
    if upload is not None and upload.too_large:
        return limits.too_large()
    path = request.url.raw_path
    if isinstance(exc, TimeoutError):
        log.warning("%s did not answer %s %s within %ss", upstream, request.method, path, limits.timeout)
        return ProblemError(504, "upstream_timeout", "the API did not answer in time")
    log.warning("%s unreachable for %s %s: %s: %s", upstream, request.method, path, type(exc).__name__, exc)
    return ProblemError(502, "upstream_unavailable", "the API is not reachable")


@dataclass(slots=True)
class Answer:
    """The upstream's response, with its whole body when empty or small (None: it streams)."""

    response: aiohttp.ClientResponse
    body: bytes | None

    @property
    def wants_fresh_token(self) -> bool:
        """The upstream refused the token before doing anything (401 invalid_token)."""
        return self.response.status == 401 and "invalid_token" in self.response.headers.get(
            "WWW-Authenticate", ""
        )


class UpstreamConnection:
    """The pooled client to one upstream (opened in the serving loop by `start`) and the call through
    it. `name` is what the logs call the upstream: `core`, or a route's prefix."""

    def __init__(self, limits: BodyLimits, pool_size: int, name: str = "core") -> None:
        self._limits = limits
        self.pool_size = pool_size
        self.name = name
        self._client: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.pool_size,
            # Shorter than uvicorn's 5 s keep-alive on the core, so a pooled connection is dropped here
            # before the core closes it under a request.
            keepalive_timeout=4.0,
            ttl_dns_cache=300,
        )
        self._client = aiohttp.ClientSession(
            connector=connector,
            # One user's upstream cookie must never ride on another user's request.
            cookie_jar=aiohttp.DummyCookieJar(),
            # Bodies pass through as the core encoded them, with their Content-Encoding.
            auto_decompress=False,
            # No total or read timeout: SSE and large downloads stream for as long as they need. The
            # connect-and-headers deadline is applied per request (see _send).
            timeout=aiohttp.ClientTimeout(),
            trust_env=False,
            requote_redirect_url=False,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def call(self, request: UpstreamRequest, upload: Upload | None) -> Answer:
        """The upstream's answer; raises the ProblemError the browser is told when there is none, or
        BrowserGone when the browser left during its upload."""
        try:
            return await self._send(request, upload)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise call_failure(request, upload, exc, self._limits, self.name) from exc

    async def _send(self, request: UpstreamRequest, upload: Upload | None) -> Answer:
        """Send the request and wait for the upstream's headers, and for a small body, within the deadline."""
        client = self._client
        if client is None:
            raise RuntimeError("ApiProxy.startup() was not called")
        try:
            async with asyncio.timeout(self._limits.timeout) as deadline:
                if upload is not None:
                    upload.deadline = deadline
                attempts = attempts_for(request.method, upload)
                while True:
                    attempts -= 1
                    try:
                        response = await client.request(
                            request.method,
                            request.url,
                            headers=request.fields,
                            data=upload.chunks() if upload is not None else None,
                            allow_redirects=False,
                        )
                        break
                    except aiohttp.ServerDisconnectedError:
                        # A pooled connection the core closed just as we reused it; nothing was done.
                        if not attempts:
                            raise
                try:
                    return Answer(response, await _small_body(request.method, response))
                except BaseException:
                    response.close()
                    raise
        finally:
            if upload is not None:
                upload.deadline = None


async def _small_body(method: str, response: aiohttp.ClientResponse) -> bytes | None:
    """The whole body when it is empty or small with a known length; None when it must stream."""
    if has_no_body(method, response.status):
        return b""
    if is_small(response.content_length):
        return await response.read()
    return None


# The name the core's tests and stand-ins know it by.
CoreConnection = UpstreamConnection
