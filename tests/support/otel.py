"""OpenTelemetry with in-memory exporters, for tests that check spans and metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mcp_tasks_server.observability import Telemetry, otel_telemetry

__all__ = ["Attributes", "Recorded", "otel"]

Attributes = frozenset[tuple[str, object]]


@dataclass
class Recorded:
    telemetry: Telemetry
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    requests: trace.Tracer
    """Stands in for the MCP SDK, which opens a SERVER span per request."""

    def span(self, prefix: str) -> ReadableSpan:
        found = [s for s in self.spans.get_finished_spans() if s.name.startswith(prefix)]
        assert len(found) == 1, [s.name for s in self.spans.get_finished_spans()]
        return found[0]

    def counters(self, name: str) -> dict[Attributes, float]:
        return {
            attributes: point.value
            for attributes, point in self._points(name).items()
            if isinstance(point, NumberDataPoint)
        }

    def histograms(self, name: str) -> dict[Attributes, tuple[int, float]]:
        return {
            attributes: (point.count, point.sum)
            for attributes, point in self._points(name).items()
            if isinstance(point, HistogramDataPoint)
        }

    def _points(self, name: str) -> dict[Attributes, object]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return {
            frozenset((point.attributes or {}).items()): point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        }


@pytest.fixture
def otel() -> Iterator[Recorded]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = otel_telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Recorded(telemetry, spans, reader, tracer_provider.get_tracer("mcp-python-sdk"))
    tracer_provider.shutdown()
    meter_provider.shutdown()
