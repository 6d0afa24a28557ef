"""The ``tasks/*`` methods, bound once and dispatched by protocol era.

The SDK allows one binding per method, and both eras share method names
(``tasks/get``, ``tasks/cancel``), so this extension binds every method once
and routes each request by its negotiated version:

=================  ==================  ===========================
method             2025-11-25          2026-07-28 (this extension)
=================  ==================  ===========================
``tasks/get``      legacy              modern
``tasks/cancel``   legacy              modern
``tasks/result``   legacy              -32601
``tasks/list``     legacy              -32601
``tasks/update``   -32601              modern
=================  ==================  ===========================

Any other version (older handshakes, or a stateless request without the
version header) gets -32601: tasks do not exist there. The SDK applies no
version gate to these methods itself.

The extension is advertised under ``capabilities.extensions`` in
``server/discover``; the SDK strips it from the 2025-11-25 ``initialize``
answer, where the legacy ``capabilities.tasks`` takes its place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp_types import METHOD_NOT_FOUND, CallToolRequestParams, RequestParams
from pydantic import ConfigDict, Field

from mcp_tasks_server.protocol import legacy
from mcp_tasks_server.protocol import modern as modern
from mcp_tasks_server.protocol.wire import LEGACY_VERSION, MODERN_VERSION, TASKS_EXTENSION

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.install import Tasks

__all__ = ["TaskIdParams", "TaskListParams", "TaskUpdateParams", "TasksExtension"]

Handler = Callable[["Tasks", ServerRequestContext[Any, Any], Any], Awaitable[HandlerResult]]


class TaskIdParams(RequestParams):
    """``{taskId}``: the params of ``tasks/get``, ``tasks/result`` and ``tasks/cancel``."""

    model_config = ConfigDict(extra="allow")
    taskId: str = Field(min_length=1, max_length=256)


class TaskListParams(RequestParams):
    model_config = ConfigDict(extra="allow")
    cursor: str | None = Field(default=None, max_length=4096)


class TaskUpdateParams(TaskIdParams):
    inputResponses: dict[str, Any] = Field(default_factory=dict)


_PARAMS: Mapping[str, type[RequestParams]] = {
    "tasks/get": TaskIdParams,
    "tasks/result": TaskIdParams,
    "tasks/cancel": TaskIdParams,
    "tasks/list": TaskListParams,
    "tasks/update": TaskUpdateParams,
}

_BY_VERSION: Mapping[str, Mapping[str, Handler]] = {
    LEGACY_VERSION: legacy.METHODS,
    MODERN_VERSION: modern.METHODS,
}


class TasksExtension(Extension):
    """``io.modelcontextprotocol/tasks``, plus the 2025-11-25 methods of the same names."""

    identifier = TASKS_EXTENSION

    def __init__(self, tasks: Tasks) -> None:
        self.tasks = tasks

    def settings(self) -> dict[str, Any]:
        return {}

    def methods(self) -> list[MethodBinding]:
        return [
            MethodBinding(method, params_type, self._dispatcher(method))
            for method, params_type in _PARAMS.items()
        ]

    def _dispatcher(
        self, method: str
    ) -> Callable[[ServerRequestContext[Any, Any], Any], Awaitable[HandlerResult]]:
        async def dispatch(ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
            handler = _BY_VERSION.get(ctx.protocol_version or "", {}).get(method)
            if handler is None:
                raise MCPError(code=METHOD_NOT_FOUND, message="Method not found", data=method)
            return await handler(self.tasks, ctx, params)

        return dispatch

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        if ctx.protocol_version == MODERN_VERSION:
            return await modern.intercept_tool_call(self.tasks, params, ctx, call_next)
        return await call_next(ctx)
