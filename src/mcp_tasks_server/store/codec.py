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
  errors clients see.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.errors import BackendUnavailable, CapacityExceeded, RecordTooLarge
from mcp_tasks_server.core.errors import (
    PayloadTooLarge,
    StorageFull,
    StorageUnavailable,
    TaskNotFound,
)
from mcp_tasks_server.core.model import TaskRecord

__all__ = ["backend_errors", "from_stored", "to_stored"]


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
