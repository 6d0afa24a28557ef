"""``Tasks``: the one object that gives an ``MCPServer`` durable tasks.

::

    tasks = Tasks(Settings())
    server = MCPServer("my-server")

    @tasks.tool(task_support="optional")
    async def render(pages: int, ctx: TaskContext) -> str:
        for page in range(pages):
            await ctx.report_progress(page, pages)
        return "rendered"

    tasks.install(server)

``mcp`` 2.3 fixes a server's extensions, middleware and lifespan at
construction, so ``install`` attaches, through the seams in
:mod:`mcp_tasks_server.protocol.sdk`: a lifespan that opens the backend and
the runner, the 2025-11-25 middleware, the 2026-07-28 extension, and the
tasks-as-tools fallback. Each task tool is registered through a thin wrapper
that hands it a :class:`TaskContext`: stored when the call runs as a task,
inline otherwise. This module also binds a request's owner and starts tasks
for the adapters (:class:`~mcp_tasks_server.protocol.host.TaskHost`).
"""

# long: the composition root: it wires every layer for every era in one place.

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import typing
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic_core
from mcp.server.mcpserver import Context, MCPServer, authenticated_principal
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolRequestParams, CallToolResult

from mcp_tasks_server.backends import StorageBackend
from mcp_tasks_server.core.errors import INTERNAL_ERROR, ProtocolFailure
from mcp_tasks_server.core.model import TaskRecord, TaskStatus, ToolRequest
from mcp_tasks_server.core.owner import Owner, bind_owner
from mcp_tasks_server.observability import LogIds, Observers
from mcp_tasks_server.protocol import sdk
from mcp_tasks_server.protocol.as_tools.tools import install_task_tools
from mcp_tasks_server.protocol.dispatch import TasksExtension
from mcp_tasks_server.protocol.host import TaskHost, TaskSupport
from mcp_tasks_server.protocol.inline_context import InlineTaskContext
from mcp_tasks_server.protocol.installed import INSTALLED
from mcp_tasks_server.protocol.sessions import follow_sessions
from mcp_tasks_server.protocol.shapes import MODERN_VERSION
from mcp_tasks_server.protocol.storage import (
    build_backend,
    build_queue,
    build_record_codec,
    owner_digest,
)
from mcp_tasks_server.protocol.v2025_11_25.channel import LegacyChannels
from mcp_tasks_server.protocol.v2025_11_25.methods import LegacyTasksMiddleware
from mcp_tasks_server.queues.base import TaskQueue
from mcp_tasks_server.runtime.context import TaskContext
from mcp_tasks_server.runtime.execution import Execution
from mcp_tasks_server.runtime.queue_execution import QueueExecution
from mcp_tasks_server.runtime.retries import local_retry
from mcp_tasks_server.runtime.runner import Invoke, Runner
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.store import TaskStore

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = ["InlineTaskContext", "TaskSupport", "TaskTool", "Tasks"]

logger = logging.getLogger(__name__)

ToolFunction = TypeVar("ToolFunction", bound=Callable[..., Any])

# The name of the SDK Context parameter the wrapper adds. It must not start
# with an underscore (the SDK refuses those) and must not clash with a tool's
# own parameters.
_SDK_CONTEXT_PARAM = "mcp_tasks_request_context"

# Set while a tool runs as a stored task, so its wrapper hands it that context.
_CURRENT_TASK: contextvars.ContextVar[StoredTaskContext | None] = contextvars.ContextVar(
    "mcp_tasks_current_task", default=None
)


@dataclass(frozen=True, slots=True)
class TaskTool:
    """A tool registered through :meth:`Tasks.tool`."""

    name: str
    support: TaskSupport
    idempotent: bool = False


# Which Tasks an MCPServer carries, so a worker built from the same server finds its tools.
_INSTALLED: weakref.WeakKeyDictionary[MCPServer[Any], Tasks] = weakref.WeakKeyDictionary()


