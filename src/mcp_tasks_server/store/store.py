"""The task store: every lifecycle rule, written once, over any backend.

The store owns what a backend must not know: the state machine, TTL policy,
owner isolation, quotas (per owner, and the global cap on unfinished tasks),
size caps and the retry discipline for races. Each
public method costs the fewest backend requests the rules allow:

* ``create`` is one conditional write, answered only once it is stored;
* ``get`` is one strongly consistent read;
* a change to a task is one conditional write when the caller already holds
  the task's latest record (the runner always does), otherwise a read and a
  write; a lost race costs no extra read, because the conflict carries the
  winner's record;
* a ``list`` page is one request.

Races are settled by version. When a change can be re-validated against the
winner's record (a status message, say) it is retried, a bounded number of
times. When re-validation fails (a cancel that lost to a completion) the
loser gets the state machine's error: exactly one writer wins.

Missing, expired and foreign tasks are indistinguishable: all three raise the
same ``TaskNotFound``.

What each operation does to a record is a pure function in
:mod:`mcp_tasks_server.core.lifecycle`; records cross to the backend through
:mod:`.codec` (where encryption plugs in); expiry and clock skew are in :mod:`.clocks`.
"""

# long: every lifecycle rule over the backend, each a short method around the one
# compare-and-swap loop they share.

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp_tasks_server.backends.base import StorageBackend, StoredRecord
from mcp_tasks_server.backends.errors import (
    GlobalCapReached,
    RecordExists,
    RecordNotFound,
    VersionConflict,
)
from mcp_tasks_server.core import lifecycle
from mcp_tasks_server.core.errors import (
    ConcurrentModification,
    InvalidArgument,
    TaskNotFound,
)
from mcp_tasks_server.core.lifecycle import ORPHAN_ERROR, Change, orphan_failure
from mcp_tasks_server.core.model import (
    PROCESS_REPLICA_ID,
    InputRequest,
    Progress,
    TaskRecord,
    TaskStatus,
    ToolRequest,
    is_valid_task_id,
    new_task_id,
)
from mcp_tasks_server.observability.observers import Observers
from mcp_tasks_server.store.clocks import SkewWatch, task_expiry
from mcp_tasks_server.store.codec import RecordCodec, backend_errors
from mcp_tasks_server.store.policy import StorePolicy, truncate_utf8

__all__ = ["InputDelivery", "TaskPage", "TaskStore"]

_UNSET: Any = object()

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaskPage:
    records: list[TaskRecord]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class InputDelivery:
    """What ``deliver_input`` did: the record after it, and which keys it took."""

    record: TaskRecord
    accepted: frozenset[str] = field(default_factory=frozenset)
    ignored: frozenset[str] = field(default_factory=frozenset)


