"""Which :class:`~mcp_tasks_server.protocol.tasks.Tasks` an ``MCPServer`` has installed.

The transports find the task machinery of a server they are given here (for
its readiness probe), whether the reference server built it or the user's
own code installed it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.tasks import Tasks

__all__ = ["INSTALLED", "installed_tasks"]

INSTALLED: weakref.WeakKeyDictionary[MCPServer[Any], Tasks] = weakref.WeakKeyDictionary()
"""Filled by ``Tasks.install``."""


def installed_tasks(server: MCPServer[Any]) -> Tasks | None:
    """The ``Tasks`` installed into ``server``, if any."""
    return INSTALLED.get(server)
