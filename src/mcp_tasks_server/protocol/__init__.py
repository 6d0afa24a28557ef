"""MCP protocol adapters: 2025-11-25 tasks, the 2026-07-28 extension, tasks as tools.

``Tasks`` (the composition root) is imported on first use, so the wire
constants can be read without loading the server side.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.host import TaskSupport
    from mcp_tasks_server.protocol.tasks import InlineTaskContext, Tasks, TaskTool

__all__ = ["InlineTaskContext", "TaskSupport", "TaskTool", "Tasks"]

_EXPORTS = {
    "InlineTaskContext": "mcp_tasks_server.protocol.tasks",
    "TaskSupport": "mcp_tasks_server.protocol.host",
    "TaskTool": "mcp_tasks_server.protocol.tasks",
    "Tasks": "mcp_tasks_server.protocol.tasks",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
