"""The audit trail: one structured event per create, cancel, answer and finish.

Events go to their own logger, :data:`AUDIT_LOGGER`, so operators can route
them apart (another file, a longer retention, a SIEM) with ordinary logging
configuration. Every event is one INFO record whose fields travel in the
record's ``fields`` attribute (set through ``extra=``), for a structured
formatter to emit as they are; the message repeats them for plain-text logs.

What an event never holds: a raw task id, owner key or session id (only the
keyed hashes of :class:`~mcp_tasks_server.observability.redact.LogIds`), and
no payload at all (no arguments, results, answers or status text), because an
audit trail is kept longer and read more widely than the tasks themselves.

This module reads a task record through the :class:`AuditedTask` protocol
rather than importing the model, so it stays free of the layers it audits.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any, Protocol

from mcp_tasks_server.observability.redact import LogIds

__all__ = ["AUDIT_LOGGER", "FIELDS", "AuditEvent", "AuditLog", "AuditedTask"]

AUDIT_LOGGER = "mcp_tasks_server.audit"

FIELDS = "fields"
"""The log record attribute that carries an event's fields (``extra={"fields": {...}}``)."""

_MAX_NAME = 128  # a tool name longer than this is cut: no log line grows with client input


class AuditEvent(StrEnum):
    CREATED = "task.created"
    CANCELLED = "task.cancelled"
    ANSWERED = "task.answered"
    FINISHED = "task.finished"


class AuditedRequest(Protocol):
    @property
    def name(self) -> str: ...


class AuditedTask(Protocol):
    """The parts of a task record an audit event reads (a ``TaskRecord`` has them all)."""

    @property
    def task_id(self) -> str: ...

    @property
    def owner(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def created_at_ms(self) -> int: ...

    @property
    def last_updated_at_ms(self) -> int: ...

    @property
    def request(self) -> AuditedRequest: ...


class AuditLog:
    """Writes audit events for one process (``replica`` names it in every event)."""

    def __init__(self, ids: LogIds, *, replica: str, logger: logging.Logger | None = None) -> None:
        self._ids = ids
        self._replica = replica
        self._logger = logger or logging.getLogger(AUDIT_LOGGER)

    def created(self, task: AuditedTask) -> None:
        """A task was stored (and, in queue mode, enqueued): the create was acknowledged."""
        self._task_event(AuditEvent.CREATED, task, outcome="accepted")

    def cancelled(self, task: AuditedTask) -> None:
        """A cancel request was accepted; ``task`` is the record it left behind."""
        self._task_event(AuditEvent.CANCELLED, task, outcome="accepted")

    def answered(self, task: AuditedTask, *, answers: int) -> None:
        """``answers`` input responses were delivered to ``task`` (their content never is)."""
        self._task_event(AuditEvent.ANSWERED, task, outcome="accepted", answers=answers)

    def finished(self, task: AuditedTask, *, at_ms: int | None = None) -> None:
        """``task`` reached its terminal status (at ``at_ms``, or its last update)."""
        end_ms = task.last_updated_at_ms if at_ms is None else at_ms
        duration_s = max(0, end_ms - task.created_at_ms) / 1000
        self._task_event(AuditEvent.FINISHED, task, outcome=str(task.status), duration_s=duration_s)

    def refused(
        self,
        event: AuditEvent,
        *,
        owner: str,
        reason: str,
        tool_name: str | None = None,
        task_id: str | None = None,
    ) -> None:
        """A create, cancel or answer was refused; ``reason`` is a short code
        (``quota``, ``capacity``, ``storage``, ``running``, ``not_found``, ``terminal``),
        never client text."""
        if not self._logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "event": str(event),
            "outcome": "refused",
            "reason": reason,
            "task": self._ids.task(task_id) if task_id is not None else None,
            "owner": self._ids.owner(owner),
            "owner_kind": _owner_kind(owner),
            "tool": _cut(tool_name) if tool_name is not None else None,
            "replica": self._replica,
        }
        self._emit(fields)

    def _task_event(
        self, event: AuditEvent, task: AuditedTask, *, outcome: str, **more: Any
    ) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "event": str(event),
            "outcome": outcome,
            "task": self._ids.task(task.task_id),
            "owner": self._ids.owner(task.owner),
            "owner_kind": _owner_kind(task.owner),
            "tool": _cut(task.request.name),
            "replica": self._replica,
            "status": str(task.status),
            **more,
        }
        self._emit(fields)

    def _emit(self, fields: dict[str, Any]) -> None:
        shown = " ".join(f"{key}={value}" for key, value in fields.items() if key != "event")
        self._logger.info("%s %s", fields["event"], shown, extra={FIELDS: fields})


def _owner_kind(owner_key: str) -> str:
    """``principal``, ``session``, ``local`` or ``anonymous``: the part of a key that is public."""
    kind = owner_key.split(":", 1)[0]
    return kind if kind.isidentifier() else "other"


def _cut(name: str) -> str:
    """``name`` on one line and at most :data:`_MAX_NAME` characters long."""
    if not name.isprintable():
        name = repr(name)[1:-1]
    return name if len(name) <= _MAX_NAME else name[:_MAX_NAME] + "…"
