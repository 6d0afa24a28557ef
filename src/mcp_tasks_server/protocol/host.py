"""``TaskHost``: everything a protocol adapter may use, and nothing more.

The adapters (both eras, tasks as tools) never see the composition root
:class:`~mcp_tasks_server.protocol.tasks.Tasks`; they see this narrow host,
so they can be unit-tested with a fake one and cannot reach past it. The
composition root satisfies it, hands itself over as a ``TaskHost`` and owns
whatever state the adapters share (the 2025-11-25 channels).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from mcp_tasks_server.core.model import TaskRecord, TaskStatus
from mcp_tasks_server.core.owner import Owner

if TYPE_CHECKING:
    from mcp.server.context import HandlerResult, ServerRequestContext
    from mcp.server.mcpserver import Context, MCPServer

    from mcp_tasks_server.runtime.service import TaskService
    from mcp_tasks_server.settings import Settings

__all__ = ["Handler", "TaskHost", "TaskSupport"]


class TaskSupport(StrEnum):
    """How a tool may be called, as ``execution.taskSupport`` says on the wire."""

    FORBIDDEN = "forbidden"
    OPTIONAL = "optional"
    REQUIRED = "required"


class TaskHost(Protocol):
    """What the protocol adapters need from the runtime."""

    @property
    def service(self) -> TaskService:
        """The operations every era offers, including the one wait primitive."""

    @property
    def settings(self) -> Settings:
        """Read-only configuration (limits, budgets, prefixes)."""

    @property
    def server(self) -> MCPServer[Any]:
        """The ``MCPServer`` the tasks are installed on."""

    def owner(self, ctx: Any) -> Owner:
        """The owner of a request (``ctx`` is the SDK's request context)."""

    def support_of(self, tool_name: str) -> TaskSupport:
        """The task support of a tool; unknown tools are ``forbidden``."""

    async def start_task(
        self,
        owner: Owner,
        tool_name: str,
        arguments: Mapping[str, Any] | None,
        *,
        ttl_ms: int | None = None,
        tool_error_status: TaskStatus = TaskStatus.FAILED,
        context: Context[Any, Any] | None = None,
    ) -> TaskRecord:
        """Store a task for a tool call and start it; returns once durable."""


Handler: TypeAlias = Callable[
    ["TaskHost", "ServerRequestContext[Any, Any]", Any], Awaitable["HandlerResult"]
]
"""A ``tasks/*`` method of one era: the host, the request context, the validated params."""
