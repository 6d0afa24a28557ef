"""Telemetry over a real OpenTelemetry SDK: one trace per task, links, exact metrics.

Each test builds its own tracer and meter providers (in-memory exporter and
reader), so nothing here touches the process-wide OpenTelemetry globals.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from typing import TypeVar

import pytest
from botocore.exceptions import ClientError
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.observability import LogIds
from tests.support.otel import Attributes, Recorded

T = TypeVar("T")

TASK_ID = new_task_id()  # reaches telemetry only as its hash
IDS = LogIds(b"k" * 32)
TASK_HASH = IDS.task(TASK_ID)


def in_another_process(work: Callable[[], T]) -> T:
    """Run ``work`` in an empty context, as a worker process would: no ambient span."""

    def isolated() -> T:
        assert not trace.get_current_span().get_span_context().is_valid
        return work()

    return contextvars.Context().run(isolated)


def create_task(otel: Recorded, tool: str = "slow") -> tuple[dict[str, str], trace.SpanContext]:
    """A ``tools/call`` that creates a task: its span, and the trace context stored as JSON."""
    with otel.requests.start_as_current_span(f"tools/call {tool}", kind=SpanKind.SERVER) as span:
        stored = otel.telemetry.inject_trace_context()
        otel.telemetry.task_created(tool)
    return json.loads(json.dumps(stored)), span.get_span_context()


def attrs(**values: object) -> Attributes:
    return frozenset((key.replace("__", "."), value) for key, value in values.items())


def test_task_run_in_another_process_continues_the_creating_request_trace(otel: Recorded) -> None:
    stored, request = create_task(otel)
    assert set(stored) <= {"traceparent", "tracestate"}

    def run() -> None:
        with otel.telemetry.task_run_span("slow", TASK_HASH, stored, queue_wait_s=0.25) as run:
            with otel.requests.start_as_current_span("DynamoDB.UpdateItem", kind=SpanKind.CLIENT):
                pass
            with otel.telemetry.task_finish_span(
                "slow", TASK_HASH, "completed", parent=stored, duration_s=3.0
            ):
                pass
            run.set_status("completed")

    in_another_process(run)

    task_run = otel.span("task.run slow")
    assert task_run.context is not None
    assert task_run.parent is not None
    assert task_run.context.trace_id == request.trace_id
    assert task_run.parent.span_id == request.span_id
    assert task_run.attributes is not None
    assert task_run.attributes["gen_ai.tool.name"] == "slow"
    assert task_run.attributes["mcp_tasks.task.hash"] == TASK_HASH
    assert task_run.attributes["mcp_tasks.task.status"] == "completed"
    for child in (otel.span("DynamoDB.UpdateItem"), otel.span("task.finish slow")):
        assert child.parent is not None
        assert child.parent.span_id == task_run.context.span_id
    assert otel.span("task.finish slow").links == ()


def test_task_run_without_a_stored_context_starts_a_trace_of_its_own(otel: Recorded) -> None:
    def run() -> None:
        with otel.telemetry.task_run_span("slow", TASK_HASH, None):
            pass
        with otel.telemetry.task_run_span("other", TASK_HASH, {"traceparent": "00-garbage"}):
            pass

    in_another_process(run)
    assert otel.span("task.run slow").parent is None
    assert otel.span("task.run other").parent is None


def test_cancel_from_another_request_is_linked_and_finishes_in_the_task_trace(
    otel: Recorded,
) -> None:
    stored, created = create_task(otel)

    def cancel() -> trace.SpanContext:
        with otel.requests.start_as_current_span("tasks/cancel", kind=SpanKind.SERVER) as span:
            otel.telemetry.link_current_span(stored, reason="cancel")
            with otel.telemetry.task_finish_span(
                "slow", TASK_HASH, "cancelled", parent=stored, duration_s=1.0
            ):
                pass
        return span.get_span_context()

    canceller = in_another_process(cancel)

    request = otel.span("tasks/cancel")
    assert [(link.context.span_id, dict(link.attributes or {})) for link in request.links] == [
        (created.span_id, {"mcp_tasks.link.reason": "cancel"})
    ]
    finish = otel.span("task.finish slow")
    assert finish.context is not None
    assert finish.parent is not None
    assert finish.context.trace_id == created.trace_id
    assert finish.parent.span_id == created.span_id
    assert [link.context.span_id for link in finish.links] == [canceller.span_id]


def test_answer_through_another_request_links_it_to_the_task(otel: Recorded) -> None:
    stored, created = create_task(otel)

    def answer() -> None:
        with otel.requests.start_as_current_span("tasks/update", kind=SpanKind.SERVER):
            otel.telemetry.link_current_span(stored, reason="input")
            otel.telemetry.link_current_span(None, reason="input")
            otel.telemetry.link_current_span({"traceparent": "garbage"}, reason="input")

    in_another_process(answer)

    links = otel.span("tasks/update").links
    assert [(link.context.trace_id, link.context.span_id) for link in links] == [
        (created.trace_id, created.span_id)
    ]


def test_task_spans_record_failures_without_their_text(otel: Recorded) -> None:
    stored, _ = create_task(otel)
    with (
        pytest.raises(ValueError, match="card 4111"),
        otel.telemetry.task_run_span("slow", TASK_HASH, stored),
    ):
        raise ValueError("card 4111 1111 1111 1111 declined")
    with otel.telemetry.task_run_span("quiet", TASK_HASH, stored) as run:
        run.set_status("failed")

    raised, failed = otel.span("task.run slow"), otel.span("task.run quiet")
    assert raised.status.status_code is StatusCode.ERROR
    assert raised.attributes is not None
    assert raised.attributes["error.type"] == "ValueError"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "tool_error"
    for span in otel.spans.get_finished_spans():
        shown = json.dumps(
            [span.name, dict(span.attributes or {}), span.status.description, len(span.events)]
        )
        assert "4111" not in shown
        assert TASK_ID not in shown
        assert not span.events


def test_task_metrics_are_counted_exactly(otel: Recorded) -> None:
    telemetry = otel.telemetry
    create_task(otel, "slow")
    create_task(otel, "slow")
    create_task(otel, "fast")

    with (
        telemetry.task_run_span("slow", TASK_HASH, None, queue_wait_s=0.5),
        telemetry.task_run_span("slow", TASK_HASH, None, queue_wait_s=1.5),
    ):
        running = otel.counters("mcp_tasks.tasks.running")
        assert running == {attrs(gen_ai__tool__name="slow"): 2}
    with telemetry.task_finish_span("slow", TASK_HASH, "working", parent=None, duration_s=4.0) as f:
        f.set_status("completed")  # the write found out what the task ended as
    with telemetry.task_finish_span("slow", TASK_HASH, "completed", parent=None, duration_s=2.0):
        pass
    with telemetry.task_finish_span("fast", TASK_HASH, "failed", parent=None, duration_s=0.5):
        pass
    with (
        pytest.raises(RuntimeError),
        telemetry.task_finish_span("fast", TASK_HASH, "completed", parent=None, duration_s=9.0),
    ):
        raise RuntimeError("the terminal write lost its race")

    slow, fast = attrs(gen_ai__tool__name="slow"), attrs(gen_ai__tool__name="fast")
    assert otel.counters("mcp_tasks.tasks.created") == {slow: 2, fast: 1}
    assert otel.counters("mcp_tasks.tasks.running") == {slow: 0}
    assert otel.histograms("mcp_tasks.task.queue_wait") == {slow: (2, 2.0)}
    slow_done = attrs(gen_ai__tool__name="slow", mcp_tasks__task__status="completed")
    fast_failed = attrs(gen_ai__tool__name="fast", mcp_tasks__task__status="failed")
    assert otel.counters("mcp_tasks.tasks.finished") == {slow_done: 2, fast_failed: 1}
    assert otel.histograms("mcp_tasks.task.duration") == {
        slow_done: (2, 6.0),
        fast_failed: (1, 0.5),
    }


def test_backend_requests_and_capacity_refusals_are_counted_exactly(otel: Recorded) -> None:
    telemetry = otel.telemetry
    for _ in range(3):
        with telemetry.backend_request("PutItem"):
            pass
    conflict = ClientError(
        {"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "UpdateItem"
    )
    with pytest.raises(ClientError), telemetry.backend_request("UpdateItem"):
        raise conflict
    with pytest.raises(TimeoutError), telemetry.backend_request("GetItem"):
        raise TimeoutError
    telemetry.capacity_refused("tasks_per_owner")
    telemetry.capacity_refused("tasks_per_owner")
    telemetry.capacity_refused("running")

    def db(operation: str, error: str | None = None) -> Attributes:
        values = {"db.system.name": "aws.dynamodb", "db.operation.name": operation}
        return frozenset({**values, **({"error.type": error} if error else {})}.items())

    counts = {
        key: count for key, (count, _) in otel.histograms("db.client.operation.duration").items()
    }
    assert counts == {
        db("PutItem"): 3,
        db("UpdateItem", "ConditionalCheckFailedException"): 1,
        db("GetItem", "TimeoutError"): 1,
    }
    assert otel.counters("mcp_tasks.capacity.refusals") == {
        attrs(mcp_tasks__limit="tasks_per_owner"): 2,
        attrs(mcp_tasks__limit="running"): 1,
    }
