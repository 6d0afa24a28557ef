"""The TypeScript SDK's client (2025-11-25 tasks) against the reference server.

``@modelcontextprotocol/sdk`` (pinned in ``tests/interop/typescript``) runs the
scenarios of ``typescript/scenarios.mjs`` through its own task API,
``client.experimental.tasks``, over real transports:

* **stdio**: the client starts ``mcp-tasks-server serve`` itself;
* **http**: stateful streamable HTTP on 127.0.0.1, one server for the module;
* **stateless**: ``serve --stateless``, where nobody owns a task (no
  ``tasks/list``) and the server has no way to send a question to the client.
  There the SDK's ``callToolStream`` cannot finish a task that asks for input:
  it calls ``tasks/result``, which keeps blocking because the question cannot
  reach the client; the client answers with the ``tasks_respond`` tool instead.

The server serves ``tests/interop/ts_tools.py``. Install the client with
``scripts/interop/node-clients.sh`` (``make test-tools`` runs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.interop.servers import (
    REPO,
    SERVER,
    SERVER_ENV,
    TOOLS,
    api_key_server_env,
    http_server,
    require_installed,
)
from tests.support.wire import RELATED_TASK

CLIENT = REPO / "tests" / "interop" / "typescript"
RUNNER = CLIENT / "run.mjs"
SDK = CLIENT / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
#: Generous for a loaded 2-core machine; the runner's own watchdog (150 s) fires first.
SCENARIO_TIMEOUT = 180
STREAMS = 20
ANSWER = {"action": "accept", "content": {"answer": "forty-two"}}

Observed = dict[str, Any]


@pytest.fixture(scope="module")
def node() -> str:
    require_installed(SDK, how="make test-tools, or scripts/interop/node-clients.sh")
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH (the README asks for Node >= 20)")
    return found


@pytest.fixture(scope="module")
def stateful_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with http_server(tmp_path_factory.mktemp("stateful")) as url:
        yield {"url": url}


@pytest.fixture(scope="module")
def authenticated_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A stateful server behind an API key; the client sends it as a bearer token."""
    directory = tmp_path_factory.mktemp("authenticated")
    env, key = api_key_server_env(directory)
    with http_server(directory, env=env) as url:
        yield {"url": url, "headers": {"Authorization": f"Bearer {key}"}}


@pytest.fixture(scope="module")
def stateless_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with http_server(tmp_path_factory.mktemp("stateless"), "--stateless") as url:
        yield {"url": url}


def _stdio() -> dict[str, Any]:
    return {
        "command": str(SERVER),
        "args": ["serve", "--tools", TOOLS],
        "env": {**os.environ, **SERVER_ENV},
        "cwd": str(REPO),
    }


