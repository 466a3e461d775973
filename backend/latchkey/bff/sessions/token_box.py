"""Tokens at rest: AES-256-GCM under a per-key subkey of the cookie key ring.

A session's token pair is bound to its id hash, a pending revocation's token to its random id, so a
ciphertext moved to another row does not open. The row records which key sealed it, so rotating the ring
never strands a session, and the next token change re-encrypts under the current sealing key. A copy of
the database therefore lets nobody call the API.
"""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from latchkey.sealing import KeyRing

TOKENS_PURPOSE = b"latchkey bff session tokens v1"
_NONCE = 12


class TokenBox:
    """AES-256-GCM of a session's token pair under a per-key subkey, bound to the session's id hash."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._aeads: dict[str, AESGCM] = {}

    def _aead(self, kid: str) -> AESGCM:
        aead = self._aeads.get(kid)
        if aead is None:
            aead = self._aeads[kid] = AESGCM(self.ring.subkey(kid, TOKENS_PURPOSE))
        return aead

    def seal(self, id_hash: str, access: str, refresh: str) -> tuple[str, bytes]:
        kid = self.ring.sealing_kid
        nonce = os.urandom(_NONCE)
        plain = json.dumps([access, refresh]).encode()
        return kid, nonce + self._aead(kid).encrypt(nonce, plain, id_hash.encode())

    def seal_one(self, ref: str, token: str) -> tuple[str, bytes]:
        """One token (a pending revocation's), bound to the reference that names it."""
        kid = self.ring.sealing_kid
        nonce = os.urandom(_NONCE)
        return kid, nonce + self._aead(kid).encrypt(nonce, token.encode(), b"revocation:" + ref.encode())

    def open_one(self, ref: str, kid: str, blob: bytes) -> str | None:
        try:
            plain = self._aead(kid).decrypt(blob[:_NONCE], blob[_NONCE:], b"revocation:" + ref.encode())
        except (KeyError, InvalidTag, ValueError):
            return None
        return plain.decode()

    def open(self, id_hash: str, kid: str, blob: bytes) -> tuple[str, str] | None:
        try:
            aead = self._aead(kid)
            plain = aead.decrypt(blob[:_NONCE], blob[_NONCE:], id_hash.encode())
        except (KeyError, InvalidTag, ValueError):
            return None
        access, refresh = json.loads(plain)
        return str(access), str(refresh)
