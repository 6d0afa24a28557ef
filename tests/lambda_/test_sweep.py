"""The scheduled sweep: ``sweep_handler`` and ``mcp-tasks-server sweep --once``.

A Lambda-only deployment has no long-lived process to run the orphan sweep;
a schedule runs it instead. Here a task is queued with nobody to claim it,
and the sweep, once its claim timeout has passed, fails it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from mcp_tasks_server.server.aws_lambda import handlers_for
from mcp_tasks_server.server.build import build_server
from mcp_tasks_server.server.cli import main
from tests.lambda_.conftest import Stack
from tests.protocol.harness import MODERN
from tests.support.lambda_events import LambdaContext, McpOverLambda

CLAIM_TIMEOUT = 1.0


def stored_status(stack: Stack, task_id: str) -> dict[str, Any]:
    """The task as stored, read past the server: a read through it would settle the orphan."""
    item = stack.record("anonymous", task_id)  # stateless without auth: nobody's in particular
    assert item is not None
    data: dict[str, Any] = json.loads(item["data"]["S"])
    return data


def sweep_until_failed(
    stack: Stack, task_id: str, sweep: Callable[[], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Sweep until the task is stored failed (its claim timeout has to pass first)."""
    reports = []
    deadline = time.monotonic() + 30
    while stored_status(stack, task_id).get("status") != "failed":
        assert time.monotonic() < deadline, reports
        if reports:
            time.sleep(0.2)  # between two sweeps, as a schedule would be
        reports.append(sweep())
        assert reports[-1]["complete"] is True
    return reports


def queued_task(stack: Stack) -> tuple[McpOverLambda, str]:
    settings = stack.settings(claim_timeout_seconds=CLAIM_TIMEOUT)
    http = handlers_for(build_server(settings, tools=settings.tools), settings).http
    client = McpOverLambda(http, MODERN)
    _, created = client.request("tools/call", {"name": "echo", "arguments": {"text": "lost"}})
    return client, str(created["result"]["taskId"])


def assert_failed_for_want_of_a_worker(client: McpOverLambda, task_id: str) -> None:
    _, got = client.request("tasks/get", {"taskId": task_id})
    assert got["result"]["status"] == "failed"
    assert "No worker took this task" in json.dumps(got["result"])


def test_sweep_handler_fails_a_task_that_no_worker_claimed_in_time(stack: Stack) -> None:
    client, task_id = queued_task(stack)
    settings = stack.settings(claim_timeout_seconds=CLAIM_TIMEOUT)
    sweep = handlers_for(build_server(settings, tools=settings.tools), settings).sweep

    sweep_until_failed(stack, task_id, lambda: sweep({}, LambdaContext()))

    assert "No worker took this task" in json.dumps(stored_status(stack, task_id))
    assert_failed_for_want_of_a_worker(client, task_id)
    assert sweep({}, LambdaContext())["orphansFailed"] == 0  # failed once, never again


def test_sweep_once_command_fails_the_orphan_and_prints_what_it_did(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client, task_id = queued_task(stack)
    settings = stack.settings(claim_timeout_seconds=CLAIM_TIMEOUT)
    for name in ("backend", "dynamodb_table", "dynamodb_endpoint", "dynamodb_region"):
        monkeypatch.setenv(f"MCP_TASKS_{name.upper()}", str(getattr(settings, name)))
    for name in ("execution", "queue_url", "sqs_endpoint"):
        monkeypatch.setenv(f"MCP_TASKS_{name.upper()}", str(getattr(settings, name)))

    def run() -> dict[str, Any]:
        assert main(["sweep", "--once"]) == 0
        printed: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        return printed

    reports = sweep_until_failed(stack, task_id, run)
    assert set(reports[-1]) == {"orphansFailed", "orphansQueuedAgain", "expiredRemoved", "complete"}
    assert_failed_for_want_of_a_worker(client, task_id)


def test_sweep_once_without_once_says_how_to_run_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep"])
    assert exit_info.value.code == 2
    assert "--once" in capsys.readouterr().err
