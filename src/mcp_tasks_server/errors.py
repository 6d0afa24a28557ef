"""The error vocabulary, in two families.

``BackendError`` and its subclasses are the storage contract: what any
``StorageBackend`` may raise. ``TaskError`` and its subclasses are what the
task store raises to its callers. The store translates the first family into
the second, and the protocol adapters translate the second into each era's
JSON-RPC codes. Nothing here knows JSON-RPC.

Messages are safe to show to a client: they never contain an owner, a
credential or a payload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_tasks_server.backends.base import StoredRecord
    from mcp_tasks_server.model import TaskStatus

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "CapacityExceeded",
    "ConcurrentModification",
    "ConfigError",
    "InvalidArgument",
    "InvalidCursor",
    "InvalidTransition",
    "ListingNotAllowed",
    "PayloadTooLarge",
    "ProtocolFailure",
    "QuotaExceeded",
    "RecordExists",
    "RecordNotFound",
    "RecordTooLarge",
    "ResultNotReady",
    "ServerShuttingDown",
    "StorageFull",
    "StorageUnavailable",
    "TaskError",
    "TaskNotFound",
    "TaskTerminal",
    "VersionConflict",
]


class ConfigError(Exception):
    """A setting is missing or invalid. Raised at startup, never later."""


# ---------------------------------------------------------------- backends


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


# ---------------------------------------------------------------- task store


class TaskError(Exception):
    """Base of everything the task store raises to its callers."""


class TaskNotFound(TaskError):
    """The one answer for a task that is missing, expired or someone else's.

    The message is deliberately identical in all three cases, so a caller
    cannot learn whether a task id exists.
    """

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Task not found: {task_id}")
        self.task_id = task_id


class InvalidTransition(TaskError):
    """The state machine does not allow this move."""

    def __init__(self, current: TaskStatus, target: TaskStatus) -> None:
        super().__init__(f"Task is {current.value}; it cannot become {target.value}")
        self.current = current
        self.target = target


class TaskTerminal(InvalidTransition):
    """The task already finished; it can no longer change (cancel included)."""

    def __init__(self, current: TaskStatus, target: TaskStatus | None = None) -> None:
        super().__init__(current, target if target is not None else current)
        self.args = (f"Task is already {current.value}; a finished task cannot change",)


class InvalidArgument(TaskError, ValueError):
    """A caller passed a value the store cannot accept (a negative TTL, say)."""


class PayloadTooLarge(TaskError):
    """A result, error, input payload or message is over its configured cap."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size} bytes; the limit is {limit} bytes")
        self.what = what
        self.size = size
        self.limit = limit


class ProtocolFailure(TaskError):
    """Raised by a tool (through its protocol glue) to fail its task with a JSON-RPC error.

    ``error`` is the JSON-RPC error object, ``{"code", "message", "data"?}``.
    """

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(message)
        self.error: dict[str, object] = {"code": code, "message": message}
        if data is not None:
            self.error["data"] = data


class ResultNotReady(TaskError):
    """A wait for a task's result ran out of time; the task is still running."""

    def __init__(self, task_id: str, waited_seconds: float) -> None:
        super().__init__(
            f"Task {task_id} is still running after {waited_seconds:g} s; ask for its result again"
        )
        self.task_id = task_id


class ListingNotAllowed(TaskError):
    """Listing tasks needs an owner binding (authentication, a session, or stdio)."""


class ServerShuttingDown(TaskError):
    """The server is draining for shutdown and starts no new tasks."""


class ConcurrentModification(TaskError):
    """Other writers kept winning the race for this task; retries ran out."""


class StorageFull(TaskError):
    """The storage backend is at capacity."""


class StorageUnavailable(TaskError):
    """The storage backend could not be reached in time. Try again later."""


# Raised by backends and passed through the store unchanged, so each belongs
# to both families.


class QuotaExceeded(BackendError, TaskError):
    """The owner already has the maximum number of active tasks. Nothing was written.

    Backends enforce it atomically with the create, so two racing creates
    cannot both take the last slot.
    """


class InvalidCursor(BackendError, TaskError):
    """A list cursor that this server did not issue to this owner."""