@pytest.fixture
def target(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Where the client connects: ``stdio``, ``http``, ``http-auth`` (a bearer token) or
    ``stateless``."""
    if request.param == "stdio":
        return _stdio()
    fixture = {
        "http": "stateful_http",
        "http-auth": "authenticated_http",
        "stateless": "stateless_http",
    }[request.param]
    return dict(request.getfixturevalue(fixture))


def run(node: str, scenario: str, target: dict[str, Any]) -> Observed:
    completed = subprocess.run(
        [node, str(RUNNER), scenario, json.dumps(target)],
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT,
        cwd=CLIENT,
        check=False,
    )
    try:
        observed: Observed = json.loads(completed.stdout)
    except json.JSONDecodeError:
        observed = {"failure": {"stdout": completed.stdout}}
    if completed.returncode != 0 or "failure" in observed:
        pytest.fail(
            f"scenario {scenario} failed (exit {completed.returncode}):\n"
            f"{json.dumps(observed.get('failure', observed), indent=2)}\n{completed.stderr}"
        )
    return observed


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    """``type`` of each stream message, with the task status where there is one."""
    return [f"{m['type']}:{m['status']}" if "status" in m else m["type"] for m in messages]


def related_task(result: dict[str, Any]) -> str:
    return str(result["_meta"][RELATED_TASK]["taskId"])


ALL = pytest.mark.parametrize("target", ["stdio", "http", "http-auth", "stateless"], indirect=True)
WITH_CHANNEL = pytest.mark.parametrize("target", ["stdio", "http", "http-auth"], indirect=True)
STATELESS = pytest.mark.parametrize("target", ["stateless"], indirect=True)


@ALL
def test_call_tool_stream_goes_from_task_created_to_result(
    node: str, target: dict[str, Any]
) -> None:
    observed = run(node, "stream", target)
    # The SDK makes the call a task only because tools/list says it may.
    assert observed["taskSupport"]["gated"] == "optional"
    assert observed["taskSupport"]["release"] is None
    messages = observed["messages"]
    sequence = kinds(messages)
    # The tool is released only after the stream saw it working, so every run has that phase.
    working = len(sequence) - 3
    assert working >= 1
    assert sequence == [
        "taskCreated:working",
        *["taskStatus:working"] * working,
        "taskStatus:completed",
        "result",
    ]
    task_id = messages[0]["taskId"]
    assert {m["taskId"] for m in messages[:-1]} == {task_id}
    created = messages[0]["task"]
    assert created["pollInterval"] == int(SERVER_ENV["MCP_TASKS_POLL_INTERVAL_MS"])
    assert isinstance(created["ttl"], int)
    result = messages[-1]["result"]
    assert result["isError"] is False
    assert result["structuredContent"] == {"gate": observed["gate"], "task_id": task_id}
    assert related_task(result) == task_id


def _assert_get_result_and_cancel(observed: Observed) -> tuple[str, str]:
    finished, cancelled = (task["taskId"] for task in observed["created"])
    assert observed["whileWorking"]["status"] == "working"
    # tasks/result blocked until the released task finished, then gave the tool's result.
    assert observed["result"]["structuredContent"]["task_id"] == finished
    assert related_task(observed["result"]) == finished
    assert observed["afterResult"]["status"] == "completed"
    assert observed["cancel"]["value"]["status"] == "cancelled"
    assert observed["cancel"]["value"]["taskId"] == cancelled
    assert observed["afterCancel"]["status"] == "cancelled"
    # A cancelled task has no result; finished tasks cannot be cancelled; -32602 for each.
    assert observed["resultOfCancelled"]["error"]["code"] == -32602
    assert observed["cancelAgain"]["error"]["code"] == -32602
    assert observed["cancelCompleted"]["error"]["code"] == -32602
    assert observed["getUnknown"]["error"]["code"] == -32602
    return finished, cancelled


@WITH_CHANNEL
def test_get_result_list_and_cancel_follow_a_task_through_its_lifecycle(
    node: str, target: dict[str, Any]
) -> None:
    observed = run(node, "lifecycle", target)
    assert "list" in observed["serverCapabilities"]["tasks"]
    finished, cancelled = _assert_get_result_and_cancel(observed)
    listed = statuses(observed["listed"], finished, cancelled, target)
    assert listed == {finished: "working", cancelled: "working"}
    at_end = statuses(observed["listedAtEnd"], finished, cancelled, target)
    assert at_end == {finished: "completed", cancelled: "cancelled"}


def statuses(
    listing: dict[str, Any], finished: str, cancelled: str, target: dict[str, Any]
) -> dict[str, str]:
    """The listed tasks by id. A new connection is a new owner and lists only its own
    two; behind a key the owner is the key's principal, who owns other tests' tasks too."""
    listed = {task["taskId"]: task["status"] for task in listing["value"]["tasks"]}
    if "headers" in target:
        return {task_id: listed[task_id] for task_id in (finished, cancelled) if task_id in listed}
    return listed


@STATELESS
def test_stateless_http_serves_every_task_method_but_list(
    node: str, target: dict[str, Any]
) -> None:
    observed = run(node, "lifecycle", target)
    assert "list" not in observed["serverCapabilities"]["tasks"]
    _assert_get_result_and_cancel(observed)
    assert observed["listed"]["error"]["code"] == -32601


@WITH_CHANNEL
def test_a_question_on_the_tasks_result_stream_is_answered_and_the_task_completes(
    node: str, target: dict[str, Any]
) -> None:
    observed = run(node, "elicitation", target)
    messages = observed["messages"]
    task_id = messages[0]["taskId"]
    sequence = kinds(messages)
    # The SDK polls until input_required, then calls tasks/result, which carries the question.
    assert sequence[0] == "taskCreated:working"
    assert sequence[-2:] == ["taskStatus:input_required", "result"]
    assert set(sequence[1:-2]) <= {"taskStatus:working"}
    assert observed["elicitations"] == [
        {
            "message": "What is the answer?",
            "requestedSchema": {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
            },
            "relatedTask": {"taskId": task_id},
        }
    ]
    result = messages[-1]["result"]
    assert result["structuredContent"] == {"answer": ANSWER, "task_id": task_id}
    assert related_task(result) == task_id
    assert observed["afterResult"]["status"] == "completed"


@STATELESS
def test_stateless_http_question_waits_for_an_answer_given_with_tasks_respond(
    node: str, target: dict[str, Any]
) -> None:
    observed = run(node, "answer-by-tool", target)
    task_id = observed["created"]["taskId"]
    assert observed["elicitations"] == []
    assert observed["waiting"]["status"] == "input_required"
    assert observed["waiting"]["statusMessage"] == "What is the answer?"
    assert observed["result"]["structuredContent"] == {"answer": ANSWER, "task_id": task_id}
    assert observed["afterResult"]["status"] == "completed"


@ALL
def test_tool_error_fails_the_task_and_tasks_result_returns_the_tool_result(
    node: str, target: dict[str, Any]
) -> None:
    observed = run(node, "tool-error", target)
    messages = observed["messages"]
    sequence = kinds(messages)
    assert sequence[0] == "taskCreated:working"
    # The SDK ends a failed task's stream with an error of its own making.
    assert sequence[-2:] == ["taskStatus:failed", "error"]
    assert observed["task"]["status"] == "failed"
    assert "the input has 3 malformed rows" in observed["task"]["statusMessage"]
    result = observed["result"]["value"]
    assert result["isError"] is True
    assert "the input has 3 malformed rows" in result["content"][0]["text"]
    assert related_task(result) == messages[0]["taskId"]


@ALL
def test_twenty_concurrent_streams_all_complete(node: str, target: dict[str, Any]) -> None:
    observed = run(node, "concurrent", target)
    streams = observed["streams"]
    assert len(streams) == STREAMS
    task_ids = set()
    for stream in streams:
        messages = stream["messages"]
        task_id = messages[0]["taskId"]
        task_ids.add(task_id)
        # All twenty waited on one gate, opened once they all existed.
        assert kinds(messages)[0] == "taskCreated:working"
        assert kinds(messages)[-2:] == ["taskStatus:completed", "result"]
        assert messages[-1]["result"]["structuredContent"] == {
            "gate": observed["gate"],
            "task_id": task_id,
        }
    assert len(task_ids) == STREAMS
