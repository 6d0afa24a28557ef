"""The 2026-07-28 era: the ``io.modelcontextprotocol/tasks`` extension (SEP-2663).

* A client opts in **per request**, by naming the extension in the
  request's ``_meta`` client capabilities. Without the opt-in, ``tasks/*``
  and calls to ``required`` tools get -32021 with ``requiredCapabilities``.
* **The server decides** whether a ``tools/call`` becomes a task: here,
  every opted-in call to a task-capable tool does. A legacy ``task`` param
  is ignored.
* The task-creation result is flat (``resultType: "task"``, ``ttlMs``,
  ``pollIntervalMs``) and is sent only once the task is durably stored.
* ``tasks/get`` inlines ``result``, ``error`` or ``inputRequests``;
  ``tasks/update`` stores answers before it acknowledges;
  ``tasks/cancel`` acknowledges, for finished tasks too.
* Over HTTP the ``Mcp-Name`` header must equal the ``taskId`` (-32020).
* A tool error completes the task with ``isError`` inlined; only a JSON-RPC
  error fails it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import decode_header_value
from mcp_types import HEADER_MISMATCH, CallToolRequestParams

from mcp_tasks_server.errors import TaskError, TaskTerminal
from mcp_tasks_server.model import TaskStatus
from mcp_tasks_server.protocol.errors import to_mcp_error
from mcp_tasks_server.protocol.wire import TASKS_EXTENSION, modern_task, modern_task_detail

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.install import Tasks

__all__ = ["METHODS", "intercept_tool_call", "opted_in"]


def opted_in(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request declared the tasks extension in its client capabilities."""
    capabilities = ctx.session.client_capabilities
    extensions = capabilities.extensions if capabilities is not None else None
    return bool(extensions) and TASKS_EXTENSION in extensions  # type: ignore[operator]


def _check_request(ctx: ServerRequestContext[Any, Any], task_id: str) -> None:
    """The opt-in first (-32021), then the ``Mcp-Name`` header over HTTP (-32020)."""
    require_client_extension(ctx, TASKS_EXTENSION)
    request = getattr(ctx, "request", None)
    if request is not None:
        name = request.headers.get("mcp-name")
        if name is None or decode_header_value(name) != task_id:
            raise MCPError(
                code=HEADER_MISMATCH,
                message="The Mcp-Name header must equal the taskId",
                data={"header": "Mcp-Name"},
            )


async def get(tasks: Tasks, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    _check_request(ctx, params.taskId)
    try:
        record = await tasks.service.get(tasks.owner(ctx), params.taskId)
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return {"resultType": "complete", **modern_task_detail(record)}


async def update(tasks: Tasks, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    _check_request(ctx, params.taskId)
    try:
        await tasks.service.deliver_input(tasks.owner(ctx), params.taskId, params.inputResponses)
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return {"resultType": "complete"}


async def cancel(tasks: Tasks, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    _check_request(ctx, params.taskId)
    try:
        await tasks.service.cancel(tasks.owner(ctx), params.taskId)
    except TaskTerminal:
        pass  # cancellation is cooperative here: a finished task is acknowledged as is
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return {"resultType": "complete"}


METHODS: Mapping[str, Any] = {"tasks/get": get, "tasks/update": update, "tasks/cancel": cancel}


async def intercept_tool_call(
    tasks: Tasks,
    params: CallToolRequestParams,
    ctx: ServerRequestContext[Any, Any],
    call_next: CallNext,
) -> HandlerResult:
    """Decide between a task and an immediate result for a 2026 ``tools/call``."""
    support = tasks.support_of(params.name)
    if support == "forbidden":
        return await call_next(ctx)
    if not opted_in(ctx):
        if support == "required":
            require_client_extension(ctx, TASKS_EXTENSION)
        return await call_next(ctx)
    try:
        record = await tasks.start_task(
            tasks.owner(ctx),
            params.name,
            params.arguments,
            tool_error_status=TaskStatus.COMPLETED,
        )
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return {"resultType": "task", **modern_task(record)}
