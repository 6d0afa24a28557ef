"""The tools the Lambda tests serve (``MCP_TASKS_TOOLS=tests.lambda_.tools:register``)."""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server import TaskContext, Tasks

__all__ = ["register"]


def register(tasks: Tasks, server: MCPServer[Any]) -> None:
    @tasks.tool(task_support="optional")
    async def echo(text: str, ctx: TaskContext) -> str:
        """Answer at once."""
        await ctx.set_status("echoing")
        return f"echo: {text}"

    @tasks.tool(task_support="optional")
    async def sleepy(seconds: float, ctx: TaskContext) -> str:
        """Sleep, then answer: outlives a short invocation."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @tasks.tool(task_support="optional", idempotent=True)
    async def sleepy_idempotent(seconds: float, ctx: TaskContext) -> str:
        """The same, but safe to run again: cut off, it is queued for another attempt."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"
