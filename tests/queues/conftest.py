"""One ``harness`` fixture, parametrized over every task queue.

Each entry of ``QUEUES`` is a factory: given the pytest request (to reach
server fixtures) it yields a :class:`QueueHarness` on a fresh queue whose
redrive policy sends a message to a fresh dead-letter queue after
``harness.max_receive_count`` receives. Adding a queue to the contract suite
is adding one entry here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anyio
import pytest

from mcp_tasks_server.queues import MemoryQueue, TaskQueue
from tests.sqs_servers import (
    SqsServer,
    create_queue_pair,
    delete_queues,
    local_aws_sqs,
    local_session,
    moto_sqs,
    sqs_client,
)

__all__ = ["QueueHarness", "local_aws_sqs", "moto_sqs"]

MAX_RECEIVE_COUNT = 2
"""Receives before a message moves to the dead-letter queue."""

# local-aws-sqs 2.0.2 adds one to a message's receive count on every
# ChangeMessageVisibility too (extend and release), and its redrive policy
# sees that count; SQS counts receives only. A higher maximum there keeps
# the tests that extend or release a message (up to 3 counts before the
# receive that follows) from dead-lettering it; the dead-letter test still
# runs on it, with this count.
LOCAL_AWS_SQS_MAX_RECEIVE_COUNT = 4


@dataclass
class QueueHarness:
    """A queue under test, its dead-letter queue, and a way to send raw bodies."""

    name: str
    queue: TaskQueue
    dead_letter: TaskQueue
    #: Receives after which the queue moves a message to ``dead_letter``.
    max_receive_count: int
    #: Puts a body on the queue as it is, as any producer with send rights could.
    send_raw: Callable[[str], Awaitable[None]]


HarnessFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[QueueHarness]]


@asynccontextmanager
async def memory_harness(request: pytest.FixtureRequest) -> AsyncIterator[QueueHarness]:
    dead_letter = MemoryQueue()
    queue = MemoryQueue(max_receive_count=MAX_RECEIVE_COUNT, dead_letter=dead_letter)
    yield QueueHarness("memory", queue, dead_letter, MAX_RECEIVE_COUNT, queue.send_raw)


def sqs_harness(server_fixture: str, max_receive_count: int = MAX_RECEIVE_COUNT) -> HarnessFactory:
    """A factory for a fresh queue pair on the named server fixture's server."""

    @asynccontextmanager
    async def factory(request: pytest.FixtureRequest) -> AsyncIterator[QueueHarness]:
        from mcp_tasks_server.queues.sqs import SqsQueue

        server: SqsServer = request.getfixturevalue(server_fixture)
        pair = create_queue_pair(server.endpoint, max_receive_count=max_receive_count)
        session = local_session()
        queue = SqsQueue(pair.url, endpoint_url=server.endpoint, session=session)
        dead_letter = SqsQueue(pair.dead_letter_url, endpoint_url=server.endpoint, session=session)
        raw_client = sqs_client(server.endpoint)

        async def send_raw(body: str) -> None:
            await anyio.to_thread.run_sync(
                lambda: raw_client.send_message(QueueUrl=pair.url, MessageBody=body)
            )

        try:
            yield QueueHarness(server.name, queue, dead_letter, max_receive_count, send_raw)
        finally:
            await queue.close()
            await dead_letter.close()
            delete_queues(server.endpoint, pair)

    return factory


QUEUES: dict[str, HarnessFactory] = {
    "memory": memory_harness,
    "moto": sqs_harness("moto_sqs"),
    "local-aws-sqs": sqs_harness("local_aws_sqs", LOCAL_AWS_SQS_MAX_RECEIVE_COUNT),
}


@pytest.fixture(params=list(QUEUES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[QueueHarness]:
    async with QUEUES[request.param](request) as ready:
        yield ready
