"""``TaskContext``: what a task-capable tool can do while it runs.

A tool opts in by declaring a parameter annotated ``TaskContext``. Through it
the tool can say what it is doing (status message), how far it has got
(progress), ask its client a question and wait for the answer, and notice
that it was cancelled. The same tool code runs either way a client calls it:

* as a **task** (``StoredTaskContext``): every change goes to the store
  first, because that is what ``tasks/get`` reads on whichever replica the
  client reaches. Progress is written at most every
  ``min_progress_interval`` seconds so a chatty tool cannot flood a remote
  store; the latest value is always written before the task ends.
* **inline**, for a client that did not ask for a task: the protocol layer
  supplies a context that reports through the ordinary request instead.
"""

from __future__ import annotations

import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from mcp_tasks_server.errors import StorageUnavailable
from mcp_tasks_server.model import InputRequest, Progress, TaskRecord

if TYPE_CHECKING:
    from mcp_tasks_server.runner import Runner

__all__ = ["StoredTaskContext", "TaskContext", "form_request"]

logger = logging.getLogger(__name__)


def form_request(message: str, requested_schema: Mapping[str, Any] | None = None) -> InputRequest:
    """An ``elicitation/create`` form request, as both eras spell it."""
    schema = dict(requested_schema or {"type": "object", "properties": {}})
    return InputRequest(
        method="elicitation/create",
        params={"mode": "form", "message": message, "requestedSchema": schema},
    )


class TaskContext(ABC):
    """What a task-capable tool may do while it runs. Declare a parameter of this type."""

    @property
    @abstractmethod
    def task_id(self) -> str | None:
        """The task's id, or None when the tool runs inline (no task)."""

    @property
    @abstractmethod
    def is_cancelled(self) -> bool:
        """True once a cancel reached this call. The tool is also interrupted at its next await."""

    @abstractmethod
    async def set_status(self, message: str | None) -> None:
        """Say what the tool is doing now (``statusMessage`` in ``tasks/get``)."""

    @abstractmethod
    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report how far the tool has got."""

    @abstractmethod
    async def request_input(
        self, requests: Mapping[str, InputRequest], *, status_message: str | None = None
    ) -> dict[str, Any]:
        """Ask the client for input and wait for every answer; returns them by key."""

    async def elicit(self, message: str, requested_schema: Mapping[str, Any] | None = None) -> Any:
        """Ask one form question (``elicitation/create``) and return the client's answer.

        The answer is the client's ``ElicitResult`` as a dict: ``action``
        (``accept``, ``decline`` or ``cancel``) and, when accepted, ``content``.
        """
        key = f"elicit-{secrets.token_hex(4)}"
        answers = await self.request_input(
            {key: form_request(message, requested_schema)}, status_message=message
        )
        return answers[key]


class StoredTaskContext(TaskContext):
    """The context of a tool running as a stored task. One per task."""

    #: Seconds between two stored progress reports; reports in between are coalesced.
    min_progress_interval: float = 0.25

    def __init__(self, runner: Runner, record: TaskRecord) -> None:
        self._runner = runner
        self._record = record
        self._pending_progress: Progress | None = None
        self._last_progress_write = 0.0
        self._cancelled = False

    @property
    def task_id(self) -> str:
        return self._record.task_id

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
            logger.warning("could not store the status of task %s: %s", self.task_id, exc)

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
                logger.warning("could not store the progress of task %s: %s", self.task_id, exc)

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
        self._record = await self._runner.store.request_input(
            self._record.owner,
            self.task_id,
            requests,
            status_message=status_message,
            known=self._record,
        )
        await self._runner.published(self._record)
        self._record = await self._runner.wait_for_answers(self._record, set(requests))
        return {key: self._record.input_responses[key] for key in requests}

    async def elicit(self, message: str, requested_schema: Mapping[str, Any] | None = None) -> Any:
        """Ask one form question (``elicitation/create``) and return the client's answer.

        The answer is the client's ``ElicitResult`` as a dict: ``action``
        (``accept``, ``decline`` or ``cancel``) and, when accepted, ``content``.
        """
        key = f"elicit-{secrets.token_hex(4)}"
        schema = dict(requested_schema or {"type": "object", "properties": {}})
        request = InputRequest(
            method="elicitation/create",
            params={"mode": "form", "message": message, "requestedSchema": schema},
        )
        answers = await self.request_input({key: request}, status_message=message)
        return answers[key]

    # ------------------------------------------------------------------ runner side

    def _mark_cancelled(self) -> None:
        self._cancelled = True

    def _adopt(self, record: TaskRecord) -> None:
        """Take a newer record read by the runner, so the next write needs no read."""
        if record.version > self._record.version:
            self._record = record

    async def _write(self, **changes: Any) -> None:
        self._record = await self._runner.store.update(
            self._record.owner, self.task_id, known=self._record, **changes
        )
        await self._runner.published(self._record)
