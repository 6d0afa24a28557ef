"""The OpenTelemetry side of :mod:`mcp_tasks_server.observability.telemetry`.

Imported only when the OpenTelemetry API is there; everything here speaks the
API alone, so spans and metrics go to whatever providers the process has (the
SDK's, configured from ``OTEL_*``, or the proxies that drop everything until a
provider is set). The SDK itself is reached only in
:func:`configure_from_environment`, by module name, since it is optional.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import Token
from functools import partial
from importlib import metadata
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Link, SpanKind, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import INVALID_SPAN_CONTEXT, Span, SpanContext

from mcp_tasks_server.observability.telemetry import TaskSpan, Telemetry, TimedCall

__all__ = ["OtelTelemetry", "configure_from_environment"]

logger = logging.getLogger("mcp_tasks_server.observability")

SCOPE = "mcp_tasks_server"

# Attribute names. Semantic conventions where they exist; the rest under this
# project's own namespace (there are none for tasks).
TOOL_NAME = "gen_ai.tool.name"
OPERATION_NAME = "gen_ai.operation.name"
ERROR_TYPE = "error.type"
DB_SYSTEM_NAME = "db.system.name"
DB_OPERATION_NAME = "db.operation.name"
TASK_HASH = "mcp_tasks.task.hash"
TASK_STATUS = "mcp_tasks.task.status"
LINK_REASON = "mcp_tasks.link.reason"
LIMIT = "mcp_tasks.limit"

# Bucket boundaries in seconds. The SDK's default buckets suit milliseconds.
_BACKEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
_TASK_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)

# Only W3C trace context is stored with a task: baggage would copy whatever a
# client put in it into every task record and queue message.
_PROPAGATOR = TraceContextTextMapPropagator()


def _version() -> str:
    try:
        return metadata.version("mcp-tasks-server")
    except metadata.PackageNotFoundError:
        return ""


def _parent_context(parent: Mapping[str, str] | None) -> Context | None:
    """The stored trace context as a parent, or ``None`` when it names no valid span."""
    if not parent:
        return None
    extracted = _PROPAGATOR.extract(parent)
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        return None
    return extracted


def _span_context(parent: Context | None) -> SpanContext:
    if parent is None:
        return INVALID_SPAN_CONTEXT
    return trace.get_current_span(parent).get_span_context()


_OnExit = Callable[["_OtelSpan", bool], None]
"""What a span records as it closes: called with the span and whether its block succeeded."""


class _OtelSpan(TaskSpan):
    """Enter: ``on_enter``, then a span is made current. Exit: ``on_exit``, then the span ends."""

    __slots__ = (
        "_attributes",
        "_context",
        "_links",
        "_name",
        "_on_enter",
        "_on_exit",
        "_span",
        "_token",
        "_tracer",
        "status",
    )

    def __init__(
        self,
        tracer: trace.Tracer,
        name: str,
        *,
        context: Context | None,
        attributes: dict[str, str],
        on_exit: _OnExit,
        on_enter: Callable[[], None] | None = None,
        links: Sequence[Link] = (),
        status: str | None = None,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._context = context
        self._attributes = attributes
        self._links = links
        self._on_exit = on_exit
        self._on_enter = on_enter
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        self.status = status

    def __enter__(self) -> TaskSpan:
        if self._on_enter is not None:
            self._on_enter()
        self._span = self._tracer.start_span(
            self._name,
            context=self._context,
            kind=SpanKind.INTERNAL,
            attributes=self._attributes,
            links=self._links,
            record_exception=False,
            set_status_on_exception=False,
        )
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self._span
        assert span is not None
        try:
            if exc_type is not None:
                # The type only: exception messages may quote a tool's data.
                span.set_attribute(ERROR_TYPE, exc_type.__qualname__)
                span.set_status(StatusCode.ERROR)
            self._on_exit(self, exc_type is None)
        finally:
            if self._token is not None:
                otel_context.detach(self._token)
            span.end()

    def set_status(self, status: str) -> None:
        self.status = status
        span = self._span
        if span is None:
            return
        span.set_attribute(TASK_STATUS, status)
        if status == "failed":
            span.set_attribute(ERROR_TYPE, "tool_error")
            span.set_status(StatusCode.ERROR)


class _Timed(TimedCall):
    __slots__ = ("_attributes", "_histogram", "_started")

    def __init__(self, histogram: metrics.Histogram, attributes: dict[str, str]) -> None:
        self._histogram = histogram
        self._attributes = attributes
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        attributes = self._attributes
        if exc_type is not None:
            attributes = {**attributes, ERROR_TYPE: _error_type(exc_type, exc)}
        self._histogram.record(elapsed, attributes)


def _error_type(exc_type: type[BaseException], exc: BaseException | None) -> str:
    """The AWS error code of a botocore ``ClientError``, else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return exc_type.__qualname__


