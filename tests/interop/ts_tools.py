"""Tools the TypeScript-client and Inspector interop tests serve with ``--tools``.

Each tool makes one outcome happen on demand, without timing guesses:

* ``gated`` runs until a plain ``release`` call names its gate, so a client can
  watch it in ``working`` for as long as it likes, then let it finish (or
  cancel it instead);
* ``ask`` asks the client one question through the task context and returns
  the answer;
* ``broken`` ends in a tool error (``isError``);
* ``echo`` finishes at once with what it was given.

Every task tool returns the id of the task it ran as (``null`` inline), which
is how a test tells a real task from an inline call. Gates live in the server
process, which is one process per stdio client or HTTP server.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from mcp_tasks_server import TaskContext, Tasks

__all__ = ["register"]


def register(tasks: Tasks, server: MCPServer[Any]) -> None:
    gates: dict[str, anyio.Event] = {}

    def gate(name: str) -> anyio.Event:
        return gates.setdefault(name, anyio.Event())

    @tasks.tool(task_support="optional")
    async def gated(name: str, ctx: TaskContext) -> dict[str, Any]:
        """Work until ``release`` is called with the same name."""
        await ctx.set_status(f"waiting for gate {name}")
        await gate(name).wait()
        return {"gate": name, "task_id": ctx.task_id}

    @server.tool()
    def release(name: str) -> str:
        """Let every ``gated`` call waiting on ``name`` (now or later) finish."""
        gate(name).set()
        return f"released {name}"

    @tasks.tool(task_support="optional")
    async def ask(question: str, ctx: TaskContext) -> dict[str, Any]:
        """Ask the client one question; return its answer."""
        answer = await ctx.elicit(
            question,
            {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
            },
        )
        return {"answer": answer, "task_id": ctx.task_id}

    @tasks.tool(task_support="optional")
    async def broken(reason: str, ctx: TaskContext) -> str:
        """Fail with a tool error the model can read."""
        await ctx.set_status("about to fail")
        raise ToolError(reason)

    @tasks.tool(task_support="optional")
    async def echo(value: str, ctx: TaskContext) -> dict[str, Any]:
        """Return ``value`` at once."""
        return {"value": value, "task_id": ctx.task_id}
