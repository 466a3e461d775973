"""Project file contents on disk under `LATCHKEY_CORE_FILES_DIR`.

Blobs live at `objects/<storage_key>`, where the key is random: a user's file name is only ever stored in
the database, never used as a path, so no name can reach outside the directory. An upload is written to
`incoming/` while it streams (hashed on the way) and renamed into `objects/` once complete, so a reader
never sees half a file and an aborted upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

# Uploads arrive in small ASGI chunks (uvicorn reads 64 KiB at a time); writing them in 1 MiB batches
# keeps the number of thread hops low while bounding what one upload holds in memory.
WRITE_BATCH = 1024 * 1024
READ_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class StoredBlob:
    storage_key: str
    size: int
    sha256: str


@dataclass(slots=True)
class OpenBlob:
    """An open blob; reading it goes on even if the file is replaced or deleted meanwhile (POSIX)."""

    handle: BinaryIO
    size: int

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await anyio.to_thread.run_sync(self.handle.read, READ_CHUNK):
                yield chunk
        finally:
            self.handle.close()


class _Incoming:
    """A temporary file being written and hashed in a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = path.open("xb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def finish(self, destination: Path) -> None:
        # Flush to disk before the rename, so a crash cannot leave a complete name over empty contents.
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.path, destination)

    def discard(self) -> None:
        self.handle.close()
        self.path.unlink(missing_ok=True)


class FileStore:
    def __init__(self, root: Path) -> None:
        self.objects = root / "objects"
        self.incoming = root / "incoming"

    def path(self, storage_key: str) -> Path:
        if not storage_key.isalnum():  # keys are ours (hex), but never let a value become a path blindly
            raise ValueError("invalid storage key")
        return self.objects / storage_key

    async def receive(self, chunks: AsyncIterable[bytes]) -> StoredBlob:
        """Stream `chunks` into a new blob; on any error (including cancellation) nothing is left."""
        await anyio.to_thread.run_sync(self._make_dirs)
        storage_key = secrets.token_hex(16)
        incoming = await anyio.to_thread.run_sync(_Incoming, self.incoming / f"{storage_key}.part")
        try:
            batch = bytearray()
            async for chunk in chunks:
                batch += chunk
                if len(batch) >= WRITE_BATCH:
                    await anyio.to_thread.run_sync(incoming.write, bytes(batch))
                    batch.clear()
            if batch:
                await anyio.to_thread.run_sync(incoming.write, bytes(batch))
            await anyio.to_thread.run_sync(incoming.finish, self.path(storage_key))
        except BaseException:
            # Shielded so that a cancelled upload (client gone) still removes its temporary file.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(incoming.discard)
            raise
        return StoredBlob(storage_key=storage_key, size=incoming.size, sha256=incoming.digest.hexdigest())

    async def open(self, storage_key: str) -> OpenBlob | None:
        """The blob opened for reading, or None if it is gone."""
        return await anyio.to_thread.run_sync(self._open, self.path(storage_key))

    async def remove(self, *storage_keys: str) -> None:
        """Delete blobs (after their rows are gone); missing ones are fine."""
        if storage_keys:
            await anyio.to_thread.run_sync(self._remove, [self.path(key) for key in storage_keys])

    def _make_dirs(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _open(path: Path) -> OpenBlob | None:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return None
        return OpenBlob(handle=handle, size=os.fstat(handle.fileno()).st_size)

    @staticmethod
    def _remove(paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
