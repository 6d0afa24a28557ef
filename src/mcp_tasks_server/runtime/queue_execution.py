"""Queue mode's front end: store the task, send one message, and only then answer.

The task is stored ``working`` under the queued marker
(:data:`~mcp_tasks_server.core.lifecycle.QUEUED_REPLICA`), whose lease runs
for the claim timeout; then one message naming it (ids only) is sent. A send
that fails fails the task at once, with the reason, so nothing stays queued
that no message will ever bring to a worker. A front end that crashes
between the two writes leaves a queued task with no message: the orphan rule
fails it once the claim timeout passes ("no worker took it").

The same class re-queues the next attempt of an idempotent tool's orphan
(:meth:`QueueExecution.retry`, the orphan sweep's hook) and of a task whose
worker ran out of time.
"""

from __future__ import annotations

import logging
from typing import Protocol

from mcp_tasks_server.core.errors import TaskError
from mcp_tasks_server.core.lifecycle import INTERNAL_ERROR, QUEUED_REPLICA, run_again
from mcp_tasks_server.core.model import TaskRecord
from mcp_tasks_server.queues.base import TaskQueue
from mcp_tasks_server.queues.errors import QueueError
from mcp_tasks_server.queues.message import TaskMessage
from mcp_tasks_server.runtime.runner import Invoke
from mcp_tasks_server.store.store import TaskStore

__all__ = ["QUEUE_FAILURE_PREFIX", "Publisher", "QueueExecution"]

logger = logging.getLogger(__name__)

QUEUE_FAILURE_PREFIX = "The task could not be queued: "


class Publisher(Protocol):
    """The runner's side QueueExecution needs: whether it accepts, and how to publish."""

    @property
    def accepting(self) -> bool: ...

    async def publish(self, record: TaskRecord) -> None: ...


class QueueExecution:
    """Hands stored tasks to workers through ``queue``; runs nothing itself."""

    lease_replica = QUEUED_REPLICA

    def __init__(
        self, store: TaskStore, queue: TaskQueue, runner: Publisher, *, claim_ms: int
    ) -> None:
        self.store = store
        self.queue = queue
        self.runner = runner
        self.claim_ms = claim_ms

    @property
    def accepting(self) -> bool:
        return self.runner.accepting

    @property
    def initial_lease_ms(self) -> int:
        return self.claim_ms

    async def dispatch(self, record: TaskRecord, invoke: Invoke) -> TaskRecord:
        """Send the task's message; the tool runs on whichever worker claims it."""
        return await self.enqueue(record)

    def _log_id(self, record: TaskRecord) -> str:
        """The task's id as logs show it: a keyed hash (ids are bearer credentials)."""
        return self.store.observers.ids.task(record.task_id)

    async def enqueue(self, record: TaskRecord) -> TaskRecord:
        """Send one message for ``record``'s attempt; a failed send fails the task."""
        try:
            # The creating request's trace context rides along (ids only, no payload).
            sent = TaskMessage(
                record.task_id, record.owner, record.attempt, trace_context=record.trace_context
            )
            await self.queue.send(sent)
        except (QueueError, ValueError) as exc:
            logger.error("could not queue task %s: %s", self._log_id(record), exc)
            message = f"{QUEUE_FAILURE_PREFIX}{exc}"
            error = {"code": INTERNAL_ERROR, "message": message}
            try:
                failed = await self.store.fail(record.owner, record.task_id, error, known=record)
            except TaskError as failure:
                # The claim timeout fails it later; the caller still learns it is queued.
                logger.error("could not fail unqueued task %s: %s", self._log_id(record), failure)
                return record
            await self.runner.publish(failed)
            return failed
        return record

    async def retry(self, record: TaskRecord) -> None:
        """Queue the next attempt of an orphan that may run again (the orphan sweep's hook)."""
        change = run_again(self.store.clock(), to=QUEUED_REPLICA, lease_ms=self.claim_ms)
        queued = await self.store.apply(record, change)
        logger.warning(
            "task %s lost its replica; queued again as attempt %d of %d",
            self._log_id(record),
            queued.attempt,
            queued.max_attempts,
        )
        await self.runner.publish(queued)
        await self.enqueue(queued)
