"""A small task server for protocol tests: ``python -m tests.protocol.sample_server``.

``build()`` returns a fresh server each call (an HTTP app runs once).
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from mcp_tasks_server import Settings
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.runtime.context import TaskContext


def build(settings: Settings | None = None) -> MCPServer[Any]:
    tasks = Tasks(settings or Settings(heartbeat_interval_seconds=0.1))
    server: MCPServer[Any] = MCPServer("sample-tasks", log_level="WARNING")

    @tasks.tool(task_support="optional")
    async def compute(seconds: float, ctx: TaskContext) -> str:
        """Work for ``seconds``, reporting progress."""
        await ctx.report_progress(0, 1)
        await anyio.sleep(seconds)
        await ctx.report_progress(1, 1)
        return f"computed for {seconds}s"

    @tasks.tool(task_support="required")
    async def confirm(filename: str, ctx: TaskContext) -> str:
        """Ask before deleting ``filename``."""
        answer = await ctx.elicit(
            f"Delete {filename}?",
            {"type": "object", "properties": {"confirm": {"type": "boolean"}}},
        )
        accepted = answer.get("action") == "accept" and answer.get("content", {}).get("confirm")
        return f"deleted {filename}" if accepted else f"kept {filename}"

    @tasks.tool(task_support="optional")
    async def broken(kind: str) -> str:
        """Fail as a tool error (kind=tool) or as a protocol error (kind=protocol)."""
        if kind == "protocol":
            raise MCPError(code=-32050, message="upstream refused")
        raise ValueError("bad input")

    @server.tool()
    def echo(text: str) -> str:
        """An ordinary tool that never becomes a task."""
        return text

    # What the fixture tools below did, by label: how often a call started,
    # each tick, and whether it ran to the end. Read it with ``journal``.
    events: list[str] = []

    @tasks.tool(task_support="optional")
    async def ticker(label: str, ticks: int, interval: float, ctx: TaskContext) -> str:
        """Tick ``ticks`` times, ``interval`` seconds apart, with status and progress."""
        events.append(f"{label}:start")
        for tick in range(1, ticks + 1):
            await anyio.sleep(interval)
            events.append(f"{label}:tick")
            await ctx.set_status(f"tick {tick} of {ticks}")
            await ctx.report_progress(tick, ticks, f"tick {tick}")
        events.append(f"{label}:done")
        return f"{label}: {ticks} ticks"

    @tasks.tool(task_support="optional")
    async def favourite(label: str, ctx: TaskContext) -> str:
        """Ask for a favourite colour, then say how often this call started."""
        events.append(f"{label}:start")
        answer = await ctx.elicit(
            "Favourite colour?",
            {"type": "object", "properties": {"colour": {"type": "string"}}},
        )
        colour = (
            answer.get("content", {}).get("colour") if answer.get("action") == "accept" else None
        )
        starts = events.count(f"{label}:start")
        return f"{label}: colour={colour} starts={starts}"

    @tasks.tool(task_support="optional")
    async def refuse(reason: str) -> str:
        """Fail with a tool error: the result has ``isError`` and ``reason`` as its text."""
        raise ToolError(reason)

    @server.tool()
    def journal(label: str) -> str:
        """What the fixture tools did for ``label``, comma-separated."""
        prefix = f"{label}:"
        return ",".join(event.removeprefix(prefix) for event in events if event.startswith(prefix))

    tasks.install(server)
    return server


if __name__ == "__main__":
    build().run()
