"""Every task that ends ``failed`` says why in ``statusMessage``, in both eras.

One server per test, driven by the SDK's client in process; each era reads
the task through its own ``tasks/get``. The causes: a tool error (a failure
only in 2025-11-25; 2026-07-28 completes it), a protocol error, an
unexpected exception, an orphan (its replica stopped renewing the lease)
and a shutdown that outlived the grace period.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from mcp_tasks_server import Settings
from mcp_tasks_server.backends.memory import MemoryBackend
from mcp_tasks_server.core.lifecycle import STOPPED_MESSAGE
from mcp_tasks_server.core.model import ToolRequest
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.protocol import Tasks
from tests.protocol.legacy_client import LegacyTasks
from tests.protocol.modern_client import TasksClient, get_task
from tests.support.wire import TERMINAL

pytestmark = pytest.mark.anyio

SETTINGS = Settings(
    heartbeat_interval_seconds=0.1,
    lease_seconds=2,  # a stalled event loop must not trip the running replica's fence
    clock_skew_margin_seconds=0,  # one machine, one clock
    lease_sweep_interval_seconds=0.1,
    shutdown_grace_seconds=0,
    poll_interval_ms=100,
)


def build() -> tuple[Tasks, MCPServer[Any]]:
    tasks = Tasks(SETTINGS, backend=MemoryBackend())
    server: MCPServer[Any] = MCPServer("failures", log_level="WARNING")

    @tasks.tool(task_support="optional")
    async def refuse(reason: str) -> str:
        raise ToolError(f"refused: {reason}")

    @tasks.tool(task_support="optional")
    async def upstream() -> str:
        raise MCPError(code=-32050, message="upstream refused")

    @tasks.tool(task_support="optional")
    async def explode() -> str:
        raise RuntimeError("boom")

    @tasks.tool(task_support="optional")
    async def sleepy() -> str:
        await anyio.sleep(60)
        return "woke"

    tasks.install(server)
    return tasks, server


class Era:
    """Start a tool as a task and read its task, in one protocol era."""

    async def start(self, name: str, arguments: dict[str, Any]) -> str:
        raise NotImplementedError

    async def get(self, task_id: str) -> dict[str, Any]:
        raise NotImplementedError

    async def until_terminal(self, task_id: str) -> dict[str, Any]:
        with anyio.fail_after(20):
            while (task := await self.get(task_id))["status"] not in TERMINAL:  # noqa: ASYNC110
                await anyio.sleep(0.02)  # polling is how a client learns of the change
        return task


class Legacy(Era):
    def __init__(self, client: Client) -> None:
        self.tasks = LegacyTasks(client)

    async def start(self, name: str, arguments: dict[str, Any]) -> str:
        return str((await self.tasks.call_as_task(name, arguments))["taskId"])

    async def get(self, task_id: str) -> dict[str, Any]:
        return await self.tasks.get(task_id)


class Modern(Era):
    def __init__(self, client: Client) -> None:
        self.client = client

    async def start(self, name: str, arguments: dict[str, Any]) -> str:
        handle = await self.client.session.call_tool(name, arguments, allow_claimed=True)
        return str(handle.taskId)  # type: ignore[union-attr]

    async def get(self, task_id: str) -> dict[str, Any]:
        return await get_task(self.client.session, task_id)


@asynccontextmanager
async def era_client(era: str) -> AsyncIterator[tuple[Tasks, Era]]:
    tasks, server = build()
    if era == "2025-11-25":
        async with Client(server, mode="legacy") as client:
            yield tasks, Legacy(client)
    else:
        async with Client(server, mode="2026-07-28", extensions=[TasksClient()]) as client:
            yield tasks, Modern(client)


ERAS = ["2025-11-25", "2026-07-28"]


async def test_tool_error_fails_a_2025_task_with_the_tools_message() -> None:
    # The SDK words a raised ToolError as "Error executing tool <name>: <message>".
    async with era_client("2025-11-25") as (_, era):
        task = await era.until_terminal(await era.start("refuse", {"reason": "not today"}))
    assert task["status"] == "failed"
    assert task["statusMessage"] == "Error executing tool refuse: refused: not today"


async def test_tool_error_completes_a_2026_task_so_nothing_fails() -> None:
    async with era_client("2026-07-28") as (_, era):
        task = await era.until_terminal(await era.start("refuse", {"reason": "not today"}))
    assert task["status"] == "completed"
    assert task["result"]["isError"] is True


@pytest.mark.parametrize("era_name", ERAS)
async def test_protocol_error_fails_the_task_with_the_errors_message(era_name: str) -> None:
    async with era_client(era_name) as (_, era):
        task = await era.until_terminal(await era.start("upstream", {}))
    assert task["status"] == "failed"
    assert task["statusMessage"] == "upstream refused"


@pytest.mark.parametrize("era_name", ERAS)
async def test_unexpected_exception_fails_the_task_saying_the_tool_failed(era_name: str) -> None:
    async with era_client(era_name) as (_, era):
        task = await era.until_terminal(await era.start("explode", {}))
    assert task["status"] == "failed"
    assert task["statusMessage"] == "The tool failed unexpectedly"


@pytest.mark.parametrize("era_name", ERAS)
async def test_orphaned_task_fails_saying_its_server_stopped(era_name: str) -> None:
    async with era_client(era_name) as (tasks, era):
        # A task stored by a replica that died at once: nothing renews its lease.
        orphan = await tasks.store.create(LOCAL.key, ToolRequest(name="sleepy"), replica="gone")
        task = await era.until_terminal(orphan.task_id)
    assert task["status"] == "failed"
    assert task["statusMessage"] == STOPPED_MESSAGE


@pytest.mark.parametrize("era_name", ERAS)
async def test_task_stopped_by_a_shutdown_fails_saying_its_server_stopped(era_name: str) -> None:
    async with era_client(era_name) as (tasks, era):
        task_id = await era.start("sleepy", {})
        await tasks.runner.shutdown(grace_seconds=0)
        task = await era.until_terminal(task_id)
    assert task["status"] == "failed"
    assert task["statusMessage"] == STOPPED_MESSAGE
