"""The built SPA (`LATCHKEY_BFF_STATIC_DIR`) served at `/`, with history fallback, as raw ASGI.

- A path naming a file under the static directory gets that file; an unknown path that does not look like
  a file (no extension in its last segment, not under `/assets/`) gets `index.html`, so the SPA's own
  router handles `/projects` or `/profile/developer-settings` on a reload. Anything else is 404, never
  index.html: a missing script must not come back as HTML.
- `..`, `.`, empty segments, backslashes and control characters are refused before the file system is
  touched, and the resolved file must still lie inside the directory (a symlink cannot lead out).
- Dotfiles and dot directories (`/.env`, `/.git/config`) are never served, however reached: 404.
- Every answer carries the CSP, nosniff and Referrer-Policy headers (SPEC §5). Vite's content-hashed
  files under `/assets/` never change, so they are cached for a year; everything else (`index.html`
  above all, which names the current hashes) is `no-cache`: revalidated with its ETag on each use.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat
from pathlib import Path

from litestar.types import (
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Receive,
    Scope,
    Send,
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"
ASSETS_PREFIX = "/assets/"
CHUNK_BYTES = 64 * 1024

# Explicit types for what a Vite build emits: the platform's mime.types may lack some or disagree
# (a script served as text/plain is refused under nosniff).
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
}


def content_type(path: Path) -> str:
    """The Content-Type for a file, by its extension."""
    suffix = path.suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def _safe_parts(path: str) -> list[str] | None:
    """The URL path's segments, or None when any could step outside the directory or is malformed."""
    if not path.startswith("/"):
        return None
    parts = path[1:].split("/")
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash names the same route
    for part in parts:
        # Dotfiles and dot directories (.env, .git/, .well-known/…) are never served: a build directory
        # may hold more than the build, and none of it is the SPA's.
        if part.startswith(".") or "\\" in part or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in part):
            return None
        if not part:
            return None
    return parts


def _looks_like_file(path: str, parts: list[str]) -> bool:
    return path.startswith(ASSETS_PREFIX) or (bool(parts) and "." in parts[-1])


class StaticSite:
    """Serves the SPA in `root` (GET and HEAD only)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.index = self.root / "index.html"

    def _file(self, parts: list[str]) -> tuple[Path, os.stat_result] | None:
        """The regular file these segments name inside the root, or None."""
        if not parts:
            return None
        candidate = self.root.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
            info = resolved.stat()
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.root) or not stat.S_ISREG(info.st_mode):
            return None
        if any(part.startswith(".") for part in resolved.relative_to(self.root).parts):
            return None  # a symlink leading to a dotfile inside the root
        return resolved, info

    async def __call__(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _answer(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        path: str = scope["path"]
        parts = _safe_parts(path)
        if parts is None:
            await _answer(send, 404, b"not found\n")
            return
        found = await asyncio.to_thread(self._file, parts)
        if found is None:
            if _looks_like_file(path, parts):
                await _answer(send, 404, b"not found\n")
                return
            found = await asyncio.to_thread(self._file, ["index.html"])
            if found is None:  # the directory was emptied under us
                await _answer(send, 404, b"not found\n")
                return
        file, info = found
        cache = IMMUTABLE if path.startswith(ASSETS_PREFIX) else REVALIDATE
        await _send_file(scope, send, file, info, cache, head=method == "HEAD")


def _etag(info: os.stat_result) -> bytes:
    return f'"{info.st_mtime_ns:x}-{info.st_size:x}"'.encode()


def _if_none_match(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return bytes(value)
    return None


async def _send_file(
    scope: Scope, send: Send, file: Path, info: os.stat_result, cache: bytes, *, head: bool
) -> None:
    etag = _etag(info)
    headers = [*SECURITY_HEADERS, (b"cache-control", cache), (b"etag", etag)]
    wanted = _if_none_match(scope)
    if wanted is not None and etag in (tag.strip() for tag in wanted.split(b",")):
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 304, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    headers += [
        (b"content-type", content_type(file).encode()),
        (b"content-length", str(info.st_size).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if head:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    handle = await asyncio.to_thread(file.open, "rb")
    try:
        remaining = info.st_size  # never more than Content-Length promised, even if the file grows
        while True:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK_BYTES, remaining))
            remaining -= len(chunk)
            last = remaining <= 0 or not chunk
            body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": chunk, "more_body": not last}
            await send(body)
            if last:
                return
    finally:
        await asyncio.to_thread(handle.close)


async def _answer(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            *SECURITY_HEADERS,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", REVALIDATE),
            *(extra or []),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
