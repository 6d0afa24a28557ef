"""Fault tolerance and capacity on one memory backend: results that survive an
outage, create and start as one step, clock skew, long tasks, limits, waiters.

Two runners over one backend stand for two replicas on one table; an
:class:`OutageBackend` in front of the shared backend is one replica's view
of a store out of reach. The DynamoDB Local versions with a real network cut
are in ``tests/dynamodb/test_fencing.py``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import pytest

from mcp_tasks_server import MemoryBackend, Settings, TaskStatus
from mcp_tasks_server.backends import StorageBackend, StoredRecord
from mcp_tasks_server.core.errors import CapacityExceeded, ResultNotReady, TaskNotFound
from mcp_tasks_server.core.lifecycle import STOPPED_MESSAGE
from mcp_tasks_server.core.model import ToolRequest
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.protocol.errors import SERVER_BUSY, to_mcp_error
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from tests.clock import ManualClock
from tests.support.factories import make_store, running_service
from tests.support.outage import OutageBackend
from tests.support.results import text_result

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="job")


def settings_for(name: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "replica_id": name,
        "heartbeat_interval_seconds": 0.05,
        "lease_seconds": 0.5,
        "lease_sweep_interval_seconds": 0.05,
        "shutdown_grace_seconds": 0,
        "clock_skew_margin_seconds": 0,
    }
    return Settings(**{**values, **overrides})


@asynccontextmanager
async def replica(
    backend: StorageBackend, name: str, **overrides: Any
) -> AsyncIterator[TaskService]:
    async with running_service(backend, settings_for(name, **overrides)) as service:
        yield service


# ---------------------------------------------------------------- results survive


async def test_result_stored_after_an_outage_at_return_and_no_replica_fails_it_meanwhile() -> None:
    # The outage outlasts the first retries of the final write (0.1, 0.3, 0.7,
    # 1.5 s) and ends before the replica would fence (lease 4.6 s - margin 0.5
    # s). The next retry comes at 3.1 s; only a lease the heartbeat keeps
    # renewing after the outage holds the task until then.
    shared = MemoryBackend()
    view = OutageBackend(shared)
    lease = {"lease_seconds": 4.6, "heartbeat_interval_seconds": 0.1, "fence_margin_seconds": 0.5}
    returned = anyio.Event()
    async with (
        replica(view, "replica-a", **lease) as service_a,
        replica(shared, "replica-b", **lease) as service_b,
    ):

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await ctx.set_status("almost done")  # a write: the lease is full now
            view.down = True
            returned.set()
            return text_result("precious")

        task = await service_a.create(LOCAL, REQUEST, tool)
        await returned.wait()
        await anyio.sleep(3.3)  # the outage itself, not a wait for a condition
        view.down = False
        with anyio.fail_after(10):
            done = await service_b.result(LOCAL, task.task_id)
    assert done.status is TaskStatus.COMPLETED
    assert done.result == text_result("precious")
    assert view.refused > 0


# ---------------------------------------------------------------- create and start


class SlowCreateBackend(MemoryBackend):
    """A backend whose creates wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.creating = anyio.Event()
        self.release = anyio.Event()

    async def create(
        self,
        record: StoredRecord,
        *,
        max_active: int | None = None,
        max_total_active: int | None = None,
    ) -> None:
        self.creating.set()
        await self.release.wait()
        await super().create(record, max_active=max_active, max_total_active=max_total_active)


async def test_caller_cancelled_between_store_and_start_leaves_a_task_that_runs() -> None:
    backend = SlowCreateBackend()
    ran = anyio.Event()
    async with replica(backend, "replica-a") as service:

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            ran.set()
            return text_result("ran")

        async with anyio.create_task_group() as group:
            group.start_soon(service.create, LOCAL, REQUEST, tool)
            await backend.creating.wait()
            group.cancel_scope.cancel()  # the request handler goes away mid-create
            backend.release.set()
        with anyio.fail_after(5):
            await ran.wait()
        [stored] = (await service.list(LOCAL)).records
        with anyio.fail_after(5):
            done = await service.result(LOCAL, stored.task_id)
    assert done.result == text_result("ran")


# ---------------------------------------------------------------- clocks


async def test_orphan_is_failed_only_after_lease_plus_skew_margin() -> None:
    clock = ManualClock()
    store = make_store(MemoryBackend(clock=clock), settings_for("r", clock_skew_margin_seconds=2))
    task = await store.create(LOCAL.key, REQUEST, replica="crashed")
    clock.advance(500 + 2_000 - 1)  # the lease ran out, but less than the margin ago
    assert (await store.get(LOCAL.key, task.task_id)).status is TaskStatus.WORKING
    clock.advance(1)
    failed = await store.get(LOCAL.key, task.task_id)
    assert failed.status is TaskStatus.FAILED
    assert failed.status_message == STOPPED_MESSAGE


async def test_record_from_a_clock_ahead_beyond_the_margin_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    store = make_store(MemoryBackend(clock=clock), settings_for("r", clock_skew_margin_seconds=1))
    task = await store.create(LOCAL.key, REQUEST, replica="r")
    clock.advance(-1_000)  # within the margin: nothing to say
    with caplog.at_level(logging.WARNING, logger="mcp_tasks_server"):
        await store.get(LOCAL.key, task.task_id)
        assert not [r for r in caplog.records if "clock skew" in r.getMessage()]
        clock.advance(-4_000)  # 5 s behind the replica that wrote it
        await store.get(LOCAL.key, task.task_id)
        await store.get(LOCAL.key, task.task_id)
    warnings = [r.getMessage() for r in caplog.records if "clock skew" in r.getMessage()]
    assert len(warnings) == 1
    assert "5000 ms in the future" in warnings[0]


