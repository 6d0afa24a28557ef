"""Workers: claim queued tasks with one conditional write, and run them as a replica.

A worker receives a message naming a task (ids only), reads the task (one
strongly consistent read) and claims it with one conditional write on its
version: the change (:func:`~mcp_tasks_server.core.lifecycle.claim`) takes
only a task still under the queued marker, at the message's attempt. The
winner runs the tool through the :class:`~.runner.Runner`, so a worker is a
replica like any other: heartbeats and lease renewal, cancellation within one
heartbeat, input answered from any front end resumed in place, progress and
outcome stored as in local mode.

Delivery rules:

* **Redelivery never runs a tool twice.** A message whose task is claimed,
  finished, cancelled, expired, missing, or at another attempt loses the
  claim; it is acknowledged and dropped (:attr:`Outcome.SKIPPED`).
* **Ack after the claim.** A process worker deletes the message right after
  it won the claim (``WorkerPolicy.ack``); the task is then the store's
  business, and a worker that crashes leaves an orphan the orphan rule settles
  (failed, or re-queued for an idempotent tool with attempts left).
* **Poison messages go to the dead-letter queue.** A body that is not a task
  message is logged and left alone (:attr:`Outcome.RETRY`): it reappears after
  its visibility timeout and the queue's redrive policy moves it to the
  dead-letter queue after a bounded number of receives, where an operator
  can inspect it. Acknowledging it would hide a misconfigured producer.
* **Transient store errors** leave the message to be received again later.

With a ``deadline`` (AWS Lambda: the invocation's end), a tool still running
``time_margin_seconds`` before it is stopped, and the task is failed with a
clear message, or queued again if it may run again, so no invocation that
times out leaves an orphan behind.

This module knows nothing of MCP: it runs tools through ``invoke_for``, given
by the layer above.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import anyio

from mcp_tasks_server.core.errors import (
    NotClaimable,
    ServerShuttingDown,
    TaskError,
    TaskNotFound,
    TaskTerminal,
)
from mcp_tasks_server.core.lifecycle import (
    INTERNAL_ERROR,
    ORPHAN_ERROR,
    QUEUED_REPLICA,
    claim,
    run_again,
)
from mcp_tasks_server.core.model import TaskRecord
from mcp_tasks_server.queues.base import MAX_BATCH, Delivery, TaskQueue
from mcp_tasks_server.queues.errors import MalformedMessage, QueueError
from mcp_tasks_server.runtime.queue_execution import QueueExecution
from mcp_tasks_server.runtime.runner import Invoke, Runner
from mcp_tasks_server.store.store import TaskStore

__all__ = ["TIME_LIMIT_MESSAGE", "InvokeFor", "Outcome", "Worker", "WorkerPolicy"]

logger = logging.getLogger(__name__)

InvokeFor = Callable[[TaskRecord], Invoke]
"""How to run the tool a stored task names (built from its stored request)."""

TIME_LIMIT_MESSAGE = "The task exceeded the worker's time limit"


class Outcome(StrEnum):
    """What :meth:`Worker.handle` did with one delivery."""

    RAN = "ran"
    """Claimed here and run to its end; its outcome is stored. The message is settled."""
    SKIPPED = "skipped"
    """Nothing to run (claimed elsewhere, finished, missing, another attempt): settled."""
    RETRY = "retry"
    """Not settled: let the queue deliver it again (store unreachable, shutting down,
    not a task message). On Lambda, report it as a batch item failure."""


@dataclass(frozen=True, slots=True)
class WorkerPolicy:
    """How a worker takes work; built from settings by the layer above."""

    claim_ms: int = 900_000
    """A re-queued attempt's claim timeout (``MCP_TASKS_CLAIM_TIMEOUT_SECONDS``)."""
    concurrency: int = 10
    """Tasks in flight at once in :meth:`Worker.run`."""
    receive_wait_seconds: int = 20
    """Long-poll length of each receive (0-20)."""
    visibility_seconds: int | None = None
    """How long a received message stays hidden; None: the queue's own timeout."""
    time_margin_seconds: float = 10.0
    """With a deadline: stop the tool this long before it."""
    ack: bool = True
    """Delete the message after a won claim (processes); Lambda's event source deletes it."""


