"""Tools for the queue-mode tests, in one process or as ``--tools`` of real processes.

``tally`` and ``once`` append a line to a file on every run before they
sleep, so a test can count how often a task's tool really started.
``greet_asked`` asks for a name before the task exists (a ``Resolve``
parameter, answered in a 2026-07-28 multi-round call).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Elicit, MCPServer, Resolve
from pydantic import BaseModel

from mcp_tasks_server import InputRequest, Tasks
from mcp_tasks_server.runtime.context import TaskContext


def _append(path: str) -> int:
    with Path(path).open("a") as file:
        file.write("run\n")
    return len(Path(path).read_text().splitlines())


class Name(BaseModel):
    name: str


async def ask_name() -> Elicit[Name]:
    return Elicit("Your name?", Name)


def register(tasks: Tasks, server: MCPServer[Any]) -> None:
    @tasks.tool()
    async def sleepy(seconds: float = 0.0) -> str:
        """Sleep, then say so."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @tasks.tool()
    async def ask(ctx: TaskContext) -> str:
        """Ask the client for a name and greet it."""
        request = InputRequest(
            method="elicitation/create",
            params={
                "message": "Your name?",
                "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
        )
        answers = await ctx.request_input({"name": request})
        return f"hello {answers['name']['content']['name']}"

    @tasks.tool(task_support="required")
    async def greet_asked(who: Annotated[Name, Resolve(ask_name)]) -> str:
        """Greet the name the client gave before the task started."""
        return f"hello {who.name}"

    @tasks.tool(idempotent=True)
    async def tally(path: str, seconds: float = 0.0) -> str:
        """Count a run in ``path``, then sleep (safe to run again)."""
        runs = _append(path)
        await anyio.sleep(seconds)
        return f"run {runs}"

    @tasks.tool()
    async def once(path: str, seconds: float = 0.0) -> str:
        """Count a run in ``path``, then sleep (not safe to run again)."""
        runs = _append(path)
        await anyio.sleep(seconds)
        return f"run {runs}"