class OtelTelemetry(Telemetry):
    """:class:`Telemetry` over OpenTelemetry providers (the global ones by default)."""

    enabled = True

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        version = _version()
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._tracer = trace.get_tracer(SCOPE, version, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, version, meter_provider=meter_provider)
        self._created = meter.create_counter(
            "mcp_tasks.tasks.created", unit="{task}", description="Tasks created."
        )
        self._finished = meter.create_counter(
            "mcp_tasks.tasks.finished",
            unit="{task}",
            description="Tasks that reached a final status.",
        )
        self._running = meter.create_up_down_counter(
            "mcp_tasks.tasks.running", unit="{task}", description="Tasks running in this process."
        )
        self._duration = meter.create_histogram(
            "mcp_tasks.task.duration",
            unit="s",
            description="Time from a task's creation to its final status.",
            explicit_bucket_boundaries_advisory=_TASK_BUCKETS,
        )
        self._queue_wait = meter.create_histogram(
            "mcp_tasks.task.queue_wait",
            unit="s",
            description="Time from a task's creation until a replica or worker claimed it.",
            explicit_bucket_boundaries_advisory=_QUEUE_WAIT_BUCKETS,
        )
        self._backend = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of backend requests; its count is the number of requests.",
            explicit_bucket_boundaries_advisory=_BACKEND_BUCKETS,
        )
        self._refusals = meter.create_counter(
            "mcp_tasks.capacity.refusals",
            unit="{request}",
            description="Requests refused by a capacity limit.",
        )

    def inject_trace_context(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier

    def task_created(self, tool_name: str) -> None:
        self._created.add(1, {TOOL_NAME: tool_name})

    def task_run_span(
        self,
        tool_name: str,
        task_hash: str,
        parent: Mapping[str, str] | None,
        *,
        queue_wait_s: float | None = None,
    ) -> TaskSpan:
        tool = {TOOL_NAME: tool_name}
        return _OtelSpan(
            self._tracer,
            f"task.run {tool_name}",
            context=_parent_context(parent),
            attributes={TOOL_NAME: tool_name, OPERATION_NAME: "execute_tool", TASK_HASH: task_hash},
            on_enter=partial(self._run_started, tool, queue_wait_s),
            on_exit=partial(self._run_ended, tool),
        )

    def _run_started(self, tool: dict[str, str], queue_wait_s: float | None) -> None:
        if queue_wait_s is not None:
            self._queue_wait.record(max(0.0, queue_wait_s), tool)
        self._running.add(1, tool)

    def _run_ended(self, tool: dict[str, str], span: _OtelSpan, ok: bool) -> None:
        self._running.add(-1, tool)

    def task_finish_span(
        self,
        tool_name: str,
        task_hash: str,
        status: str,
        *,
        parent: Mapping[str, str] | None,
        duration_s: float,
    ) -> TaskSpan:
        # Inside the task's own trace (the run span, say) the finish nests under
        # the current span. From elsewhere (a cancel request, a sweeper) it joins
        # the task's trace and links back to the span that caused it.
        stored = _parent_context(parent)
        stored_span = _span_context(stored)
        current_span = trace.get_current_span().get_span_context()
        context: Context | None = None
        links: list[Link] = []
        if stored_span.is_valid and stored_span.trace_id != current_span.trace_id:
            context = stored
            if current_span.is_valid:
                links.append(Link(current_span, {LINK_REASON: "finish"}))
        return _OtelSpan(
            self._tracer,
            f"task.finish {tool_name}",
            context=context,
            attributes={TOOL_NAME: tool_name, TASK_HASH: task_hash, TASK_STATUS: status},
            links=links,
            status=status,
            on_exit=partial(self._finish_ended, tool_name, max(0.0, duration_s)),
        )

    def _finish_ended(self, tool_name: str, duration_s: float, span: _OtelSpan, ok: bool) -> None:
        if not ok:
            return
        attributes = {TOOL_NAME: tool_name, TASK_STATUS: span.status or "unknown"}
        self._finished.add(1, attributes)
        self._duration.record(duration_s, attributes)

    def link_current_span(self, parent: Mapping[str, str] | None, *, reason: str) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        target = _span_context(_parent_context(parent))
        if target.is_valid:
            span.add_link(target, {LINK_REASON: reason})

    def backend_request(self, operation: str, *, system: str = "aws.dynamodb") -> TimedCall:
        return _Timed(self._backend, {DB_SYSTEM_NAME: system, DB_OPERATION_NAME: operation})

    def capacity_refused(self, limit: str) -> None:
        self._refusals.add(1, {LIMIT: limit})

    def flush(self, timeout_s: float = 5.0) -> None:
        millis = int(timeout_s * 1000)
        for provider in (
            self._tracer_provider or trace.get_tracer_provider(),
            self._meter_provider or metrics.get_meter_provider(),
        ):
            force_flush = getattr(provider, "force_flush", None)
            if callable(force_flush):
                force_flush(millis)


def has_provider() -> bool:
    """Whether the process already has a tracer provider (``opentelemetry-instrument``,
    or the embedding application's)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def configure_from_environment(*, instrument_aws: bool) -> None:
    """Configure the SDK from ``OTEL_*`` unless the process already has a tracer provider."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # The extra ships the OTLP/HTTP exporter, the protocol the OTLP
        # specification makes the default; the Python SDK alone would pick gRPC
        # for a bare ``otlp`` and fail to find that exporter.
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        try:
            distro = importlib.import_module("opentelemetry.distro")
        except ImportError:
            logger.warning("telemetry is not configured: install the otel extra")
            return
        distro.OpenTelemetryConfigurator().configure()
    if instrument_aws and importlib.util.find_spec("aiobotocore") is not None:
        _instrument_aiobotocore()


def _instrument_aiobotocore() -> None:
    try:
        module = importlib.import_module("opentelemetry.instrumentation.botocore")
    except ImportError:
        return
    instrumentor = module.AiobotocoreInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
