"""``ChangeFeed``: who hears about a change this replica makes to a task.

Waiters (a ``tasks/result``, a tool waiting for input, any
:meth:`TaskService.watch`) wake at once; listeners (the 2025-11-25
notifications) are called in turn. Changes made on other replicas never pass
through here: watchers find them by reading the store.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from mcp_tasks_server.core.model import TaskRecord
from mcp_tasks_server.observability.redact import LogIds

__all__ = ["ChangeFeed", "Listener"]

logger = logging.getLogger(__name__)

Listener = Callable[[TaskRecord], Awaitable[None]]
"""Called after every change this replica makes to a task (for notifications)."""


@dataclass(slots=True)
class _Waiters:
    """Who waits for the next change of one task: one event, counted so it can be dropped."""

    event: anyio.Event
    count: int = 0


class ChangeFeed:
    """Wakes the waiters of a task and calls every listener, for changes made here."""

    def __init__(self, ids: LogIds | None = None) -> None:
        self._changed: dict[str, _Waiters] = {}
        self._listeners: list[Listener] = []
        self._ids = ids if ids is not None else LogIds()  # task ids are logged hashed

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, record: TaskRecord) -> None:
        """Wake the task's waiters, then call each listener; a failing listener is logged."""
        self.wake(record.task_id)
        for listener in self._listeners:
            try:
                await listener(record)
            except Exception:
                logger.exception("task listener failed for task %s", self._ids.task(record.task_id))

    def wake(self, task_id: str) -> None:
        waiters = self._changed.pop(task_id, None)
        if waiters is not None:
            waiters.event.set()

    async def wait(self, task_id: str, max_wait: float) -> None:
        """Return when the task is woken, or after ``max_wait`` seconds.

        The task's entry is dropped when its last waiter leaves, however the
        wait ends, so tasks nobody waits on cost nothing here.
        """
        waiters = self._changed.get(task_id)
        if waiters is None:
            waiters = self._changed[task_id] = _Waiters(anyio.Event())
        waiters.count += 1
        try:
            with anyio.move_on_after(max_wait):
                await waiters.event.wait()
        finally:
            waiters.count -= 1
            if waiters.count == 0 and self._changed.get(task_id) is waiters:
                del self._changed[task_id]
