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

The checks run in the order that keeps each answer honest:

1. the method must exist in the request's era (-32601), so a removed
   method is reported as removed whatever its params look like;
2. at 2026-07-28, the request must declare the extension (-32021), before
   anything about the task is looked at;
3. the params must have the method's shape (-32602);
4. then the era's handler runs (which, at 2026-07-28, checks ``Mcp-Name``
   before it looks the task up).

That is why the SDK binding takes any params and the typed validation
happens here, per era, rather than in the SDK before the era is known.

The extension is advertised under ``capabilities.extensions`` in
``server/discover``; the SDK strips it from the 2025-11-25 ``initialize``
answer, where the legacy ``capabilities.tasks`` takes its place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND, CallToolRequestParams, RequestParams
from pydantic import ConfigDict, Field, ValidationError

from mcp_tasks_server.protocol.host import Handler
from mcp_tasks_server.protocol.params import TaskIdParams, TaskUpdateParams
from mcp_tasks_server.protocol.shapes import LEGACY_VERSION, MODERN_VERSION, TASKS_EXTENSION
from mcp_tasks_server.protocol.v2025_11_25 import methods as v2025_11_25
from mcp_tasks_server.protocol.v2025_11_25.channel import LegacyChannels
from mcp_tasks_server.protocol.v2026_07_28 import methods as v2026_07_28

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.host import TaskHost

__all__ = ["TaskIdParams", "TaskListParams", "TaskUpdateParams", "TasksExtension"]


TaskId = Annotated[str, Field(min_length=1, max_length=256)]
"""The task ids this server accepts; anything else is -32602 before any lookup."""


class _TaskIdParams(TaskIdParams):
    model_config = ConfigDict(extra="allow")
    taskId: TaskId


class _TaskUpdateParams(TaskUpdateParams):
    model_config = ConfigDict(extra="allow")
    taskId: TaskId


class TaskListParams(RequestParams):
    model_config = ConfigDict(extra="allow")
    cursor: str | None = Field(default=None, max_length=4096)


class _AnyParams(RequestParams):
    """What the SDK validates before dispatch: anything; the era validates the rest."""

    model_config = ConfigDict(extra="allow")


_PARAMS: Mapping[str, type[RequestParams]] = {
    "tasks/get": _TaskIdParams,
    "tasks/result": _TaskIdParams,
    "tasks/cancel": _TaskIdParams,
    "tasks/list": TaskListParams,
    "tasks/update": _TaskUpdateParams,
}


class TasksExtension(Extension):
    """``io.modelcontextprotocol/tasks``, plus the 2025-11-25 methods of the same names."""

    identifier = TASKS_EXTENSION

    def __init__(self, host: TaskHost, channels: LegacyChannels) -> None:
        self.host = host
        self._by_version: Mapping[str, Mapping[str, Handler]] = {
            LEGACY_VERSION: v2025_11_25.methods(channels),
            MODERN_VERSION: v2026_07_28.METHODS,
        }

    def settings(self) -> dict[str, Any]:
        return {}

    def methods(self) -> list[MethodBinding]:
        return [MethodBinding(method, _AnyParams, self._dispatcher(method)) for method in _PARAMS]

    def _dispatcher(
        self, method: str
    ) -> Callable[[ServerRequestContext[Any, Any], Any], Awaitable[HandlerResult]]:
        params_type = _PARAMS[method]

        async def dispatch(ctx: ServerRequestContext[Any, Any], _: Any) -> HandlerResult:
            version = ctx.protocol_version or ""
            handler = self._by_version.get(version, {}).get(method)
            if handler is None:
                raise MCPError(code=METHOD_NOT_FOUND, message="Method not found", data=method)
            if version == MODERN_VERSION:
                v2026_07_28.require_opt_in(ctx)
            params = _validate(method, params_type, ctx.params)
            return await handler(self.host, ctx, params)

        return dispatch

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        if ctx.protocol_version == MODERN_VERSION:
            return await v2026_07_28.intercept_tool_call(self.host, params, ctx, call_next)
        return await call_next(ctx)


def _validate(
    method: str, params_type: type[RequestParams], raw: Mapping[str, Any] | None
) -> RequestParams:
    """The method's typed params, or -32602 naming the offending fields (never their values)."""
    try:
        return params_type.model_validate({} if raw is None else dict(raw), by_name=False)
    except ValidationError as exc:
        problems = sorted(
            {
                f"{'.'.join(str(part) for part in error['loc']) or 'params'}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)
            }
        )
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"Invalid params for {method}: " + "; ".join(problems),
        ) from None
