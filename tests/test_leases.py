"""Leases: crash detection, heartbeats, cross-replica cancel and input, shutdown.

Two runners over one backend stand for two replicas on one table: they share
nothing but the store, as two processes would.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from mcp_tasks_server import InputRequest, MemoryBackend, Settings, TaskStatus, TaskStore
from mcp_tasks_server.backends import StorageBackend, StoredRecord
from mcp_tasks_server.backends.errors import BackendUnavailable
from mcp_tasks_server.core.errors import ServerShuttingDown
from mcp_tasks_server.core.lifecycle import ORPHAN_ERROR, STOPPED_MESSAGE
from mcp_tasks_server.core.model import ToolRequest
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.runtime import sweepers
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.runtime.sweepers import sweep_orphans
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from tests.support.clock import ManualClock
from tests.support.factories import make_store, running_service
from tests.support.polling import poll_until
from tests.support.results import text_result

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="job")
HEARTBEAT = 0.05
BY_HAND: dict[str, Any] = {"heartbeat_interval_seconds": 300, "lease_seconds": 900}
"""A heartbeat that never fires during a test, which calls ``runner.beat()`` itself.

"Within a heartbeat" is then counted in heartbeats, not seconds, so a slow
machine cannot stretch it.
"""


def replica_settings(name: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "replica_id": name,
        "heartbeat_interval_seconds": HEARTBEAT,
        "lease_seconds": 0.5,
        "lease_sweep_interval_seconds": 0.1,
        "shutdown_grace_seconds": 0,
        "clock_skew_margin_seconds": 0,
    }
    return Settings(**{**values, **overrides})


@asynccontextmanager
async def replica(
    backend: StorageBackend, name: str, **overrides: Any
) -> AsyncIterator[TaskService]:
    async with running_service(backend, replica_settings(name, **overrides)) as service:
        yield service


async def wait_until_status(
    service: TaskService, task_id: str, status: TaskStatus, within: float = 5
) -> Any:
    read = functools.partial(service.get, LOCAL, task_id)
    return await poll_until(read, lambda record: record.status is status, within=within, every=0.01)


# ---------------------------------------------------------------- leases in records


async def test_created_task_holds_its_replicas_lease_from_the_first_write() -> None:
    backend = MemoryBackend()
    async with replica(backend, "replica-a", lease_seconds=30) as service:

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await anyio.sleep(60)
            return text_result("never")

        before = backend.request_count
        task = await service.create(LOCAL, REQUEST, tool)
        assert backend.request_count == before + 1
        stored = await service.get(LOCAL, task.task_id)
        assert stored.replica == "replica-a"
        assert stored.lease_expires_at_ms == stored.created_at_ms + 30_000


async def test_task_whose_lease_ran_out_reads_as_failed_exactly_once() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    store = make_store(backend, replica_settings("reader"))
    task = await store.create(LOCAL.key, REQUEST, replica="crashed-replica")
    assert (await store.get(LOCAL.key, task.task_id)).status is TaskStatus.WORKING
    clock.advance(500)
    readers = [make_store(backend, replica_settings(f"reader-{n}")) for n in range(8)]
    seen: list[Any] = []

    async def read(reader: TaskStore) -> None:
        seen.append(await reader.get(LOCAL.key, task.task_id))

    async with anyio.create_task_group() as group:
        for reader in readers:
            group.start_soon(read, reader)
    assert {(r.status, r.status_message, r.version) for r in seen} == {
        (TaskStatus.FAILED, STOPPED_MESSAGE, 2)
    }
    assert seen[0].error == ORPHAN_ERROR
    [listed] = (await store.list(LOCAL.key)).records
    assert listed.version == 2


async def test_orphan_sweep_fails_tasks_nobody_reads() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    store = make_store(backend, replica_settings("sweeper"))
    orphan = await store.create(LOCAL.key, REQUEST, replica="crashed-replica")
    alive = await store.create("other-owner", REQUEST, replica="crashed-replica")
    clock.advance(400)
    alive = await store.renew_lease(alive, "crashed-replica")
    clock.advance(100)
    assert (await sweep_orphans(store)).failed == 1
    assert (await sweep_orphans(store)).failed == 0
    raw = await backend.get(LOCAL.key, orphan.task_id)
    assert not raw.active
    assert (await store.get("other-owner", alive.task_id)).status is TaskStatus.WORKING


async def test_a_pass_longer_than_one_sweep_resumes_where_the_last_sweep_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sweepers, "SWEEP_PAGE_SIZE", 1)
    monkeypatch.setattr(sweepers, "SWEEP_MAX_PAGES", 2)
    clock = ManualClock()
    store = make_store(MemoryBackend(clock=clock), replica_settings("sweeper"))
    # Healthy tasks sort before the orphan, more of them than one sweep examines.
    healthy = [await store.create("a-owner", REQUEST, replica="live") for _ in range(5)]
    orphan = await store.create("z-owner", REQUEST, replica="crashed-replica")
    clock.advance(500)
    for task in healthy:
        await store.renew_lease(task, "live")
    resume_from, failed = None, 0
    for _ in range(3):  # 6 tasks, 2 per sweep
        outcome = await sweep_orphans(store, resume_from)
        failed, resume_from = failed + outcome.failed, outcome.resume_from
    assert failed == 1
    assert resume_from is None  # the pass completed
    assert (await store.backend.get("z-owner", orphan.task_id)).active is False


async def test_tasks_created_without_a_lease_are_never_orphaned() -> None:
    clock = ManualClock()
    store = make_store(MemoryBackend(clock=clock), replica_settings("library"))
    task = await store.create(LOCAL.key, REQUEST)
    clock.advance(3_000_000)
    assert (await store.get(LOCAL.key, task.task_id)).status is TaskStatus.WORKING


# ---------------------------------------------------------------- heartbeat


async def test_heartbeat_renews_the_lease_of_long_work_only_when_half_is_left() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    release = anyio.Event()
    unlimited = {"default_ttl_ms": None, "max_ttl_ms": None}  # outlives an hour of leases
    async with replica(backend, "replica-a", **BY_HAND, **unlimited) as service:

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await release.wait()
            return text_result("done")

        task = await service.create(LOCAL, REQUEST, tool)
        lease_ms = service.store.policy.lease_ms
        record, renewals = task, 0
        for _ in range(80):  # four leases long, twenty beats a lease
            clock.advance(lease_ms // 20)
            assert record.lease_expires_at_ms is not None
            left = record.lease_expires_at_ms - clock()
            await service.runner.beat()
            after = await service.get(LOCAL, task.task_id)
            assert after.status is TaskStatus.WORKING  # the lease never ran out
            renewed = after.version > record.version
            assert renewed == (left < lease_ms / 2), (left, renewed)
            renewals += renewed
            record = after
        release.set()
        with anyio.fail_after(5):
            done = await service.result(LOCAL, task.task_id)
    assert done.status is TaskStatus.COMPLETED
    # Four leases renewed at half: about eight renewals, not one per heartbeat (80).
    assert 3 <= renewals <= 12
    assert done.version - 2 == renewals


async def test_heartbeat_that_cannot_reach_the_store_keeps_the_work_running() -> None:
    backend = FlakyBackend()
    release = anyio.Event()
    async with replica(backend, "replica-a", lease_seconds=10) as service:

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await release.wait()
            return text_result("survived")

        task = await service.create(LOCAL, REQUEST, tool)
        backend.down = True
        with anyio.fail_after(5):
            while backend.refused < 3:  # noqa: ASYNC110 - several failed heartbeats
                await anyio.sleep(0.01)
        backend.down = False
        release.set()
        with anyio.fail_after(5):
            done = await service.result(LOCAL, task.task_id)
    assert done.result == text_result("survived")


class FlakyBackend(MemoryBackend):
    """A memory backend whose reads fail while ``down`` (a store out of reach)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    async def get(self, owner: str, task_id: str) -> StoredRecord:
        if self.down:
            self.refused += 1
            raise BackendUnavailable("the store cannot be reached")
        return await super().get(owner, task_id)


