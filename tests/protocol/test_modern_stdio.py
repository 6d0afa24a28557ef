"""The 2026-07-28 tasks extension over stdio: ``mcp-tasks-server serve`` as a subprocess."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult

from tests.protocol.harness import REPO, modern_meta, stdio_server
from tests.protocol.modern_client import (
    AnyResult,
    TaskIdParams,
    TasksClient,
    TasksGet,
    expect_error,
)
from tests.support.wire import MODERN

pytestmark = pytest.mark.anyio

FAST = {
    "MCP_TASKS_POLL_INTERVAL_MS": "100",
    "MCP_TASKS_HEARTBEAT_INTERVAL_SECONDS": "0.1",
    "MCP_TASKS_SHUTDOWN_GRACE_SECONDS": "0",
}


def conformance_server() -> Any:
    return stdio_server("mcp_tasks_server", "serve", "--profile", "conformance", env=FAST)


async def answer_alice(context: Any, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="accept", content={"name": "Alice"})


async def confirm(key: str, request: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"confirm": True}}


async def test_sdk_client_over_stdio_runs_tasks_end_to_end() -> None:
    tasks_client = TasksClient(confirm)
    with anyio.fail_after(30):
        async with Client(
            conformance_server(),
            mode=MODERN,
            extensions=[tasks_client],
            elicitation_callback=answer_alice,
        ) as client:
            computed = await client.call_tool("slow_compute", {"seconds": 0.1, "label": "s"})
            deleted = await client.call_tool("confirm_delete", {"filename": "s.txt"})
            greeted = await client.call_tool("test_tool_with_task", {})
            failed = await client.call_tool("failing_job", {})
    assert computed.content[0].text == "s: done after 0.1s"  # type: ignore[union-attr]
    assert deleted.content[0].text == "Deleted s.txt"  # type: ignore[union-attr]
    assert greeted.content[0].text == "Hello, Alice!"  # type: ignore[union-attr]
    assert failed.is_error is True
    assert len(tasks_client.created) == 4
    assert "input_required" in tasks_client.seen_statuses


async def test_stdio_client_without_the_extension_is_refused_tasks() -> None:
    with anyio.fail_after(30):
        async with Client(conformance_server(), mode=MODERN) as client:
            inline = await client.call_tool("slow_compute", {"seconds": 0, "label": "i"})
            with expect_error(-32021):
                await client.call_tool("failing_job", {})
            with expect_error(-32021):
                await client.session.send_request(
                    TasksGet(params=TaskIdParams(taskId="gate-test")), AnyResult
                )
    assert inline.content[0].text == "i: done after 0s"  # type: ignore[union-attr]


async def test_stdout_carries_nothing_but_protocol(tmp_path: Path) -> None:
    """Logs, and even prints from a user's tools module, go to stderr."""
    tools = tmp_path / "noisy_tools.py"
    tools.write_text(
        "print('hello from an import')\n"
        "def register(tasks, server):\n"
        "    @tasks.tool(task_support='optional')\n"
        "    async def shout(word: str) -> str:\n"
        "        print('printed by a tool')\n"
        "        return word.upper()\n"
    )
    requests = [
        {"name": "shout", "arguments": {"word": "hi"}},
        {"name": "shout", "arguments": {"word": "task"}},
    ]
    lines = []
    for number, params in enumerate(requests, start=1):
        meta = modern_meta(opt_in=number == 2)
        body = {"jsonrpc": "2.0", "id": number, "method": "tools/call"}
        lines.append(json.dumps({**body, "params": {**params, "_meta": meta}}))
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
        "MCP_TASKS_LOG_LEVEL": "DEBUG",
    }
    command = [sys.executable, "-m", "mcp_tasks_server", "--tools", f"{tools}:register"]
    stdout: list[str] = []
    stderr: list[str] = []
    with anyio.fail_after(30):
        async with (
            await anyio.open_process(command, env=environment) as process,
            anyio.create_task_group() as group,
        ):
            assert process.stdin is not None
            assert process.stdout is not None
            assert process.stderr is not None
            group.start_soon(_collect, TextReceiveStream(process.stderr), "", stderr)
            replies = TextReceiveStream(process.stdout)
            pending = ""
            for line in lines:
                await process.stdin.send((line + "\n").encode())
                while "\n" not in pending:
                    pending += await replies.receive()
                reply, pending = pending.split("\n", 1)
                stdout.append(reply)
            await process.stdin.aclose()
            await _collect(replies, pending, stdout)
            assert await process.wait() == 0
    answers = [json.loads(line) for line in stdout]
    assert all(answer["jsonrpc"] == "2.0" for answer in answers)
    assert [answer["id"] for answer in answers] == [1, 2]
    assert answers[0]["result"]["content"][0]["text"] == "HI"
    assert answers[1]["result"]["resultType"] == "task"
    assert "hello from an import" in stderr
    assert "printed by a tool" in stderr
    logs = [json.loads(line) for line in stderr if line.startswith("{")]
    assert logs
    assert all({"time", "level", "logger", "message"} <= set(log) for log in logs)


async def _collect(stream: TextReceiveStream, pending: str, into: list[str]) -> None:
    """Append the remaining non-empty lines of ``stream``, until it ends, to ``into``."""
    text = pending + "".join([chunk async for chunk in stream])
    into.extend(line for line in text.splitlines() if line.strip())
