"""The record body as the backend stores it: sealed text, or legacy plaintext.

A backend keeps each record's body as an opaque string (``StoredRecord.data``,
a DynamoDB ``S`` attribute) next to the fields it acts on: owner, task id,
version, expiry, lease. This codec changes the body only, so keys,
versions and leases stay in clear and every conditional write works as
before. A sealed body is ``enc:`` followed by the envelope in unpadded
base64url; a record body in clear is a JSON object, which starts with
``{``, so the two can never be confused.

The envelope is bound to the item's owner key and task id: a body copied
into another owner's item, or onto another task, fails to open.

**Migration.** Items written before encryption was turned on are read as
they are (``read_plaintext=True``, the default) and sealed on their next
write. Once the longest TTL has passed since the switch, set
``read_plaintext=False`` so that a plaintext body planted in the table is
refused rather than believed.

Base64 makes a sealed body about a third larger than the plaintext plus an
envelope header (~50 bytes locally, ~250 with a KMS wrapped key), which
counts against the backend's item size limit.
"""

from __future__ import annotations

import base64
import binascii

from mcp_tasks_server.store.encryption.cipher import PayloadCipher
from mcp_tasks_server.store.encryption.errors import MalformedPayload, PlaintextRefused

__all__ = ["ENCRYPTED_PREFIX", "PayloadCodec", "is_encrypted", "record_context"]

ENCRYPTED_PREFIX = "enc:"


def record_context(owner: str, task_id: str) -> dict[str, str]:
    """What a record's ciphertext is bound to: the item it belongs in."""
    return {"owner": owner, "task": task_id}


def is_encrypted(data: str) -> bool:
    return data.startswith(ENCRYPTED_PREFIX)


class PayloadCodec:
    """Seals record bodies with ``cipher`` on the way to the backend and opens them back."""

    def __init__(self, cipher: PayloadCipher, *, read_plaintext: bool = True) -> None:
        self.cipher = cipher
        self.read_plaintext = read_plaintext

    async def seal(self, data: str, *, owner: str, task_id: str) -> str:
        sealed = await self.cipher.encrypt(
            data.encode("utf-8"), context=record_context(owner, task_id)
        )
        return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    async def open(self, data: str, *, owner: str, task_id: str) -> str:
        if not is_encrypted(data):
            if self.read_plaintext:
                return data  # written before encryption was on; sealed on its next write
            raise PlaintextRefused("a stored task is not encrypted, and plaintext is not accepted")
        encoded = data.removeprefix(ENCRYPTED_PREFIX)
        try:
            sealed = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise MalformedPayload("a stored task's encrypted body is not base64") from None
        plaintext = await self.cipher.decrypt(sealed, context=record_context(owner, task_id))
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:  # pragma: no cover - only a writer bug could cause it
            raise MalformedPayload("a stored task's decrypted body is not UTF-8") from None
