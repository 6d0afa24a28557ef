"""The ``mcp-tasks-server`` command; it lives in :mod:`mcp_tasks_server.server.cli`."""

from mcp_tasks_server.server.cli import build_parser, main

__all__ = ["build_parser", "main"]
