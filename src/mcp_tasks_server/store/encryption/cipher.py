"""The contract of a payload cipher, and the local key ring that implements it.

A cipher turns bytes into an envelope (:mod:`.envelope`) and back. The
``context`` is authenticated, not stored: the reader must present the same
one, which is how a ciphertext stays tied to the item it was written for.
Ciphers are async because a key service (KMS) may have to be asked for a
key; the local ring never waits.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.store.encryption.envelope import KEY_BYTES, Envelope, Scheme, seal, unseal
from mcp_tasks_server.store.encryption.errors import MalformedPayload, UnknownKey

__all__ = ["LocalKeyRing", "PayloadCipher", "new_key_entry"]

_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class PayloadCipher(ABC):
    """Encrypts payloads into envelopes bound to a context, and opens them again."""

    @abstractmethod
    async def encrypt(self, plaintext: bytes, *, context: Mapping[str, str]) -> bytes:
        """An envelope holding ``plaintext``, openable only with the same ``context``."""

    @abstractmethod
    async def decrypt(self, ciphertext: bytes, *, context: Mapping[str, str]) -> bytes:
        """The plaintext of an envelope. Raises a ``DecryptionFailed`` subclass."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, default no-op
        """Release clients and forget cached keys. The default holds none."""


class LocalKeyRing(PayloadCipher):
    """AES-256-GCM under keys the operator supplies: the first encrypts, every one decrypts.

    Rotation: put the new key first and keep the old ones after it until
    every item they sealed has expired (one maximum TTL), then drop them.
    """

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        for key_id, key in keys:
            if not _KEY_ID.match(key_id) or len(key) != KEY_BYTES:
                raise ValueError(f"key ids are 1-64 of [A-Za-z0-9._-]; keys are {KEY_BYTES} bytes")
        self._keys = dict(keys)
        if len(self._keys) != len(keys):
            raise ValueError("key ids in a ring must be unique")
        self.primary_key_id = keys[0][0]

    @classmethod
    def from_text(cls, text: str, *, setting: str = "MCP_TASKS_ENCRYPTION_KEYS") -> LocalKeyRing:
        """Parse ``keyid:base64key,keyid:base64key``. Errors name ``setting``, never a key."""
        keys: list[tuple[str, bytes]] = []
        entries = [entry.strip() for entry in text.split(",")]
        if not any(entries):
            raise ConfigError(f"{setting} is empty: give at least one `keyid:base64key` entry")
        for number, entry in enumerate(entries, start=1):
            # Positions only: a mistyped entry may well be key material.
            where = f"{setting}: entry {number}"
            key_id, colon, encoded = entry.partition(":")
            if not colon:
                raise ConfigError(f"{where} is not `keyid:base64key`")
            if not _KEY_ID.match(key_id):
                raise ConfigError(f"{where}: the key id must be 1-64 of A-Z a-z 0-9 . _ -")
            key = _decode_key(encoded)
            if key is None:
                raise ConfigError(f"{where} (key id {key_id!r}): the key is not valid base64")
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"{where} (key id {key_id!r}): the key must be {KEY_BYTES} random bytes in "
                    "base64 (make one with `python -m mcp_tasks_server.store.encryption new-key`)"
                )
            if any(key_id == known for known, _ in keys):
                raise ConfigError(f"{where}: key id {key_id!r} appears twice")
            keys.append((key_id, key))
        return cls(keys)

    async def encrypt(self, plaintext: bytes, *, context: Mapping[str, str]) -> bytes:
        key_id = self.primary_key_id
        return seal(
            self._keys[key_id], plaintext, scheme=Scheme.LOCAL, key_id=key_id, context=context
        )

    async def decrypt(self, ciphertext: bytes, *, context: Mapping[str, str]) -> bytes:
        envelope = Envelope.parse(ciphertext)
        if envelope.scheme is not Scheme.LOCAL:
            raise MalformedPayload("the payload was sealed with a KMS data key, not a local key")
        key = self._keys.get(envelope.key_id)
        if key is None:
            raise UnknownKey(
                f"the payload was sealed with key {envelope.key_id!r}, not in the ring"
            )
        return unseal(key, envelope, context)


def _decode_key(encoded: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not."""
    normalized = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def new_key_entry(key_id: str) -> str:
    """A fresh ``keyid:base64key`` entry for a key ring setting."""
    if not _KEY_ID.match(key_id):
        raise ValueError("the key id must be 1-64 of A-Z a-z 0-9 . _ -")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"
