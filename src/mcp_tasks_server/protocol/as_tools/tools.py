"""Tasks as ordinary tools and resources, for clients with no task support.

Owns the inline budget (a call to a task-capable tool that no era claims is
stored as a task at once and waited on for ``inline_budget_seconds``; then
it answers with the result, or a handle that says what to call next), the
task tools (``tasks_get`` and friends) and the ``task://{task_id}`` resource.

The budget lives *above* the tool, as a wrapper of the ``tools/call``
handler, because the SDK checks a tool's return value against its output
schema and a handle is not the tool's output; a ``tools/list`` wrapper
widens those schemas. Both wrappers are installed last by
:meth:`Tasks.install`: recomposing the extensions' interceptor later would
drop them. Behaviour in full: ``docs/tasks-as-tools.md``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing, suppress
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from mcp.server.context import HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp_types import CallToolRequestParams, CallToolResult
from pydantic import BaseModel, Field

from mcp_tasks_server.core.errors import (
    CapacityExceeded,
    ConfigError,
    TaskError,
    TaskNotFound,
    TaskTerminal,
)
from mcp_tasks_server.core.model import TaskRecord, TaskStatus
from mcp_tasks_server.core.owner import Owner
from mcp_tasks_server.protocol import sdk
from mcp_tasks_server.protocol.as_tools.text import (
    TaskToolNames,
    answer_for,
    describe,
    handle_result,
    outcome_result,
    task_view,
    text_result,
    widen_output_schema,
)
from mcp_tasks_server.protocol.errors import from_error_object, to_mcp_error
from mcp_tasks_server.protocol.shapes import MODERN_VERSION, result_body
from mcp_tasks_server.protocol.v2026_07_28.methods import opted_in

if TYPE_CHECKING:
    from mcp_tasks_server.protocol.host import TaskHost

__all__ = ["TASK_RESOURCE_TEMPLATE", "TaskToolNames", "install_task_tools"]


TASK_RESOURCE_TEMPLATE = "task://{task_id}"

Handler = Callable[[ServerRequestContext[Any, Any], Any], Awaitable[HandlerResult]]

TaskId = Annotated[str, Field(description="The task id, as given by the call that started it.")]
Cursor = Annotated[
    str | None, Field(description="nextCursor from the previous page; omit for the first page.")
]
AnswerKey = Annotated[
    str | None,
    Field(description="Which question to answer; may be omitted when only one is open."),
]
AnswerContent = Annotated[
    dict[str, Any] | None,
    Field(description="The answer: an object with the fields the question asks for."),
]
AnswerAction = Annotated[
    Literal["accept", "decline", "cancel"],
    Field(description="accept (answer with content), decline (refuse) or cancel (dismiss)."),
]


def install_task_tools(host: TaskHost, server: MCPServer[Any]) -> None:
    """Register the task tools, the task resource template and the inline budget on ``server``.

    Does nothing when ``Settings.as_tools`` is off: task tools called
    without a task then run inline, as plain tools. Raises ``ConfigError``
    when the server already has a tool of one of the task tools' names.
    """
    if not host.settings.as_tools:
        return
    fallback = _Fallback(host, TaskToolNames.with_prefix(host.settings.tool_prefix))
    clashes = [name for name in fallback.names.all() if sdk.find_tool(server, name)]
    if clashes:
        raise ConfigError(
            f"the server already has a tool named {clashes[0]!r}; set MCP_TASKS_TOOL_PREFIX "
            "to give the task tools other names"
        )
    fallback.register(server)
    sdk.wrap_request_handler(server, "tools/call", fallback.wrap_call_tool)
    sdk.wrap_request_handler(server, "tools/list", fallback.wrap_list_tools)


class _Fallback:
    """The inline budget and the task tools of one server."""

    def __init__(self, host: TaskHost, names: TaskToolNames) -> None:
        self.host = host
        self.names = names
        self.budget = host.settings.inline_budget_seconds

    # ------------------------------------------------------------------ tools/call

    def wrap_call_tool(self, inner: Handler) -> Handler:
        async def call_tool(
            ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
        ) -> HandlerResult:
            support = self.host.support_of(params.name)
            # A tool with Resolve(...) parameters answers them inside the request
            # (an inline elicitation, or a multi-round call at 2026-07-28); run in
            # the background it would ask again where the request is gone.
            if (
                support == "forbidden"
                or _claimed_by_modern_era(ctx, support)
                or sdk.resolves_before_running(self.host.server, params.name)
            ):
                return await inner(ctx, params)
            return await self._call_within_budget(ctx, params, inner)

        return call_tool

    async def _call_within_budget(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: CallToolRequestParams,
        inner: Handler,
    ) -> HandlerResult:
        owner = self.host.owner(ctx)
        try:
            # Arguments too big to store are refused like any other bad input:
            # running them inline instead would bypass the task quota.
            record = await self.host.start_task(owner, params.name, params.arguments)
        except TaskError as exc:
            raise to_mcp_error(exc) from None
        try:
            record = await self._settle(ctx, owner, record)
        except CapacityExceeded:
            pass  # too many waiting calls here: answer with the task handle at once
        except anyio.get_cancelled_exc_class():
            # The caller gave up on the call before it learnt the task id: stop the work.
            with anyio.CancelScope(shield=True), suppress(TaskError):
                await self.host.service.cancel(owner, record.task_id)
            raise
        # Typed results, so the SDK shapes them for whichever version the call speaks.
        if not record.is_terminal:
            return _model(handle_result(record, self.names, self.budget))
        if record.result is not None:
            return _model(result_body(record))
        if record.status is TaskStatus.CANCELLED:
            text = f"{params.name} was cancelled before it finished."
            return _model(text_result(text, is_error=True))
        raise from_error_object(record.failure_error())

    async def _settle(
        self,
        ctx: ServerRequestContext[Any, Any] | None,
        owner: Owner,
        record: TaskRecord,
    ) -> TaskRecord:
        """Wait up to the budget for the task to finish or to ask for input.

        Progress the task stores meanwhile is relayed to the waiting request,
        for clients that sent a progress token (some restart their timeout
        on progress).
        """
        relayed = float("-inf")
        with anyio.move_on_after(self.budget):
            watch = self.host.service.watch(owner, record.task_id, latest=record)
            async with aclosing(watch) as records:
                async for record in records:
                    if record.status is not TaskStatus.WORKING:
                        break
                    progress = record.progress
                    if ctx is not None and progress is not None and progress.progress > relayed:
                        relayed = progress.progress
                        await ctx.session.report_progress(
                            progress.progress, progress.total, progress.message
                        )
        return record

    # ------------------------------------------------------------------ tools/list

    def wrap_list_tools(self, inner: Handler) -> Handler:
        async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
            result = await inner(ctx, params)
            listed = (
                result.model_dump(by_alias=True, mode="json", exclude_none=True)
                if isinstance(result, BaseModel)
                else dict(result or {})
            )
            hide_listing = not self.host.owner(ctx).can_list
            tools = []
            for tool in listed.get("tools", []):
                name = tool.get("name", "")
                if hide_listing and name == self.names.listing:
                    continue
                schema = tool.get("outputSchema")
                if schema is not None and self.host.support_of(name) != "forbidden":
                    tool = {**tool, "outputSchema": widen_output_schema(schema)}
                tools.append(tool)
            listed["tools"] = tools
            return listed

        return list_tools

    # ------------------------------------------------------------------ the task tools

    def register(self, server: MCPServer[Any]) -> None:
        names = self.names
        for name, fn, description in (
            (names.get, self.get, _GET_DOC),
            (names.result, self.result, _RESULT_DOC),
            (names.respond, self.respond, _RESPOND_DOC),
            (names.cancel, self.cancel, _CANCEL_DOC),
            (names.listing, self.list_tasks, _LIST_DOC),
        ):
            server.add_tool(fn, name=name, description=description, structured_output=False)
        server.resource(
            TASK_RESOURCE_TEMPLATE,
            name="task",
            title="Task state",
            description="The state of one task as JSON: status, progress, open questions.",
            mime_type="application/json",
        )(self.read_resource)

    def _owner(self, ctx: Context[Any, Any]) -> Owner:
        return self.host.owner(ctx.request_context)

    def _describe(self, record: TaskRecord) -> CallToolResult:
        return _model(
            text_result(describe(record, self.names, self.budget), {"task": task_view(record)})
        )

    async def get(self, task_id: TaskId, ctx: Context[Any, Any]) -> CallToolResult:
        try:
            record = await self.host.service.get(self._owner(ctx), task_id)
        except TaskError as exc:
            return _error(exc)
        return self._describe(record)

    async def result(self, task_id: TaskId, ctx: Context[Any, Any]) -> CallToolResult:
        owner = self._owner(ctx)
        try:
            record = await self.host.service.get(owner, task_id)
            record = await self._settle(ctx.request_context, owner, record)
        except TaskError as exc:
            return _error(exc)
        return self._finished_or_handle(record)

    def _finished_or_handle(self, record: TaskRecord) -> CallToolResult:
        if record.is_terminal:
            return _model(outcome_result(record))
        return _model(handle_result(record, self.names, self.budget))

    async def respond(
        self,
        task_id: TaskId,
        ctx: Context[Any, Any],
        content: AnswerContent = None,
        action: AnswerAction = "accept",
        key: AnswerKey = None,
    ) -> CallToolResult:
        owner = self._owner(ctx)
        try:
            record = await self.host.service.get(owner, task_id)
            answer = answer_for(record, key, content, action)
            if isinstance(answer, str):
                return _model(text_result(answer, {"task": task_view(record)}, is_error=True))
            delivery = await self.host.service.deliver_input(owner, task_id, answer)
            if not delivery.accepted:
                text = f"That question was already answered.\n\n{self._text(delivery.record)}"
                return _model(
                    text_result(text, {"task": task_view(delivery.record)}, is_error=True)
                )
            record = await self._settle(ctx.request_context, owner, delivery.record)
        except TaskError as exc:
            return _error(exc)
        return self._finished_or_handle(record)

    async def cancel(self, task_id: TaskId, ctx: Context[Any, Any]) -> CallToolResult:
        owner = self._owner(ctx)
        try:
            record = await self.host.service.cancel(owner, task_id)
        except TaskTerminal:
            try:
                record = await self.host.service.get(owner, task_id)
            except TaskError as exc:
                return _error(exc)
            text = f"Nothing to cancel: the task had already finished.\n\n{self._text(record)}"
            return _model(text_result(text, {"task": task_view(record)}))
        except TaskError as exc:
            return _error(exc)
        return self._describe(record)

    async def list_tasks(self, ctx: Context[Any, Any], cursor: Cursor = None) -> CallToolResult:
        try:
            page = await self.host.service.list(self._owner(ctx), cursor)
        except TaskError as exc:
            return _error(exc)
        lines = [f"{len(page.records)} task(s), newest first:" if page.records else "No tasks."]
        for record in page.records:
            line = f"- {record.task_id} ({record.request.name}): {record.status.value}"
            if record.status_message and not record.is_terminal:
                line += f", {record.status_message}"
            lines.append(line)
        structured: dict[str, Any] = {"tasks": [task_view(record) for record in page.records]}
        if page.next_cursor is not None:
            structured["nextCursor"] = page.next_cursor
            lines.append(
                f'More tasks: call {self.names.listing} with {{"cursor": "{page.next_cursor}"}}.'
            )
        lines.append(f"Details of one task: call {self.names.get} with its task_id.")
        return _model(text_result("\n".join(lines), structured))

    def _text(self, record: TaskRecord) -> str:
        return describe(record, self.names, self.budget)

    async def read_resource(self, task_id: str, ctx: Context[Any, Any]) -> str:
        try:
            record = await self.host.service.get(self._owner(ctx), task_id)
        except TaskNotFound as exc:
            raise ResourceNotFoundError(str(exc)) from None
        except TaskError as exc:
            raise to_mcp_error(exc) from None
        return json.dumps(task_view(record))


def _claimed_by_modern_era(ctx: ServerRequestContext[Any, Any], support: str) -> bool:
    """Whether the 2026 extension answers this call itself (a task, or -32021).

    Task-augmented 2025-11-25 calls never reach the handler: that era's
    middleware answers them first.
    """
    if ctx.protocol_version != MODERN_VERSION:
        return False
    return opted_in(ctx) or support == "required"


def _model(result: Mapping[str, Any]) -> CallToolResult:
    return CallToolResult.model_validate(result)


def _error(exc: TaskError) -> CallToolResult:
    return _model(text_result(str(exc), is_error=True))


_GET_DOC = (
    "Show what a background task is doing: its status, progress, and any question it is "
    "waiting on, plus what to do next. Returns at once."
)
_RESULT_DOC = (
    "Get the result of a background task. Waits a while for a running task; if it is still "
    "running after that, says so (call again to keep waiting)."
)
_RESPOND_DOC = (
    "Answer a question a background task is waiting on (its status is input_required). "
    "Pass the fields the question asks for as content; the task then resumes."
)
_CANCEL_DOC = "Stop a background task. A task that already finished is left as it is."
_LIST_DOC = "List your background tasks, newest first, with their status."
