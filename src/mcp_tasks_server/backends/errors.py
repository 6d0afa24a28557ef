"""The storage contract's errors: what any ``StorageBackend`` may raise.

The store translates them into :mod:`mcp_tasks_server.core.errors` (``TaskError``)
in one place, :func:`mcp_tasks_server.store.codec.backend_errors`. Messages
never contain an owner, a credential or a payload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_tasks_server.core.errors import TaskError

if TYPE_CHECKING:
    from mcp_tasks_server.backends.base import StoredRecord

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "CapacityExceeded",
    "GlobalCapReached",
    "InvalidCursor",
    "QuotaExceeded",
    "RecordExists",
    "RecordNotFound",
    "RecordTooLarge",
    "VersionConflict",
]


class BackendError(Exception):
    """Base of everything a storage backend may raise."""


class RecordNotFound(BackendError):
    """No live record under that key (missing, or expired but not yet deleted)."""


class RecordExists(BackendError):
    """Create-if-absent found a record already stored under that key."""


class VersionConflict(BackendError):
    """A conditional replace found another version than the one expected.

    ``current`` is the record as stored now when the backend could learn it in
    the same round trip (it always can for memory and DynamoDB), so the caller
    can re-validate and retry without another read.
    """

    def __init__(self, expected: int, current: StoredRecord | None) -> None:
        actual = current.version if current is not None else "unknown"
        super().__init__(f"expected version {expected}, found {actual}")
        self.expected = expected
        self.current = current


class RecordTooLarge(BackendError):
    """The record does not fit the backend's item size limit. Nothing was written."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the task record is {size} bytes; this backend stores at most {limit}")
        self.size = size
        self.limit = limit


class CapacityExceeded(BackendError):
    """The backend holds as many records as it is configured to. Nothing was written."""


class BackendUnavailable(BackendError):
    """A transient failure: the store could not be reached, or throttled us.

    The operation may or may not have happened; retrying later is the remedy.
    """


# Raised by backends and passed through the store unchanged, so each belongs
# to both families.


class QuotaExceeded(BackendError, TaskError):
    """The owner already has the maximum number of active tasks. Nothing was written.

    Backends enforce it atomically with the create, so two racing creates
    cannot both take the last slot.
    """


class GlobalCapReached(QuotaExceeded):
    """The deployment holds its limit of unfinished tasks, of all owners. Nothing was written.

    A kind of ``QuotaExceeded``, so every era answers it as it answers the
    per-owner quota. ``partial`` is True when the backend checked only part
    of its capacity (one DynamoDB shard of several): a create with another
    task id may still fit, and the store tries one.
    """

    def __init__(self, limit: int, *, partial: bool = False) -> None:
        super().__init__(f"The server holds its limit of {limit} unfinished tasks; try again later")
        self.limit = limit
        self.partial = partial


class InvalidCursor(BackendError, TaskError):
    """A list cursor that this server did not issue to this owner."""
