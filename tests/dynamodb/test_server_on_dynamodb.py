"""The reference server and the demo on DynamoDB, as real processes."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from rich.console import Console

from mcp_tasks_server.server.demo import run_demo
from tests.dynamodb_servers import UVICORN_LISTENING, reported_port
from tests.protocol.harness import RawHttp
from tests.support.polling import poll_until, status_in

pytestmark = pytest.mark.anyio


SERVE = [sys.executable, "-m", "mcp_tasks_server", "serve", "--transport", "http", "--stateless"]


@asynccontextmanager
async def server_process(log: Path) -> AsyncIterator[str]:
    """``mcp-tasks-server serve`` over stateless HTTP, with this test's environment.

    It binds a port the system picks and logs it, so no other process can hold
    the port it was meant to use.
    """
    environment = {**os.environ, "MCP_TASKS_LOG_LEVEL": "INFO"}
    with log.open("wb") as sink:
        process = await anyio.open_process(
            [*SERVE, "--port", "0"], env=environment, stdout=sink, stderr=sink
        )
    try:
        port = await anyio.to_thread.run_sync(
            lambda: reported_port("the server", log, UVICORN_LISTENING, lambda: process.returncode)
        )
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        with anyio.fail_after(30):
            await process.wait()


async def wait_until_completed(raw: RawHttp, task_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        return (await raw.request("tasks/get", {"taskId": task_id})).result

    return await poll_until(read, status_in({"completed"}), within=30, every=0.05)


@pytest.fixture
def dynamodb_environment(aws_environment: str, table: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MCP_TASKS_BACKEND", "dynamodb")
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_TABLE", table)
    return table


async def test_a_finished_task_survives_a_restart_of_the_server(
    dynamodb_environment: str, tmp_path: Path
) -> None:
    async with server_process(tmp_path / "first.log") as url, RawHttp.modern(url) as raw:
        call = {"name": "word_stats", "arguments": {"text": "one two two"}}
        task_id = (await raw.request("tools/call", call)).result["taskId"]
        before = await wait_until_completed(raw, task_id)
    async with server_process(tmp_path / "second.log") as url, RawHttp.modern(url) as raw:
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