class Worker:
    """Claims and runs queued tasks: :meth:`handle` one delivery, or :meth:`run` a loop."""

    def __init__(
        self,
        store: TaskStore,
        runner: Runner,
        queue: TaskQueue,
        invoke_for: InvokeFor,
        policy: WorkerPolicy | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.queue = queue
        self.invoke_for = invoke_for
        self.policy = policy if policy is not None else WorkerPolicy()
        self.replica = runner.replica
        self._requeue = QueueExecution(store, queue, runner, claim_ms=self.policy.claim_ms)
        self._stopping = False
        self._receiving: anyio.CancelScope | None = None
        self._in_flight = 0
        self._slot_freed: anyio.Event | None = None

    # ------------------------------------------------------------------ one delivery

    async def handle(self, delivery: Delivery, *, deadline: float | None = None) -> Outcome:
        """Claim the delivered task and run it to its end; say what became of the message.

        ``deadline`` is a time on ``anyio.current_time()``'s clock (under
        asyncio, ``time.monotonic()``) by which this call must return.
        """
        try:
            message = delivery.message
        except MalformedMessage as exc:
            logger.error(
                "%s; left for the dead-letter queue (received %d times)",
                exc,
                delivery.receive_count,
            )
            return Outcome.RETRY
        if not self.runner.accepting or self._seconds_left(deadline) <= 0:
            await self.queue.release(delivery)  # let another worker take it now
            return Outcome.RETRY
        try:
            record = await self.store.get(message.owner_key, message.task_id)
            now = self.store.clock()
            change = claim(self.replica, message.attempt, now, self.store.policy.lease_ms)
            claimed = await self.store.apply(record, change)
        except (TaskNotFound, NotClaimable) as exc:
            logger.info("dropped message %s: %s", delivery.message_id, exc)
            await self._ack(delivery)
            return Outcome.SKIPPED
        except TaskError as exc:
            task = self._log_id(message.task_id)
            logger.warning("could not claim task %s (%s); will retry", task, exc)
            return Outcome.RETRY
        await self._ack(delivery)
        await self.runner.publish(claimed)
        # Queued (created or queued again) at the record's last write before the claim.
        waited = max(0, claimed.last_updated_at_ms - record.last_updated_at_ms) / 1000
        await self._run(claimed, deadline, waited)
        return Outcome.RAN

    def _log_id(self, task_id: str) -> str:
        """A task id as logs show it: a keyed hash (ids are bearer credentials)."""
        return self.store.observers.ids.task(task_id)

    def _seconds_left(self, deadline: float | None) -> float:
        if deadline is None:
            return float("inf")
        return deadline - self.policy.time_margin_seconds - anyio.current_time()

    async def _ack(self, delivery: Delivery) -> None:
        if not self.policy.ack:
            return
        try:
            await self.queue.ack(delivery)
        except QueueError as exc:
            # Harmless: a redelivery loses the claim and is dropped then.
            logger.warning("could not delete message %s: %s", delivery.message_id, exc)

    async def _run(self, record: TaskRecord, deadline: float | None, waited: float) -> None:
        task_id = record.task_id
        try:
            self.runner.start(record, self.invoke_for(record), queue_wait_s=waited)
        except ServerShuttingDown:
            await self._fail(record, dict(ORPHAN_ERROR))
            return
        with anyio.move_on_after(self._seconds_left(deadline)) as scope:
            await self.runner.wait_until_done(task_id)
        if scope.cancelled_caught:
            await self._out_of_time(record)

    async def _out_of_time(self, record: TaskRecord) -> None:
        latest = self.runner.latest_record(record.task_id) or record
        self.runner.cancel_local(record.task_id)
        with anyio.CancelScope(shield=True):
            await self.runner.wait_until_done(record.task_id)
            if latest.can_run_again:
                now = self.store.clock()
                change = run_again(
                    now, to=QUEUED_REPLICA, lease_ms=self.policy.claim_ms, held_by=self.replica
                )
                try:
                    queued = await self.store.apply(latest, change)
                except (NotClaimable, TaskNotFound):
                    return
                except TaskError as exc:
                    logger.error(
                        "could not queue task %s again: %s", self._log_id(record.task_id), exc
                    )
                    return
                logger.warning(
                    "task %s ran out of time; queued again", self._log_id(record.task_id)
                )
                await self.runner.publish(queued)
                await self._requeue.enqueue(queued)
                return
            logger.warning("task %s ran out of time; failing it", self._log_id(record.task_id))
            await self._fail(latest, {"code": INTERNAL_ERROR, "message": TIME_LIMIT_MESSAGE})

    async def _fail(self, record: TaskRecord, error: dict[str, object]) -> None:
        try:
            failed = await self.store.fail(record.owner, record.task_id, error)
        except (TaskTerminal, TaskNotFound):
            return
        except TaskError as exc:
            logger.error("could not fail task %s: %s", self._log_id(record.task_id), exc)
            return
        await self.runner.publish(failed)

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Long-poll the queue and handle up to ``concurrency`` tasks at once, until stopped.

        Returns after :meth:`stop` once the tasks in flight have ended (see
        :meth:`drain` for a shutdown that bounds that wait).
        """
        self._stopping = False
        async with anyio.create_task_group() as group:
            backoff = 0.5
            while not self._stopping:
                free = self.policy.concurrency - self._in_flight
                if free <= 0:
                    self._slot_freed = anyio.Event()
                    await self._slot_freed.wait()
                    continue
                try:
                    deliveries = await self._receive(min(free, MAX_BATCH))
                except QueueError as exc:
                    logger.warning("could not receive from the queue (%s); retrying", exc)
                    await anyio.sleep(backoff)
                    backoff = min(backoff * 2, 20.0)
                    continue
                backoff = 0.5
                for delivery in deliveries:
                    self._in_flight += 1
                    group.start_soon(self._handle_one, delivery, name="worker delivery")

    async def _receive(self, count: int) -> list[Delivery]:
        with anyio.CancelScope() as self._receiving:
            if self._stopping:
                return []
            return await self.queue.receive(
                count,
                self.policy.receive_wait_seconds,
                visibility_seconds=self.policy.visibility_seconds,
            )
        # Stopped mid-poll: what it received reappears after the visibility timeout.
        return []

    async def _handle_one(self, delivery: Delivery) -> None:
        try:
            await self.handle(delivery)
        except Exception:
            logger.exception("handling message %s failed", delivery.message_id)
        finally:
            self._in_flight -= 1
            if self._slot_freed is not None:
                self._slot_freed.set()

    def stop(self) -> None:
        """Stop receiving; :meth:`run` returns once the tasks in flight have ended."""
        self._stopping = True
        if self._receiving is not None:
            self._receiving.cancel()
        if self._slot_freed is not None:
            self._slot_freed.set()

    async def drain(self, grace_seconds: float | None = None) -> None:
        """Shut down as ``serve`` does: stop receiving, give tasks a grace period, fail the rest."""
        self.stop()
        await self.runner.shutdown(grace_seconds)
