"""What only the SQS queue does: endpoints, regions, FIFO queues, SQS's errors."""

from __future__ import annotations

import pytest

from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.queues import QueueNotFound, QueueUnavailable, TaskMessage
from tests.sqs_servers import (
    SQS_SERVERS,
    SqsServer,
    create_queue_pair,
    delete_queues,
    free_port,
    local_session,
)

pytestmark = pytest.mark.anyio

sqs = pytest.importorskip("mcp_tasks_server.queues.sqs")


@pytest.fixture(params=SQS_SERVERS)
def sqs_server(request: pytest.FixtureRequest) -> SqsServer:
    """Each SQS-compatible server in turn."""
    fixture = {"moto": "moto_sqs", "local-aws-sqs": "local_aws_sqs"}[request.param]
    server: SqsServer = request.getfixturevalue(fixture)
    return server


def task_message(attempt: int = 1) -> TaskMessage:
    return TaskMessage(new_task_id(), "principal:0a1b2c", attempt)


async def test_unreachable_endpoint_raises_queue_unavailable_naming_it() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    queue = sqs.SqsQueue(
        f"{endpoint}/123456789012/tasks",
        endpoint_url=endpoint,
        session=local_session(),
        timeout_seconds=1,
        max_attempts=2,
    )
    async with queue:
        with pytest.raises(QueueUnavailable) as refused:
            await queue.send(task_message())
        assert f"SQS at {endpoint} is unavailable" in str(refused.value)
        assert "after 2 attempts" in str(refused.value)
        with pytest.raises(QueueUnavailable):
            await queue.receive(1, 0)
    assert queue.request_count == 2


async def test_missing_queue_raises_queue_not_found(sqs_server: SqsServer) -> None:
    url = f"{sqs_server.endpoint}/123456789012/no-such-queue"
    async with sqs.SqsQueue(url, endpoint_url=sqs_server.endpoint, session=local_session()) as q:
        with pytest.raises(QueueNotFound, match="no-such-queue does not exist"):
            await q.send(task_message())


async def test_fifo_queue_queues_a_resent_attempt_once(sqs_server: SqsServer) -> None:
    pair = create_queue_pair(sqs_server.endpoint, max_receive_count=5, fifo=True)
    queue = sqs.SqsQueue(pair.url, endpoint_url=sqs_server.endpoint, session=local_session())
    try:
        first, retry = task_message(), task_message(attempt=2)
        await queue.send(first)
        await queue.send(first)  # a send retried after a lost answer
        await queue.send(TaskMessage(retry.task_id, retry.owner_key, 2))

        received = []
        for _ in range(3):  # one more than should come
            batch = await queue.receive(1, 2, visibility_seconds=30)
            received.extend(batch)
            for delivery in batch:
                await queue.ack(delivery)  # the owner's next message follows only then
        assert [d.message for d in received] == [first, retry]
    finally:
        await queue.close()
        delete_queues(sqs_server.endpoint, pair)


async def test_owner_groups_are_accepted_on_a_standard_queue(sqs_server: SqsServer) -> None:
    pair = create_queue_pair(sqs_server.endpoint, max_receive_count=5)
    queue = sqs.SqsQueue(
        pair.url, endpoint_url=sqs_server.endpoint, session=local_session(), group_by_owner=True
    )
    try:
        sent = task_message()
        await queue.send(sent)
        [delivery] = await queue.receive(1, 5)
        assert delivery.message == sent
    finally:
        await queue.close()
        delete_queues(sqs_server.endpoint, pair)


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-3.amazonaws.com/123456789012/tasks", "eu-west-3"),
        ("https://us-east-2.queue.amazonaws.com/123456789012/tasks", "us-east-2"),
        ("http://127.0.0.1:9324/000000000000/tasks", None),
    ],
)
def test_region_is_read_from_an_aws_queue_url(url: str, region: str | None) -> None:
    assert sqs.SqsQueue(url).region_name == region
    assert sqs.SqsQueue(url, region_name="ap-south-1").region_name == "ap-south-1"


def test_a_queue_name_is_not_a_queue_url() -> None:
    with pytest.raises(ValueError, match="queue's URL"):
        sqs.SqsQueue("tasks")
