"""A client for the 2026-07-28 tasks extension, built on the SDK's extension points.

The SDK ships no task helpers. This module gives a client what it needs to
use a tasks server (this one or any other that speaks the extension):

* :class:`TasksClientExtension` opts the client in to
  ``io.modelcontextprotocol/tasks``. With it, ``client.call_tool`` resolves
  a task transparently (polling ``tasks/get`` at the server's suggested
  interval and answering input requests through a callback), and
  ``client.session.call_tool(..., allow_claimed=True)`` returns the
  :class:`TaskCreated` handle instead, to follow the task yourself;
* :func:`get_task`, :func:`update_task` and :func:`cancel_task` send the
  three ``tasks/*`` requests, with the ``Mcp-Name`` header the extension
  requires over HTTP.

::

    async with Client(url, mode="2026-07-28", extensions=[TasksClientExtension()]) as client:
        handle = await client.session.call_tool("render", {"pages": 40}, allow_claimed=True)
        detail = await get_task(client.session, handle.taskId)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
from mcp import ClientSession
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp_types import CallToolResult, Request, Result
from pydantic import ConfigDict

from mcp_tasks_server.core.model import TERMINAL_STATUSES
from mcp_tasks_server.protocol.params import TaskIdParams, TaskUpdateParams
from mcp_tasks_server.protocol.shapes import PROGRESS_META, TASKS_EXTENSION

__all__ = [
    "PROGRESS_META",
    "TERMINAL_STATUSES",
    "CancelTask",
    "GetTask",
    "InputAnswerer",
    "TaskCreated",
    "TaskEndedWithoutResult",
    "TaskIdParams",
    "TaskUpdateParams",
    "TasksClientExtension",
    "UpdateTask",
    "cancel_task",
    "get_task",
    "update_task",
]

InputAnswerer = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Answers one input request: ``(key, {"method", "params"}) -> response``."""


# The requests themselves, for clients that build their own flows. ``name_param``
# makes the SDK send the Mcp-Name header the extension requires over HTTP.


class GetTask(Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class UpdateTask(Request[TaskUpdateParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class CancelTask(Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class _AnyResult(Result):
    model_config = ConfigDict(extra="allow")


class TaskCreated(Result):
    """The flat ``CreateTaskResult`` a server returns instead of a tool result."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    taskId: str
    status: str


class TaskEndedWithoutResult(Exception):
    """The task failed or was cancelled; ``detail`` is its last ``tasks/get`` answer."""

    def __init__(self, detail: dict[str, Any]) -> None:
        error = detail.get("error") or {}
        reason = error.get("message") or detail.get("statusMessage") or detail["status"]
        super().__init__(f"Task {detail['taskId']} {detail['status']}: {reason}")
        self.detail = detail


def _wire(result: Result) -> dict[str, Any]:
    """A result as the wire had it, ``null`` values included."""
    return result.model_dump(by_alias=True, mode="json")


async def get_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    """``tasks/get``: the task with its result, error or input requests inlined."""
    return _wire(
        await session.send_request(GetTask(params=TaskIdParams(taskId=task_id)), _AnyResult)
    )


async def update_task(
    session: ClientSession, task_id: str, responses: dict[str, Any]
) -> dict[str, Any]:
    """``tasks/update``: answer input requests by key."""
    params = TaskUpdateParams(taskId=task_id, inputResponses=responses)
    return _wire(await session.send_request(UpdateTask(params=params), _AnyResult))


async def cancel_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    """``tasks/cancel``: ask the server to stop the task (acknowledged even if it finished)."""
    return _wire(
        await session.send_request(CancelTask(params=TaskIdParams(taskId=task_id)), _AnyResult)
    )


class TasksClientExtension(ClientExtension):
    """Opts in to tasks; ``client.call_tool`` then waits for a task's result by polling.

    ``answer`` is called for each input request the task makes; without it,
    a task that asks for input fails the call with ``TaskEndedWithoutResult``
    once cancelled. ``max_poll_seconds`` caps the server's suggested interval.
    """

    identifier = TASKS_EXTENSION

    def __init__(
        self, answer: InputAnswerer | None = None, *, max_poll_seconds: float = 5.0
    ) -> None:
        self.answer = answer
        self.max_poll_seconds = max_poll_seconds

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=TaskCreated, resolve=self._resolve)]

    async def on_status(self, detail: dict[str, Any]) -> None:
        """Called with each ``tasks/get`` answer while a task is followed; a no-op here."""

    async def _resolve(self, created: TaskCreated, context: ClaimContext) -> CallToolResult:
        answered: set[str] = set()
        while True:
            detail = await get_task(context.session, created.taskId)
            await self.on_status(detail)
            status = detail["status"]
            if status == "completed":
                return CallToolResult.model_validate(detail["result"], by_name=False)
            if status in TERMINAL_STATUSES:
                raise TaskEndedWithoutResult(detail)
            pending = {
                key: request
                for key, request in (detail.get("inputRequests") or {}).items()
                if key not in answered
            }
            if pending and self.answer is not None:
                responses = {key: await self.answer(key, req) for key, req in pending.items()}
                await update_task(context.session, created.taskId, responses)
                answered.update(responses)
                continue
            interval = (detail.get("pollIntervalMs") or 1000) / 1000
            await anyio.sleep(min(interval, self.max_poll_seconds))