class Tasks:
    """Durable tasks for one ``MCPServer``: storage, runner, and every protocol era.

    With ``MCP_TASKS_EXECUTION=queue`` new tasks are sent to ``queue`` (by
    default the one the settings name; a :class:`~mcp_tasks_server.queues.MemoryQueue`
    for the memory backend) for workers to run (:mod:`mcp_tasks_server.runtime.worker`).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        backend: StorageBackend | None = None,
        queue: TaskQueue | None = None,
        observers: Observers | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        replica = self.settings.replica
        self.observers = observers or Observers.quiet(
            replica=replica, ids=LogIds(self.settings.log_hash_key_bytes)
        )
        telemetry = self.observers.telemetry
        self.backend = (
            backend if backend is not None else build_backend(self.settings, telemetry=telemetry)
        )
        self.store = TaskStore(
            self.backend,
            self.settings.store_policy(),
            replica=replica,
            codec=build_record_codec(self.settings),
            observers=self.observers,
        )
        self._owner_digest = owner_digest(self.settings)
        self.runner = Runner(self.store, self.settings)
        self.queue: TaskQueue | None = None
        execution: Execution = self.runner
        if self.settings.execution == "queue":
            self.queue = queue if queue is not None else build_queue(self.settings)
            claim_ms = round(self.settings.claim_timeout_seconds * 1000)
            queued = QueueExecution(self.store, self.queue, self.runner, claim_ms=claim_ms)
            self.runner.retry = queued.retry
            execution = queued
        else:
            self.runner.retry = local_retry(self.runner, self.invoke_for)
        self.service = TaskService(self.store, self.runner, execution)
        # State the 2025-11-25 adapters share: built once, handed to each of them.
        self.channels = LegacyChannels()
        self.runner.add_listener(self.channels.publish)
        self.tools: dict[str, TaskTool] = {}
        self._server: MCPServer[Any] | None = None
        self._pending: list[Callable[[MCPServer[Any]], None]] = []

    @property
    def server(self) -> MCPServer[Any]:
        if self._server is None:
            raise RuntimeError("Tasks.install(server) has not been called yet")
        return self._server

    # ------------------------------------------------------------------ tools

    def tool(
        self,
        name: str | None = None,
        *,
        task_support: TaskSupport | str = TaskSupport.OPTIONAL,
        title: str | None = None,
        description: str | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
        idempotent: bool = False,
    ) -> Callable[[ToolFunction], ToolFunction]:
        """Register a task-capable tool (before or after :meth:`install`).

        The tool is a plain ``async def``; a parameter annotated
        :class:`TaskContext` receives the task context. ``task_support`` is
        ``optional`` (the client chooses), ``required`` (always a task) or
        ``forbidden`` (never a task; the context then always runs inline).
        ``idempotent=True`` says running it twice is safe: a task whose replica
        or worker was lost then runs again, up to ``MCP_TASKS_MAX_ATTEMPTS``
        runs, instead of failing (two runs may briefly overlap).
        """
        support = TaskSupport(task_support)

        def register(fn: ToolFunction) -> ToolFunction:
            tool_name = name or fn.__name__
            if tool_name in self.tools:
                raise ValueError(f"A task tool named {tool_name!r} is already registered")
            self.tools[tool_name] = TaskTool(tool_name, support, idempotent)
            wrapper = _sdk_wrapper(fn)

            def add(server: MCPServer[Any]) -> None:
                server.add_tool(
                    wrapper,
                    name=tool_name,
                    title=title,
                    description=description or inspect.getdoc(fn),
                    meta=meta,
                    structured_output=structured_output,
                )

            if self._server is not None:
                add(self._server)
            else:
                self._pending.append(add)
            return fn

        return register

    def support_of(self, tool_name: str) -> TaskSupport:
        """The task support of a tool; tools not registered here are ``forbidden``."""
        tool = self.tools.get(tool_name)
        return tool.support if tool is not None else TaskSupport.FORBIDDEN

    # ------------------------------------------------------------------ install

    def install(self, server: MCPServer[Any]) -> None:
        """Give ``server`` tasks in every era. Call once, before the server runs."""
        if self._server is not None:
            raise RuntimeError("Tasks.install was already called")
        self._server = server
        _INSTALLED[server] = self
        for add in self._pending:
            add(server)
        self._pending.clear()

        host: TaskHost = self
        INSTALLED[server] = self
        sdk.wrap_lifespan(server, self.running)
        server.middleware.append(LegacyTasksMiddleware(host, self.channels))
        sdk.install_extension(server, TasksExtension(host, self.channels))
        install_task_tools(host, server)  # last: it wraps the recomposed tools/call handler

    @staticmethod
    def of(server: MCPServer[Any]) -> Tasks:
        """The ``Tasks`` installed on ``server`` (for a worker that runs its tools)."""
        tasks = _INSTALLED.get(server)
        if tasks is None:
            raise RuntimeError("this server has no tasks installed (Tasks.install)")
        return tasks

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Tasks]:
        """Open the backend and the runner for the server's lifetime.

        ``install`` wires this into the server's lifespan; call it yourself
        only to run the task machinery without an ``MCPServer``.
        """
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.backend.aclose)
            if self.queue is not None:
                stack.push_async_callback(self.queue.close)
            stack.push_async_callback(self.store.codec.aclose)
            await stack.enter_async_context(self.runner)
            yield self

    def follow_sessions(self, session_manager: StreamableHTTPSessionManager) -> None:
        """Cancel a stateful HTTP session's unfinished tasks once the session ends.

        ``session_manager`` is ``server.session_manager`` after
        ``server.streamable_http_app()`` (stateful); the reference server's
        HTTP app does this itself. See :mod:`mcp_tasks_server.protocol.sessions`.
        """
        follow_sessions(
            session_manager,
            self.service,
            owner_of=lambda session_id: bind_owner(
                session_id=session_id, digest=self._owner_digest
            ),
            ids=self.observers.ids,
        )

    # ------------------------------------------------------------------ for adapters

    def owner(self, ctx: Any) -> Owner:
        """The owner of a request, by the one rule in :mod:`mcp_tasks_server.core.owner`.

        ``ctx`` is the SDK's ``ServerRequestContext``. An HTTP session only
        counts when the SDK established it (stateful mode validates the
        session id and binds it to the credential that created it); a
        stateless server ignores whatever session header a client sends.
        """
        principal = authenticated_principal(ctx)
        connection = sdk.connection_of(ctx)
        session_id = getattr(connection, "session_id", None)
        return bind_owner(
            principal=principal,
            session_id=session_id if isinstance(session_id, str) else None,
            local=getattr(ctx, "request", None) is None,
            digest=self._owner_digest,
        )

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
        """Store a task for a tool call and start running it. Returns once durable.

        ``context`` is the SDK context of the creating request, when the tool
        should see what that request carried (its ``inputResponses`` and
        ``requestState``, for resolver parameters answered before the task).
        Both are stored with the task, so a run elsewhere sees them too.
        """
        args = dict(arguments or {})
        tool = self.tools.get(tool_name)
        return await self.service.create(
            owner,
            _tool_request(tool_name, args, context),
            self.invoke(tool_name, args, context),
            ttl_ms=ttl_ms,
            tool_error_status=tool_error_status,
            max_attempts=self.settings.max_attempts if tool and tool.idempotent else 1,
        )

    def invoke_for(self, record: TaskRecord) -> Invoke:
        """How a worker (or a re-run) runs a stored task: its stored request.

        There is no request context; answers the request gave before the task
        existed are replayed to the tool's resolvers from the record.
        """
        request = record.request
        context = None
        if request.answered_before_the_task:
            params = CallToolRequestParams.model_validate(
                {
                    "name": request.name,
                    "arguments": request.arguments,
                    "inputResponses": request.input_responses,
                    "requestState": request.request_state,
                }
            )
            context = sdk.answered_context(self.server, params, MODERN_VERSION)
        return self.invoke(request.name, dict(request.arguments), context)

    def invoke(
        self,
        tool_name: str,
        arguments: dict[str, Any],
        request_context: Context[Any, Any] | None = None,
    ) -> Invoke:
        """How the runner runs a tool call in the background, through the SDK."""

        async def run(context: StoredTaskContext) -> Mapping[str, Any]:
            token = _CURRENT_TASK.set(context)
            try:
                result = await self.server.call_tool(tool_name, arguments, request_context)
            except MCPError as exc:
                raise ProtocolFailure(exc.error.code, exc.error.message, exc.error.data) from exc
            except UnexpectedToolError as exc:
                # Unwrap to the tool's own exception. Not ``from exc``: the
                # wrapper's cause is that exception, and the cycle would send
                # cause-following loggers (rich's tracebacks) round forever.
                raise (exc.__cause__ or exc) from None
            except ToolError as exc:
                return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
            finally:
                _CURRENT_TASK.reset(token)
            if not isinstance(result, CallToolResult):
                raise ProtocolFailure(
                    INTERNAL_ERROR, "The tool asked for input the task flow cannot relay"
                )
            return _result_json(result)

        return run


def _tool_request(
    tool_name: str, arguments: dict[str, Any], context: Context[Any, Any] | None
) -> ToolRequest:
    """The request to store for a call: the answers its round carried, as the client sent them."""
    if context is None or (context.input_responses is None and context.request_state is None):
        return ToolRequest(name=tool_name, arguments=arguments)
    answers = context.input_responses
    return ToolRequest(
        name=tool_name,
        arguments=arguments,
        input_responses=None
        if answers is None
        else pydantic_core.to_jsonable_python(answers, by_alias=True, exclude_none=True),
        request_state=context.request_state,
    )


def _result_json(result: CallToolResult) -> dict[str, Any]:
    data = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    data.pop("resultType", None)
    return data


def _sdk_wrapper(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Wrap a task tool so the SDK sees its own parameters plus an SDK ``Context``.

    The ``TaskContext`` parameter (if any) is removed from what the SDK sees
    and filled in on each call: the stored task's context in the background,
    an inline one otherwise.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    task_param = next(
        (
            name
            for name, hint in hints.items()
            if name != "return" and inspect.isclass(hint) and issubclass(hint, TaskContext)
        ),
        None,
    )
    if _SDK_CONTEXT_PARAM in signature.parameters:
        raise ValueError(f"A task tool may not have a parameter named {_SDK_CONTEXT_PARAM!r}")

    parameters = [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in signature.parameters.values()
        if parameter.name != task_param
    ]
    parameters.append(
        inspect.Parameter(_SDK_CONTEXT_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    )
    annotations = {p.name: p.annotation for p in parameters}
    if "return" in hints:
        annotations["return"] = hints["return"]

    @functools.wraps(fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    async def wrapper(**kwargs: Any) -> Any:
        request_context: Context[Any, Any] = kwargs.pop(_SDK_CONTEXT_PARAM)
        if task_param is not None:
            stored = _CURRENT_TASK.get()
            kwargs[task_param] = (
                stored if stored is not None else InlineTaskContext(request_context)
            )
        outcome = fn(**kwargs)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        return outcome

    del wrapper.__wrapped__  # the SDK must read the signature below, not the tool's
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters,
        return_annotation=hints.get("return", signature.return_annotation),
    )
    wrapper.__annotations__ = annotations
    return wrapper
