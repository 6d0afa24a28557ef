"""``TaskService``: the task operations the adapters call, over the store and an execution.

Adapters translate wire shapes into these calls and the errors back into
their era's codes; the rules (listing only with an owner, cancel stopping
the coroutine, answers waking the tool, ``watch`` as the one way to wait
for a change) live here. Binding a request to its owner and building the
tool call to start are the protocol layer's (``Tasks.owner``,
``Tasks.start_task``), because both need the SDK.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

import anyio

from mcp_tasks_server.backends.errors import GlobalCapReached, QuotaExceeded
from mcp_tasks_server.core.errors import (
    CapacityExceeded,
    ListingNotAllowed,
    ResultNotReady,
    ServerShuttingDown,
    StorageFull,
    TaskNotFound,
    TaskTerminal,
)
from mcp_tasks_server.core.lifecycle import CANCELLED_MESSAGE, ORPHAN_ERROR
from mcp_tasks_server.core.model import TaskRecord, TaskStatus, ToolRequest
from mcp_tasks_server.core.owner import Owner
from mcp_tasks_server.observability.audit import AuditEvent
from mcp_tasks_server.runtime.execution import Execution, require_accepting
from mcp_tasks_server.runtime.runner import Invoke, Runner
from mcp_tasks_server.store.store import InputDelivery, TaskPage, TaskStore

__all__ = ["TaskService"]


class TaskService:
    """Create, read, list, cancel, await and answer tasks on behalf of an owner."""

    def __init__(
        self, store: TaskStore, runner: Runner, execution: Execution | None = None
    ) -> None:
        self.store = store
        self.runner = runner
        # Where new tasks run: this process's runner unless another execution is given.
        self.execution: Execution = execution if execution is not None else runner
        self._waiters = 0
        # Creates in flight here, by owner key, and who waits for an owner's to settle.
        self._creating: dict[str, int] = {}
        self._settled: dict[str, anyio.Event] = {}

    async def create(
        self,
        owner: Owner,
        request: ToolRequest,
        invoke: Invoke,
        *,
        ttl_ms: int | None = None,
        tool_error_status: TaskStatus = TaskStatus.FAILED,
        max_attempts: int = 1,
    ) -> TaskRecord:
        """Store a task, then start (or enqueue) its tool. Returns once the task is durable.

        The task is stored with the execution's lease (this replica's, or
        the queued marker). A replica that is shutting down
        (``ServerShuttingDown``) or already runs its most tasks
        (``CapacityExceeded``) refuses before it stores anything. Storing and
        starting are one step: a caller that goes away in between cancels
        neither, so no task is ever stored and never run. ``max_attempts``
        above 1 lets an orphan run again (idempotent tools).
        """
        execution = self.execution
        require_accepting(execution)
        local = execution is self.runner
        if local:
            try:
                self.runner.reserve()
            except CapacityExceeded:
                self.store.observers.refused(
                    AuditEvent.CREATED, owner=owner.key, reason="running", tool_name=request.name
                )
                raise
        self._creating[owner.key] = self._creating.get(owner.key, 0) + 1
        try:
            with anyio.CancelScope(shield=True):
                record = await self._store_and_start(
                    owner,
                    request,
                    invoke,
                    execution,
                    ttl_ms=ttl_ms,
                    tool_error_status=tool_error_status,
                    max_attempts=max_attempts,
                )
        finally:
            if local:
                self.runner.release()
            self._create_settled(owner.key)
        return record

    def _create_settled(self, owner_key: str) -> None:
        left = self._creating[owner_key] - 1
        if left:
            self._creating[owner_key] = left
            return
        del self._creating[owner_key]
        if (settled := self._settled.pop(owner_key, None)) is not None:
            settled.set()

    async def _creates_settled(self, owner: Owner) -> None:
        """Return once no create of ``owner`` is in flight here (each is bounded by the store)."""
        while owner.key in self._creating:
            await self._settled.setdefault(owner.key, anyio.Event()).wait()

    async def _store_and_start(
        self,
        owner: Owner,
        request: ToolRequest,
        invoke: Invoke,
        execution: Execution,
        *,
        ttl_ms: int | None,
        tool_error_status: TaskStatus,
        max_attempts: int,
    ) -> TaskRecord:
        observers = self.store.observers
        try:
            record = await self.store.create(
                owner.key,
                request,
                ttl_ms=ttl_ms,
                tool_error_status=tool_error_status,
                replica=execution.lease_replica,
                lease_ms=execution.initial_lease_ms,
                max_attempts=max_attempts,
                trace_context=observers.trace_context(),
            )
        except (QuotaExceeded, StorageFull) as refusal:
            observers.refused(
                AuditEvent.CREATED,
                owner=owner.key,
                reason=_refusal_reason(refusal),
                tool_name=request.name,
            )
            raise
        observers.created(record)
        try:
            return await execution.dispatch(record, invoke)
        except ServerShuttingDown:
            # Shutdown began while the task was being stored: it never ran.
            await self.store.fail(owner.key, record.task_id, ORPHAN_ERROR, known=record)
            raise

    async def get(self, owner: Owner, task_id: str) -> TaskRecord:
        return await self.store.get(owner.key, task_id)

    async def list(self, owner: Owner, cursor: str | None = None) -> TaskPage:
        if not owner.can_list:
            raise ListingNotAllowed(
                "Listing tasks needs an authenticated caller, an HTTP session or stdio"
            )
        return await self.store.list(owner.key, cursor=cursor)

    async def cancel(
        self, owner: Owner, task_id: str, *, status_message: str = CANCELLED_MESSAGE
    ) -> TaskRecord:
        """Store ``cancelled`` (so every replica sees it at once), then stop the coroutine.

        Raises ``TaskTerminal`` for a finished task; each era decides whether
        that is an error.
        """
        known = self.runner.latest_record(task_id)
        if known is not None and known.owner != owner.key:
            known = None
        record = await self.store.cancel(
            owner.key, task_id, status_message=status_message, known=known
        )
        self.store.observers.cancelled(record)
        self.runner.cancel_local(task_id)
        await self.runner.publish(record)
        return record

    async def cancel_unfinished(self, owner: Owner, *, status_message: str) -> int:
        """Cancel every unfinished task of ``owner``, a list page at a time; returns how many.

        For an owner nobody can reach any more (a stateful HTTP session that
        ended). Creates of that owner still in flight here are waited for
        first: a request cancelled mid-create still stores and starts its
        task, which must not escape. Each task goes through :meth:`cancel`,
        so its coroutine stops wherever it runs. Each cancel is shielded: a
        caller stopped midway (the server shutting down) never leaves a task
        stored ``cancelled`` with its tool still running here. A task that
        finished or expired meanwhile is skipped; any other error stops the
        walk and is raised.
        """
        await self._creates_settled(owner)
        cancelled = 0
        cursor: str | None = None
        while True:
            page = await self.store.list(owner.key, cursor=cursor)
            for record in page.records:
                if record.is_terminal:
                    continue
                with anyio.CancelScope(shield=True):
                    try:
                        await self.cancel(owner, record.task_id, status_message=status_message)
                    except (TaskTerminal, TaskNotFound):
                        continue  # it finished or expired since the page was read
                cancelled += 1
            if page.next_cursor is None:
                return cancelled
            cursor = page.next_cursor

    async def result(self, owner: Owner, task_id: str, max_wait: float | None = None) -> TaskRecord:
        """The task once finished, waiting for it (``ResultNotReady`` after ``max_wait`` s)."""
        limit = self.runner.settings.result_wait_seconds if max_wait is None else max_wait
        with anyio.move_on_after(limit):
            async with aclosing(self.watch(owner, task_id)) as records:
                async for record in records:
                    if record.is_terminal:
                        return record
        raise ResultNotReady(task_id, limit)

    async def watch(
        self, owner: Owner, task_id: str, *, latest: TaskRecord | None = None
    ) -> AsyncGenerator[TaskRecord, None]:
        """The task now, then each newer version of it, for as long as the caller iterates.

        The one wait primitive every adapter shares: a change this replica
        makes wakes the watcher at once; a change made on another replica is
        found by reading the task, with the pause between reads doubling from
        50 ms up to the heartbeat interval. The caller keeps its own stop
        condition (and its own deadline). ``latest`` is a record the caller
        already holds: it is yielded first, without a read.
        """
        ceiling = self.runner.settings.heartbeat_interval_seconds
        delay = 0.05
        record = latest if latest is not None else await self.get(owner, task_id)
        yield record
        # From here on the caller is blocked on the task: a waiter, counted.
        if self._waiters >= (limit := self.runner.settings.max_waiters):
            self.store.observers.telemetry.capacity_refused("waiters")
            raise CapacityExceeded(
                f"This server already serves {limit} waiting calls; poll the task instead"
            )
        self._waiters += 1
        try:
            while True:
                await self.runner.wait_for_change(task_id, delay)
                delay = min(delay * 2, ceiling)
                newer = await self.get(owner, task_id)
                if newer.version != record.version:
                    record = newer
                    yield record
        finally:
            self._waiters -= 1

    async def deliver_input(
        self, owner: Owner, task_id: str, responses: Mapping[str, Any]
    ) -> InputDelivery:
        """Store answers; the waiting tool resumes once every request is answered."""
        delivery = await self.store.deliver_input(owner.key, task_id, responses)
        if delivery.accepted:
            self.store.observers.answered(delivery.record, answers=len(delivery.accepted))
            await self.runner.publish(delivery.record)
        return delivery


def _refusal_reason(refusal: Exception) -> str:
    """The audit and telemetry name of the limit a create met."""
    if isinstance(refusal, GlobalCapReached):
        return "capacity"  # all owners' unfinished tasks, across replicas
    if isinstance(refusal, QuotaExceeded):
        return "quota"  # this owner's unfinished tasks
    return "storage"  # the memory backend is full
