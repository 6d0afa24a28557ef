"""Task tools for the interop tests: ``mcp-tasks-server serve --tools tests.interop.tools``.

Each tool does one thing a client must cope with. Tools take a ``label`` so
that tests sharing one server keep apart; what they did is kept in a journal
per label, read with the ordinary tool ``journal``, so a test can check what
happened on the server side (a call ran once, a cancel stopped the tool).
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.runtime.context import TaskContext

#: The JSON-RPC code ``upstream_error`` fails with (the server-defined range).
UPSTREAM_ERROR_CODE = -32050

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


def register(tasks: Tasks, server: MCPServer[Any]) -> None:
    events: dict[str, list[str]] = {}

    def note(label: str, event: str) -> None:
        events.setdefault(label, []).append(event)

    def how(ctx: TaskContext) -> str:
        return "as a task" if ctx.task_id else "inline"

    @tasks.tool(task_support="optional")
    async def slow(label: str, seconds: float, ctx: TaskContext) -> str:
        """Work for ``seconds`` in small steps; the journal says whether it finished."""
        note(label, "start")
        try:
            deadline = anyio.current_time() + seconds
            while (left := deadline - anyio.current_time()) > 0:
                await ctx.set_status(f"{left:.1f} s to go")
                await anyio.sleep(min(left, 0.2))
        except BaseException:
            note(label, "stopped")
            raise
        note(label, "done")
        return f"{label}: slept {seconds:g} s {how(ctx)}"

    @tasks.tool(task_support="optional")
    async def ask(label: str, question: str, ctx: TaskContext) -> str:
        """Ask ``question`` while running and say what came back."""
        note(label, "start")
        answer = await ctx.elicit(question, ANSWER_SCHEMA)
        if answer.get("action") != "accept":
            return f"{label}: {answer.get('action')} {how(ctx)}"
        return f"{label}: answer={answer.get('content', {}).get('answer')} {how(ctx)}"

    @tasks.tool(task_support="optional")
    async def refuse(reason: str) -> str:
        """Fail with a tool error: the result has ``isError`` and ``reason`` as its text."""
        raise ToolError(reason)

    @tasks.tool(task_support="optional")
    async def upstream_error(message: str) -> str:
        """Fail with a JSON-RPC error (``UPSTREAM_ERROR_CODE``, ``message``)."""
        raise MCPError(code=UPSTREAM_ERROR_CODE, message=message)

    @tasks.tool(task_support="optional")
    async def square(label: str, n: int, seconds: float, ctx: TaskContext) -> str:
        """``n`` squared after ``seconds``; each run is counted in the journal."""
        note(label, f"run {n}")
        await anyio.sleep(seconds)
        return f"{n * n} {how(ctx)}"

    @server.tool()
    def journal(label: str) -> list[str]:
        """What the task tools did for ``label``, in order."""
        return list(events.get(label, []))
