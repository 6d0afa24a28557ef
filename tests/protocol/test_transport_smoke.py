"""Both eras reach the task machinery over every real transport."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from tests.protocol import sample_server
from tests.protocol.harness import RawHttp, serve_http, stdio_server

pytestmark = pytest.mark.anyio


async def test_legacy_task_round_trip_over_stateful_http() -> None:
    async with serve_http(sample_server.build()) as url, RawHttp.legacy_session(url) as raw:
        assert "tasks" in raw.initialize_result["capabilities"]
        created = await raw.request(
            "tools/call",
            {"name": "compute", "arguments": {"seconds": 0.05}, "task": {"ttl": 60000}},
        )
        task = created.result["task"]
        assert task["status"] == "working"
        assert task["ttl"] == 60000
        result = await raw.request("tasks/result", {"taskId": task["taskId"]})
        assert result.result["content"][0]["text"] == "computed for 0.05s"
        assert "resultType" not in result.result


async def test_modern_task_round_trip_over_http() -> None:
    async with serve_http(sample_server.build()) as url, RawHttp.modern(url) as raw:
        created = await raw.request(
            "tools/call", {"name": "compute", "arguments": {"seconds": 0.05}}
        )
        assert created.result["resultType"] == "task"
        task_id = created.result["taskId"]
        with anyio.fail_after(10):
            got = await raw.request("tasks/get", {"taskId": task_id})
            while got.result["status"] == "working":
                await anyio.sleep(0.05)
                got = await raw.request("tasks/get", {"taskId": task_id})
        assert got.result["status"] == "completed"
        assert got.result["result"]["content"][0]["text"] == "computed for 0.05s"


async def test_legacy_client_over_stdio_sees_task_support() -> None:
    async with Client(stdio_server("tests.protocol.sample_server"), mode="legacy") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert tools["compute"].execution is not None
        assert tools["compute"].execution.task_support == "optional"
        inline = await client.call_tool("compute", {"seconds": 0.01})
        assert inline.content[0].text == "computed for 0.01s"  # type: ignore[union-attr]
