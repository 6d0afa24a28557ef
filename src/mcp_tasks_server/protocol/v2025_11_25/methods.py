"""The 2025-11-25 era (SEP-1686): task-augmented ``tools/call`` and four ``tasks/*`` methods.

``mcp`` 2.3 sieves every ``tools/call`` result through the 2025
``CallToolResult`` schema, which turns a ``CreateTaskResult`` into -32603
or silently drops its ``task``. So the task-augmented call is answered by
context-tier **middleware** that short-circuits before the sieve. The same
middleware advertises ``capabilities.tasks`` on ``initialize`` and
``execution.taskSupport`` on ``tools/list``, which the SDK never emits.

Rules of this era, as implemented here:

* only at exactly ``2025-11-25``: older handshakes never see tasks (no
  capability, ``tasks/*`` is -32601, a ``task`` param is ignored and the
  tool runs as an ordinary call);
* ``capabilities.tasks.list`` only when tasks are bound to an owner; where
  they are not (stateless HTTP without authentication) ``tasks/list`` is
  -32601, as for any method a server does not declare;
* a ``taskSupport`` mismatch gets -32601, in both directions;
* unknown, expired and foreign tasks get -32602 with one message
  (``Task not found``, with no id), so existence never leaks;
* ``tasks/result`` blocks until the task is finished and answers with the
  ``CallToolResult`` plus the related-task ``_meta`` (never ``resultType``),
  or with the JSON-RPC error the call ended with; a cancelled task has
  neither, and gets -32602 saying so;
* ``tasks/cancel`` stores ``cancelled`` before answering and stops the
  coroutine; a finished task gets -32602;
* a tool error (``isError``) fails the task; ``tasks/result`` still returns
  that ``CallToolResult``.

Status and progress notifications, and input relayed through
``tasks/result``, need a channel back to the client: they live in
:mod:`mcp_tasks_server.protocol.v2025_11_25.channel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_tasks_server.core.errors import InvalidArgument, TaskError, TaskTerminal
from mcp_tasks_server.core.model import TaskRecord, TaskStatus
from mcp_tasks_server.protocol.errors import to_mcp_error
from mcp_tasks_server.protocol.host import Handler
from mcp_tasks_server.protocol.shapes import (
    LEGACY_VERSION,
    legacy_result,
    legacy_task,
    with_progress,
)
from mcp_tasks_server.protocol.v2025_11_25.channel import LegacyChannels, ResultWait

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.host import TaskHost

__all__ = ["LegacyTasksMiddleware", "methods"]

#: The ``tasks/*`` methods of this era; any other ``tasks/*`` method is -32601 here.
LEGACY_METHODS = frozenset({"tasks/get", "tasks/result", "tasks/list", "tasks/cancel"})


class LegacyTasksMiddleware:
    """Context-tier middleware that adds the 2025-11-25 task surface."""

    def __init__(self, host: TaskHost, channels: LegacyChannels) -> None:
        self.host = host
        self.channels = channels

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "initialize":
            return self._advertise(ctx, await call_next(ctx))
        version = ctx.protocol_version
        if version != LEGACY_VERSION:
            if ctx.method.startswith("tasks/") and version not in MODERN_PROTOCOL_VERSIONS:
                raise _method_not_found(ctx.method)  # tasks do not exist before 2025-11-25
            return await call_next(ctx)
        if ctx.method.startswith("tasks/") and ctx.method not in LEGACY_METHODS:
            raise _method_not_found(ctx.method)  # e.g. tasks/update, a 2026 method
        if ctx.method == "tools/list":
            return self._annotate_tools(await call_next(ctx))
        if ctx.method == "tools/call" and isinstance(ctx.params, Mapping):
            return await self._call_tool(ctx, ctx.params, call_next)
        return await call_next(ctx)

    def _advertise(
        self, ctx: ServerRequestContext[Any, Any], result: HandlerResult
    ) -> HandlerResult:
        # Decide on the negotiated version in the answer: the context's
        # version is not settled until initialize completes.
        if isinstance(result, dict) and result.get("protocolVersion") == LEGACY_VERSION:
            tasks: dict[str, Any] = {"cancel": {}, "requests": {"tools": {"call": {}}}}
            if self.host.owner(ctx).can_list:
                tasks = {"list": {}, **tasks}
            result.setdefault("capabilities", {})["tasks"] = tasks
        return result

    def _annotate_tools(self, result: HandlerResult) -> HandlerResult:
        if isinstance(result, dict):
            for tool in result.get("tools", []):
                support = self.host.support_of(tool.get("name", ""))
                if support != "forbidden":
                    tool["execution"] = {"taskSupport": support.value}
        return result

    async def _call_tool(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: Mapping[str, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        name = params.get("name")
        if not isinstance(name, str):
            return await call_next(ctx)  # the SDK reports malformed params
        support = self.host.support_of(name)
        metadata = params.get("task")
        if metadata is None:  # absent, or an explicit null: an ordinary call
            if support == "required":
                raise MCPError(
                    code=METHOD_NOT_FOUND, message=f"Tool {name!r} must be called as a task"
                )
            return await call_next(ctx)
        if support == "forbidden":
            raise MCPError(
                code=METHOD_NOT_FOUND, message=f"Tool {name!r} does not support task execution"
            )
        if not isinstance(metadata, Mapping):
            raise MCPError(code=INVALID_PARAMS, message="task must be an object")
        arguments = params.get("arguments")
        if arguments is not None and not isinstance(arguments, Mapping):
            raise MCPError(code=INVALID_PARAMS, message="arguments must be an object")
        owner = self.host.owner(ctx)
        try:
            record = await self.host.start_task(
                owner, name, arguments, ttl_ms=_requested_ttl(metadata.get("ttl"))
            )
        except InvalidArgument as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None
        except TaskError as exc:
            raise to_mcp_error(exc) from None
        # Subscribe before anything awaits: the tool has not started yet, so
        # no change can be missed.
        self.channels.subscribe(ctx, owner, record, _progress_token(params))
        return {"task": legacy_task(record)}


def _method_not_found(method: str) -> MCPError:
    return MCPError(code=METHOD_NOT_FOUND, message="Method not found", data=method)


def _requested_ttl(value: Any) -> int | None:
    """The client's ``task.ttl``: milliseconds, or None (absent or null) for the default."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MCPError(code=INVALID_PARAMS, message="task.ttl must be a whole number of ms")
    return value


