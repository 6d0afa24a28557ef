"""The store's boundary with its backend: records in, records out, errors across.

A backend stores opaque bytes under an owner-scoped key and speaks its own
error vocabulary (:mod:`mcp_tasks_server.core.errors`, the ``Record*`` and
``Backend*`` errors); the store speaks tasks. Everything that crosses
between the two goes through here, so the translation is written once:

* :func:`to_stored` gives a backend the few fields it may act on (owner,
  id, version, expiry, whether the task is active and its lease), plus the
  record body it must not interpret;
* :func:`from_stored` reads a task back and re-checks owner, id and expiry,
  so a backend bug can never leak another owner's task or an expired one;
* :func:`backend_errors` turns the failures any operation may meet into the
  errors clients see;
* :class:`RecordCodec` is the async seam where the record body is sealed
  on its way out and opened on its way in (encryption at rest). Only the
  body changes: owner, id, version, expiry and lease stay in clear, so
  every conditional write works as before and costs the same requests.

A body that cannot be opened (tampered, copied onto another item, sealed
under a key no longer held) reads as a missing task, and is logged at
ERROR: the store never serves a record it cannot authenticate. A key
service that cannot be reached is ``StorageUnavailable``: that one passes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.errors import BackendUnavailable, CapacityExceeded, RecordTooLarge
from mcp_tasks_server.core.errors import (
    PayloadTooLarge,
    StorageFull,
    StorageUnavailable,
    TaskNotFound,
)
from mcp_tasks_server.core.model import TaskRecord
from mcp_tasks_server.store.encryption import (
    DecryptionFailed,
    KeyServiceError,
    PayloadCodec,
    is_encrypted,
)

__all__ = ["RecordCodec", "backend_errors", "from_stored", "to_stored"]

logger = logging.getLogger(__name__)


def to_stored(record: TaskRecord) -> StoredRecord:
    """The backend's view of ``record``; a lease only counts while the task is active."""
    return StoredRecord(
        owner=record.owner,
        task_id=record.task_id,
        version=record.version,
        data=record.to_json(),
        expires_at_ms=record.expires_at_ms,
        active=record.is_active,
        lease_expires_at_ms=record.lease_expires_at_ms if record.is_active else None,
    )


def from_stored(stored: StoredRecord, owner: str, task_id: str, now_ms: int) -> TaskRecord:
    """The task ``stored`` holds, or ``TaskNotFound`` if it is not ``owner``'s live task."""
    record = TaskRecord.from_json(stored.data, stored.version)
    # The key already scopes by owner; this re-check guards against a
    # backend bug ever leaking another owner's record.
    if record.owner != owner or record.task_id != task_id or record.is_expired(now_ms):
        raise TaskNotFound(task_id)
    return record


@contextmanager
def backend_errors() -> Iterator[None]:
    """Translate the transient and capacity errors every operation may meet."""
    try:
        yield
    except BackendUnavailable as exc:
        raise StorageUnavailable(str(exc)) from exc
    except CapacityExceeded as exc:
        raise StorageFull(str(exc)) from exc
    except RecordTooLarge as exc:
        raise PayloadTooLarge("task record", exc.size, exc.limit) from exc


class RecordCodec:
    """Records to and from what the backend stores, with the body sealed by ``payload``.

    Without a ``payload`` codec bodies are stored in clear, as JSON.
    """

    def __init__(self, payload: PayloadCodec | None = None) -> None:
        self.payload = payload

    async def encode(self, record: TaskRecord) -> StoredRecord:
        stored = to_stored(record)
        if self.payload is None:
            return stored
        with _key_service_errors():
            data = await self.payload.seal(stored.data, owner=stored.owner, task_id=stored.task_id)
        return replace(stored, data=data)

    async def decode(
        self, stored: StoredRecord, owner: str, task_id: str, now_ms: int
    ) -> TaskRecord:
        """As :func:`from_stored`, after opening the body; an unopenable one is not found."""
        if self.payload is None:
            if is_encrypted(stored.data):
                logger.error(
                    "a stored task is encrypted, but encryption is off: it reads as missing"
                )
                raise TaskNotFound(task_id)
        else:
            try:
                with _key_service_errors():
                    data = await self.payload.open(stored.data, owner=owner, task_id=task_id)
            except DecryptionFailed as exc:
                logger.error("a stored task could not be decrypted and reads as missing: %s", exc)
                raise TaskNotFound(task_id) from None
            stored = replace(stored, data=data)
        return from_stored(stored, owner, task_id, now_ms)

    async def aclose(self) -> None:
        if self.payload is not None:
            await self.payload.cipher.aclose()


@contextmanager
def _key_service_errors() -> Iterator[None]:
    try:
        yield
    except KeyServiceError as exc:
        raise StorageUnavailable(f"the key service is unavailable: {exc}") from exc
