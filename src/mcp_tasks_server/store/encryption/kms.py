"""Envelope encryption with AWS KMS: data keys from KMS, payloads sealed locally.

KMS never sees a payload. ``GenerateDataKey`` returns a fresh AES-256 key
twice, in clear and wrapped under the KMS key; the clear one seals
payloads for a while (``data_key_ttl_seconds``, ``max_messages_per_key``)
and the wrapped one travels in each envelope. So a busy server costs one
KMS request per data key, not one per write.

Reading asks KMS to unwrap the envelope's data key, and keeps a small
cache of unwrapped keys by the wrapped key's digest: a server re-reading
its tasks asks KMS once per data key, not once per read. Concurrent reads
that need the same key share one request.

Which KMS keys may be used is IAM's decision: the envelope names the key
ARN, and ``Decrypt`` is asked to use exactly that key, so a role allowed
only ``kms:Decrypt`` on the configured key cannot be made to use another.

Needs ``aioboto3`` (the ``dynamodb`` extra). The client comes from a
factory, e.g. ``lambda: session.client("kms", region_name="eu-west-1")``;
it is opened on first use and closed by :meth:`KmsEnvelopeCipher.aclose`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import anyio
from botocore.exceptions import BotoCoreError, ClientError

from mcp_tasks_server.aws_client import LazyClient
from mcp_tasks_server.store.encryption.cipher import PayloadCipher
from mcp_tasks_server.store.encryption.envelope import Envelope, Scheme, seal, unseal
from mcp_tasks_server.store.encryption.errors import (
    EncryptionError,
    KeyServiceError,
    MalformedPayload,
    TamperedPayload,
)

__all__ = ["DEFAULT_KMS_CONTEXT", "KmsClientFactory", "KmsEnvelopeCipher"]

logger = logging.getLogger(__name__)

DEFAULT_KMS_CONTEXT: Mapping[str, str] = {"purpose": "mcp-tasks-server/payload"}
"""The KMS encryption context of every data key: it names the use in CloudTrail, and a
data key wrapped for another purpose does not unwrap here."""

_REFUSED_CIPHERTEXT = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


KmsClientFactory = Callable[[], AbstractAsyncContextManager[Any]]
"""Makes the KMS client's async context manager, e.g. ``lambda: session.client("kms")``.

