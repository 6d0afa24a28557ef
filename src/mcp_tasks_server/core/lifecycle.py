"""What each store operation does to a task, as a pure function of its record.

A :data:`Change` turns the task's current record into the next one, or
raises if the state machine forbids it. It must depend on nothing but that
record (and values fixed before the write), because the store's conditional
write re-runs it against the winner's record whenever it loses a race: that
re-run is what settles races. A change that returns its input unchanged
means "nothing to write", and costs no request.

Arguments are validated (sizes, shapes) by :class:`~mcp_tasks_server.store.TaskStore`
once, before any change is built; what is checked here is only what depends
on the task's current state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mcp_tasks_server.core.errors import (
    INTERNAL_ERROR,
    InvalidArgument,
    InvalidTransition,
    NotClaimable,
    TaskTerminal,
)
from mcp_tasks_server.core.model import InputRequest, TaskRecord, TaskStatus

__all__ = [
    "CANCELLED_MESSAGE",
    "INTERNAL_ERROR",
    "ORPHAN_ERROR",
    "QUEUED_REPLICA",
    "SESSION_ENDED_MESSAGE",
    "STOPPED_MESSAGE",
    "TOOL_ERROR_MESSAGE",
    "Change",
    "cancellation",
    "claim",
    "completion",
    "failure",
    "input_delivery",
    "input_request",
    "lease_renewal",
    "no_worker_message",
    "orphan_failure",
    "require_transition",
    "run_again",
    "status_update",
    "tool_error_message",
]

Change = Callable[[TaskRecord], TaskRecord]
"""Turns the current record into the next one, or raises if it may not change."""

STOPPED_MESSAGE = (
    "The server running this task stopped or lost contact with the task store before it "
    "finished; the tool may have partly run"
)
ORPHAN_ERROR: dict[str, Any] = {"code": INTERNAL_ERROR, "message": STOPPED_MESSAGE}

CANCELLED_MESSAGE = "Cancelled by request"
"""The status message of a task a client (or an operator) cancelled."""

SESSION_ENDED_MESSAGE = (
    "Cancelled because the HTTP session that created this task ended: no client could reach "
    "it any more"
)
"""The status message of a task cancelled because its owning session ended."""

QUEUED_REPLICA = "@queue"
"""The lease holder of a task waiting in a queue: no replica runs it until a worker claims it.

Its lease expiry is the claim timeout, so the orphan rule fails a task
nobody claimed in time (the message was lost, or no worker runs).
"""


def require_transition(current: TaskRecord, target: TaskStatus) -> None:
    """Raise the state machine's error unless ``current`` may move to ``target``."""
    if current.is_terminal:
        raise TaskTerminal(current.status, target)
    if not current.status.can_transition_to(target):
        raise InvalidTransition(current.status, target)


def status_update(changes: dict[str, Any]) -> Change:
    """Set the status message and/or progress of an unfinished task."""

    def change(current: TaskRecord) -> TaskRecord:
        if current.is_terminal:
            raise TaskTerminal(current.status)
        return current.model_copy(update=changes)

    return change


def completion(
    result: dict[str, Any], status_message: str | None, tool_error_message: str | None = None
) -> Change:
    """Finish with ``result``: ``isError`` ends in the task's tool-error status.

    A task that ends ``failed`` always says why: without a status message of
    its own it gets ``tool_error_message`` (see :func:`tool_error_message`).
    """

    def change(current: TaskRecord) -> TaskRecord:
        target = current.tool_error_status if result.get("isError") else TaskStatus.COMPLETED
        require_transition(current, target)
        message = status_message
        if message is None and target is TaskStatus.FAILED:
            message = tool_error_message or TOOL_ERROR_MESSAGE
        return current.model_copy(
            update={
                "status": target,
                "status_message": message,
                "result": result,
                "input_requests": {},
            }
        )

    return change


TOOL_ERROR_MESSAGE = "The tool reported an error"


def tool_error_message(result: Mapping[str, Any]) -> str:
    """Why a tool-error result failed its task: the result's first text, else a generic reason."""
    for block in result.get("content") or ():
        if isinstance(block, Mapping) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str) and text.strip():
                return text.strip()
    return TOOL_ERROR_MESSAGE


def failure(error: dict[str, Any], status_message: str) -> Change:
    """Finish as ``failed`` with a JSON-RPC error object."""

    def change(current: TaskRecord) -> TaskRecord:
        require_transition(current, TaskStatus.FAILED)
        return current.model_copy(
            update={
                "status": TaskStatus.FAILED,
                "status_message": status_message,
                "error": error,
                "input_requests": {},
            }
        )

    return change


def cancellation(status_message: str | None) -> Change:
    """Move to ``cancelled``; a finished task raises ``TaskTerminal``."""

    def change(current: TaskRecord) -> TaskRecord:
        require_transition(current, TaskStatus.CANCELLED)
        return current.model_copy(
            update={
                "status": TaskStatus.CANCELLED,
                "status_message": status_message,
                "input_requests": {},
            }
        )

    return change


def input_request(requests: Mapping[str, InputRequest], status_message: str | None) -> Change:
    """Park a ``working`` task in ``input_required``; input keys are never reused."""

    def change(current: TaskRecord) -> TaskRecord:
        require_transition(current, TaskStatus.INPUT_REQUIRED)
        used = set(current.retired_input_keys) | set(current.input_responses)
        reused = used.intersection(requests)
        if reused:
            raise InvalidArgument(f"input keys already used: {', '.join(sorted(reused))}")
        return current.model_copy(
            update={
                "status": TaskStatus.INPUT_REQUIRED,
                "status_message": status_message,
                "input_requests": dict(requests),
            }
        )

    return change


