"""``StoredTaskContext``: the context of a tool running as a stored task.

Every change goes to the store first, because that is what ``tasks/get``
reads on whichever replica the client reaches. Progress is written at most
every ``min_progress_interval`` seconds so a chatty tool cannot flood a
remote store; the latest value is always written before the task ends.

The context sees its runner only through :class:`ContextHost`: the store,
how to publish a change, and how to wait for answers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import anyio

from mcp_tasks_server.core.errors import StorageUnavailable
from mcp_tasks_server.core.model import InputRequest, Progress, TaskRecord
from mcp_tasks_server.runtime.context import TaskContext
from mcp_tasks_server.store.store import TaskStore

__all__ = ["ContextHost", "StoredTaskContext"]

logger = logging.getLogger(__name__)


class ContextHost(Protocol):
    """What a stored task's context needs from the runner that runs it."""

    @property
    def store(self) -> TaskStore: ...

    async def publish(self, record: TaskRecord) -> None:
        """Tell waiters and listeners that ``record`` is the task's new state."""

    async def wait_for_answers(self, record: TaskRecord, keys: set[str]) -> TaskRecord:
        """Wait until the task has answers for ``keys`` and is ``working`` again."""


class StoredTaskContext(TaskContext):
    """The context of a tool running as a stored task. One per task."""

    #: Seconds between two stored progress reports; reports in between are coalesced.
    min_progress_interval: float = 0.25

    def __init__(self, host: ContextHost, record: TaskRecord) -> None:
        self._host = host
        self._record = record
        self._pending_progress: Progress | None = None
        self._last_progress_write = 0.0
        self._cancelled = False

    @property
    def task_id(self) -> str:
        return self._record.task_id

    @property
    def _log_id(self) -> str:
        """The task's id as logs show it: a keyed hash (ids are bearer credentials)."""
        return self._host.store.observers.ids.task(self.task_id)

    @property
    def record(self) -> TaskRecord:
        """The task as this context last wrote or read it."""
        return self._record

    @property
    def is_cancelled(self) -> bool:
        """True once a cancel reached this task. The tool is also interrupted at its next await."""
        return self._cancelled

    async def set_status(self, message: str | None) -> None:
        """Set the status message clients see in ``tasks/get``.

        If the store cannot be reached the message is dropped with a warning
        and the tool goes on: a status is advice, the work is what matters.
        """
        try:
            await self._write(status_message=message)
        except StorageUnavailable as exc:
            logger.warning("could not store the status of task %s: %s", self._log_id, exc)

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report progress. Stored at most every ``min_progress_interval`` seconds."""
        self._pending_progress = Progress(progress=progress, total=total, message=message)
        now = anyio.current_time()
        if now - self._last_progress_write >= self.min_progress_interval:
            await self.flush_progress()

    async def flush_progress(self) -> None:
        """Store the latest progress report now, if one is waiting."""
        if self._pending_progress is not None:
            pending, self._pending_progress = self._pending_progress, None
            self._last_progress_write = anyio.current_time()
            try:
                await self._write(progress=pending)
            except StorageUnavailable as exc:
                # Kept for the next report: an unreachable store never ends the work.
                self._pending_progress = self._pending_progress or pending
                logger.warning("could not store the progress of task %s: %s", self._log_id, exc)

    async def request_input(
        self, requests: Mapping[str, InputRequest], *, status_message: str | None = None
    ) -> dict[str, Any]:
        """Ask the client for input and wait for every answer.

        The task shows ``input_required`` with ``requests`` until the client
        answers them all (``tasks/update``, ``tasks_respond``, or an
        elicitation forwarded by the 2025-11-25 adapter); then it is
        ``working`` again and this returns the answers by key. The tool
        resumes in place: it is not re-run.
        """
        await self.flush_progress()
        self._record = await self._host.store.request_input(
            self._record.owner,
            self.task_id,
            requests,
            status_message=status_message,
            known=self._record,
        )
        await self._host.publish(self._record)
        self._record = await self._host.wait_for_answers(self._record, set(requests))
        return {key: self._record.input_responses[key] for key in requests}

    # ------------------------------------------------------------------ runner side

    def mark_cancelled(self) -> None:
        self._cancelled = True

    def adopt(self, record: TaskRecord) -> None:
        """Take a newer record read by the runner, so the next write needs no read."""
        if record.version > self._record.version:
            self._record = record

    async def _write(self, **changes: Any) -> None:
        self._record = await self._host.store.update(
            self._record.owner, self.task_id, known=self._record, **changes
        )
        await self._host.publish(self._record)