class TaskStore:
    """Lifecycle rules over a :class:`StorageBackend`.

    Every method takes the owner first; a task is only ever reachable by the
    owner it was created for. ``replica`` is the id this process's leases
    carry: a write it makes to a task it holds renews the lease for free.
    ``observers`` hear of tasks the orphan rule fails (audit, telemetry).
    """

    def __init__(
        self,
        backend: StorageBackend,
        policy: StorePolicy | None = None,
        *,
        replica: str = PROCESS_REPLICA_ID,
        max_retries: int = 8,
        codec: RecordCodec | None = None,
        observers: Observers | None = None,
    ) -> None:
        self.backend = backend
        self.codec = codec if codec is not None else RecordCodec()
        self.policy = policy if policy is not None else StorePolicy()
        self.replica = replica
        self.max_retries = max_retries
        self.observers = observers if observers is not None else Observers.quiet(replica=replica)
        self._skew = SkewWatch(self.policy.clock_skew_margin_ms)

    @property
    def clock(self) -> Callable[[], int]:
        return self.backend.clock

    def effective_ttl_ms(self, requested_ms: int | None) -> int | None:
        """The TTL the server grants for a request (``None`` = unlimited); see the policy."""
        return self.policy.effective_ttl_ms(requested_ms)

    async def create(
        self,
        owner: str,
        request: ToolRequest,
        *,
        ttl_ms: int | None = None,
        tool_error_status: TaskStatus = TaskStatus.FAILED,
        replica: str | None = None,
        lease_ms: int | None = None,
        max_attempts: int = 1,
        trace_context: dict[str, str] | None = None,
    ) -> TaskRecord:
        """Store a new ``working`` task and return it. One conditional write.

        ``replica`` names the replica that will run it (or the queued marker):
        the record holds its lease, ``lease_ms`` long (default: the policy's),
        from the start, in the same write. ``max_attempts`` above 1 lets an
        orphan run again (idempotent tools). ``trace_context``: the creating
        request's span.

        Refused with ``QuotaExceeded`` at the owner's quota and
        ``GlobalCapReached`` at the global cap, with nothing stored. A backend
        that checked only part of the cap (one shard of several) gets one more
        try with a new id, which is counted elsewhere.
        """
        if not owner:
            raise InvalidArgument("owner must not be empty")
        if tool_error_status not in (TaskStatus.FAILED, TaskStatus.COMPLETED):
            raise InvalidArgument("tool_error_status must be failed or completed")
        self.policy.check_request(request)
        ttl = self.effective_ttl_ms(ttl_ms)
        lease = self.policy.lease_ms if lease_ms is None else lease_ms
        for attempt in range(3):  # an id collision needs 2**130 luck; retrying is still right
            now = self.clock()
            lease_until = None if replica is None else now + lease
            record = TaskRecord(
                task_id=new_task_id(now),
                owner=owner,
                created_at_ms=now,
                last_updated_at_ms=now,
                ttl_ms=ttl,
                expires_at_ms=self._expiry(ttl, now, lease_until),
                poll_interval_ms=self.policy.poll_interval_ms,
                request=request,
                tool_error_status=tool_error_status,
                replica=replica,
                lease_expires_at_ms=lease_until,
                max_attempts=max_attempts,
                trace_context=trace_context,
                version=1,
            )
            if await self._store_new(record, may_move=attempt == 0):
                return record
        raise ConcurrentModification("could not allocate a unique task id")

    async def _store_new(self, record: TaskRecord, *, may_move: bool) -> bool:
        """Store a new record under both limits. False when another id may succeed: a
        collision, or (if ``may_move``) a refusal by one full shard of several."""
        stored = await self.codec.encode(record)
        with backend_errors():
            try:
                await self.backend.create(
                    stored,
                    max_active=self.policy.max_active_tasks_per_owner or None,
                    max_total_active=self.policy.max_active_tasks or None,
                )
            except RecordExists:
                return False
            except GlobalCapReached as full:
                if not (may_move and full.partial):
                    raise
                return False
        return True

    async def get(self, owner: str, task_id: str) -> TaskRecord:
        """The task as stored now. One strongly consistent read."""
        if not is_valid_task_id(task_id):
            raise TaskNotFound(task_id)
        with backend_errors():
            try:
                stored = await self.backend.get(owner, task_id)
            except RecordNotFound:
                raise TaskNotFound(task_id) from None
        return await self.settle_orphan(await self._decode(stored, owner, task_id))

    async def list(
        self, owner: str, *, cursor: str | None = None, limit: int | None = None
    ) -> TaskPage:
        """One page of the owner's live tasks, newest first. One request."""
        page_size = self.policy.list_page_size
        if limit is not None:
            page_size = max(1, min(limit, page_size))
        with backend_errors():
            page = await self.backend.list(owner, limit=page_size, cursor=cursor)
        now = self.clock()
        records = []
        for stored in page.records:
            if stored.is_expired(now):
                continue
            with contextlib.suppress(TaskNotFound):  # a body that does not open is not listed
                record = await self._decode(stored, owner, stored.task_id)
                records.append(await self.settle_orphan(record))
        return TaskPage(records, page.next_cursor)

    # ------------------------------------------------------------------ leases

    async def settle_orphan(self, record: TaskRecord) -> TaskRecord:
        """``record``, or, if its replica's lease ran out, the task failed for that.

        The one place the orphan rule (``lifecycle.orphan_failure``) is applied:
        every read and the orphan sweep go through it. Free unless the task is
        an orphan; then one conditional write, which exactly one replica wins.
        """
        now = self.clock()
        self._skew.notice(record, now)
        # Another replica's clock may run behind ours: its lease counts as
        # over only once the skew margin has passed too.
        deadline = now - self.policy.clock_skew_margin_ms
        if not record.is_orphaned(deadline):
            return record
        change = orphan_failure(deadline)
        settled = await self._change(record.owner, record.task_id, change, record)
        if settled.is_terminal and settled.error == ORPHAN_ERROR:
            self.observers.settled(settled)
            task, replica = self.observers.ids.task(record.task_id), record.replica
            logger.warning("task %s failed: its replica's lease ran out (%s)", task, replica)
        return settled

    async def renew_lease(self, record: TaskRecord, replica: str) -> TaskRecord:
        """Extend ``replica``'s lease on an unfinished task (and its expiry): one conditional write.

        Returns the record unchanged when another replica holds the lease now;
        raises ``TaskTerminal`` when the task has finished meanwhile.
        """
        change = lifecycle.lease_renewal(replica, self.clock, self.policy.lease_ms)
        return await self._change(record.owner, record.task_id, change, record)

    async def apply(self, record: TaskRecord, change: Change) -> TaskRecord:
        """Apply a :mod:`~mcp_tasks_server.core.lifecycle` change (a claim, a re-run): one write."""
        return await self._change(record.owner, record.task_id, change, record)

    # ------------------------------------------------------------------ changes

    async def update(
        self,
        owner: str,
        task_id: str,
        *,
        status_message: str | None = _UNSET,
        progress: Progress | None = _UNSET,
        known: TaskRecord | None = None,
    ) -> TaskRecord:
        """Change the status message and/or progress of an unfinished task."""
        fields: dict[str, Any] = {}
        if status_message is not _UNSET:
            self.policy.check_message(status_message)
            fields["status_message"] = status_message
        if progress is not _UNSET:
            fields["progress"] = progress
        return await self._change(owner, task_id, lifecycle.status_update(fields), known)

    async def complete(
        self,
        owner: str,
        task_id: str,
        result: Mapping[str, Any],
        *,
        status_message: str | None = None,
        known: TaskRecord | None = None,
    ) -> TaskRecord:
        """Finish the task with a ``CallToolResult``.

        A result with ``isError: true`` ends the task in the status it was
        created to use for tool errors (``failed`` or ``completed``).
        """
        result = dict(result)
        self.policy.check_size("result", result, self.policy.max_result_bytes)
        self.policy.check_message(status_message)
        why = None
        if result.get("isError"):
            limit = self.policy.max_status_message_bytes
            why = truncate_utf8(lifecycle.tool_error_message(result), limit)
        change = lifecycle.completion(result, status_message, why)
        return await self._change(owner, task_id, change, known)

    async def fail(
        self,
        owner: str,
        task_id: str,
        error: Mapping[str, Any],
        *,
        status_message: str | None = None,
        known: TaskRecord | None = None,
    ) -> TaskRecord:
        """Finish the task as ``failed`` with a JSON-RPC error object ``{code, message}``."""
        error = dict(error)
        if not isinstance(error.get("code"), int) or not isinstance(error.get("message"), str):
            raise InvalidArgument("error must be a JSON-RPC error object with code and message")
        self.policy.check_size("error", error, self.policy.max_error_bytes)
        message = status_message if status_message is not None else error["message"]
        if not message.strip():
            message = f"The task failed with error {error['code']}"
        message = truncate_utf8(message, self.policy.max_status_message_bytes)
        return await self._change(owner, task_id, lifecycle.failure(error, message), known)

    async def cancel(
        self,
        owner: str,
        task_id: str,
        *,
        status_message: str | None = lifecycle.CANCELLED_MESSAGE,
        known: TaskRecord | None = None,
    ) -> TaskRecord:
        """Move the task to ``cancelled``. A finished task raises ``TaskTerminal``."""
        self.policy.check_message(status_message)
        return await self._change(owner, task_id, lifecycle.cancellation(status_message), known)

    async def request_input(
        self,
        owner: str,
        task_id: str,
        requests: Mapping[str, InputRequest],
        *,
        status_message: str | None = None,
        known: TaskRecord | None = None,
    ) -> TaskRecord:
        """Park a ``working`` task in ``input_required`` with the given requests.

        Keys are unique for the task's lifetime: a key already used by an
        earlier round is refused.
        """
        if not requests:
            raise InvalidArgument("at least one input request is needed")
        payload = {key: value.model_dump() for key, value in requests.items()}
        self.policy.check_size("input requests", payload, self.policy.max_input_bytes)
        self.policy.check_message(status_message)
        change = lifecycle.input_request(requests, status_message)
        return await self._change(owner, task_id, change, known)

    async def deliver_input(
        self, owner: str, task_id: str, responses: Mapping[str, Any]
    ) -> InputDelivery:
        """Store answers to outstanding input requests.

        Keys that are not outstanding are ignored, as the 2026 extension asks.
        A partial answer keeps the task ``input_required``; once every request
        is answered it moves back to ``working``, where its tool resumes.
        """
        responses = dict(responses)
        self.policy.check_size("input responses", responses, self.policy.max_input_bytes)
        outcome: dict[str, frozenset[str]] = {}
        change = lifecycle.input_delivery(responses, outcome)
        record = await self._change(owner, task_id, change, None)
        accepted = outcome.get("accepted", frozenset())
        return InputDelivery(record, accepted, frozenset(responses) - accepted)

    @property
    def expires_natively(self) -> bool:  # no expiry sweep needed
        return self.backend.expires_natively

    async def sweep_expired(self) -> int:
        """Remove expired records once; returns how many. One backend sweep."""
        with backend_errors():
            return await self.backend.sweep_expired()

    async def orphan_page(self, *, limit: int, cursor: str | None = None) -> TaskPage:
        """One page of candidate orphans across all owners, for the orphan sweep. One request.

        The records are unfinished tasks whose lease has run out as the
        backend sees it; :meth:`settle_orphan` decides. Expired ones are left out.
        """
        with backend_errors():
            page = await self.backend.list_orphans(limit=limit, cursor=cursor)
        records = []
        for stored in page.records:
            try:
                records.append(await self._decode(stored, stored.owner, stored.task_id))
            except TaskNotFound:
                continue  # expired or unreadable: nobody can see it, expiry removes it
        return TaskPage(records, page.next_cursor)

    # ------------------------------------------------------------------ internals

    async def _change(
        self, owner: str, task_id: str, change: Change, known: TaskRecord | None
    ) -> TaskRecord:
        """Apply ``change`` with one conditional write, re-running it on a lost race."""
        current = known if known is not None else await self.get(owner, task_id)
        for _ in range(self.max_retries + 1):
            updated = change(current)
            if updated is current:
                return current
            now = max(self.clock(), current.last_updated_at_ms)
            stamp: dict[str, Any] = {"version": current.version + 1, "last_updated_at_ms": now}
            if updated.is_active and updated.replica == self.replica:
                # Any write by the lease replica renews its lease at no extra cost.
                stamp["lease_expires_at_ms"] = lease_until = now + self.policy.lease_ms
                stamp["expires_at_ms"] = self._expiry(updated.ttl_ms, now, lease_until)
            elif updated.is_terminal and not current.is_terminal:
                stamp["expires_at_ms"] = self._expiry(updated.ttl_ms, now, None)
            updated = updated.model_copy(update=stamp)
            stored = await self.codec.encode(updated)
            with backend_errors():
                try:
                    await self.backend.replace(stored, current.version)
                except RecordNotFound:
                    raise TaskNotFound(task_id) from None
                except VersionConflict as conflict:
                    if conflict.current is None:
                        current = await self.get(owner, task_id)
                    else:
                        current = await self._decode(conflict.current, owner, task_id)
                    continue
            return updated
        raise ConcurrentModification(
            f"Task {task_id} kept changing underneath {self.max_retries + 1} attempts"
        )

    def _expiry(self, ttl_ms: int | None, now: int, lease_until: int | None) -> int | None:
        return task_expiry(self.policy, ttl_ms, now, lease_until)

    async def _decode(self, stored: StoredRecord, owner: str, task_id: str) -> TaskRecord:
        return await self.codec.decode(stored, owner, task_id, self.clock())
