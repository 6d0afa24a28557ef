"""``Observers``: the audit trail and the telemetry, as the task lifecycle calls them.

The runtime and the store call one method of this class at each step of a
task's life (created, refused, run, finished, cancelled, answered); each step
feeds both the audit log and the telemetry, so a hook point in the code is
one line, and the two can never disagree about what happened.

Built once at an entry point from :class:`LogIds`, a :class:`Telemetry` and
an :class:`AuditLog`, and handed down as a constructor argument. The default,
:meth:`Observers.quiet`, audits to its logger (silent unless logging enables
it) and exports nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from mcp_tasks_server.observability.audit import AuditedTask, AuditEvent, AuditLog
from mcp_tasks_server.observability.redact import LogIds
from mcp_tasks_server.observability.telemetry import NOOP_TELEMETRY, TaskSpan, Telemetry

__all__ = ["ObservedTask", "Observers"]


class ObservedTask(AuditedTask, Protocol):
    """A task record as the observers read it: the audited parts and its trace context."""

    @property
    def trace_context(self) -> Mapping[str, str] | None: ...


@dataclass(frozen=True, slots=True)
class Observers:
    ids: LogIds
    telemetry: Telemetry
    audit: AuditLog

    @classmethod
    def quiet(cls, *, replica: str, ids: LogIds | None = None) -> Observers:
        """Audit events on their logger, no telemetry."""
        ids = ids if ids is not None else LogIds()
        return cls(ids, NOOP_TELEMETRY, AuditLog(ids, replica=replica))

    # ------------------------------------------------------------ create

    def trace_context(self) -> dict[str, str] | None:
        """The creating request's span, to store with a new task (``None`` without one)."""
        return self.telemetry.inject_trace_context() or None

    def created(self, task: ObservedTask) -> None:
        self.telemetry.task_created(task.request.name)
        self.audit.created(task)

    def refused(
        self,
        event: AuditEvent,
        *,
        owner: str,
        reason: str,
        tool_name: str | None = None,
        task_id: str | None = None,
    ) -> None:
        """A request refused; ``quota``, ``capacity`` (the global cap on unfinished tasks),
        ``storage`` and ``running`` (the replica runs its most tasks) count as capacity
        refusals."""
        if reason in ("quota", "capacity", "storage", "running"):
            self.telemetry.capacity_refused(reason)
        self.audit.refused(event, owner=owner, reason=reason, tool_name=tool_name, task_id=task_id)

    # ------------------------------------------------------------ run and finish

    def run_span(self, task: ObservedTask, *, queue_wait_s: float | None = None) -> TaskSpan:
        """``task.run`` around the tool, in the trace of the request that created the task;
        ``queue_wait_s`` (a worker's task) is recorded as the queue wait."""
        return self.telemetry.task_run_span(
            task.request.name,
            self.ids.task(task.task_id),
            task.trace_context,
            queue_wait_s=queue_wait_s,
        )

    def finish_span(self, task: ObservedTask, status: str) -> AbstractContextManager[TaskSpan]:
        """``task.finish`` around the write of a final status (counted if the block succeeds)."""
        return self.telemetry.task_finish_span(
            task.request.name,
            self.ids.task(task.task_id),
            status,
            parent=task.trace_context,
            duration_s=max(0.0, time.time() - task.created_at_ms / 1000),
        )

    def finished(self, task: ObservedTask) -> None:
        """The audit event of a final status written inside :meth:`finish_span`."""
        self.audit.finished(task)

    def settled(self, task: ObservedTask) -> None:
        """A final status written outside the run (an orphan failed, a shutdown):
        counted, traced and audited in one go."""
        with self.finish_span(task, str(task.status)):
            pass
        self.audit.finished(task)

    # ------------------------------------------------------------ other requests

    def cancelled(self, task: ObservedTask) -> None:
        """A cancel request moved ``task`` to ``cancelled``: that is its finish too."""
        self.telemetry.link_current_span(task.trace_context, reason="cancel")
        self.audit.cancelled(task)
        self.settled(task)

    def answered(self, task: ObservedTask, *, answers: int) -> None:
        self.telemetry.link_current_span(task.trace_context, reason="answer")
        self.audit.answered(task, answers=answers)