def input_delivery(responses: Mapping[str, Any], outcome: dict[str, frozenset[str]]) -> Change:
    """Take the answers to outstanding requests; back to ``working`` once all are in.

    Which keys were taken depends on the record the write finally meets, so
    the change reports them in ``outcome["accepted"]`` on every run; the last
    run's value is the one that was stored.
    """

    def change(current: TaskRecord) -> TaskRecord:
        accepted = frozenset(responses).intersection(current.input_requests)
        outcome["accepted"] = accepted
        if not accepted:
            return current
        remaining = {
            key: request for key, request in current.input_requests.items() if key not in accepted
        }
        updates: dict[str, Any] = {
            "input_requests": remaining,
            "input_responses": {
                **current.input_responses,
                **{key: responses[key] for key in accepted},
            },
            "retired_input_keys": (*current.retired_input_keys, *sorted(accepted)),
        }
        if not remaining:
            updates["status"] = TaskStatus.WORKING
            updates["status_message"] = None
        return current.model_copy(update=updates)

    return change


def lease_renewal(replica: str, clock: Callable[[], int], lease_ms: int) -> Change:
    """Extend ``replica``'s lease; a lease another replica holds now is left alone."""

    def change(current: TaskRecord) -> TaskRecord:
        if current.is_terminal:
            raise TaskTerminal(current.status)
        if current.replica != replica:
            return current
        renewed = clock() + lease_ms
        return current.model_copy(update={"lease_expires_at_ms": renewed})

    return change


def no_worker_message(record: TaskRecord) -> str:
    """Why a queued task that no worker claimed in time failed."""
    since = record.last_updated_at_ms
    waited_ms = (record.lease_expires_at_ms or since) - since
    return f"No worker took this task within {max(0, waited_ms) / 1000:g} seconds"


def orphan_failure(now_ms: int) -> Change:
    """Fail a task whose replica's lease ran out by ``now_ms`` (an orphan).

    Re-checked against whatever record the conditional write meets, so a
    lease renewed, or a task finished, meanwhile is left as it is. A queued
    task nobody claimed fails with its own reason; an orphan that may run
    again (an idempotent tool's) is left for the orphan sweep to re-run.
    """
    fail = failure(dict(ORPHAN_ERROR), STOPPED_MESSAGE)

    def change(current: TaskRecord) -> TaskRecord:
        if not current.is_orphaned(now_ms):
            return current
        if current.replica == QUEUED_REPLICA:
            message = no_worker_message(current)
            return failure({"code": INTERNAL_ERROR, "message": message}, message)(current)
        if current.can_run_again:
            return current
        return fail(current)

    return change


def claim(worker: str, attempt: int, now_ms: int, lease_ms: int) -> Change:
    """A worker takes a queued task: only the queued marker of this very attempt can be taken.

    Raises ``NotClaimable`` for everything else (finished, claimed already,
    another attempt's message, or a claim timeout that ran out), so a
    redelivered or late message never runs a tool twice.
    """

    def change(current: TaskRecord) -> TaskRecord:
        if current.is_terminal:
            raise NotClaimable(f"task {current.task_id} is {current.status}")
        if current.replica != QUEUED_REPLICA:
            raise NotClaimable(f"task {current.task_id} is claimed already")
        if current.attempt != attempt:
            raise NotClaimable(
                f"the message is for attempt {attempt}; task {current.task_id} is at "
                f"attempt {current.attempt}"
            )
        if current.is_orphaned(now_ms):
            raise NotClaimable(f"task {current.task_id} waited longer than its claim timeout")
        return current.model_copy(
            update={"replica": worker, "lease_expires_at_ms": now_ms + lease_ms}
        )

    return change


def run_again(now_ms: int, *, to: str, lease_ms: int, held_by: str | None = None) -> Change:
    """Start the next attempt of a task that may run again: queued (``to=QUEUED_REPLICA``) or here.

    Without ``held_by`` only an orphan qualifies (the orphan sweep); with it,
    only a task that replica still holds (a worker whose time runs out).
    Raises ``NotClaimable`` otherwise, so exactly one writer starts the next
    attempt. The new attempt starts from scratch: outstanding input requests
    are dropped, and the status is ``working``.
    """

    def change(current: TaskRecord) -> TaskRecord:
        if current.is_terminal:
            raise NotClaimable(f"task {current.task_id} is {current.status}")
        if not current.can_run_again:
            raise NotClaimable(f"task {current.task_id} had its {current.max_attempts} attempts")
        if held_by is None:
            if current.replica == QUEUED_REPLICA or not current.is_orphaned(now_ms):
                raise NotClaimable(f"task {current.task_id} is not an orphan")
        elif current.replica != held_by:
            raise NotClaimable(f"task {current.task_id} is held by another replica")
        return current.model_copy(
            update={
                "replica": to,
                "lease_expires_at_ms": now_ms + lease_ms,
                "attempt": current.attempt + 1,
                "status": TaskStatus.WORKING,
                "status_message": None,
                "input_requests": {},
            }
        )

    return change
