"""A 2026-07-28 tasks client built from the SDK's own extension points.

The SDK has no task helpers, so tests speak the extension the way a client
author would: ``tasks/*`` requests are ``mcp_types.Request`` subclasses
(``name_param`` makes the SDK send ``Mcp-Name``), and :class:`TasksClient`
is a ``ClientExtension`` whose ``ResultClaim`` takes the flat task result of
``tools/call`` and polls ``tasks/get`` until the task ends, answering its
input requests with ``tasks/update`` on the way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
from mcp import ClientSession
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import ConfigDict

from tests.protocol.harness import TASKS_EXTENSION

Answer = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""Answers one input request: ``(key, {"method", "params"}) -> result``."""


class TaskIdParams(RequestParams):
    taskId: str


class TaskUpdateParams(TaskIdParams):
    inputResponses: dict[str, Any]


class TasksGet(Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class TasksUpdate(Request[TaskUpdateParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class TasksCancel(Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class TasksResult(Request[TaskIdParams, Literal["tasks/result"]]):
    method: Literal["tasks/result"] = "tasks/result"
    name_param = "taskId"


class TasksList(Request[RequestParams | None, Literal["tasks/list"]]):
    method: Literal["tasks/list"] = "tasks/list"
    params: RequestParams | None = None


class AnyResult(Result):
    model_config = ConfigDict(extra="allow")


class CreatedTask(Result):
    """The flat ``CreateTaskResult`` (``resultType: "task"``)."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    taskId: str
    status: str


def fields(result: Result) -> dict[str, Any]:
    """A result as the wire had it, ``null`` values included."""
    return result.model_dump(by_alias=True, mode="json")


async def get_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    request = TasksGet(params=TaskIdParams(taskId=task_id))
    return fields(await session.send_request(request, AnyResult))


async def update_task(
    session: ClientSession, task_id: str, responses: dict[str, Any]
) -> dict[str, Any]:
    request = TasksUpdate(params=TaskUpdateParams(taskId=task_id, inputResponses=responses))
    return fields(await session.send_request(request, AnyResult))


async def cancel_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    request = TasksCancel(params=TaskIdParams(taskId=task_id))
    return fields(await session.send_request(request, AnyResult))


async def wait_for(
    session: ClientSession, task_id: str, statuses: set[str], within: float = 10
) -> dict[str, Any]:
    """Poll ``tasks/get`` until the task's status is one of ``statuses``."""
    with anyio.fail_after(within):
        while True:
            detail = await get_task(session, task_id)
            if detail["status"] in statuses:
                return detail
            await anyio.sleep(0.02)


TERMINAL = {"completed", "failed", "cancelled"}


class TaskFailed(Exception):
    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__(f"task {detail['taskId']} ended {detail['status']}")
        self.detail = detail


class TasksClient(ClientExtension):
    """Opts in to ``io.modelcontextprotocol/tasks`` and resolves task results by polling."""

    identifier = TASKS_EXTENSION

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer
        self.created: list[dict[str, Any]] = []
        self.seen_statuses: list[str] = []

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=self.resolve)]

    async def resolve(self, created: CreatedTask, context: ClaimContext) -> CallToolResult:
        self.created.append(fields(created))
        answered: set[str] = set()
        with anyio.fail_after(20):
            while True:
                detail = await get_task(context.session, created.taskId)
                self.seen_statuses.append(detail["status"])
                if detail["status"] == "completed":
                    return CallToolResult.model_validate(detail["result"], by_name=False)
                if detail["status"] in TERMINAL:
                    raise TaskFailed(detail)
                pending = {
                    key: request
                    for key, request in detail.get("inputRequests", {}).items()
                    if key not in answered
                }
                if pending and self.answer is not None:
                    responses = {key: await self.answer(key, req) for key, req in pending.items()}
                    await update_task(context.session, created.taskId, responses)
                    answered.update(responses)
                    continue
                await anyio.sleep(0.02)


def expect_error(code: int) -> Any:
    """``pytest.raises`` for an ``MCPError`` with this JSON-RPC code."""
    import pytest

    return pytest.raises(MCPError, check=lambda exc: exc.error.code == code)
