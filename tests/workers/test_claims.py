"""The claim: one conditional write decides which worker runs a task, whatever the races.

Concurrent races run on the memory backend and DynamoDB Local. moto's server
does not keep a conditional write atomic under concurrent requests (see
``tests/dynamodb_servers.ATOMIC_SERVERS``), so there the same workers claim
one after another: the rule (only the queued marker at the message's attempt
can be taken) is checked, not the emulator's atomicity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest

from mcp_tasks_server import MemoryBackend, Settings, Tasks
from mcp_tasks_server.backends import StorageBackend
from mcp_tasks_server.core.errors import NotClaimable
from mcp_tasks_server.core.lifecycle import QUEUED_REPLICA, claim, orphan_failure, run_again
from mcp_tasks_server.core.model import TaskRecord, TaskStatus, ToolRequest
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.queues import Delivery, MemoryQueue
from mcp_tasks_server.runtime.queue_execution import QueueExecution
from mcp_tasks_server.runtime.worker import Outcome, Worker
from tests.dynamodb_servers import DynamoDbServer, open_backend
from tests.workers.conftest import finished, front_end, start, wait_for, worker

pytestmark = pytest.mark.anyio

WORKERS = 5


def queued(**changes: object) -> TaskRecord:
    base = TaskRecord(
        task_id="0" * 36,
        owner="o",
        created_at_ms=0,
        last_updated_at_ms=0,
        ttl_ms=None,
        expires_at_ms=None,
        poll_interval_ms=1000,
        request=ToolRequest(name="t"),
        replica=QUEUED_REPLICA,
        lease_expires_at_ms=10_000,
    )
    return base.model_copy(update=changes)


@pytest.mark.parametrize(
    "record",
    [
        queued(status=TaskStatus.CANCELLED),
        queued(replica="w2"),
        queued(attempt=2),
    ],
    ids=["finished", "claimed", "another-attempt"],
)
def test_only_the_queued_marker_at_the_messages_attempt_can_be_claimed(
    record: TaskRecord,
) -> None:
    with pytest.raises(NotClaimable):
        claim("w1", 1, 5_000, 1_000)(record)


def test_a_claim_after_the_claim_timeout_loses() -> None:
    with pytest.raises(NotClaimable):
        claim("w1", 1, 10_000, 1_000)(queued())


def test_a_won_claim_holds_the_workers_lease() -> None:
    claimed = claim("w1", 1, 5_000, 1_000)(queued())
    assert (claimed.replica, claimed.lease_expires_at_ms) == ("w1", 6_000)


def test_queued_task_past_its_claim_timeout_fails_saying_no_worker_took_it() -> None:
    failed = orphan_failure(10_000)(queued())
    assert failed.status is TaskStatus.FAILED
    assert failed.status_message == "No worker took this task within 10 seconds"


def test_idempotent_orphan_is_left_to_the_sweep_and_runs_again_at_most_max_attempts() -> None:
    orphan = queued(replica="dead", max_attempts=2)
    assert orphan_failure(20_000)(orphan) is orphan  # reads leave it alone
    again = run_again(20_000, to=QUEUED_REPLICA, lease_ms=900)(orphan)
    assert (again.attempt, again.replica, again.lease_expires_at_ms) == (2, QUEUED_REPLICA, 20_900)
    with pytest.raises(NotClaimable):
        run_again(30_000, to=QUEUED_REPLICA, lease_ms=900)(
            again.model_copy(update={"replica": "x"})
        )


@asynccontextmanager
async def backend_named(name: str, request: pytest.FixtureRequest) -> AsyncIterator[StorageBackend]:
    if name == "memory":
        yield MemoryBackend()
        return
    server: DynamoDbServer = request.getfixturevalue(
        {"dynamodb-local": "dynamodb_local", "moto": "moto_dynamodb"}[name]
    )
    async with open_backend(server) as backend:
        yield backend


async def race(workers: list[Worker], delivery: Delivery, *, concurrent: bool) -> list[Outcome]:
    outcomes: list[Outcome] = []

    async def one(each: Worker) -> None:
        outcomes.append(await each.handle(delivery))

    if concurrent:
        async with anyio.create_task_group() as group:
            for each in workers:
                group.start_soon(one, each)
    else:
        for each in workers:
            await one(each)
    return outcomes


@pytest.mark.parametrize(
    ("store", "concurrent"),
    [("memory", True), ("dynamodb-local", True), ("moto", False)],
)
async def test_of_many_workers_given_one_task_exactly_one_runs_it(
    store: str, concurrent: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    queue = MemoryQueue()
    counter = tmp_path / "runs"
    async with backend_named(store, request) as backend, front_end(backend, queue) as front:
        record = await start(front, "once", path=str(counter))
        (delivery,) = await queue.receive(1, 1)
        async with AsyncExitStack() as stack:
            workers = [
                await stack.enter_async_context(worker(backend, queue, f"w{n}", loop=False))
                for n in range(WORKERS)
            ]
            outcomes = await race(workers, delivery, concurrent=concurrent)
        assert outcomes.count(Outcome.RAN) == 1, outcomes
        # The others lost the claim; on a store too slow to answer in time (a loaded
        # machine), one may instead leave its message for a later delivery, which loses then.
        assert set(outcomes) - {Outcome.RAN} <= {Outcome.SKIPPED, Outcome.RETRY}
        assert counter.read_text().splitlines() == ["run"]
        done = await front.service.get(LOCAL, record.task_id)
        assert done.status is TaskStatus.COMPLETED


async def test_local_mode_reruns_an_idempotent_orphan_on_the_replica_that_finds_it(
    tmp_path: Path,
) -> None:
    backend = MemoryBackend()
    counter = tmp_path / "runs"
    settings = Settings(
        replica_id="b",
        heartbeat_interval_seconds=0.1,
        lease_seconds=3,  # long enough that a stalled event loop never trips the fence
        clock_skew_margin_seconds=0,  # one machine, one clock
        lease_sweep_interval_seconds=0.1,
        max_attempts=2,
    )
    from mcp.server.mcpserver import MCPServer

    from tests.support import queue_tools

    tasks = Tasks(settings, backend=backend)
    server = MCPServer("b")
    queue_tools.register(tasks, server)
    tasks.install(server)
    async with tasks.running():
        # Replica "a" stored it and died before running it: its lease is never renewed.
        record = await tasks.store.create(
            LOCAL.key,
            ToolRequest(name="tally", arguments={"path": str(counter)}),
            replica="a",
            lease_ms=300,
            max_attempts=2,
        )
        done = await wait_for(tasks, record.task_id, finished)
        assert done.status is TaskStatus.COMPLETED
        assert (done.attempt, done.replica) == (2, "b")
        assert counter.read_text().splitlines() == ["run"]


async def test_queue_message_carries_the_creating_requests_trace_context() -> None:
    queue = MemoryQueue()
    parent = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    async with front_end(MemoryBackend(), queue) as front:
        record = await front.store.create(
            LOCAL.key,
            ToolRequest(name="once", arguments={}),
            replica=QUEUED_REPLICA,
            trace_context=parent,
        )
        assert isinstance(front.service.execution, QueueExecution)
        await front.service.execution.enqueue(record)
        (delivery,) = await queue.receive(1, 1)
    assert delivery.message.task_id == record.task_id
    assert delivery.message.trace_context == parent
