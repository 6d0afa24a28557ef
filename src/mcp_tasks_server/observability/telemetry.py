"""Telemetry for a task's whole life: one trace from create to finish, and its metrics.

A task outlives the request that created it and may run in another process (a
queue worker, a Lambda invocation). Its trace still starts in the creating
request: :meth:`Telemetry.inject_trace_context` captures that request's span
as a W3C ``traceparent``, the caller stores it with the task (and in the queue
message), and :meth:`Telemetry.task_run_span` starts ``task.run`` under it,
wherever the task runs. Cancels and answers arrive through other requests;
:meth:`Telemetry.link_current_span` links those requests' spans to the task.

The design constraint: telemetry is optional and must cost nothing when it is
off. Without the ``otel`` extra (the OpenTelemetry SDK),
:func:`configure_telemetry` returns :data:`NOOP_TELEMETRY`, whose methods do
nothing and hand back one shared object: no OpenTelemetry call, no allocation.
Whether OpenTelemetry can be imported is decided once, when this module loads.

With the extra, everything is configured by the standard ``OTEL_*``
environment variables through the SDK's own configurator (exporters, sampler,
resource, endpoint); nothing here reads them. Names follow the MCP SDK, which
already opens a ``SERVER`` span per request (tracer ``mcp-python-sdk``), and
OpenTelemetry's semantic conventions where they exist (``gen_ai.tool.name``,
``db.system.name``, ``db.operation.name``, ``error.type``). Spans and metrics
carry no payloads, and ids only as keyed hashes.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "NOOP_TELEMETRY",
    "OTEL_API_AVAILABLE",
    "OTEL_SDK_AVAILABLE",
    "Telemetry",
    "TimedCall",
    "configure_telemetry",
    "otel_telemetry",
]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        # A parent package that is missing, or hidden by a ``None`` in sys.modules.
        return False


OTEL_API_AVAILABLE = _importable("opentelemetry.trace")
"""The OpenTelemetry API (the MCP SDK depends on it, so it is normally there)."""

OTEL_SDK_AVAILABLE = OTEL_API_AVAILABLE and _importable("opentelemetry.sdk")
"""The OpenTelemetry SDK, which the ``otel`` extra installs: without it nothing is exported."""


class TaskSpan:
    """A span around one step of a task; a context manager that yields itself.

    This base is the no-op: one shared instance serves every call.
    """

    __slots__ = ()

    def __enter__(self) -> TaskSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def set_status(self, status: str) -> None:
        """The task status this step ended in (``completed``, ``failed``, ``cancelled``...)."""


class TimedCall:
    """Times one backend request; the no-op base does nothing."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


_NOOP_SPAN = TaskSpan()
_NOOP_CALL = TimedCall()


class Telemetry:
    """The hooks the server calls over a task's life. This base does nothing.

    ``task_hash`` is always a keyed hash (``LogIds.task``), never a raw id;
    ``parent`` is what :meth:`inject_trace_context` returned when the task was
    created (or ``None`` when nothing was stored).
    """

    enabled = False

    def inject_trace_context(self) -> dict[str, str]:
        """The current span as W3C ``traceparent``/``tracestate``, to store with a new task."""
        return {}

    def task_created(self, tool_name: str) -> None:
        """Count a created task (call once the create is acknowledged)."""

    def task_run_span(
        self,
        tool_name: str,
        task_hash: str,
        parent: Mapping[str, str] | None,
        *,
        queue_wait_s: float | None = None,
    ) -> TaskSpan:
        """The ``task.run`` span around a tool's execution, in the creating request's trace.

        Counts the task as running while the span is open; ``queue_wait_s`` (create
        to claim) is recorded when given.
        """
        return _NOOP_SPAN

    def task_finish_span(
        self,
        tool_name: str,
        task_hash: str,
        status: str,
        *,
        parent: Mapping[str, str] | None,
        duration_s: float,
    ) -> TaskSpan:
        """The ``task.finish`` span around the write of a terminal status.

        Counts the finished task and its duration (create to finish) when the
        block exits normally; a block that raises (the write lost a race, or
        failed) counts nothing.
        """
        return _NOOP_SPAN

    def link_current_span(self, parent: Mapping[str, str] | None, *, reason: str) -> None:
        """Link the current span (a cancel or an answer arriving) to the task's trace."""

    def backend_request(self, operation: str, *, system: str = "aws.dynamodb") -> TimedCall:
        """Time one backend request (``operation`` as the backend names it: ``PutItem``)."""
        return _NOOP_CALL

    def capacity_refused(self, limit: str) -> None:
        """Count a request refused by a capacity limit (``limit``: the limit's short name)."""

    def flush(self, timeout_s: float = 5.0) -> None:
        """Export what is buffered now (before a Lambda invocation returns, say)."""


NOOP_TELEMETRY = Telemetry()


def otel_telemetry(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Telemetry:
    """Telemetry on the given OpenTelemetry providers (the global ones by default).

    For applications that configure OpenTelemetry themselves, and for tests.
    Without the OpenTelemetry API, :data:`NOOP_TELEMETRY`.
    """
    if not OTEL_API_AVAILABLE:
        return NOOP_TELEMETRY
    from mcp_tasks_server.observability._otel import OtelTelemetry

    return OtelTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)


def configure_telemetry(*, instrument_aws: bool = True) -> Telemetry:
    """Set up OpenTelemetry from the ``OTEL_*`` environment; call once at process start.

    Without the ``otel`` extra: :data:`NOOP_TELEMETRY`. With it: the SDK is
    configured by its own configurator, unless the process already has
    providers (started under ``opentelemetry-instrument``, or set up by the
    embedding application), and, with ``instrument_aws``, requests made with
    aiobotocore (DynamoDB, SQS) get client spans.
    """
    if not OTEL_SDK_AVAILABLE:
        return NOOP_TELEMETRY
    from mcp_tasks_server.observability import _otel

    if not (_otel.has_provider() or telemetry_requested(os.environ)):
        # Installed but not asked for: configuring the SDK's defaults would send
        # spans to an OTLP collector nobody runs, and trace context to clients.
        return NOOP_TELEMETRY
    _otel.configure_from_environment(instrument_aws=instrument_aws)
    return _otel.OtelTelemetry()


_REQUESTING_VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def telemetry_requested(environ: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` variables ask for telemetry: an exporter or an OTLP endpoint,
    and the SDK not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() not in ("", "none") for name in _REQUESTING_VARIABLES)
