"""The 2025-11-25 era (SEP-1686): task-augmented ``tools/call`` and four ``tasks/*`` methods.

``mcp`` 2.3 sieves every ``tools/call`` result through the 2025
``CallToolResult`` schema, which turns a ``CreateTaskResult`` into -32603
or silently drops its ``task``. So the task-augmented call is answered by
context-tier **middleware** that short-circuits before the sieve. The same
middleware advertises ``capabilities.tasks`` on ``initialize`` and
``execution.taskSupport`` on ``tools/list``, which the SDK never emits.

Rules of this era, as implemented here:

* only at exactly ``2025-11-25``; older versions never see tasks;
* ``capabilities.tasks.list`` only when tasks are bound to an owner;
* a ``taskSupport`` mismatch gets -32601;
* unknown, expired and foreign tasks get -32602 with one message;
* ``tasks/result`` blocks until the task is finished, answers with the
  ``CallToolResult`` (or the JSON-RPC error) and the related-task ``_meta``;
* ``tasks/cancel`` stores ``cancelled`` before answering; a finished task
  gets -32602;
* a tool error (``isError``) fails the task; ``tasks/result`` still returns
  that ``CallToolResult``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND

from mcp_tasks_server.errors import InvalidArgument, TaskError, TaskTerminal
from mcp_tasks_server.model import TaskRecord
from mcp_tasks_server.protocol.errors import to_mcp_error
from mcp_tasks_server.protocol.wire import LEGACY_VERSION, legacy_result, legacy_task

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.install import Tasks

__all__ = ["METHODS", "LegacyTasksMiddleware"]


class LegacyTasksMiddleware:
    """Context-tier middleware that adds the 2025-11-25 task surface."""

    def __init__(self, tasks: Tasks) -> None:
        self.tasks = tasks

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "initialize":
            return self._advertise(ctx, await call_next(ctx))
        if ctx.protocol_version != LEGACY_VERSION:
            return await call_next(ctx)
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
            if self.tasks.owner(ctx).can_list:
                tasks = {"list": {}, **tasks}
            result.setdefault("capabilities", {})["tasks"] = tasks
        return result

    def _annotate_tools(self, result: HandlerResult) -> HandlerResult:
        if isinstance(result, dict):
            for tool in result.get("tools", []):
                support = self.tasks.support_of(tool.get("name", ""))
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
        support = self.tasks.support_of(name)
        augmented = "task" in params
        if augmented and support == "forbidden":
            raise MCPError(
                code=METHOD_NOT_FOUND, message=f"Tool {name!r} does not support task execution"
            )
        if not augmented:
            if support == "required":
                raise MCPError(
                    code=METHOD_NOT_FOUND, message=f"Tool {name!r} must be called as a task"
                )
            return await call_next(ctx)
        metadata = params.get("task")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, Mapping):
            raise MCPError(code=INVALID_PARAMS, message="task must be an object")
        arguments = params.get("arguments")
        if arguments is not None and not isinstance(arguments, Mapping):
            raise MCPError(code=INVALID_PARAMS, message="arguments must be an object")
        try:
            record = await self.tasks.start_task(
                self.tasks.owner(ctx), name, arguments, ttl_ms=metadata.get("ttl")
            )
        except InvalidArgument as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None
        except TaskError as exc:
            raise to_mcp_error(exc) from None
        return {"task": legacy_task(record)}


async def _lookup(tasks: Tasks, ctx: ServerRequestContext[Any, Any], task_id: str) -> TaskRecord:
    try:
        return await tasks.service.get(tasks.owner(ctx), task_id)
    except TaskError as exc:
        raise to_mcp_error(exc) from None


async def get(tasks: Tasks, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    return legacy_task(await _lookup(tasks, ctx, params.taskId))


async def result(tasks: Tasks, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    try:
        record = await tasks.service.result(tasks.owner(ctx), params.taskId)
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    if record.result is not None:
        return legacy_result(record)
    error = record.error or {"code": -32603, "message": record.status_message or "Task ended"}
    raise MCPError(
        code=int(error["code"]),
        message=str(error["message"]),
        data=error.get("data"),
    )


async def list_tasks(
    tasks: Tasks, ctx: ServerRequestContext[Any, Any], params: Any
) -> HandlerResult:
    try:
        page = await tasks.service.list(tasks.owner(ctx), params.cursor)
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    answer: dict[str, Any] = {"tasks": [legacy_task(record) for record in page.records]}
    if page.next_cursor is not None:
        answer["nextCursor"] = page.next_cursor
    return answer


async def cancel(tasks: Tasks, ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
    try:
        record = await tasks.service.cancel(tasks.owner(ctx), params.taskId)
    except TaskTerminal as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None
    except TaskError as exc:
        raise to_mcp_error(exc) from None
    return legacy_task(record)


METHODS: Mapping[str, Any] = {
    "tasks/get": get,
    "tasks/result": result,
    "tasks/list": list_tasks,
    "tasks/cancel": cancel,
}