# ---------------------------------------------------------------- long tasks


async def test_task_running_longer_than_its_ttl_stays_readable_and_so_does_its_result() -> None:
    backend = MemoryBackend()
    release = anyio.Event()
    async with replica(backend, "replica-a", sweep_interval_seconds=0.05) as service:

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await release.wait()
            return text_result("long")

        task = await service.create(LOCAL, REQUEST, tool, ttl_ms=1_000)
        assert task.ttl_ms == 1_000
        deadline = anyio.current_time() + 3
        while anyio.current_time() < deadline:  # 3 s of running: 3 TTLs
            assert (await service.get(LOCAL, task.task_id)).status is TaskStatus.WORKING
            await anyio.sleep(0.1)
        release.set()
        with anyio.fail_after(5):
            done = await service.result(LOCAL, task.task_id)
        assert done.result == text_result("long")
        assert done.expires_at_ms == done.last_updated_at_ms + 1_000
        assert (await service.get(LOCAL, task.task_id)).status is TaskStatus.COMPLETED


async def test_finished_task_expires_one_ttl_after_its_end() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    store = make_store(backend, settings_for("r"))
    task = await store.create(LOCAL.key, REQUEST, ttl_ms=1_000, replica="r")
    for _ in range(10):  # 4 s of running, its lease renewed all along: 4 TTLs
        clock.advance(400)
        task = await store.renew_lease(task, "r")
        assert (await store.get(LOCAL.key, task.task_id)).status is TaskStatus.WORKING
    clock.advance(100)
    done = await store.complete(LOCAL.key, task.task_id, text_result("x"), known=task)
    clock.advance(999)
    assert (await store.get(LOCAL.key, task.task_id)).status is TaskStatus.COMPLETED
    clock.advance(1)
    with pytest.raises(TaskNotFound):
        await store.get(LOCAL.key, done.task_id)


# ---------------------------------------------------------------- limits


async def test_replica_at_its_running_limit_refuses_a_task_and_stores_nothing() -> None:
    backend = MemoryBackend()
    release = anyio.Event()
    async with replica(backend, "replica-a", max_running_tasks=2) as service:

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await release.wait()
            return text_result("ok")

        first = await service.create(LOCAL, REQUEST, tool)
        await service.create(LOCAL, REQUEST, tool)
        with pytest.raises(CapacityExceeded) as refused:
            await service.create(LOCAL, REQUEST, tool)
        assert to_mcp_error(refused.value).code == SERVER_BUSY
        assert len((await service.list(LOCAL)).records) == 2
        release.set()
        with anyio.fail_after(5):
            await service.result(LOCAL, first.task_id)
            while len(service.runner.running_task_ids) == 2:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        await service.create(LOCAL, REQUEST, tool)  # a place is free again


async def test_waiters_beyond_the_limit_are_refused_at_once_not_queued() -> None:
    backend = MemoryBackend()
    release = anyio.Event()
    async with replica(backend, "replica-a", max_waiters=2) as service:

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await release.wait()
            return text_result("ok")

        task = await service.create(LOCAL, REQUEST, tool)
        results: list[Any] = []

        async def wait() -> None:
            results.append(await service.result(LOCAL, task.task_id))

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            group.start_soon(wait)
            with anyio.fail_after(5):
                while service._waiters < 2:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                with pytest.raises(CapacityExceeded) as refused:
                    await service.result(LOCAL, task.task_id)
            assert to_mcp_error(refused.value).code == SERVER_BUSY
            release.set()
        assert [r.status for r in results] == [TaskStatus.COMPLETED] * 2
        assert service._waiters == 0


def test_memory_backend_holds_a_bounded_number_of_tasks_by_default() -> None:
    assert 0 < Settings().memory_max_tasks <= 100_000


# ---------------------------------------------------------------- the leak


async def test_thousands_of_cross_replica_waits_leave_no_waiter_behind() -> None:
    backend = MemoryBackend()
    release = anyio.Event()
    async with (
        replica(backend, "replica-a") as service_a,
        replica(backend, "replica-b", max_waiters=5_000) as service_b,
    ):

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await release.wait()
            return text_result("ok")

        tasks = [await service_a.create(LOCAL, REQUEST, tool) for _ in range(20)]

        async def wait(task_id: str, max_wait: float) -> None:
            with suppress(ResultNotReady):  # the short waits time out
                await service_b.result(LOCAL, task_id, max_wait=max_wait)

        async with anyio.create_task_group() as group:
            for n in range(2_000):
                # Half time out, half are still waiting when the tasks finish.
                group.start_soon(wait, tasks[n % 20].task_id, 0.05 if n % 2 else 30.0)
            with anyio.fail_after(30):
                while service_b._waiters > 1_000:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            release.set()
        assert service_b.runner.feed._changed == {}
        assert service_a.runner.feed._changed == {}
        assert service_b._waiters == 0
