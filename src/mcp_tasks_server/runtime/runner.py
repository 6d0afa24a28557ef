"""The runner: executes tool coroutines as background tasks.

A task-augmented call is answered as soon as its task is stored; the tool
then runs here, in a task group that lives as long as the server. A tool that
returns a CallToolResult makes the task ``completed`` (or its tool-error
status when ``isError`` is true); ``ProtocolFailure`` makes it ``failed`` with
that JSON-RPC error, anything else ``failed`` with -32603 (the traceback is
logged, never shown); a cancelled tool leaves the stored ``cancelled`` as is.

Waiting is event-driven within a process and polled across processes: a
waiter (``tasks/result``, a tool waiting for input) wakes at once when a
change happens on this replica. Changes made on other replicas reach it
through the **heartbeat**: every ``heartbeat_interval_seconds`` the runner
reads each task it runs (one strongly consistent read each), stops a task
that was cancelled or failed elsewhere, wakes a tool whose input arrived, and
renews its lease when less than half of it is left. A heartbeat that cannot
reach the store logs and goes on; a tool whose lease cannot be renewed in
time is stopped before it runs out (:mod:`.fencing`). A task stays here,
leased and renewed, until its outcome is stored.
"""

# long: one task's whole life on this replica (start, fence, heartbeat, outcome,
# shutdown) shares the running set; splitting it would spread that state over modules.

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
import anyio.lowlevel

from mcp_tasks_server.core.errors import (
    INTERNAL_ERROR,
    CapacityExceeded,
    ProtocolFailure,
    StorageUnavailable,
    TaskError,
    TaskNotFound,
    TaskTerminal,
)
from mcp_tasks_server.core.lifecycle import ORPHAN_ERROR
from mcp_tasks_server.core.model import TaskRecord, TaskStatus
from mcp_tasks_server.runtime.execution import require_accepting
from mcp_tasks_server.runtime.feed import ChangeFeed, Listener
from mcp_tasks_server.runtime.fencing import LeaseFence
from mcp_tasks_server.runtime.sweepers import Retry, run_expiry_sweeper, run_orphan_sweeper
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.store import TaskStore

__all__ = ["Invoke", "Listener", "Runner"]

logger = logging.getLogger(__name__)

Invoke = Callable[[StoredTaskContext], Awaitable[Mapping[str, Any]]]
"""Runs the tool for a task and returns its ``CallToolResult`` as JSON."""

_HEARTBEAT_CONCURRENCY = 16


@dataclass(slots=True)
class _Running:
    scope: anyio.CancelScope
    context: StoredTaskContext
    done: anyio.Event
    fence: LeaseFence
    queue_wait_s: float | None = None  # from queued to claimed, for a worker's task