Only ``generate_data_key`` and ``decrypt`` are called on the client."""


@dataclass(slots=True)
class _DataKey:
    key: bytes
    wrapped: bytes
    key_arn: str
    created_at: float
    uses: int = 0


@dataclass(slots=True)
class _Unwrap:
    """One KMS ``Decrypt`` in flight, shared by everyone who needs the same key."""

    done: anyio.Event
    key: bytes | None = None
    error: EncryptionError | None = None


class KmsEnvelopeCipher(PayloadCipher):
    """Seals with cached KMS data keys; opens with a small cache of unwrapped ones."""

    def __init__(
        self,
        key_id: str,
        kms_client_factory: KmsClientFactory,
        *,
        data_key_ttl_seconds: float = 300.0,
        max_messages_per_key: int = 1_000_000,
        decrypted_key_cache_size: int = 256,
        decrypted_key_ttl_seconds: float = 600.0,
        kms_context: Mapping[str, str] = DEFAULT_KMS_CONTEXT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not key_id:
            raise ValueError("a KMS key id, ARN or alias is required")
        if data_key_ttl_seconds <= 0 or decrypted_key_ttl_seconds <= 0:
            raise ValueError("data key lifetimes must be positive")
        if max_messages_per_key < 1 or decrypted_key_cache_size < 1:
            raise ValueError("data key limits must be at least 1")
        self.key_id = key_id
        self.data_key_ttl_seconds = data_key_ttl_seconds
        self.max_messages_per_key = max_messages_per_key
        self.decrypted_key_cache_size = decrypted_key_cache_size
        self.decrypted_key_ttl_seconds = decrypted_key_ttl_seconds
        self._kms_context = dict(kms_context)
        self._clock = clock
        self._client: LazyClient[Any] = LazyClient("KMS", kms_client_factory, fail=KeyServiceError)
        self._data_key: _DataKey | None = None
        self._generate_lock = anyio.Lock()
        self._unwrapped: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()
        self._unwraps: dict[bytes, _Unwrap] = {}

    # ------------------------------------------------------------ sealing

    async def encrypt(self, plaintext: bytes, *, context: Mapping[str, str]) -> bytes:
        data_key = await self._data_key_for_one_message()
        return seal(
            data_key.key,
            plaintext,
            scheme=Scheme.KMS,
            key_id=data_key.key_arn,
            context=context,
            wrapped_key=data_key.wrapped,
        )

    def _usable(self, data_key: _DataKey | None) -> bool:
        return (
            data_key is not None
            and data_key.uses < self.max_messages_per_key
            and self._clock() - data_key.created_at < self.data_key_ttl_seconds
        )

    async def _data_key_for_one_message(self) -> _DataKey:
        data_key = self._data_key
        if data_key is None or not self._usable(data_key):
            # One GenerateDataKey for everyone waiting: the first in makes it.
            async with self._generate_lock:
                data_key = self._data_key
                if data_key is None or not self._usable(data_key):
                    data_key = await self._generate()
                    self._data_key = data_key
        data_key.uses += 1
        return data_key

    async def _generate(self) -> _DataKey:
        answer = await self._call(
            "GenerateDataKey",
            KeyId=self.key_id,
            KeySpec="AES_256",
            EncryptionContext=self._kms_context,
        )
        data_key = _DataKey(
            key=bytes(answer["Plaintext"]),
            wrapped=bytes(answer["CiphertextBlob"]),
            key_arn=str(answer["KeyId"]),
            created_at=self._clock(),
        )
        # This server will read what it writes: no need to ask KMS for it back.
        self._remember(hashlib.sha256(data_key.wrapped).digest(), data_key.key)
        logger.info("new KMS data key from %s", data_key.key_arn)
        return data_key

    # ------------------------------------------------------------ opening

    async def decrypt(self, ciphertext: bytes, *, context: Mapping[str, str]) -> bytes:
        envelope = Envelope.parse(ciphertext)
        if envelope.scheme is not Scheme.KMS:
            raise MalformedPayload("the payload was sealed with a local key, not a KMS data key")
        return unseal(await self._unwrap(envelope), envelope, context)

    async def _unwrap(self, envelope: Envelope) -> bytes:
        digest = hashlib.sha256(envelope.wrapped_key).digest()
        while True:
            cached = self._recall(digest)
            if cached is not None:
                return cached
            pending = self._unwraps.get(digest)
            if pending is None:
                break
            await pending.done.wait()
            if pending.error is not None:
                raise pending.error
            # Otherwise it succeeded (the cache has it) or was cancelled (try ourselves).
        flight = self._unwraps[digest] = _Unwrap(anyio.Event())
        try:
            answer = await self._call(
                "Decrypt",
                CiphertextBlob=envelope.wrapped_key,
                KeyId=envelope.key_id,
                EncryptionContext=self._kms_context,
            )
            key = flight.key = bytes(answer["Plaintext"])
            self._remember(digest, key)
            return key
        except EncryptionError as exc:
            flight.error = exc
            raise
        finally:
            del self._unwraps[digest]
            flight.done.set()

    def _remember(self, digest: bytes, key: bytes) -> None:
        self._unwrapped[digest] = (key, self._clock() + self.decrypted_key_ttl_seconds)
        self._unwrapped.move_to_end(digest)
        while len(self._unwrapped) > self.decrypted_key_cache_size:
            self._unwrapped.popitem(last=False)

    def _recall(self, digest: bytes) -> bytes | None:
        entry = self._unwrapped.get(digest)
        if entry is None:
            return None
        key, expires_at = entry
        if self._clock() >= expires_at:
            del self._unwrapped[digest]
            return None
        self._unwrapped.move_to_end(digest)
        return key

    # ------------------------------------------------------------ KMS

    async def _call(self, operation: str, **params: Any) -> Mapping[str, Any]:
        client = await self._client.get()
        method = client.generate_data_key if operation == "GenerateDataKey" else client.decrypt
        try:
            answer: Mapping[str, Any] = await method(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "unknown"), error.get("Message", "")
            if operation == "Decrypt" and code in _REFUSED_CIPHERTEXT:
                raise TamperedPayload(
                    f"KMS refused the payload's wrapped data key ({code})"
                ) from None
            raise KeyServiceError(f"KMS {operation} failed: {code}: {message}") from None
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise KeyServiceError(f"KMS {operation} failed: {type(exc).__name__}: {exc}") from None
        return answer

    async def aclose(self) -> None:
        """Close the KMS client and forget every key held in memory."""
        self._data_key = None
        self._unwrapped.clear()
        await self._client.aclose()
