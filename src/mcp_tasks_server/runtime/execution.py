"""``Execution``: where a stored task runs.

:class:`TaskService` stores a task, then hands it to an ``Execution``. Today
that is the :class:`~.runner.Runner`, which runs the tool in this process
(``local`` mode). A queue dispatcher that hands the task to a worker fits the
same seam: it accepts or refuses new tasks, says which replica's lease the
task is stored with (none, when a worker will claim it), and starts it.
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
        """The replica whose lease a new task is stored with; None if a worker claims it."""

    def start(self, record: TaskRecord, invoke: Invoke) -> None:
        """Run ``invoke`` for the stored ``record``; raises ``ServerShuttingDown`` if refused."""


def require_accepting(execution: Execution) -> None:
    """Raise ``ServerShuttingDown`` while ``execution`` refuses new tasks."""
    if not execution.accepting:
        raise ServerShuttingDown()
