"""The self-describing envelope every encrypted payload is stored in.

An envelope says how to open itself, so items written under an old key,
or by a local key ring before a move to KMS, still read after a rotation::

    offset  size  field
    0       3     magic "MTE"
    3       1     format version (1)
    4       1     scheme: 1 = local key ring, 2 = KMS data key
    5       1     key id length n (1..255)
    6       n     key id (ASCII): the ring's key id, or the KMS key ARN
    KMS only:
            2     wrapped data key length m (big-endian)
            m     wrapped data key (KMS ciphertext blob)
            16    salt
            12    nonce
            rest  AES-256-GCM ciphertext and 16-byte tag

**Per-message keys.** The AES key is derived from the ring key (or the data
key) and the random salt with HKDF-SHA256, so no two messages share an AES
key in practice. Random 96-bit GCM nonces under one long-lived key would
be safe for only about 2^32 messages; a busy server rewrites a record on
every change and could get there.

**What is authenticated.** The associated data is the whole header (so a
key id or wrapped key cannot be swapped) followed by the caller's
context, encoded unambiguously. The store's context is the item's owner
and task id, so a ciphertext copied into another item does not open.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mcp_tasks_server.store.encryption.errors import (
    EncryptionError,
    MalformedPayload,
    TamperedPayload,
)

__all__ = [
    "FORMAT_VERSION",
    "KEY_BYTES",
    "MAGIC",
    "Envelope",
    "Scheme",
    "canonical_context",
    "is_envelope",
    "seal",
    "unseal",
]

MAGIC = b"MTE"
FORMAT_VERSION = 1
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
_MAX_KEY_ID_BYTES = 255
_MAX_WRAPPED_BYTES = 0xFFFF
_KDF_INFO = b"mcp-tasks-server/payload/v1"


class Scheme(IntEnum):
    """Where the key that sealed a payload comes from."""

    LOCAL = 1
    KMS = 2


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed envelope; ``header`` is what the associated data starts with."""

    scheme: Scheme
    key_id: str
    wrapped_key: bytes
    salt: bytes
    nonce: bytes
    ciphertext: bytes

    @property
    def header(self) -> bytes:
        key_id = self.key_id.encode("ascii")
        parts = [MAGIC, bytes([FORMAT_VERSION, self.scheme, len(key_id)]), key_id]
        if self.scheme is Scheme.KMS:
            parts += [len(self.wrapped_key).to_bytes(2, "big"), self.wrapped_key]
        return b"".join(parts)

    def to_bytes(self) -> bytes:
        return self.header + self.salt + self.nonce + self.ciphertext

    @classmethod
    def parse(cls, data: bytes) -> Envelope:
        """Read an envelope. Raises ``MalformedPayload`` for anything else."""
        if not is_envelope(data):
            raise MalformedPayload("not an encrypted payload")
        if len(data) < 6 or data[3] != FORMAT_VERSION:
            raise MalformedPayload("an encrypted payload of an unknown format version")
        try:
            scheme = Scheme(data[4])
        except ValueError:
            raise MalformedPayload(f"an unknown encryption scheme ({data[4]})") from None
        at = 6 + data[5]
        key_id = data[6:at]
        wrapped = b""
        if scheme is Scheme.KMS:
            size = int.from_bytes(data[at : at + 2], "big")
            wrapped, at = data[at + 2 : at + 2 + size], at + 2 + size
            if len(wrapped) != size or not size:
                raise MalformedPayload("a truncated encrypted payload")
        body = data[at:]
        if not key_id or len(key_id) != data[5] or len(body) < SALT_BYTES + NONCE_BYTES + TAG_BYTES:
            raise MalformedPayload("a truncated encrypted payload")
        try:
            key_id_text = key_id.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedPayload("an encrypted payload with a garbled key id") from None
        salt, nonce = body[:SALT_BYTES], body[SALT_BYTES : SALT_BYTES + NONCE_BYTES]
        return cls(scheme, key_id_text, wrapped, salt, nonce, body[SALT_BYTES + NONCE_BYTES :])


def is_envelope(data: bytes) -> bool:
    """Whether ``data`` claims to be an envelope (plaintext JSON never starts with the magic)."""
    return data[:3] == MAGIC


def canonical_context(context: Mapping[str, str]) -> bytes:
    """The context as bytes no other context encodes to: sorted, length-prefixed pairs."""
    parts = [len(context).to_bytes(4, "big")]
    for name, value in sorted(context.items()):
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("an encryption context maps strings to strings")
        for text in (name, value):
            encoded = text.encode("utf-8", "surrogatepass")
            parts += [len(encoded).to_bytes(4, "big"), encoded]
    return b"".join(parts)


def _message_key(key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=_KDF_INFO)
    return AESGCM(derived.derive(key))


def seal(
    key: bytes,
    plaintext: bytes,
    *,
    scheme: Scheme,
    key_id: str,
    context: Mapping[str, str],
    wrapped_key: bytes = b"",
) -> bytes:
    """Encrypt ``plaintext`` under ``key`` into an envelope bound to ``context``."""
    if len(key) != KEY_BYTES:
        raise EncryptionError(f"an encryption key must be {KEY_BYTES} bytes")
    if not key_id or not key_id.isascii() or len(key_id) > _MAX_KEY_ID_BYTES:
        raise EncryptionError(f"a key id must be 1 to {_MAX_KEY_ID_BYTES} ASCII characters")
    if scheme is Scheme.KMS and not 0 < len(wrapped_key) <= _MAX_WRAPPED_BYTES:
        raise EncryptionError("a KMS envelope needs its wrapped data key")
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    header = Envelope(scheme, key_id, wrapped_key, salt, nonce, b"").header
    associated = header + canonical_context(context)
    ciphertext = _message_key(key, salt).encrypt(nonce, plaintext, associated)
    return header + salt + nonce + ciphertext


def unseal(key: bytes, envelope: Envelope, context: Mapping[str, str]) -> bytes:
    """The plaintext of ``envelope``. Raises ``TamperedPayload`` if anything was altered."""
    associated = envelope.header + canonical_context(context)
    try:
        return _message_key(key, envelope.salt).decrypt(
            envelope.nonce, envelope.ciphertext, associated
        )
    except InvalidTag:
        raise TamperedPayload(
            "the encrypted payload does not authenticate: it was altered, or it belongs "
            "to another item"
        ) from None
