"""The task model: statuses, the transition table, task ids and the stored record.

Everything here is protocol-neutral. The two MCP eras spell the same task
differently on the wire (``ttl`` vs ``ttlMs``, nested vs flat results); the
protocol adapters translate, this module only says what a task *is*.

Times are integer milliseconds since the Unix epoch (UTC). Keeping them as
integers makes expiry checks exact and cheap, and makes records byte-stable
when they round-trip through a backend.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from mcp_tasks_server.core.errors import INTERNAL_ERROR

__all__ = [
    "PROCESS_REPLICA_ID",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "InputRequest",
    "Progress",
    "TaskRecord",
    "TaskStatus",
    "ToolRequest",
    "is_valid_task_id",
    "new_task_id",
    "now_ms",
]

# One per process: two processes never share it, so a restarted replica
# never mistakes an earlier process's lease for its own.
PROCESS_REPLICA_ID = f"{socket.gethostname()[:48]}-{os.getpid()}-{secrets.token_hex(4)}"
"""The replica id leases carry when none is configured."""


class TaskStatus(StrEnum):
    """The five states of a task, spelled as both protocol eras spell them."""

    WORKING = "working"
    INPUT_REQUIRED = "input_required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    def can_transition_to(self, target: TaskStatus) -> bool:
        """Whether the spec allows moving from this status to ``target``.

        Self-transitions are not transitions: a task that stays ``working``
        while its status message changes is an *update*, not a move.
        """
        return target in TRANSITIONS[self]


TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

# The spec's table (2025-11-25 "Task Status Lifecycle", unchanged in SEP-2663).
TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.WORKING: frozenset(
        {
            TaskStatus.INPUT_REQUIRED,
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
        }
    ),
    TaskStatus.INPUT_REQUIRED: frozenset(
        {TaskStatus.WORKING, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch (UTC)."""
    return time.time_ns() // 1_000_000


# Crockford base32, lower case: URL-safe, no ambiguous letters, sorts like the
# numbers it encodes.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ALPHABET_SET = frozenset(_ALPHABET)
_TIME_CHARS = 10  # 50 bits: milliseconds until the year 37648
_RANDOM_BITS = 130  # 26 characters; the spec asks for at least 122 random bits
_ID_CHARS = _TIME_CHARS + _RANDOM_BITS // 5


def new_task_id(at_ms: int | None = None) -> str:
    """A fresh task id: 10 characters of creation time, then 130 random bits.

    The time prefix makes lexicographic order creation order, so a backend can
    list newest-first straight off its key order. The random suffix comes from
    ``secrets`` so ids cannot be guessed: on an unauthenticated server the id
    is the only thing that keeps one caller out of another's task.
    """
    stamp = now_ms() if at_ms is None else at_ms
    value = (stamp << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)
    chars = []
    for _ in range(_ID_CHARS):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_valid_task_id(task_id: str) -> bool:
    """Whether ``task_id`` has the shape :func:`new_task_id` produces.

    Checked before any backend request, so a malformed id costs nothing and
    can never reach a storage key.
    """
    return len(task_id) == _ID_CHARS and all(c in _ALPHABET_SET for c in task_id)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolRequest(_Frozen):
    """The request that created the task: which tool, with which arguments.

    A 2026-07-28 call to a tool with ``Resolve(...)`` parameters may answer
    the tool's questions before the task exists (multi-round input). The
    request then also carries those answers (``inputResponses``) and the
    opened ``requestState`` of the round that created the task, so that a run
    anywhere (a queue worker, a re-run) resolves the same values without
    asking again.
    """

    method: str = "tools/call"
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    input_responses: dict[str, Any] | None = None
    request_state: str | None = None

    @property
    def answered_before_the_task(self) -> bool:
        return self.input_responses is not None or self.request_state is not None


class Progress(_Frozen):
    """The last progress a tool reported (the shape of ``notifications/progress``)."""

    progress: float
    total: float | None = None
    message: str | None = None


class InputRequest(_Frozen):
    """A request the task makes of its client while it is ``input_required``.

    ``method`` is the MCP method the client would serve (for example
    ``elicitation/create``), ``params`` its params.
    """

    method: str
    params: dict[str, Any] = Field(default_factory=dict)


class TaskRecord(_Frozen):
    """Everything the server keeps about one task.

    ``version`` belongs to the storage layer: it is filled in from the backend
    on every read and is not part of the serialized body.
    """

    task_id: str
    owner: str
    status: TaskStatus = TaskStatus.WORKING
    status_message: str | None = None
    progress: Progress | None = None
    created_at_ms: int
    last_updated_at_ms: int
    ttl_ms: int | None
    expires_at_ms: int | None
    poll_interval_ms: int
    request: ToolRequest
    # What a tool error turns into. The eras disagree: 2025-11-25 calls it
    # ``failed``, the 2026 extension ``completed`` with ``isError`` inlined.
    tool_error_status: TaskStatus = TaskStatus.FAILED
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    input_requests: dict[str, InputRequest] = Field(default_factory=dict)
    input_responses: dict[str, Any] = Field(default_factory=dict)
    # Keys used by earlier rounds of input; the spec makes keys unique for the
    # task's lifetime, so a key may never be asked twice.
    retired_input_keys: tuple[str, ...] = ()
    # The lease of the replica running the task: who, and until when. An
    # unfinished task whose lease ran out lost its replica (see docs/distributed.md).
    #: The replica whose lease the task is under (stored as ``lease_owner``).
    replica: str | None = Field(
        default=None,
        validation_alias=AliasChoices("lease_owner", "replica"),
        serialization_alias="lease_owner",
    )
    lease_expires_at_ms: int | None = None
    #: Which run of the task this is (1 for the first); a re-queued or re-run task counts up.
    attempt: int = Field(default=1, ge=1)
    #: The most runs the task may get: above 1 only for idempotent tools (orphans re-run).
    max_attempts: int = Field(default=1, ge=1)
    # W3C trace context of the request that created the task (``traceparent``,
    # ``tracestate``), so the run joins that trace wherever it happens.
    trace_context: dict[str, str] | None = None
    version: int = Field(default=0, exclude=True)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_active(self) -> bool:
        """Active tasks count toward the per-owner quota."""
        return not self.status.is_terminal

    def is_expired(self, at_ms: int) -> bool:
        return self.expires_at_ms is not None and at_ms >= self.expires_at_ms

    def is_orphaned(self, at_ms: int) -> bool:
        """Unfinished, and the lease of the replica running it has run out."""
        return (
            self.is_active
            and self.lease_expires_at_ms is not None
            and at_ms >= self.lease_expires_at_ms
        )

    @property
    def can_run_again(self) -> bool:
        """Whether an orphan of this task is re-run (re-queued) rather than failed."""
        return self.attempt < self.max_attempts

    def failure_error(self) -> dict[str, Any]:
        """The JSON-RPC error object a failed task answers with.

        The stored one; a failed record without one (the store always keeps
        one, so only a record written some other way) gets -32603 with the
        status message, or a generic reason.
        """
        return self.error or {
            "code": INTERNAL_ERROR,
            "message": self.status_message or "The task failed",
        }

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=True, by_alias=True)

    @classmethod
    def from_json(cls, data: str, version: int) -> TaskRecord:
        return cls.model_validate_json(data).model_copy(update={"version": version})
