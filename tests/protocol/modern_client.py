"""A 2026-07-28 tasks client built from the SDK's own extension points.

The requests come from :mod:`mcp_tasks_server.client`; this module adds
what only tests need: the removed ``tasks/result`` and ``tasks/list``
requests (to check they are refused), and :class:`TasksClient`, a claim that
also records what it saw on the way to the result.
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

from mcp_tasks_server.client import (
    CancelTask,
    GetTask,
    TaskCreated,
    TaskIdParams,
    TaskUpdateParams,
    UpdateTask,
    cancel_task,
    get_task,
    update_task,
)
from tests.protocol.harness import TASKS_EXTENSION

__all__ = [
    "AnyResult",
    "CreatedTask",
    "TaskIdParams",
    "TaskUpdateParams",
    "TasksCancel",
    "TasksClient",
    "TasksGet",
    "TasksList",
    "TasksResult",
    "TasksUpdate",
    "cancel_task",
    "expect_error",
    "fields",
    "get_task",
    "update_task",
    "wait_for",
]

Answer = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""Answers one input request: ``(key, {"method", "params"}) -> result``."""


TasksGet = GetTask
TasksUpdate = UpdateTask
TasksCancel = CancelTask


class TasksResult(Request[TaskIdParams, Literal["tasks/result"]]):
    method: Literal["tasks/result"] = "tasks/result"
    name_param = "taskId"


class TasksList(Request[RequestParams | None, Literal["tasks/list"]]):
    method: Literal["tasks/list"] = "tasks/list"
    params: RequestParams | None = None


class AnyResult(Result):
    model_config = ConfigDict(extra="allow")


CreatedTask = TaskCreated


def fields(result: Result) -> dict[str, Any]:
    """A result as the wire had it, ``null`` values included."""
    return result.model_dump(by_alias=True, mode="json")


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
