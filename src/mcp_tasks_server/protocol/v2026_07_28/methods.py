"""The 2026-07-28 era: the ``io.modelcontextprotocol/tasks`` extension (SEP-2663).

Owns this era's ``tasks/get``, ``tasks/update`` and ``tasks/cancel``, and the
``tools/call`` interceptor that decides whether a call becomes a task. Opt-in
is per request (undeclared requests get -32021 before any lookup), the
server decides which calls become tasks, a tool error *completes* the task
with ``isError`` inlined, and a tool's ``Resolve(...)`` parameters are asked
inside the request, before the task exists. Tasks created at 2025-11-25 by
the same owner are served here too, in this era's spelling.

The rules in full: ``docs/protocol-eras.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer, require_client_extension
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import resolve_arguments
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import decode_header_value
from mcp_types import (
    HEADER_MISMATCH,
    CallToolRequestParams,
    CallToolResult,
    InputRequiredResult,
    InputResponse,
    TextContent,
)
from pydantic import TypeAdapter, ValidationError

from mcp_tasks_server.core.errors import TaskError, TaskTerminal
from mcp_tasks_server.core.model import TaskStatus
from mcp_tasks_server.protocol import sdk
from mcp_tasks_server.protocol.errors import to_mcp_error
from mcp_tasks_server.protocol.shapes import TASKS_EXTENSION, modern_task, modern_task_detail

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.host import Handler, TaskHost

__all__ = ["METHODS", "intercept_tool_call", "opted_in", "require_opt_in"]

logger = logging.getLogger(__name__)

_ANSWER: TypeAdapter[Any] = TypeAdapter(InputResponse)


def opted_in(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request declared the tasks extension in its client capabilities."""
    capabilities = ctx.session.client_capabilities
    extensions = capabilities.extensions if capabilities is not None else None
    return extensions is not None and TASKS_EXTENSION in extensions


def require_opt_in(ctx: ServerRequestContext[Any, Any]) -> None:
    """-32021 with ``data.requiredCapabilities`` unless the request declared the extension."""
    require_client_extension(ctx, TASKS_EXTENSION)


def _check_name_header(host: TaskHost, ctx: ServerRequestContext[Any, Any], task_id: str) -> None:
    """Over HTTP, an ``Mcp-Name`` header must carry the ``taskId`` the body names (-32020).

    The spec makes the header a client MUST, but popular clients (fastmcp's
    ``Client`` with fastmcp-tasks) send none on ``tasks/*``. A missing header
    is accepted unless ``MCP_TASKS_STRICT_HEADERS`` is set: nothing but
    routing reads it, and the body's ``taskId`` is what is authorised. A
    header that names another task is always refused.
    """
    request = getattr(ctx, "request", None)
    if request is None:
        return  # stdio and in-process requests carry no headers
    raw = request.headers.get("mcp-name")
    if raw is None and not host.settings.strict_headers:
        return
    if decode_header_value(raw) != task_id:
        raise MCPError(
            code=HEADER_MISMATCH,
            message="The Mcp-Name header must equal params.taskId",
            data={"header": "Mcp-Name"},
        )


async def get(host: TaskHost, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    _check_name_header(host, ctx, params.taskId)
    try:
        record = await host.service.get(host.owner(ctx), params.taskId)
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return {"resultType": "complete", **modern_task_detail(record)}


async def update(host: TaskHost, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    _check_name_header(host, ctx, params.taskId)
    answers = _well_formed_answers(params.inputResponses)
    try:
        delivery = await host.service.deliver_input(host.owner(ctx), params.taskId, answers)
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    ignored = len(params.inputResponses) - len(delivery.accepted)
    if ignored:
        task = host.service.store.observers.ids.task(params.taskId)
        logger.debug("task %s: ignored %d of the answers given", task, ignored)
    return {"resultType": "complete"}


async def cancel(host: TaskHost, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    _check_name_header(host, ctx, params.taskId)
    try:
        await host.service.cancel(host.owner(ctx), params.taskId)
    except TaskTerminal:
        pass  # cancellation is cooperative here: a finished task is acknowledged as is
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return {"resultType": "complete"}


METHODS: Mapping[str, Handler] = {"tasks/get": get, "tasks/update": update, "tasks/cancel": cancel}


def _well_formed_answers(responses: Mapping[str, Any]) -> dict[str, Any]:
    """The answers that are some valid input response, kept exactly as the client sent them."""
    answers: dict[str, Any] = {}
    for key, value in responses.items():
        try:
            _ANSWER.validate_python(value, by_name=False)
        except ValidationError:
            continue
        answers[key] = value
    return answers


# ---------------------------------------------------------------------- tools/call


async def intercept_tool_call(
    host: TaskHost,
    params: CallToolRequestParams,
    ctx: ServerRequestContext[Any, Any],
    call_next: CallNext,
) -> HandlerResult:
    """Decide between a task and an immediate result for a 2026 ``tools/call``."""
    support = host.support_of(params.name)
    if support == "forbidden":
        return await call_next(ctx)  # params.task, if a client sent one, is ignored
    if not opted_in(ctx):
        if support == "required":
            require_opt_in(ctx)
        return await call_next(ctx)
    context = _resolving_context(host.server, params, ctx)
    if context is not None:
        before = await _resolve_before_task(host.server, params, context)
        if before is not None:
            return before
    try:
        record = await host.start_task(
            host.owner(ctx),
            params.name,
            params.arguments,
            tool_error_status=TaskStatus.COMPLETED,
            context=context,
        )
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return {"resultType": "task", **modern_task(record)}


def _resolving_context(
    server: MCPServer[Any], params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any]
) -> Context[Any, Any] | None:
    """The SDK context for a tool with resolver parameters; ``None`` for any other tool.

    It carries this request's ``inputResponses`` and (opened) ``requestState``
    to the resolvers, here and again in the background run.
    """
    if not sdk.resolves_before_running(server, params.name):
        return None
    return Context(request_context=ctx, mcp_server=server, input_params=params)


async def _resolve_before_task(
    server: MCPServer[Any], params: CallToolRequestParams, context: Context[Any, Any]
) -> InputRequiredResult | CallToolResult | None:
    """Run the tool's resolver parameters inside the request, before any task exists.

    Returns the ``InputRequiredResult`` while a resolver still waits for an
    answer, an ``isError`` result if a resolver refused (a declined
    elicitation, say), and ``None`` when the task may start. The background
    run re-runs the resolvers with this request's answers and ``requestState``
    (resolvers are the SDK's re-runnable input phase), so they resolve to the
    same values without asking again.
    """
    tool = sdk.find_tool(server, params.name)
    if tool is None:
        return None
    try:
        arguments = tool.fn_metadata.validate_arguments(params.arguments or {})
    except Exception:
        return None  # the task reports the argument error exactly as an inline call would
    try:
        resolved = await resolve_arguments(
            tool.resolved_params, tool.resolver_plans, arguments, context
        )
    except MCPError:
        raise  # e.g. -32021: the client cannot answer the question (no elicitation)
    except ToolError as exc:
        return _tool_error(f"Error executing tool {tool.name}: {exc}")
    except Exception:
        logger.exception("a resolver of tool %r raised", tool.name)
        return _tool_error(f"Error executing tool {tool.name}")
    return resolved if isinstance(resolved, InputRequiredResult) else None


def _tool_error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)