def _progress_token(params: Mapping[str, Any]) -> str | int | None:
    meta = params.get("_meta")
    token = meta.get("progressToken") if isinstance(meta, Mapping) else None
    if isinstance(token, bool) or not isinstance(token, str | int):
        return None
    return token


# ---------------------------------------------------------------------- tasks/* handlers


async def _lookup(host: TaskHost, ctx: ServerRequestContext[Any, Any], task_id: str) -> TaskRecord:
    try:
        return await host.service.get(host.owner(ctx), task_id)
    except TaskError as exc:
        raise to_mcp_error(exc) from None


async def get(host: TaskHost, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    record = await _lookup(host, ctx, params.taskId)
    return with_progress(legacy_task(record), record)


async def result(
    host: TaskHost, channels: LegacyChannels, ctx: ServerRequestContext[Any, Any], params: Any
) -> HandlerResult:
    try:
        record = await ResultWait(host, channels, ctx, params.taskId).run()
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    if record.result is not None:
        return legacy_result(record)
    if record.status is TaskStatus.CANCELLED:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"Task {record.task_id} was cancelled; it has no result",
            data={"taskId": record.task_id, "status": record.status.value},
        )
    error = record.error or {
        "code": INTERNAL_ERROR,
        "message": record.status_message or "The task failed",
    }
    raise MCPError(code=int(error["code"]), message=str(error["message"]), data=error.get("data"))


async def list_tasks(
    host: TaskHost, ctx: ServerRequestContext[Any, Any], params: Any
) -> HandlerResult:
    try:
        page = await host.service.list(host.owner(ctx), params.cursor)
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    answer: dict[str, Any] = {"tasks": [legacy_task(record) for record in page.records]}
    if page.next_cursor is not None:
        answer["nextCursor"] = page.next_cursor
    return answer


async def cancel(host: TaskHost, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    try:
        record = await host.service.cancel(host.owner(ctx), params.taskId)
    except TaskTerminal as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return legacy_task(record)


def methods(channels: LegacyChannels) -> Mapping[str, Handler]:
    """The ``tasks/*`` handlers of this era; ``tasks/result`` relays input through ``channels``."""

    async def result_with_channels(
        host: TaskHost, ctx: ServerRequestContext[Any, Any], params: Any
    ) -> HandlerResult:
        return await result(host, channels, ctx, params)

    return {
        "tasks/get": get,
        "tasks/result": result_with_channels,
        "tasks/list": list_tasks,
        "tasks/cancel": cancel,
    }
