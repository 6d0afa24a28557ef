"""MCP protocol adapters: 2025-11-25 tasks, the 2026-07-28 extension, tasks as tools."""

from mcp_tasks_server.protocol.install import InlineTaskContext, Tasks, TaskSupport, TaskTool

__all__ = ["InlineTaskContext", "TaskSupport", "TaskTool", "Tasks"]
