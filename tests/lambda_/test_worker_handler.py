"""The worker function: SQS events from a real queue, run within the invocation.

An :class:`EventSourceMapping` stands in for Lambda's SQS event source: it
receives from moto's SQS, builds the event, invokes the handler with a
context whose remaining time counts down, and deletes the messages the
handler did not report in ``batchItemFailures``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from mcp_tasks_server.runtime.worker import TIME_LIMIT_MESSAGE
from mcp_tasks_server.server.aws_lambda import Handler, handlers_for
from mcp_tasks_server.server.build import build_server
from mcp_tasks_server.settings import Settings
from tests.lambda_.conftest import Stack
from tests.protocol.harness import MODERN
from tests.support.lambda_events import EventSourceMapping, Invocation, McpOverLambda


def functions(settings: Settings) -> tuple[McpOverLambda, Handler]:
    """A front end and a worker, each in its own container (own server, own loop)."""
    http = handlers_for(build_server(settings, tools=settings.tools), settings).http
    worker = handlers_for(build_server(settings, tools=settings.tools), settings).worker
    return McpOverLambda(http, MODERN), worker


def create(client: McpOverLambda, tool: str, arguments: dict[str, Any]) -> str:
    status, created = client.request("tools/call", {"name": tool, "arguments": arguments})
    assert status == 200, created
    return str(created["result"]["taskId"])


def task(client: McpOverLambda, task_id: str) -> dict[str, Any]:
    _, got = client.request("tasks/get", {"taskId": task_id})
    return dict(got["result"])


def poll_until(esm: EventSourceMapping, wanted: int, **options: Any) -> list[Invocation]:
    """Invoke until ``wanted`` messages were delivered (a receive may return fewer)."""
    invocations: list[Invocation] = []
    deadline = time.monotonic() + 30
    while sum(len(i.message_ids) for i in invocations) < wanted:
        assert time.monotonic() < deadline, invocations
        got = esm.poll(wait_seconds=1, **options)
        if got is not None:
            invocations.append(got)
    return invocations


def test_a_bad_message_is_reported_alone_and_the_good_one_runs(stack: Stack) -> None:
    client, worker = functions(stack.settings())
    task_id = create(client, "echo", {"text": "batch"})
    sqs = stack.sqs_client()
    sqs.send_message(QueueUrl=stack.queues.url, MessageBody='{"not": "a task"}')
    esm = EventSourceMapping(sqs, stack.queues.url, worker)

    invocations = poll_until(esm, 2, batch_size=10)

    failed = [m for i in invocations for m in i.failed]
    assert len(failed) == 1
    bodies = {m: json.loads(b) for i in invocations for m, b in i.bodies.items()}
    assert bodies[failed[0]] == {"not": "a task"}  # the poison message, left for the DLQ
    assert task(client, task_id)["status"] == "completed"


def test_a_redelivered_message_is_acknowledged_without_running_the_tool_again(
    stack: Stack,
) -> None:
    client, worker = functions(stack.settings())
    task_id = create(client, "echo", {"text": "once"})
    sqs = stack.sqs_client()
    received = sqs.receive_message(
        QueueUrl=stack.queues.url, WaitTimeSeconds=5, AttributeNames=["All"]
    )["Messages"]
    esm = EventSourceMapping(sqs, stack.queues.url, worker)
    first = esm.invoke(received)
    finished = task(client, task_id)
    second = esm.invoke(received)  # SQS delivers at least once

    assert first.failed == second.failed == []
    assert finished["status"] == "completed"
    assert task(client, task_id)["lastUpdatedAt"] == finished["lastUpdatedAt"]


def test_a_tool_still_running_near_the_invocation_deadline_is_stopped_and_failed(
    stack: Stack,
) -> None:
    client, worker = functions(stack.settings(worker_time_margin_seconds=1.0))
    task_id = create(client, "sleepy", {"seconds": 600})
    esm = EventSourceMapping(stack.sqs_client(), stack.queues.url, worker)

    started = time.monotonic()
    (invocation,) = poll_until(esm, 1, budget_seconds=3.0)
    took = time.monotonic() - started

    assert invocation.failed == []  # settled: nothing for the queue to retry
    assert took < 3.0 + 5  # returned by its deadline (plus the receive's own time)
    got = task(client, task_id)
    assert got["status"] == "failed"
    assert TIME_LIMIT_MESSAGE in json.dumps(got)


def test_an_idempotent_tool_cut_off_by_the_deadline_is_queued_again_and_finishes(
    stack: Stack,
) -> None:
    client, worker = functions(stack.settings(worker_time_margin_seconds=1.0, max_attempts=3))
    task_id = create(client, "sleepy_idempotent", {"seconds": 2.5})
    esm = EventSourceMapping(stack.sqs_client(), stack.queues.url, worker)

    (cut_off,) = poll_until(esm, 1, budget_seconds=2.0)
    assert cut_off.failed == []
    assert task(client, task_id)["status"] == "working"  # queued for attempt 2

    (second,) = poll_until(esm, 1, budget_seconds=60.0)
    assert json.loads(next(iter(second.bodies.values())))["attempt"] == 2
    got = task(client, task_id)
    assert got["status"] == "completed"
    assert got["result"]["content"][0]["text"] == "slept 2.5"