# ---------------------------------------------------------------- across replicas


async def test_cancel_on_another_replica_stops_the_coroutine_within_a_heartbeat() -> None:
    backend = MemoryBackend()
    started, stopped = anyio.Event(), anyio.Event()
    async with (
        replica(backend, "replica-a", **BY_HAND) as service_a,
        replica(backend, "b") as service_b,
    ):

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            started.set()
            try:
                await anyio.sleep(60)
            finally:
                stopped.set()
            return text_result("never")

        task = await service_a.create(LOCAL, REQUEST, tool)
        with anyio.fail_after(5):
            await started.wait()
        await service_b.cancel(LOCAL, task.task_id)
        await service_a.runner.beat()  # one heartbeat of the replica running it
        with anyio.fail_after(5):
            await stopped.wait()
        assert task.task_id not in service_a.runner.running_task_ids
        final = await service_a.get(LOCAL, task.task_id)
    assert final.status is TaskStatus.CANCELLED


async def test_late_completion_on_the_running_replica_never_overwrites_a_cancel() -> None:
    backend = MemoryBackend()
    release, returned = anyio.Event(), anyio.Event()
    async with replica(backend, "b") as service_b:
        async with replica(backend, "replica-a", **BY_HAND, shutdown_grace_seconds=30) as service_a:

            async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
                with anyio.CancelScope(shield=True):  # ignores the stop: finishes anyway
                    await release.wait()
                returned.set()
                return text_result("late")

            task = await service_a.create(LOCAL, REQUEST, tool)
            await service_b.cancel(LOCAL, task.task_id)
            await service_a.runner.beat()  # replica a learns of the cancel
            release.set()
        # Leaving replica a waited for the tool and for whatever became of its result.
        assert returned.is_set()
        final = await service_b.get(LOCAL, task.task_id)
    assert final.status is TaskStatus.CANCELLED
    assert final.result is None


