"""Payloads encrypted at rest, and owner keys that do not reveal their owner.

The seam is the record body a backend stores (``StoredRecord.data``): a
:class:`PayloadCodec` seals it with a :class:`PayloadCipher` before the
write and opens it after the read. Keys, versions, expiry and leases stay
in clear, so conditional writes and TTL work unchanged.

* :class:`LocalKeyRing`: AES-256-GCM under keys from a setting
  (``keyid:base64key,...``; the first encrypts, all decrypt);
* ``mcp_tasks_server.store.encryption.kms.KmsEnvelopeCipher``: data keys from
  AWS KMS, cached (needs aioboto3, so it is imported from its module);
* :func:`owner_key_hasher`: keyed owner digests (HMAC-SHA256).
"""

from __future__ import annotations

from mcp_tasks_server.store.encryption.cipher import LocalKeyRing, PayloadCipher, new_key_entry
from mcp_tasks_server.store.encryption.codec import (
    ENCRYPTED_PREFIX,
    PayloadCodec,
    is_encrypted,
    record_context,
)
from mcp_tasks_server.store.encryption.envelope import Scheme
from mcp_tasks_server.store.encryption.errors import (
    DecryptionFailed,
    EncryptionError,
    KeyServiceError,
    MalformedPayload,
    PlaintextRefused,
    TamperedPayload,
    UnknownKey,
)
from mcp_tasks_server.store.encryption.owner_keys import owner_key_hasher

__all__ = [
    "ENCRYPTED_PREFIX",
    "DecryptionFailed",
    "EncryptionError",
    "KeyServiceError",
    "LocalKeyRing",
    "MalformedPayload",
    "PayloadCipher",
    "PayloadCodec",
    "PlaintextRefused",
    "Scheme",
    "TamperedPayload",
    "UnknownKey",
    "is_encrypted",
    "new_key_entry",
    "owner_key_hasher",
    "record_context",
]
