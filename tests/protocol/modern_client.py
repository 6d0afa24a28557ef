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
from mcp.client.extension import ClaimContext
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import ConfigDict

from mcp_tasks_server.client import (
    CancelTask,
    GetTask,
    TaskCreated,
    TaskEndedWithoutResult,
    TaskIdParams,
    TasksClientExtension,
    TaskUpdateParams,
    UpdateTask,
    cancel_task,
    get_task,
    update_task,
)
from tests.support.polling import poll_until, status_in

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
    return await poll_until(lambda: get_task(session, task_id), status_in(statuses), within=within)


TaskFailed = TaskEndedWithoutResult


class TasksClient(TasksClientExtension):
    """The package's client, polling fast and recording what it saw on the way to the result."""

    def __init__(self, answer: Answer | None = None) -> None:
        super().__init__(answer, max_poll_seconds=0.02)
        self.created: list[dict[str, Any]] = []
        self.seen_statuses: list[str] = []

    async def on_status(self, detail: dict[str, Any]) -> None:
        self.seen_statuses.append(detail["status"])

    async def _resolve(self, created: CreatedTask, context: ClaimContext) -> CallToolResult:
        self.created.append(fields(created))
        with anyio.fail_after(20):
            return await super()._resolve(created, context)


def expect_error(code: int) -> Any:
    """``pytest.raises`` for an ``MCPError`` with this JSON-RPC code."""
    import pytest

    return pytest.raises(MCPError, check=lambda exc: exc.error.code == code)