async def test_answer_on_another_replica_resumes_the_tool_within_a_heartbeat() -> None:
    backend = MemoryBackend()
    resumed = anyio.Event()
    async with (
        replica(backend, "replica-a", **BY_HAND) as service_a,
        replica(backend, "b") as service_b,
    ):

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            answers = await ctx.request_input({"name": InputRequest(method="elicitation/create")})
            resumed.set()
            return text_result(f"hello {answers['name']}")

        task = await service_a.create(LOCAL, REQUEST, tool)
        await wait_until_status(service_b, task.task_id, TaskStatus.INPUT_REQUIRED)
        await service_b.deliver_input(LOCAL, task.task_id, {"name": "Ada"})
        await service_a.runner.beat()  # one heartbeat of the replica running it
        with anyio.fail_after(5):
            await resumed.wait()
            done = await service_b.result(LOCAL, task.task_id)
    assert done.result == text_result("hello Ada")


async def test_replica_that_stops_heartbeating_has_its_tasks_failed_by_another() -> None:
    # The store's clock moves by hand, so the lease runs out when the test says,
    # however slowly the survivor's sweeps (every 0.1 s) come round.
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    async with replica(backend, "survivor") as survivor:
        # A replica that stored its task and died: nothing renews the lease.
        task = await survivor.store.create(LOCAL.key, REQUEST, replica="crashed")
        clock.advance(survivor.store.policy.lease_ms - 1)
        # Two sweeps (the survivor's only requests) look while the lease still holds...
        swept = backend.request_count + 2
        with anyio.fail_after(5):
            while backend.request_count < swept:  # noqa: ASYNC110 - watching the sweeper
                await anyio.sleep(0.01)
        assert (await backend.get(LOCAL.key, task.task_id)).active
        clock.advance(1)  # ...and once it has run out, the next sweep fails the task.
        with anyio.fail_after(5):
            while (await backend.get(LOCAL.key, task.task_id)).active:  # noqa: ASYNC110
                await anyio.sleep(0.02)  # raw reads: only the sweep can settle it
        record = await survivor.get(LOCAL, task.task_id)
    assert record.status is TaskStatus.FAILED
    assert record.status_message == STOPPED_MESSAGE


# ---------------------------------------------------------------- shutdown


async def test_replica_shutting_down_refuses_new_tasks_and_stores_nothing() -> None:
    backend = MemoryBackend()
    async with replica(backend, "replica-a", shutdown_grace_seconds=1) as service:

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await anyio.sleep(0.2)
            return text_result("finished in the grace period")

        running = await service.create(LOCAL, REQUEST, tool)
        async with anyio.create_task_group() as group:
            group.start_soon(service.runner.shutdown)
            with anyio.fail_after(5):
                while service.runner.accepting:  # noqa: ASYNC110 - the runner has no event
                    await anyio.sleep(0.001)
            with pytest.raises(ServerShuttingDown):
                await service.create(LOCAL, REQUEST, tool)
        assert [r.task_id for r in (await service.list(LOCAL)).records] == [running.task_id]
        finished = await service.get(LOCAL, running.task_id)
    assert finished.status is TaskStatus.COMPLETED
