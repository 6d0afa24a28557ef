"""The front end on Lambda: warm invocations of one handler, every event shape, queue mode.

Each test drives one handler object the way one warm container sees it:
several invocations in a row, in one process, with the event JSON a
Function URL, an HTTP API or a REST API sends. The tasks they create are
stored in DynamoDB Local and queued on moto's SQS; no tool runs in the front
end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.server.aws_lambda import handlers_for
from mcp_tasks_server.server.build import build_server
from tests.lambda_.conftest import Stack
from tests.protocol.harness import LEGACY, MODERN
from tests.support.lambda_events import (
    EventSourceMapping,
    McpOverLambda,
    function_url_event,
    http_api_event,
    rest_api_event,
)

EVENTS: dict[str, Callable[..., dict[str, Any]]] = {
    "function-url": function_url_event,
    "http-api-v2": http_api_event,
    "rest-api-v1": rest_api_event,
}


def queued_task_ids(stack: Stack) -> list[str]:
    """The task ids of every message on the queue (each received once, left in place)."""
    client = stack.sqs_client()
    ids: list[str] = []
    while True:
        got = client.receive_message(
            QueueUrl=stack.queues.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not got:
            return ids
        ids.extend(json.loads(m["Body"])["task_id"] for m in got)


@pytest.mark.parametrize("kind", list(EVENTS))
def test_warm_front_end_creates_and_reads_tasks_in_both_eras_and_only_queues_them(
    stack: Stack, kind: str
) -> None:
    settings = stack.settings()
    http = handlers_for(build_server(settings, tools=settings.tools), settings).http
    modern = McpOverLambda(http, MODERN, EVENTS[kind])
    legacy = McpOverLambda(http, LEGACY, EVENTS[kind])

    status, created = modern.request("tools/call", {"name": "echo", "arguments": {"text": "a"}})
    assert status == 200, created
    task = created["result"]
    assert (task["resultType"], task["status"]) == ("task", "working")

    status, got = modern.request("tasks/get", {"taskId": task["taskId"]})
    assert status == 200, got
    assert got["result"]["status"] == "working"  # no worker ran it: the front end runs no tools

    status, created = legacy.request(
        "tools/call", {"name": "echo", "arguments": {"text": "b"}, "task": {"ttl": 60_000}}
    )
    assert status == 200, created
    legacy_task = created["result"]["task"]
    assert legacy_task["status"] == "working"

    status, got = legacy.request("tasks/get", {"taskId": legacy_task["taskId"]})
    assert status == 200, got
    assert (got["result"]["taskId"], got["result"]["status"]) == (
        legacy_task["taskId"],
        "working",
    )

    assert sorted(queued_task_ids(stack)) == sorted([task["taskId"], legacy_task["taskId"]])


def test_task_created_on_the_front_end_is_run_by_the_worker_function(stack: Stack) -> None:
    settings = stack.settings()
    # Two functions, two containers: each builds its own server from the same tools.
    http = handlers_for(build_server(settings, tools=settings.tools), settings).http
    worker = handlers_for(build_server(settings, tools=settings.tools), settings).worker
    client = McpOverLambda(http, MODERN)

    _, created = client.request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    task_id = created["result"]["taskId"]
    invocation = EventSourceMapping(stack.sqs_client(), stack.queues.url, worker).poll()
    assert invocation is not None
    assert invocation.response == {"batchItemFailures": []}

    _, got = client.request("tasks/get", {"taskId": task_id})
    assert got["result"]["status"] == "completed"
    assert got["result"]["result"]["content"][0]["text"] == "echo: hi"
    assert queued_task_ids(stack) == []  # the event source deleted the message


def test_front_end_refuses_to_start_outside_queue_mode(stack: Stack) -> None:
    settings = stack.settings(execution="local", queue_url=None)
    with pytest.raises(ConfigError, match="MCP_TASKS_EXECUTION=queue"):
        handlers_for(build_server(settings, tools=settings.tools), settings)


def test_module_handler_builds_its_server_from_the_environment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_tasks_server import aws_lambda
    from mcp_tasks_server.server import aws_lambda as module

    for name, value in stack.settings().model_dump(mode="json").items():
        if value is not None and name not in ("replica_id",):
            shown = ",".join(value) if isinstance(value, list) else str(value)
            monkeypatch.setenv(f"MCP_TASKS_{name.upper()}", shown)
    for cached in (module._settings, module._server, module._http, module._container_loop):
        cached.cache_clear()
    try:
        client = McpOverLambda(aws_lambda.http_handler, MODERN)
        for text in ("one", "two", "three"):
            status, created = client.request(
                "tools/call", {"name": "echo", "arguments": {"text": text}}
            )
            assert status == 200, created
            assert created["result"]["status"] == "working"
    finally:
        for cached in (module._settings, module._server, module._http, module._container_loop):
            cached.cache_clear()


def test_handlers_for_a_server_its_author_built(stack: Stack) -> None:
    from mcp.server.mcpserver import MCPServer

    from mcp_tasks_server import Tasks
    from tests.lambda_.tools import register

    def authored() -> MCPServer[Any]:
        server = MCPServer("authored")
        tasks = Tasks(settings)
        register(tasks, server)
        tasks.install(server)
        return server

    settings = stack.settings(tools=None)
    http = handlers_for(authored(), settings).http
    worker = handlers_for(authored(), settings).worker
    client = McpOverLambda(http, MODERN)
    _, created = client.request("tools/call", {"name": "echo", "arguments": {"text": "own"}})
    EventSourceMapping(stack.sqs_client(), stack.queues.url, worker).poll()
    _, got = client.request("tasks/get", {"taskId": created["result"]["taskId"]})
    assert got["result"]["result"]["content"][0]["text"] == "echo: own"
