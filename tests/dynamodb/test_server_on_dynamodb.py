"""The reference server and the demo on DynamoDB, as real processes."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from rich.console import Console

from mcp_tasks_server.server.demo import run_demo
from tests.protocol.harness import RawHttp, free_port

pytestmark = pytest.mark.anyio


SERVE = [sys.executable, "-m", "mcp_tasks_server", "serve", "--transport", "http", "--stateless"]


@asynccontextmanager
async def server_process(port: int) -> AsyncIterator[str]:
    """``mcp-tasks-server serve`` over stateless HTTP, with this test's environment."""
    environment = {**os.environ, "MCP_TASKS_LOG_LEVEL": "WARNING"}
    process = await anyio.open_process([*SERVE, "--port", str(port)], env=environment)
    try:
        with anyio.fail_after(20):
            while True:
                assert process.returncode is None, "the server exited during startup"
                try:
                    await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                    break
                except OSError:
                    await anyio.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        with anyio.fail_after(20):
            await process.wait()


async def wait_until_completed(raw: RawHttp, task_id: str) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            got = (await raw.request("tasks/get", {"taskId": task_id})).result
            if got["status"] == "completed":
                return got
            await anyio.sleep(0.05)


@pytest.fixture
def dynamodb_environment(aws_environment: str, table: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MCP_TASKS_BACKEND", "dynamodb")
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_TABLE", table)
    return table


async def test_a_finished_task_survives_a_restart_of_the_server(dynamodb_environment: str) -> None:
    port = free_port()
    async with server_process(port) as url, RawHttp.modern(url) as raw:
        call = {"name": "word_stats", "arguments": {"text": "one two two"}}
        task_id = (await raw.request("tools/call", call)).result["taskId"]
        before = await wait_until_completed(raw, task_id)
    async with server_process(port) as url, RawHttp.modern(url) as raw:
        after = (await raw.request("tasks/get", {"taskId": task_id})).result
    assert after["status"] == "completed"
    assert after["result"] == before["result"]
    assert after["result"]["structuredContent"]["most_common"][0] == "two"


async def test_demo_runs_on_dynamodb(dynamodb_environment: str) -> None:
    output = io.StringIO()
    with anyio.fail_after(120):
        exit_code = await run_demo(Console(file=output, width=200))
    assert exit_code == 0, output.getvalue()
    assert "storage backend: dynamodb" in output.getvalue()
