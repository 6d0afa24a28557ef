"""The fixture tools of the official MCP conformance suite's ``tasks-*`` scenarios.

``mcp-tasks-server serve --transport http --profile conformance`` serves
exactly these, and ``scripts/conformance.sh`` runs the suite against them.
Each tool behaves as the scenarios expect:

=========================  ========  ==============================================
tool                       tasks     behaviour
=========================  ========  ==============================================
``greet {name}``           never     ``Hello, <name>!`` at once
``slow_compute``           optional  sleeps ``seconds`` with progress, then
``{seconds, label}``                 ``<label>: done after <seconds>s``
``failing_job``            required  a tool error (``isError``) after half a second
``protocol_error_job``     optional  a JSON-RPC error (-32603), so the task fails
``confirm_delete``         optional  asks one yes/no question while it runs
``{filename}``
``multi_input``            optional  asks two questions at once while it runs
``test_tool_with_task``    required  asks for a name *before* the task exists
                                     (multi-round ``tools/call``), then greets it
                                     from the task
=========================  ========  ==============================================

They double as small examples of each way a task tool can behave.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Elicit, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, Field

from mcp_tasks_server.core.errors import INTERNAL_ERROR
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.runtime.context import TaskContext, accepted_content, form_request

__all__ = ["TOOL_NAMES", "register"]

TOOL_NAMES = (
    "greet",
    "slow_compute",
    "failing_job",
    "protocol_error_job",
    "confirm_delete",
    "multi_input",
    "test_tool_with_task",
)

Seconds = Annotated[float, Field(ge=0, le=3_600, description="How long to work, in seconds")]


class UserName(BaseModel):
    """The answer ``test_tool_with_task`` asks for before it starts."""

    name: str = Field(description="Your name")


async def ask_user_name() -> Elicit[UserName]:
    return Elicit("What is your name?", UserName)


def register(tasks: Tasks, server: MCPServer[Any]) -> None:  # long: the profile's tools, one list
    """Add the conformance fixture tools to ``server`` through ``tasks``."""

    @server.tool()
    def greet(name: str) -> str:
        """Greet someone at once. Never a task."""
        return f"Hello, {name}!"

    @tasks.tool(task_support="optional")
    async def slow_compute(seconds: Seconds, label: str, ctx: TaskContext) -> str:
        """Work for ``seconds``, reporting progress, then report which job finished."""
        steps = max(1, math.ceil(seconds * 4))
        for step in range(steps):
            await ctx.report_progress(step, steps, f"{label}: step {step + 1} of {steps}")
            await anyio.sleep(seconds / steps)
        await ctx.report_progress(steps, steps)
        return f"{label}: done after {seconds:g}s"

    @tasks.tool(task_support="required")
    async def failing_job(ctx: TaskContext) -> str:
        """Start, then fail with a tool error (``isError``)."""
        await ctx.set_status("Working on a job that will fail")
        await anyio.sleep(0.5)
        raise ToolError("The job failed: the input data is inconsistent")

    @tasks.tool(task_support="optional")
    async def protocol_error_job(ctx: TaskContext) -> str:
        """Start, then fail with a JSON-RPC error, which fails the task."""
        await ctx.set_status("Working on a job that will hit a protocol error")
        await anyio.sleep(0.2)
        raise MCPError(code=INTERNAL_ERROR, message="The job's upstream service refused it")

    @tasks.tool(task_support="optional")
    async def confirm_delete(filename: str, ctx: TaskContext) -> str:
        """Ask for confirmation, then (pretend to) delete ``filename``."""
        answer = await ctx.elicit(
            f"Delete {filename}?",
            {
                "type": "object",
                "properties": {"confirm": {"type": "boolean", "description": "Delete it?"}},
                "required": ["confirm"],
            },
        )
        if accepted_content(answer).get("confirm") is True:
            return f"Deleted {filename}"
        return f"Kept {filename}"

    @tasks.tool(task_support="optional")
    async def multi_input(ctx: TaskContext) -> str:
        """Ask two questions at once; finish when both are answered."""
        answers = await ctx.request_input(
            {
                "report_name": form_request(
                    "What should the report be called?",
                    {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                ),
                "publish": form_request(
                    "Publish the report when it is ready?",
                    {
                        "type": "object",
                        "properties": {"confirm": {"type": "boolean"}},
                        "required": ["confirm"],
                    },
                ),
            },
            status_message="Waiting for two answers",
        )
        name = accepted_content(answers["report_name"]).get("name", "untitled")
        publish = accepted_content(answers["publish"]).get("confirm") is True
        return f"Report {name!s} {'published' if publish else 'kept as a draft'}"

    @tasks.tool(task_support="required")
    async def test_tool_with_task(
        user: Annotated[UserName, Resolve(ask_user_name)], ctx: TaskContext
    ) -> str:
        """Ask for a name before the task starts, then greet it from the task."""
        await ctx.set_status(f"Greeting {user.name}")
        return f"Hello, {user.name}!"