class Runner:
    """Runs tasks in the background; use as ``async with Runner(store, settings) as runner``.

    ``settings`` is read for the runtime's intervals and grace periods only.
    """

    def __init__(self, store: TaskStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.replica = store.replica
        self.observers = store.observers
        self._group: anyio.abc.TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._running: dict[str, _Running] = {}
        self.feed = ChangeFeed(self.observers.ids)
        self._accepting = False
        self._drained: anyio.Event | None = None
        self.retry: Retry | None = None
        self._reserved = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        self._group = await stack.enter_async_context(anyio.create_task_group())
        self._exit_stack = stack
        settings = self.settings
        self._group.start_soon(
            run_expiry_sweeper, self.store, settings.sweep_interval_seconds, name="expiry sweeper"
        )
        self._group.start_soon(
            run_orphan_sweeper,
            self.store,
            settings.lease_sweep_interval_seconds,
            self.retry,
            name="orphan sweeper",
        )
        self._group.start_soon(self._heartbeat, name="heartbeat")
        self._accepting = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        assert self._exit_stack is not None
        with anyio.CancelScope(shield=True):
            await self.shutdown()
        self._group.cancel_scope.cancel()
        return await self._exit_stack.__aexit__(exc_type, exc, tb)

    @property
    def lease_replica(self) -> str:
        """Tasks run here are stored with this replica's lease."""
        return self.replica

    initial_lease_ms: int | None = None  # tasks run here start with the store's lease

    @property
    def running_task_ids(self) -> frozenset[str]:  # includes tasks storing their outcome
        return frozenset(self._running)

    @property
    def accepting(self) -> bool:
        """False once shutdown began (or before the runner started)."""
        return self._accepting and self._group is not None

    async def shutdown(self, grace_seconds: float | None = None) -> None:
        """Stop accepting tasks, give running ones a grace period, then fail the rest.

        After this returns, no task this replica was running is left
        ``working``: each either finished on its own or is ``failed`` with a
        message saying the server stopped.
        """
        self._accepting = False
        grace = self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        if self._running:
            logger.info(
                "shutting down: %d tasks running get %g s to finish", len(self._running), grace
            )
            self._drained = anyio.Event()
            with anyio.move_on_after(grace):
                await self._drained.wait()
        # Concurrently: with the store down, each write takes its full
        # timeout, and shutdown must not take that once per task.
        async with anyio.create_task_group() as group:
            for running in list(self._running.values()):
                running.scope.cancel()
                group.start_soon(self._fail_stopped, running.context)

    async def _fail_stopped(self, context: StoredTaskContext) -> None:
        """Fail a task this replica stops without an outcome (shutdown, fencing)."""
        known = context.record
        try:
            record = await self.store.fail(known.owner, known.task_id, ORPHAN_ERROR, known=known)
        except TaskError as exc:
            logger.warning("could not mark task %s as stopped: %s", self._log_id(known), exc)
            return
        self.observers.settled(record)
        await self.publish(record)

    def spawn(self, job: Callable[[], Awaitable[None]], *, name: str) -> bool:
        """Run ``job`` in the background for as long as the runner runs; False if it does not.

        For housekeeping no request should wait for (the tasks of an HTTP
        session that ended, cancelled). The runner's exit cancels a job that
        is still going, and an error a job raises is logged here, so it can
        never take the runner's task group (and every running tool) down.
        """
        group = self._group
        if group is None or not self._accepting:
            return False

        async def guarded() -> None:
            try:
                await job()
            except Exception:
                logger.exception("background job %r failed", name)

        group.start_soon(guarded, name=name)
        return True

    def reserve(self) -> None:
        """Hold a place for one more task, or raise ``CapacityExceeded``; see :meth:`release`."""
        if len(self._running) + self._reserved >= (limit := self.settings.max_running_tasks):
            raise CapacityExceeded(f"This server runs {limit} tasks at once already; try later")
        self._reserved += 1

    def release(self) -> None:
        """Give back a place held by :meth:`reserve` (the task started, or was not stored)."""
        self._reserved -= 1

    def start(
        self, record: TaskRecord, invoke: Invoke, *, queue_wait_s: float | None = None
    ) -> None:
        """Run ``invoke`` for the stored ``record`` in the background.

        ``queue_wait_s``: how long a claimed task waited in the queue (measured).
        """
        require_accepting(self)
        assert self._group is not None  # accepting implies a task group
        context = StoredTaskContext(self, record)
        scope = anyio.CancelScope()
        fence = LeaseFence(scope, self.replica, self.settings.fence_margin)
        fence.observe(record, self.store.clock())
        running = _Running(scope, context, anyio.Event(), fence, queue_wait_s)
        self._running[record.task_id] = running
        self._group.start_soon(self._run, running, invoke, name=f"task {record.task_id}")

    async def dispatch(self, record: TaskRecord, invoke: Invoke) -> TaskRecord:
        """The :class:`~.execution.Execution` seam: run ``record`` here, now."""
        self.start(record, invoke)
        return record

    async def wait_until_done(self, task_id: str) -> None:
        """Return once the task no longer runs here and its outcome (if any) is stored."""
        running = self._running.get(task_id)
        if running is not None:
            await running.done.wait()

    async def _run(self, running: _Running, invoke: Invoke) -> None:
        # Shielded: a cancellation from outside (a stdio server stopped by a signal)
        # must not kill the tool mid-way; only its own scope does: a cancel, the
        # fence, or the end of the shutdown grace period.
        try:
            with (
                anyio.CancelScope(shield=True),
                self.observers.run_span(running.context.record, queue_wait_s=running.queue_wait_s),
            ):
                await self._run_shielded(running.context, invoke)
        finally:
            running.done.set()

    async def _run_shielded(self, context: StoredTaskContext, invoke: Invoke) -> None:
        task_id = context.task_id
        running = self._running[task_id]
        result: Mapping[str, Any] | None = None
        error: dict[str, Any] | None = None
        try:
            with running.scope:
                result = await invoke(context)
        except ProtocolFailure as failure:
            error = dict(failure.error)
        except Exception:
            tool, task = context.record.request.name, self._log_id(context.record)
            logger.exception("tool %r of task %s raised", tool, task)
            error = {"code": INTERNAL_ERROR, "message": "The tool failed unexpectedly"}
        try:
            # Still in ``_running`` while the outcome is stored: the heartbeat
            # keeps renewing the lease through a retried final write.
            if running.fence.fenced:
                logger.warning(
                    "stopped task %s: its lease could not be renewed in time",
                    self._log_id(context.record),
                )
                await self._fail_stopped(context)
            elif running.scope.cancel_called or (result is None and error is None):
                self.feed.wake(task_id)  # cancelled: the stored state already says so
            else:
                await self._finish(context, result, error)
        finally:
            self._running.pop(task_id, None)
            if not self._running and self._drained is not None:
                self._drained.set()

    async def _finish(
        self,
        context: StoredTaskContext,
        result: Mapping[str, Any] | None,
        error: dict[str, Any] | None,
    ) -> None:
        record = context.record
        try:
            await context.flush_progress()
            expected = "failed" if error is not None else "completed"
            with self.observers.finish_span(record, expected) as span:
                record = await self._store_outcome(context, result, error)
                span.set_status(str(record.status))
            self.observers.finished(record)
        except (TaskTerminal, TaskNotFound):
            # A cancel won the race, or the task expired: its stored state stands.
            self.feed.wake(record.task_id)
            return
        except TaskError as exc:
            logger.error("could not store the outcome of task %s: %s", self._log_id(record), exc)
            if error is None and not isinstance(exc, StorageUnavailable):
                await self._fail_quietly(context, str(exc))  # e.g. an oversize result
            return
        await self.publish(record)

    async def _store_outcome(
        self,
        context: StoredTaskContext,
        result: Mapping[str, Any] | None,
        error: dict[str, Any] | None,
    ) -> TaskRecord:
        """Store how the tool ended, retrying while the store is out of reach.

        The work is done and only this write can save it, so it is retried
        with backoff for as long as this replica holds the lease (the
        heartbeat renews it meanwhile); past the fence another replica may
        fail the task, and the write would lose anyway.
        """
        fence = self._running[context.task_id].fence
        delay = 0.1
        while True:
            record = context.record
            try:
                if error is not None:
                    return await self.store.fail(record.owner, record.task_id, error, known=record)
                assert result is not None
                return await self.store.complete(record.owner, record.task_id, result, known=record)
            except StorageUnavailable as exc:
                left = fence.fence_at - anyio.current_time()
                if not self._accepting or left <= 0:
                    raise  # shutting down (never hold the exit up), or fenced
                logger.warning(
                    "storing the outcome of task %s failed (%s); retrying",
                    self._log_id(record),
                    exc,
                )
                await anyio.sleep(min(delay, left))  # a renewal meanwhile moves the fence
                delay = min(delay * 2, 2.0)

    async def _fail_quietly(self, context: StoredTaskContext, message: str) -> None:
        record = context.record
        try:
            record = await self.store.fail(
                record.owner,
                record.task_id,
                {"code": INTERNAL_ERROR, "message": message},
            )
        except TaskError as exc:
            logger.error("could not fail task %s: %s", self._log_id(record), exc)
            return
        await self.publish(record)

    def cancel_local(self, task_id: str) -> bool:
        """Interrupt the task's coroutine if it runs here. True if it did."""
        running = self._running.get(task_id)
        if running is None:
            return False
        running.context.mark_cancelled()
        running.scope.cancel()
        self.feed.wake(task_id)
        return True

    def latest_record(self, task_id: str) -> TaskRecord | None:
        """The newest record this replica holds for a task it runs, if any."""
        running = self._running.get(task_id)
        return running.context.record if running is not None else None

    # ------------------------------------------------------------------ heartbeat

    async def _heartbeat(self) -> None:
        interval = self.settings.heartbeat_interval_seconds
        while True:
            await anyio.sleep(interval)
            await self.beat()

    async def beat(self) -> None:
        """One heartbeat: re-read every task running here, act on it, renew leases."""
        running = list(self._running.items())
        if not running:
            return
        limiter = anyio.CapacityLimiter(_HEARTBEAT_CONCURRENCY)
        async with anyio.create_task_group() as group:
            for task_id, entry in running:
                group.start_soon(self._beat_one, task_id, entry.context, limiter)

    async def _beat_one(
        self, task_id: str, context: StoredTaskContext, limiter: anyio.CapacityLimiter
    ) -> None:
        async with limiter:
            known = context.record
            try:
                record = await self.store.get(known.owner, task_id)
            except TaskNotFound:
                self.cancel_local(task_id)  # its TTL ran out: nobody can see it any more
                return
            except TaskError as exc:
                logger.warning(
                    "heartbeat could not read task %s (%s); it keeps running, its lease "
                    "holds until %s ms",
                    self._log_id(known),
                    exc,
                    known.lease_expires_at_ms,
                )
                return
            if record.is_terminal or record.replica not in (None, self.replica):
                # Cancelled or failed on another replica (or taken over): stop here.
                if self.cancel_local(task_id):
                    task = self._log_id(record)
                    logger.info("stopped task %s: it is %s in the store", task, record.status)
                return
            entry = self._running.get(task_id)
            if entry is not None:
                entry.fence.observe(record, self.store.clock())
            if record.version > known.version:
                context.adopt(record)
                self.feed.wake(task_id)
            if record.replica != self.replica or record.lease_expires_at_ms is None:
                return
            if record.lease_expires_at_ms - self.store.clock() >= self.store.policy.lease_ms / 2:
                return
            try:
                renewed = await self.store.renew_lease(context.record, self.replica)
            except TaskTerminal:
                self.cancel_local(task_id)
                return
            except TaskError as exc:
                logger.warning("could not renew the lease of task %s: %s", self._log_id(known), exc)
                return
            context.adopt(renewed)
            if entry is not None:
                entry.fence.observe(renewed, self.store.clock())

    def _log_id(self, record: TaskRecord) -> str:
        """The task's id as logs show it: a keyed hash (ids are bearer credentials)."""
        return self.observers.ids.task(record.task_id)

    def add_listener(self, listener: Listener) -> None:
        self.feed.add_listener(listener)

    async def publish(self, record: TaskRecord) -> None:
        """Tell the running tool, waiters and listeners that ``record`` is the task's new state."""
        running = self._running.get(record.task_id)
        if running is not None:
            running.context.adopt(record)
            running.fence.observe(record, self.store.clock())
        await self.feed.publish(record)

    async def wait_for_change(self, task_id: str, max_wait: float) -> None:
        """Return when this replica changes the task, or after ``max_wait`` seconds."""
        await self.feed.wait(task_id, max_wait)

    async def wait_for_answers(self, record: TaskRecord, keys: set[str]) -> TaskRecord:
        """Wait until the task has answers for ``keys`` and is ``working`` again."""
        # The heartbeat reads the task and wakes this waiter when it changed;
        # a waiter outside the runner's tasks has no heartbeat and reads itself.
        poll = self.settings.heartbeat_interval_seconds
        while True:
            if record.status is TaskStatus.WORKING and keys.issubset(record.input_responses):
                return record
            if record.is_terminal:
                # Cancelled elsewhere: stop this coroutine the way a local cancel would.
                self.cancel_local(record.task_id)
                await anyio.lowlevel.checkpoint()
            await self.wait_for_change(record.task_id, poll)
            running = self._running.get(record.task_id)
            if running is None:
                record = await self.store.get(record.owner, record.task_id)
            elif running.context.record.version > record.version:
                record = running.context.record
