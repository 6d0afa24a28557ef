"""How telemetry is switched on and off, each case in a fresh Python process.

OpenTelemetry's providers are process-wide and set once, and whether
OpenTelemetry is installed is decided at import; so every case here runs in a
subprocess of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.dynamodb_servers import TEST_CREDENTIALS, TEST_REGION, DynamoDbServer

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "mcp_tasks_server"
SUBPROCESS_SECONDS = 120


def run_python(*code: str, argv: tuple[str, ...] = (), env: dict[str, str] | None = None) -> str:
    """Run the ``code`` blocks in a fresh interpreter, without any ``OTEL_*`` of ours.

    Returns what it printed; fails the test with its stderr if it fails.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    script = "".join(textwrap.dedent(block) for block in code)
    completed = subprocess.run(
        [sys.executable, "-c", script, *argv],
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


NOOP_CALLS = """
    telemetry = configure_telemetry()
    assert telemetry is NOOP_TELEMETRY and not telemetry.enabled
    stored = telemetry.inject_trace_context()
    assert stored == {}
    run = telemetry.task_run_span("slow", "t:0", {"traceparent": "00-x"}, queue_wait_s=1.0)
    with run as handle:
        handle.set_status("completed")
    finish = telemetry.task_finish_span("slow", "t:0", "completed", parent=stored, duration_s=1.0)
    with finish:
        pass
    assert finish is run is telemetry.task_run_span("other", "t:1", None)
    call = telemetry.backend_request("PutItem")
    with call:
        pass
    assert call is telemetry.backend_request("GetItem")
    telemetry.link_current_span(stored, reason="cancel")
    telemetry.task_created("slow")
    telemetry.capacity_refused("tasks")
    telemetry.flush()
"""


def test_without_opentelemetry_every_hook_is_a_shared_noop() -> None:
    # The package root imports the MCP SDK, which needs OpenTelemetry's API;
    # the observability package must not, so it is loaded without the root.
    hide_opentelemetry = f"""
    import json, sys, types
    sys.modules["opentelemetry"] = None
    root = types.ModuleType("mcp_tasks_server")
    root.__path__ = [{str(PACKAGE)!r}]
    sys.modules["mcp_tasks_server"] = root

    from mcp_tasks_server.observability import NOOP_TELEMETRY, configure_telemetry, otel_telemetry
    from mcp_tasks_server.observability import telemetry as module
    assert not module.OTEL_API_AVAILABLE
    assert otel_telemetry() is NOOP_TELEMETRY
    """
    report = """
    loaded = sorted(n for n, m in sys.modules.items() if m and n.startswith("opentelemetry"))
    print(json.dumps(loaded))
    """
    assert json.loads(run_python(hide_opentelemetry, NOOP_CALLS, report)) == []


def test_without_the_otel_extra_configure_returns_the_noop() -> None:
    hide_sdk = """
    import sys
    sys.modules["opentelemetry.sdk"] = None

    from mcp_tasks_server.observability import NOOP_TELEMETRY, configure_telemetry
    from mcp_tasks_server.observability import telemetry as module
    assert module.OTEL_API_AVAILABLE and not module.OTEL_SDK_AVAILABLE
    """
    assert run_python(hide_sdk, NOOP_CALLS, "print('no-op')").strip() == "no-op"


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that keeps every export it is sent."""

    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_standard_otel_variables_export_spans_and_metrics_to_an_otlp_collector(
    collector: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    endpoint, received = collector
    code = """
    from mcp_tasks_server.observability import configure_telemetry
    telemetry = configure_telemetry(instrument_aws=False)
    assert telemetry.enabled
    with telemetry.task_run_span("slow", "t:0", None) as run:
        run.set_status("completed")
    telemetry.task_created("slow")
    telemetry.flush()
    """
    run_python(
        code,
        env={
            "OTEL_SERVICE_NAME": "tasks-under-test",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        },
    )

    traces = [body for path, _, body in received if path == "/v1/traces"]
    metrics = [body for path, _, body in received if path == "/v1/metrics"]
    assert {kind for path, kind, _ in received} == {"application/x-protobuf"}
    spans = [
        (resource.resource, span)
        for body in traces
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert [span.name for _, span in spans] == ["task.run slow"]
    service = {a.key: a.value.string_value for a in spans[0][0].attributes}["service.name"]
    assert service == "tasks-under-test"
    names = {
        metric.name
        for body in metrics
        for resource in ExportMetricsServiceRequest.FromString(body).resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"mcp_tasks.tasks.created", "mcp_tasks.tasks.running"} <= names


def test_dynamodb_requests_made_with_aiobotocore_are_child_spans_of_the_task(
    moto_dynamodb: DynamoDbServer,
) -> None:
    # The application set up OpenTelemetry before: configure_telemetry keeps
    # its providers and only instruments aiobotocore.
    code = f"""
    import asyncio, json, sys
    import aioboto3
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from mcp_tasks_server.observability import configure_telemetry
    telemetry = configure_telemetry()

    async def main():
        session = aioboto3.Session(region_name={TEST_REGION!r}, **{TEST_CREDENTIALS!r})
        async with session.client("dynamodb", endpoint_url=sys.argv[1]) as client:
            with telemetry.task_run_span("slow", "t:0", None):
                await client.list_tables()

    asyncio.run(main())
    print(json.dumps([
        {{
            "name": span.name,
            "id": span.context.span_id,
            "parent": span.parent.span_id if span.parent else None,
            "attributes": dict(span.attributes),
        }}
        for span in exporter.get_finished_spans()
    ]))
    """
    spans = {
        span["name"]: span for span in json.loads(run_python(code, argv=(moto_dynamodb.endpoint,)))
    }
    assert set(spans) == {"task.run slow", "DynamoDB.ListTables"}
    request = spans["DynamoDB.ListTables"]
    assert request["parent"] == spans["task.run slow"]["id"]
    assert request["attributes"]["rpc.system"] == "aws-api"
    assert request["attributes"]["rpc.method"] == "ListTables"
