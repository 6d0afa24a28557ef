"""Queue mode end to end in one process: a front end, workers, and a real queue.

Parametrized over the in-process queue, moto's SQS and local-aws-sqs
(``queues``); the store is the memory backend (the claim races on DynamoDB
are in ``test_claims.py``).
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from mcp_tasks_server import MemoryBackend
from mcp_tasks_server.core.lifecycle import QUEUED_REPLICA, STOPPED_MESSAGE, claim
from mcp_tasks_server.core.model import TaskStatus
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.queues import MemoryQueue, TaskMessage
from mcp_tasks_server.runtime.queue_execution import QUEUE_FAILURE_PREFIX
from mcp_tasks_server.runtime.worker import TIME_LIMIT_MESSAGE, Outcome
from tests.workers.conftest import (
    QueuePair,
    finished,
    front_end,
    start,
    status_is,
    wait_for,
    worker,
)

pytestmark = pytest.mark.anyio


def runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def test_created_task_is_stored_queued_and_sent_as_one_message(queues: QueuePair) -> None:
    backend = MemoryBackend()
    async with front_end(backend, queues.queue, claim_timeout_seconds=60) as front:
        record = await start(front, "sleepy")
        assert record.status is TaskStatus.WORKING
        assert record.replica == QUEUED_REPLICA
        assert record.lease_expires_at_ms == record.created_at_ms + 60_000
        assert record.attempt == 1
        (delivery,) = await queues.queue.receive(10, 1)
        assert delivery.message == TaskMessage(record.task_id, record.owner, 1)


async def test_queued_tasks_run_on_the_workers_and_complete(queues: QueuePair) -> None:
    backend = MemoryBackend()
    async with (
        front_end(backend, queues.queue) as front,
        worker(backend, queues.queue, "w1"),
        worker(backend, queues.queue, "w2"),
    ):
        created = [await start(front, "sleepy", seconds=0.1) for _ in range(6)]
        for record in created:
            done = await wait_for(front, record.task_id, finished)
            assert done.status is TaskStatus.COMPLETED, done
            assert done.result is not None
            assert done.result["content"][0]["text"] == "slept 0.1"
            assert done.replica in ("w1", "w2")


async def test_redelivered_message_is_dropped_and_the_tool_runs_once(
    queues: QueuePair, tmp_path: Path
) -> None:
    backend = MemoryBackend()
    counter = tmp_path / "runs"
    async with (
        front_end(backend, queues.queue) as front,
        worker(backend, queues.queue, loop=False) as one,
    ):
        record = await start(front, "once", path=str(counter))
        (delivery,) = await queues.queue.receive(1, 1)
        assert await one.handle(delivery) is Outcome.RAN
        await queues.send_raw(delivery.body)  # the same message, delivered again
        (again,) = await queues.queue.receive(1, 1)
        assert await one.handle(again) is Outcome.SKIPPED
        assert (await front.service.get(LOCAL, record.task_id)).status is TaskStatus.COMPLETED
        assert runs(counter) == 1
        assert await queues.queue.receive(1, 0) == []  # both acknowledged


async def test_cancel_before_the_claim_means_the_tool_never_runs(
    queues: QueuePair, tmp_path: Path
) -> None:
    backend = MemoryBackend()
    counter = tmp_path / "runs"
    async with (
        front_end(backend, queues.queue) as front,
        worker(backend, queues.queue, loop=False) as one,
    ):
        record = await start(front, "once", path=str(counter))
        await front.service.cancel(LOCAL, record.task_id)
        (delivery,) = await queues.queue.receive(1, 1)
        assert await one.handle(delivery) is Outcome.SKIPPED
        assert runs(counter) == 0
        assert (await front.service.get(LOCAL, record.task_id)).status is TaskStatus.CANCELLED


async def test_cancel_after_the_claim_stops_the_tool_on_the_worker(queues: QueuePair) -> None:
    backend = MemoryBackend()
    async with (
        front_end(backend, queues.queue) as front,
        worker(backend, queues.queue, loop=False) as one,
        anyio.create_task_group() as group,
    ):
        record = await start(front, "sleepy", seconds=60)
        (delivery,) = await queues.queue.receive(1, 1)
        outcomes: list[Outcome] = []
        handled = anyio.Event()

        async def handle() -> None:
            outcomes.append(await one.handle(delivery))
            handled.set()

        group.start_soon(handle)
        await wait_for(front, record.task_id, lambda r: r.replica == "w1")
        await front.service.cancel(LOCAL, record.task_id)
        with anyio.fail_after(10):  # within a heartbeat (0.05 s), with room for a slow machine
            await handled.wait()
        assert outcomes == [Outcome.RAN]
        assert (await front.service.get(LOCAL, record.task_id)).status is TaskStatus.CANCELLED


async def test_answer_given_to_the_front_end_reaches_the_tool_on_the_worker(
    queues: QueuePair,
) -> None:
    backend = MemoryBackend()
    async with front_end(backend, queues.queue) as front, worker(backend, queues.queue):
        record = await start(front, "ask")
        await wait_for(front, record.task_id, status_is(TaskStatus.INPUT_REQUIRED))
        answer = {"action": "accept", "content": {"name": "ada"}}
        delivery = await front.service.deliver_input(LOCAL, record.task_id, {"name": answer})
        assert delivery.accepted == {"name"}
        done = await wait_for(front, record.task_id, finished)
        assert done.status is TaskStatus.COMPLETED
        assert done.result is not None
        assert done.result["content"][0]["text"] == "hello ada"


async def test_malformed_message_reaches_the_dead_letter_queue(queues: QueuePair) -> None:
    backend = MemoryBackend()
    async with worker(backend, queues.queue, worker_visibility_seconds=1):
        await queues.send_raw('{"not": "a task"}')
        with anyio.fail_after(30):
            while not (dead := await queues.dead_letter.receive(1, 1)):
                pass
        assert dead[0].body == '{"not": "a task"}'


async def test_task_nobody_claims_fails_at_the_claim_timeout(queues: QueuePair) -> None:
    backend = MemoryBackend()
    async with front_end(backend, queues.queue, claim_timeout_seconds=0.5) as front:
        record = await start(front, "sleepy")
        done = await wait_for(front, record.task_id, finished)
        assert done.status is TaskStatus.FAILED
        assert done.status_message == "No worker took this task within 0.5 seconds"


async def test_failed_send_fails_the_task_and_answers_with_the_reason() -> None:
    full = MemoryQueue(max_messages=1)
    await full.send_raw("{}")
    async with front_end(MemoryBackend(), full) as front:
        record = await start(front, "sleepy")
        assert record.status is TaskStatus.FAILED
        assert record.status_message is not None
        assert record.status_message.startswith(QUEUE_FAILURE_PREFIX)
        assert (await front.service.get(LOCAL, record.task_id)).status is TaskStatus.FAILED


async def test_worker_out_of_time_fails_the_task_with_a_clear_message() -> None:
    queue = MemoryQueue()
    backend = MemoryBackend()
    async with (
        front_end(backend, queue) as front,
        worker(backend, queue, loop=False, worker_time_margin_seconds=1) as one,
    ):
        record = await start(front, "sleepy", seconds=60)
        (delivery,) = await queue.receive(1, 1)
        with anyio.fail_after(20):
            outcome = await one.handle(delivery, deadline=anyio.current_time() + 1.3)
        assert outcome is Outcome.RAN
        done = await front.service.get(LOCAL, record.task_id)
        assert done.status is TaskStatus.FAILED
        assert done.status_message == TIME_LIMIT_MESSAGE


async def test_orphan_of_a_worker_that_died_fails_when_the_tool_is_not_idempotent(
    tmp_path: Path,
) -> None:
    queue = MemoryQueue()
    backend = MemoryBackend()
    async with front_end(backend, queue, max_attempts=3) as front:
        record = await start(front, "once", path=str(tmp_path / "runs"))
        # A worker claims it and dies at once: its lease (0.5 s) is never renewed.
        await front.store.apply(record, claim("dead", 1, front.store.clock(), 500))
        done = await wait_for(front, record.task_id, finished)
        assert done.status is TaskStatus.FAILED
        assert done.status_message == STOPPED_MESSAGE
        assert done.attempt == 1


async def test_orphan_of_an_idempotent_tool_is_queued_again_and_completes_once(
    tmp_path: Path,
) -> None:
    queue = MemoryQueue()
    backend = MemoryBackend()
    counter = tmp_path / "runs"
    async with front_end(backend, queue, max_attempts=2) as front:
        record = await start(front, "tally", path=str(counter))
        assert record.max_attempts == 2
        (first,) = await queue.receive(1, 1)
        await front.store.apply(record, claim("dead", 1, front.store.clock(), 500))
        await queue.ack(first)
        # The front end's orphan sweep queues attempt 2; a worker started now runs it.
        queued = await wait_for(front, record.task_id, lambda r: r.attempt == 2)
        assert queued.replica == QUEUED_REPLICA
        async with worker(backend, queue):
            done = await wait_for(front, record.task_id, finished)
        assert done.status is TaskStatus.COMPLETED
        assert runs(counter) == 1  # the dead worker never ran it; attempt 2 did, once
