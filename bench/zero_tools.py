"""Zero-work tools for the benchmarks: what is left is the cost of tasks themselves.

Served with ``mcp-tasks-server serve --transport http --tools
bench/zero_tools.py:register``. ``bench/peer_server.py`` serves the same
three tools on the peer, so both servers do identical (no) work per call.

* ``zero_task``: a task-capable tool (``optional``) that returns at once;
* ``plain``: an ordinary tool that returns at once, the ceiling a task
  call is measured against;
* ``sleepy_task``: a task tool that waits, so a cancel finds it running.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server import Tasks

__all__ = ["register"]


def register(tasks: Tasks, server: MCPServer[Any]) -> None:
    @tasks.tool(task_support="optional")
    async def zero_task() -> str:
        """Return at once."""
        return "done"

    @tasks.tool(task_support="optional")
    async def sleepy_task(seconds: float = 30.0) -> str:
        """Wait, then return."""
        await anyio.sleep(seconds)
        return "done"

    @server.tool()
    async def plain() -> str:
        """Return at once; not a task tool."""
        return "done"
