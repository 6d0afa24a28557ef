"""What operators see of a running server: redacted logs, an audit trail, telemetry.

* :mod:`~mcp_tasks_server.observability.redact`: ids as keyed hashes, and a
  logging filter that rewrites the ids third-party code logs in clear;
* :mod:`~mcp_tasks_server.observability.audit`: one structured event per
  create, cancel, answer and finish, on its own logger;
* :mod:`~mcp_tasks_server.observability.telemetry`: one OpenTelemetry trace
  per task from create to finish, and its metrics; a no-op without the
  ``otel`` extra;
* :mod:`~mcp_tasks_server.observability.observers`: both, as the task
  lifecycle calls them (one call per step).

Nothing here reads settings or the environment (apart from OpenTelemetry's own
``OTEL_*`` variables, which its SDK reads): the entry points build these
objects and hand them down.
"""

from mcp_tasks_server.observability.audit import AUDIT_LOGGER, FIELDS, AuditEvent, AuditLog
from mcp_tasks_server.observability.observers import ObservedTask, Observers
from mcp_tasks_server.observability.redact import (
    LogIds,
    RedactingFilter,
    quiet_sdk_session_logs,
    short_hash,
)
from mcp_tasks_server.observability.telemetry import (
    NOOP_TELEMETRY,
    TaskSpan,
    Telemetry,
    TimedCall,
    configure_telemetry,
    otel_telemetry,
)

__all__ = [
    "AUDIT_LOGGER",
    "FIELDS",
    "NOOP_TELEMETRY",
    "AuditEvent",
    "AuditLog",
    "LogIds",
    "ObservedTask",
    "Observers",
    "RedactingFilter",
    "TaskSpan",
    "Telemetry",
    "TimedCall",
    "configure_telemetry",
    "otel_telemetry",
    "quiet_sdk_session_logs",
    "short_hash",
]
