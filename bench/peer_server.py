"""The peer under comparison: FastMCP with fastmcp-tasks, on its default memory backend.

Runs only inside the peer's own virtualenv (``bench/.peer-venv``, made by
``bench/run_all.py``): fastmcp-tasks pins its own FastMCP and patches the
``mcp`` SDK when imported, so it must never share a process with our server.
The tools match ``bench/zero_tools.py``: ``zero_task`` (a task tool that
returns at once), ``sleepy_task`` and ``plain`` (an ordinary tool).

    bench/.peer-venv/bin/python bench/peer_server.py --port 8001
"""

from __future__ import annotations

import argparse
import asyncio

from fastmcp import FastMCP
from fastmcp_tasks import TasksExtension

mcp = FastMCP("peer")
mcp.add_extension(TasksExtension())  # memory:// unless FASTMCP_DOCKET_URL says otherwise


@mcp.tool(task=True)
async def zero_task() -> str:
    """Return at once."""
    return "done"


@mcp.tool(task=True)
async def sleepy_task(seconds: float = 30.0) -> str:
    """Wait, then return."""
    await asyncio.sleep(seconds)
    return "done"


@mcp.tool
async def plain() -> str:
    """Return at once; not a task tool."""
    return "done"


def main() -> None:
    parser = argparse.ArgumentParser(description="FastMCP + fastmcp-tasks, zero-work tools")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    mcp.run(
        transport="http",
        host="127.0.0.1",
        port=args.port,
        show_banner=False,
        log_level="WARNING",
    )


if __name__ == "__main__":
    main()
