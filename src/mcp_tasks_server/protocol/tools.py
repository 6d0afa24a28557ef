"""Tasks as ordinary tools and resources, for clients with no task support."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from mcp_tasks_server.protocol.install import Tasks

__all__ = ["install_task_tools"]


def install_task_tools(tasks: Tasks, server: MCPServer[Any]) -> None:
    """Register the task tools and the task resource template on ``server``."""
