"""Client secrets at rest: AES-256-GCM encryption (they must stay viewable) plus an HMAC for lookup.

Both keys are derived with HKDF from `LATCHKEY_CORE_SECRET_KEY`, so a copy of the database alone reveals
no secret and cannot be used to find one.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE = 12


class SecretBoxError(Exception):
    """A stored secret could not be decrypted (wrong key or corrupted row)."""


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


class SecretBox:
    """Encrypts client secrets and computes their keyed lookup hash."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._aead = AESGCM(_derive(master_key, b"latchkey core client-secret encryption v1"))
        self._mac_key = _derive(master_key, b"latchkey core client-secret lookup v1")

    def lookup_hash(self, secret: str) -> str:
        """HMAC-SHA256 of the secret, hex: the indexed column used to find a presented secret."""
        return hmac.new(self._mac_key, secret.encode("utf-8"), hashlib.sha256).hexdigest()

    def encrypt(self, secret: str, *, associated: bytes) -> bytes:
        """`version || nonce || ciphertext+tag`, bound to `associated` (the owning user's id)."""
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, secret.encode("utf-8"), associated)

    def decrypt(self, blob: bytes, *, associated: bytes) -> str:
        if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
            raise SecretBoxError("malformed stored secret")
        try:
            plain = self._aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], associated)
        except InvalidTag:
            raise SecretBoxError("stored secret failed authentication") from None
        return plain.decode("utf-8")
