"""Refusals at a capacity limit count as capacity refusals, by limit: the replica's
own limits, and the global cap shared by every replica."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from mcp_tasks_server.backends.errors import GlobalCapReached
from mcp_tasks_server.backends.memory import MemoryBackend
from mcp_tasks_server.core.errors import CapacityExceeded
from mcp_tasks_server.core.model import ToolRequest
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.observability import AUDIT_LOGGER, FIELDS, AuditLog, LogIds, Observers
from mcp_tasks_server.runtime.runner import Invoke, Runner
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.store import TaskStore
from tests.support.otel import Recorded
from tests.support.results import text_result

pytestmark = pytest.mark.anyio

IDS = LogIds(b"a shared key of 32 bytes........")


def refusals(otel: Recorded, limit: str) -> float:
    counted = otel.counters("mcp_tasks.capacity.refusals")
    return sum(
        value for attributes, value in counted.items() if ("mcp_tasks.limit", limit) in attributes
    )


@asynccontextmanager
async def observed_service(
    otel: Recorded, settings: Settings
) -> AsyncIterator[tuple[TaskService, Invoke, anyio.Event]]:
    """A service whose store reports to ``otel``, and a tool that runs until the event is set."""
    observers = Observers(IDS, otel.telemetry, AuditLog(IDS, replica="r"))
    store = TaskStore(
        MemoryBackend(), settings.store_policy(), replica=settings.replica, observers=observers
    )
    release = anyio.Event()

    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        await release.wait()
        return text_result("ok")

    async with Runner(store, settings) as runner:
        yield TaskService(store, runner), tool, release


async def test_running_and_waiter_limits_count_their_refusals(otel: Recorded) -> None:
    settings = Settings(max_running_tasks=1, max_waiters=1, shutdown_grace_seconds=0)
    async with observed_service(otel, settings) as (service, tool, release):
        task = await service.create(LOCAL, ToolRequest(name="t"), tool)
        with pytest.raises(CapacityExceeded):
            await service.create(LOCAL, ToolRequest(name="t"), tool)
        async with anyio.create_task_group() as group:
            group.start_soon(service.result, LOCAL, task.task_id, 30)
            with anyio.fail_after(10):
                while service._waiters == 0:  # noqa: ASYNC110 - the first waiter is in
                    await anyio.sleep(0.01)
            with pytest.raises(CapacityExceeded):
                await service.result(LOCAL, task.task_id, 30)
            release.set()
    assert refusals(otel, "running") == 1
    assert refusals(otel, "waiters") == 1


async def test_a_create_at_the_global_cap_is_counted_and_audited_as_capacity(
    otel: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    settings = Settings(max_active_tasks=1, shutdown_grace_seconds=0)
    async with observed_service(otel, settings) as (service, tool, release):
        await service.create(LOCAL, ToolRequest(name="t"), tool)
        with pytest.raises(GlobalCapReached):
            await service.create(LOCAL, ToolRequest(name="t"), tool)
        release.set()
    assert refusals(otel, "capacity") == 1
    assert refusals(otel, "quota") == 0
    events = [getattr(r, FIELDS) for r in caplog.records if r.name == AUDIT_LOGGER]
    refused = [event for event in events if event["outcome"] == "refused"]
    assert [(event["event"], event["reason"]) for event in refused] == [
        ("task.created", "capacity")
    ]
