"""What encrypting or decrypting a payload can fail with.

Messages never contain key material or plaintext; they may name a key id,
which identifies a key without revealing it.
"""

from __future__ import annotations

__all__ = [
    "DecryptionFailed",
    "EncryptionError",
    "KeyServiceError",
    "MalformedPayload",
    "PlaintextRefused",
    "TamperedPayload",
    "UnknownKey",
]


class EncryptionError(Exception):
    """Base of every payload encryption failure."""


class DecryptionFailed(EncryptionError):
    """A stored payload cannot be turned back into plaintext. Retrying will not help."""


class TamperedPayload(DecryptionFailed):
    """Authentication failed: the ciphertext, its header or its context was altered.

    A ciphertext copied to another item fails this way too, because the item's
    owner and task id are part of what is authenticated.
    """


class UnknownKey(DecryptionFailed):
    """The payload names a key this server does not hold (removed from the ring too soon?)."""


class MalformedPayload(DecryptionFailed):
    """The payload is not an envelope this version can read (truncated, or another format)."""


class PlaintextRefused(DecryptionFailed):
    """A plaintext payload was found where only encrypted ones are accepted."""


class KeyServiceError(EncryptionError):
    """The key service (KMS) could not be used: unreachable, throttled or refusing access.

    Unlike ``DecryptionFailed``, this may pass: the store should report the
    storage as unavailable rather than the task as damaged.
    """
