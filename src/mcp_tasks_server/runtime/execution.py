"""``Execution``: where a stored task runs.

:class:`TaskService` stores a task, then hands it to an ``Execution``. Two exist:

* the :class:`~.runner.Runner` (``local`` mode) runs the tool in this process;
* :class:`~.queue_execution.QueueExecution` (``queue`` mode) sends one message
  naming the task, and a worker (:mod:`.worker`) claims and runs it.

An execution accepts or refuses new tasks, says which lease a new task is
stored with (this replica's, or the queued marker with the claim timeout),
and dispatches it. ``dispatch`` is awaited before the create is answered:
in queue mode that is what makes "answered only once enqueued" true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from mcp_tasks_server.core.errors import ServerShuttingDown

if TYPE_CHECKING:
    from mcp_tasks_server.core.model import TaskRecord
    from mcp_tasks_server.runtime.runner import Invoke

__all__ = ["Execution", "require_accepting"]


class Execution(Protocol):
    """Runs stored tasks somewhere; the runner is the local one."""

    @property
    def accepting(self) -> bool:
        """False while new tasks are refused (before start, or once shutdown began)."""

    @property
    def lease_replica(self) -> str | None:
        """The lease holder a new task is stored with (a replica id, or the queued marker)."""

    @property
    def initial_lease_ms(self) -> int | None:
        """How long a new task's lease runs before anyone took it; None: the store's lease."""

    async def dispatch(self, record: TaskRecord, invoke: Invoke) -> TaskRecord:
        """Run or enqueue the stored ``record``; returns it as it now stands.

        Raises ``ServerShuttingDown`` if refused. A task that could not be
        handed over is returned ``failed``, saying why.
        """


def require_accepting(execution: Execution) -> None:
    """Raise ``ServerShuttingDown`` while ``execution`` refuses new tasks."""
    if not execution.accepting:
        raise ServerShuttingDown()
