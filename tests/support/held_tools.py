"""A task server whose tools run until the test lets them go, and say how they ended.

``hold(label)`` runs until the test releases it; ``ask(label)`` asks a
question first (the task goes ``input_required``), then holds the same way.
Each label has a :class:`Probe`: when its tool started, when it stopped, and
whether it stopped because it was cancelled, which a test cannot see over
the wire. The server is an ordinary ``MCPServer`` with tasks installed,
authenticated as the settings say, for the reference server's HTTP app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server import Settings
from mcp_tasks_server.backends import StorageBackend
from mcp_tasks_server.core.owner import Owner, bind_owner
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.protocol.storage import owner_digest
from mcp_tasks_server.runtime.context import TaskContext
from mcp_tasks_server.server.security import server_auth_kwargs

__all__ = ["HeldTools", "Probe", "held_tools_server", "session_owner"]


@dataclass
class Probe:
    """What one label's tool did. Made inside the event loop, on first use."""

    started: anyio.Event = field(default_factory=anyio.Event)
    stopped: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)
    cancelled: bool = False


class HeldTools:
    """The probes of a :func:`held_tools_server`, by label."""

    def __init__(self) -> None:
        self._probes: dict[str, Probe] = {}

    def __getitem__(self, label: str) -> Probe:
        if label not in self._probes:
            self._probes[label] = Probe()
        return self._probes[label]

    async def hold(self, label: str, *, asking: TaskContext | None = None) -> str:
        """Run until ``label`` is released; first ask ``asking``'s client a question."""
        probe = self[label]
        probe.started.set()
        try:
            if asking is not None:
                await asking.elicit("Go on?", {"type": "object", "properties": {}})
            await probe.release.wait()
        except anyio.get_cancelled_exc_class():
            probe.cancelled = True
            raise
        finally:
            probe.stopped.set()
        return f"{label}: released"


def held_tools_server(
    settings: Settings, *, backend: StorageBackend | None = None
) -> tuple[MCPServer[Any], Tasks, HeldTools]:
    """A fresh server (an HTTP app runs once) with ``hold`` and ``ask``, and their probes."""
    tasks = Tasks(settings, backend=backend)
    server: MCPServer[Any] = MCPServer("held-tools", **server_auth_kwargs(settings))
    tools = HeldTools()

    @tasks.tool(task_support="optional")
    async def hold(label: str) -> str:
        """Run until the test releases ``label``."""
        return await tools.hold(label)

    @tasks.tool(task_support="optional")
    async def ask(label: str, ctx: TaskContext) -> str:
        """Ask a question, then run until the test releases ``label``."""
        return await tools.hold(label, asking=ctx)

    tasks.install(server)
    return server, tasks, tools


def session_owner(settings: Settings, session_id: str) -> Owner:
    """The owner of the tasks an unauthenticated stateful session creates (the owner rule)."""
    return bind_owner(session_id=session_id, digest=owner_digest(settings))
