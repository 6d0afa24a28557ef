"""What only the in-memory queue does: its bounds and its strictness about receipts."""

from __future__ import annotations

import pytest

from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.queues import DeliveryExpired, MemoryQueue, QueueUnavailable, TaskMessage

pytestmark = pytest.mark.anyio


def task_message() -> TaskMessage:
    return TaskMessage(new_task_id(), "local")


async def test_a_full_queue_refuses_a_send_until_a_message_is_taken() -> None:
    queue = MemoryQueue(max_messages=2)
    await queue.send(task_message())
    await queue.send(task_message())

    with pytest.raises(QueueUnavailable, match="maximum of 2 messages"):
        await queue.send(task_message())

    [delivery] = await queue.receive(1, 0)
    await queue.ack(delivery)
    await queue.send(task_message())


async def test_a_receipt_from_before_a_redelivery_no_longer_extends() -> None:
    queue = MemoryQueue()
    await queue.send(task_message())
    [first] = await queue.receive(1, 0, visibility_seconds=1)
    [again] = await queue.receive(1, 10, visibility_seconds=30)

    with pytest.raises(DeliveryExpired, match="delivered again"):
        await queue.extend(first, 60)
    await queue.extend(again, 60)


async def test_without_a_redrive_policy_a_message_is_delivered_again_and_again() -> None:
    queue = MemoryQueue()
    await queue.send(task_message())
    for count in range(1, 6):
        [delivery] = await queue.receive(1, 0, visibility_seconds=30)
        assert delivery.receive_count == count
        await queue.release(delivery)


def test_a_redrive_policy_needs_both_a_count_and_a_dead_letter_queue() -> None:
    with pytest.raises(ValueError, match="go together"):
        MemoryQueue(max_receive_count=3)
    with pytest.raises(ValueError, match="go together"):
        MemoryQueue(dead_letter=MemoryQueue())
    with pytest.raises(ValueError, match="at least 1"):
        MemoryQueue(max_receive_count=0, dead_letter=MemoryQueue())
