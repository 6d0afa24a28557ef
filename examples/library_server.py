"""Durable tasks on your own MCPServer: one object, one decorator, one call.

Run it over stdio with ``python examples/library_server.py``, or with
``mcp-tasks-server serve --tools examples/library_server.py`` for the
HTTP transport and the other ``serve`` options.
"""

import anyio
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server import Settings, TaskContext, Tasks

server = MCPServer("report-builder")
tasks = Tasks(Settings())  # MCP_TASKS_* from the environment; memory storage by default


@tasks.tool(task_support="optional")  # or "required" (always a task), "forbidden"
async def build_report(pages: int, ctx: TaskContext) -> str:
    """Build a report of the given number of pages, then offer to email it."""
    for page in range(1, pages + 1):
        await anyio.sleep(0.2)  # the real work goes here
        await ctx.report_progress(page, pages, f"page {page} of {pages}")
    answer = await ctx.elicit(
        "Email the report to the team?",
        {"type": "object", "properties": {"email": {"type": "boolean"}}},
    )
    emailed = answer["action"] == "accept" and answer.get("content", {}).get("email") is True
    return f"{pages}-page report built" + (" and emailed" if emailed else "")


@server.tool()
def ping() -> str:
    """An ordinary tool: tasks leave it alone."""
    return "pong"


tasks.install(server)

if __name__ == "__main__":
    server.run()
