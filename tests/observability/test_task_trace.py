"""One trace per task across two replicas on DynamoDB Local, and metrics that match the work.

Replica A creates the task inside a request span (standing in for the SDK's
``tools/call`` span) and runs it; replica B, with its own store and runner on
the same table, answers or cancels it. The trace context travels only
through the task record in DynamoDB (JSON), so B's spans can join the task's
trace only if it survived that round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from opentelemetry.trace import SpanKind

from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
from mcp_tasks_server.core.model import InputRequest, TaskRecord, TaskStatus, ToolRequest
from mcp_tasks_server.core.owner import Owner
from mcp_tasks_server.observability import AuditLog, LogIds, Observers
from mcp_tasks_server.runtime.runner import Runner
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.store import TaskStore
from tests.dynamodb_servers import DynamoDbServer, create_table, delete_table, local_session
from tests.support.otel import Recorded

pytestmark = pytest.mark.anyio

IDS = LogIds(b"a shared key of 32 bytes........")
OWNER = Owner("local:trace-test")
ASK = {"confirm": InputRequest(method="elicitation/create", params={"message": "Go on?"})}
SETTINGS = Settings(heartbeat_interval_seconds=0.1, lease_seconds=3, shutdown_grace_seconds=0)


@dataclass
class Replica:
    service: TaskService
    backend: DynamoDbBackend


@asynccontextmanager
async def replicas(endpoint: str, otel: Recorded) -> AsyncIterator[tuple[Replica, Replica]]:
    table = create_table(endpoint)
    try:
        async with AsyncExitStack() as stack:
            pair = []
            for name in ("a", "b"):
                observers = Observers(IDS, otel.telemetry, AuditLog(IDS, replica=name))
                backend = DynamoDbBackend(
                    table,
                    endpoint_url=endpoint,
                    session=local_session(),
                    telemetry=otel.telemetry,
                )
                stack.push_async_callback(backend.aclose)
                store = TaskStore(
                    backend, SETTINGS.store_policy(), replica=name, observers=observers
                )
                runner = await stack.enter_async_context(Runner(store, SETTINGS))
                pair.append(Replica(TaskService(store, runner), backend))
            yield pair[0], pair[1]
    finally:
        delete_table(endpoint, table)


async def asks_then_answers(context: StoredTaskContext) -> Mapping[str, Any]:
    answers = await context.request_input(ASK)
    return {"content": [], "structuredContent": {"answer": answers["confirm"]}}


async def runs_until_cancelled(context: StoredTaskContext) -> Mapping[str, Any]:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


async def create(
    otel: Recorded, replica: Replica, tool: str, invoke: Any
) -> tuple[TaskRecord, int]:
    """Create a task inside a request span, as the SDK's ``tools/call`` handler would."""
    with otel.requests.start_as_current_span(f"tools/call {tool}", kind=SpanKind.SERVER) as span:
        record = await replica.service.create(OWNER, ToolRequest(name=tool), invoke)
    return record, span.get_span_context().trace_id


async def wait_for(replica: Replica, task_id: str, *statuses: TaskStatus) -> TaskRecord:
    with anyio.fail_after(30):
        while (record := await replica.service.get(OWNER, task_id)).status not in statuses:  # noqa: ASYNC110 - another replica's change is found by reading
            await anyio.sleep(0.05)
    return record


async def test_answer_on_replica_b_links_to_the_trace_that_runs_on_replica_a(
    dynamodb_local: DynamoDbServer, otel: Recorded
) -> None:
    async with replicas(dynamodb_local.endpoint, otel) as (a, b):
        record, trace_id = await create(otel, a, "confirm", asks_then_answers)
        waiting = await wait_for(b, record.task_id, TaskStatus.INPUT_REQUIRED)
        # The trace context came back from DynamoDB on the other replica.
        assert waiting.trace_context is not None
        assert f"-{trace_id:032x}-" in waiting.trace_context["traceparent"]
        with otel.requests.start_as_current_span("tasks/update", kind=SpanKind.SERVER):
            await b.service.deliver_input(OWNER, record.task_id, {"confirm": {"action": "accept"}})
        done = await wait_for(b, record.task_id, TaskStatus.COMPLETED)
    assert done.result is not None
    run, finish = otel.span("task.run confirm"), otel.span("task.finish confirm")
    assert run.context is not None
    assert finish.context is not None
    assert run.context.trace_id == trace_id
    assert finish.context.trace_id == trace_id
    assert finish.parent is not None
    assert finish.parent.span_id == run.context.span_id
    answer = otel.span("tasks/update")
    assert answer.context is not None
    assert answer.context.trace_id != trace_id
    assert [link.context.trace_id for link in answer.links] == [trace_id]
    assert answer.links[0].attributes == {"mcp_tasks.link.reason": "answer"}


async def test_cancel_on_replica_b_finishes_the_task_in_its_trace_and_counts_match(
    dynamodb_local: DynamoDbServer, otel: Recorded
) -> None:
    async with replicas(dynamodb_local.endpoint, otel) as (a, b):
        running, trace_id = await create(otel, a, "forever", runs_until_cancelled)
        done, _ = await create(otel, a, "confirm", asks_then_answers)
        await wait_for(b, done.task_id, TaskStatus.INPUT_REQUIRED)
        await b.service.deliver_input(OWNER, done.task_id, {"confirm": {"action": "accept"}})
        await wait_for(a, done.task_id, TaskStatus.COMPLETED)
        with otel.requests.start_as_current_span("tasks/cancel", kind=SpanKind.SERVER) as cancel:
            await b.service.cancel(OWNER, running.task_id)
        # Replica A's heartbeat stops the tool: the running gauge returns to zero.
        with anyio.fail_after(30):
            while otel.counters("mcp_tasks.tasks.running").get(  # noqa: ASYNC110 - the heartbeat is a poll
                frozenset({("gen_ai.tool.name", "forever")})
            ):
                await anyio.sleep(0.05)
    backend_requests = a.backend.request_count + b.backend.request_count
    finish = otel.span("task.finish forever")
    assert finish.context is not None
    assert finish.context.trace_id == trace_id
    assert [link.context.span_id for link in finish.links] == [cancel.get_span_context().span_id]
    tool = "gen_ai.tool.name"
    assert otel.counters("mcp_tasks.tasks.created") == {
        frozenset({(tool, "forever")}): 1,
        frozenset({(tool, "confirm")}): 1,
    }
    status = "mcp_tasks.task.status"
    assert otel.counters("mcp_tasks.tasks.finished") == {
        frozenset({(tool, "forever"), (status, "cancelled")}): 1,
        frozenset({(tool, "confirm"), (status, "completed")}): 1,
    }
    durations = otel.histograms("mcp_tasks.task.duration")
    assert sum(count for count, _ in durations.values()) == 2
    # Every DynamoDB request either replica made was timed, once.
    timed = otel.histograms("db.client.operation.duration")
    assert sum(count for count, _ in timed.values()) == backend_requests
    assert all(("db.system.name", "aws.dynamodb") in attributes for attributes in timed)
