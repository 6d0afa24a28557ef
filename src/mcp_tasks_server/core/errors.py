"""The task error vocabulary: ``TaskError`` and its subclasses, plus ``ConfigError``.

``TaskError`` is what the store, the runtime and the adapters raise to their
callers (the store, and also the runtime, the service and the task tools:
``ResultNotReady``, ``ServerShuttingDown``, ``ListingNotAllowed``,
``ProtocolFailure``); the protocol adapters translate it into each era's
JSON-RPC codes. The one JSON-RPC fact kept here is :data:`INTERNAL_ERROR`,
because a task that fails for a reason of the server's stores it. The
storage contract's own family (``BackendError``) lives with the backends, in
:mod:`mcp_tasks_server.backends.errors`; the store translates it into this one.

Messages are safe to show to a client: they never contain an owner, a
credential or a payload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_tasks_server.core.model import TaskStatus

__all__ = [
    "INTERNAL_ERROR",
    "CapacityExceeded",
    "ConcurrentModification",
    "ConfigError",
    "InvalidArgument",
    "InvalidTransition",
    "ListingNotAllowed",
    "NotClaimable",
    "PayloadTooLarge",
    "ProtocolFailure",
    "ResultNotReady",
    "ServerShuttingDown",
    "StorageFull",
    "StorageUnavailable",
    "TaskError",
    "TaskNotFound",
    "TaskTerminal",
]


#: The JSON-RPC code of a task that failed for a reason of the server's, not the client's.
INTERNAL_ERROR = -32603


class ConfigError(Exception):
    """A setting is missing or invalid. Raised at startup, never later."""


# ---------------------------------------------------------------- task store


class TaskError(Exception):
    """Base of every error about a task that a caller of the store or the runtime may see."""


class TaskNotFound(TaskError):
    """The one answer for a task that is missing, expired or someone else's.

    The message is deliberately identical in all three cases, so a caller
    cannot learn whether a task id exists.
    """

    def __init__(self, task_id: str) -> None:
        # No id in the text: messages are copied into spans and client logs.
        super().__init__("Task not found")
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


SHUTTING_DOWN_MESSAGE = "The server is shutting down and accepts no new tasks"


class ServerShuttingDown(TaskError):
    """The server is draining for shutdown and starts no new tasks."""

    def __init__(self, message: str = SHUTTING_DOWN_MESSAGE) -> None:
        super().__init__(message)


class CapacityExceeded(TaskError):
    """A per-replica or global limit is reached (running tasks, waiters); try again later."""


class ConcurrentModification(TaskError):
    """Other writers kept winning the race for this task; retries ran out."""


class StorageFull(TaskError):
    """The storage backend is at capacity."""


class StorageUnavailable(TaskError):
    """The storage backend could not be reached in time. Try again later."""


class NotClaimable(TaskError):
    """A worker's claim (or a re-queue) lost: the task is claimed, finished or another attempt's.

    Expected whenever a queue delivers a message twice or late; the message
    is then acknowledged and dropped.
    """
