"""A replica cut off from DynamoDB Local by a real network black hole.

Replica A reaches DynamoDB Local through a TCP proxy the test can black-hole
(``tests/support/blackhole.py``); replica B reaches it directly. Both run in
this process but share nothing but the table. DynamoDB Local only: the
properties here are about timing and partitions, not emulator semantics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from mcp_tasks_server import Settings, TaskStatus
from mcp_tasks_server.core.lifecycle import STOPPED_MESSAGE
from mcp_tasks_server.core.model import ToolRequest
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.runtime.runner import Runner
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from tests.dynamodb_servers import DynamoDbServer, create_table, delete_table, local_session
from tests.support.blackhole import blackhole_proxy
from tests.support.factories import make_store

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="job")
LEASE = 8.0
TIMEOUT = 2.5


@pytest.fixture
def table(dynamodb_local: DynamoDbServer) -> Any:
    name = create_table(dynamodb_local.endpoint)
    yield name
    delete_table(dynamodb_local.endpoint, name)


@asynccontextmanager
async def replica(endpoint: str, table: str, name: str, **overrides: Any) -> AsyncIterator[Any]:
    from mcp_tasks_server.backends.dynamodb import DynamoDbBackend

    values: dict[str, Any] = {
        "backend": "dynamodb",
        "replica_id": name,
        "lease_seconds": LEASE,
        "heartbeat_interval_seconds": 0.25,
        "lease_sweep_interval_seconds": 0.2,
        "clock_skew_margin_seconds": 0,
        "shutdown_grace_seconds": 0,
    }
    settings = Settings(**{**values, **overrides})
    backend = DynamoDbBackend(
        table,
        endpoint_url=endpoint,
        session=local_session(),
        timeout_seconds=TIMEOUT,
        max_attempts=1,
    )
    try:
        async with Runner(make_store(backend, settings), settings) as runner:
            yield TaskService(runner.store, runner)
    finally:
        await backend.aclose()


async def wait_for_status(service: TaskService, task_id: str, status: TaskStatus) -> Any:
    with anyio.fail_after(20):
        while (record := await service.get(LOCAL, task_id)).status is not status:  # noqa: ASYNC110
            await anyio.sleep(0.05)
    return record


async def test_cut_off_replica_stops_its_tool_within_the_lease_and_it_never_runs_again(
    dynamodb_local: DynamoDbServer, table: str
) -> None:
    runs: list[float] = []
    steps = [0]
    stopped = anyio.Event()
    stopped_at: list[float] = []
    async with (
        blackhole_proxy(dynamodb_local.endpoint) as proxy,
        replica(proxy.endpoint, table, "replica-a") as service_a,
        replica(dynamodb_local.endpoint, table, "replica-b") as service_b,
    ):

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            runs.append(anyio.current_time())  # the side effect: counted per run
            try:
                while True:
                    await anyio.sleep(0.02)
                    steps[0] += 1
            finally:
                stopped_at.append(anyio.current_time())
                stopped.set()

        task = await service_a.create(LOCAL, REQUEST, tool)
        with anyio.fail_after(10):
            while steps[0] < 5:  # noqa: ASYNC110
                await anyio.sleep(0.02)
        cut_at = anyio.current_time()
        proxy.cut()
        with anyio.fail_after(LEASE + 5):
            await stopped.wait()
        assert stopped_at[0] - cut_at < LEASE  # stopped before anyone may fail it
        steps_when_stopped = steps[0]

        failed = await wait_for_status(service_b, task.task_id, TaskStatus.FAILED)
        failed_at = anyio.current_time()
        assert failed.status_message == STOPPED_MESSAGE
        assert stopped_at[0] < failed_at
        assert failed.last_updated_at_ms >= failed.created_at_ms + LEASE * 1000

        proxy.restore()  # the cut-off replica comes back
        seen_by_a = await wait_for_status(service_a, task.task_id, TaskStatus.FAILED)
        with anyio.fail_after(10):
            while service_a.runner.running_task_ids:  # noqa: ASYNC110
                await anyio.sleep(0.05)
        await service_a.runner.beat()
    assert seen_by_a.status is TaskStatus.FAILED
    assert len(runs) == 1
    assert steps[0] == steps_when_stopped


async def test_shutdown_with_the_store_cut_off_ends_within_grace_and_one_timeout(
    dynamodb_local: DynamoDbServer, table: str
) -> None:
    grace = 0.5
    started = [0]
    async with (
        blackhole_proxy(dynamodb_local.endpoint) as proxy,
        replica(proxy.endpoint, table, "replica-a", shutdown_grace_seconds=grace) as service,
    ):

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            started[0] += 1
            await anyio.sleep(3600)
            return {}

        for _ in range(6):
            await service.create(LOCAL, REQUEST, tool)
        with anyio.fail_after(10):
            while started[0] < 6:  # noqa: ASYNC110
                await anyio.sleep(0.02)
        proxy.cut()
        began = anyio.current_time()
        with anyio.CancelScope(shield=True):
            await service.runner.shutdown()
        took = anyio.current_time() - began
    # Six failing writes one after another would take six timeouts.
    assert took < grace + TIMEOUT + 1.0, took
