"""Client-side helpers for the 2025-11-25 task tests.

The SDK's client has no task helpers, and its typed ``tools/call`` refuses a
``CreateTaskResult`` (the 2025 ``CallToolResult`` requires ``content``), so
task calls go through the session's raw dispatcher and come back as the
exact JSON the server sent.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.extension import ClientExtension, NotificationBinding
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict

from mcp_tasks_server import Settings
from tests.support.polling import poll_until, status_in
from tests.support.wire import TERMINAL


class LegacyTasks:
    """The 2025-11-25 task methods for a legacy-mode ``mcp.Client``, as raw JSON."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def raw(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        dispatcher = self.client.session._dispatcher
        return dict(await dispatcher.send_raw_request(method, dict(params or {}), None))

    async def error(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON-RPC error the request gets; fails the test if it succeeds."""
        try:
            answer = await self.raw(method, params)
        except MCPError as exc:
            return exc.error.model_dump(mode="json", exclude_none=True)
        raise AssertionError(f"{method} succeeded: {answer}")

    async def call_as_task(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        task: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A task-augmented ``tools/call``; returns the created ``Task``."""
        params: dict[str, Any] = {
            "name": name,
            "arguments": dict(arguments or {}),
            "task": dict(task or {}),
        }
        if meta is not None:
            params["_meta"] = dict(meta)
        created = await self.raw("tools/call", params)
        assert set(created) == {"task"}, created
        return dict(created["task"])

    async def get(self, task_id: str) -> dict[str, Any]:
        return await self.raw("tasks/get", {"taskId": task_id})

    async def result(self, task_id: str) -> dict[str, Any]:
        return await self.raw("tasks/result", {"taskId": task_id})

    async def cancel(self, task_id: str) -> dict[str, Any]:
        return await self.raw("tasks/cancel", {"taskId": task_id})

    async def list(self, cursor: str | None = None) -> dict[str, Any]:
        return await self.raw("tasks/list", {} if cursor is None else {"cursor": cursor})

    async def journal(self, label: str) -> str:
        """What the sample server's fixture tools did for ``label``."""
        answer = await self.raw("tools/call", {"name": "journal", "arguments": {"label": label}})
        return str(answer["content"][0]["text"])

    async def wait_for(
        self, task_id: str, statuses: frozenset[str] | set[str] = TERMINAL
    ) -> dict[str, Any]:
        """Poll ``tasks/get`` until the task is in one of ``statuses``."""
        return await poll_until(lambda: self.get(task_id), status_in(statuses), within=math.inf)


class _AnyParams(BaseModel):
    model_config = ConfigDict(extra="allow")


class StatusObserver(ClientExtension):
    """Collects ``notifications/tasks/status`` (not in the client's 2025 core table)."""

    identifier = "com.example/task-status-observer"

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._changed = anyio.Event()

    def notifications(self) -> list[NotificationBinding[Any]]:
        async def on_status(params: _AnyParams) -> None:
            self.received.append(params.model_dump())
            self._changed.set()
            self._changed = anyio.Event()

        return [
            NotificationBinding(
                method="notifications/tasks/status", params_type=_AnyParams, handler=on_status
            )
        ]

    def statuses(self, task_id: str) -> list[str]:
        return [n["status"] for n in self.received if n.get("taskId") == task_id]

    async def wait_for(self, task_id: str, status: str) -> dict[str, Any]:
        """The first notification saying ``task_id`` reached ``status``."""
        while True:
            for note in self.received:
                if note.get("taskId") == task_id and note.get("status") == status:
                    return note
            await self._changed.wait()


class MessageLog:
    """A ``message_handler`` that keeps every server notification it is given."""

    def __init__(self) -> None:
        self.notifications: list[types.ServerNotification] = []
        self._changed = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, BaseModel) and hasattr(message, "method"):
            self.notifications.append(message)  # type: ignore[arg-type]
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for_progress(self, count: int) -> list[types.ProgressNotificationParams]:
        """The progress reports once at least ``count`` have arrived."""
        while len(self.progress()) < count:
            await self._changed.wait()
        return self.progress()

    def progress(self) -> list[types.ProgressNotificationParams]:
        return [n.params for n in self.notifications if isinstance(n, types.ProgressNotification)]


Answer = Callable[[Any, types.ElicitRequestParams], Awaitable[types.ElicitResult]]


def answering(content: dict[str, Any], seen: list[dict[str, Any]] | None = None) -> Answer:
    """An ``elicitation_callback`` that accepts with ``content`` and records each request."""

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        if seen is not None:
            seen.append(params.model_dump(by_alias=True, mode="json", exclude_none=True))
        return types.ElicitResult(action="accept", content=content)

    return callback


def fast_settings(**overrides: Any) -> Settings:
    """Settings for tests: quick re-reads, and no grace period for tasks left running."""
    values: dict[str, Any] = {"heartbeat_interval_seconds": 0.1, "shutdown_grace_seconds": 0}
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def connect(target: Any, **client_options: Any) -> AsyncIterator[LegacyTasks]:
    """A 2025-11-25 ``mcp.Client`` on ``target``, wrapped in :class:`LegacyTasks`."""
    async with Client(target, mode="legacy", **client_options) as client:
        yield LegacyTasks(client)


T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], interval: float = 0.01) -> T:
    """Poll ``check`` until it returns something truthy, and return that."""
    while True:
        value = await check()
        if value:
            return value
        await anyio.sleep(interval)


def task_fields(result: dict[str, Any]) -> dict[str, Any]:
    """A ``tasks/get`` result without its ``_meta``: the bare ``Task`` a notification carries."""
    return {key: value for key, value in result.items() if key != "_meta"}
