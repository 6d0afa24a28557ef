"""The queue contract, run against every queue in ``conftest.QUEUES``.

Visibility tests hide messages for 1-2 s and then wait on the queue itself
(long polls with generous limits), never on fixed sleeps, so a slow machine
makes them slower, not flaky.

Batch receives poll for 1 s at a time: local-aws-sqs 2.0.2 holds a long poll
open until it has ``max_messages`` messages or the wait is over, where SQS
returns as soon as it has any. With one message asked for, they agree.
"""

from __future__ import annotations

import itertools

import anyio
import pytest

from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.queues import (
    Delivery,
    DeliveryExpired,
    MalformedMessage,
    TaskMessage,
    TaskQueue,
)
from tests.queues.conftest import QueueHarness

pytestmark = pytest.mark.anyio

LONG_WAIT = 15
"""A long poll that should end early; if it runs its course, the test fails."""


TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def task_message(attempt: int = 1, trace_context: dict[str, str] | None = None) -> TaskMessage:
    return TaskMessage(new_task_id(), "principal:0a1b2c", attempt, trace_context)


async def receive_one(
    queue: TaskQueue, *, wait_seconds: int = 10, visibility_seconds: int | None = None
) -> Delivery:
    """The next delivery, within ``wait_seconds``; fails the test if none comes."""
    found = await queue.receive(1, wait_seconds, visibility_seconds=visibility_seconds)
    assert len(found) == 1, f"no message within {wait_seconds} s"
    return found[0]


async def test_sent_message_is_received_intact_and_is_gone_once_acked(
    harness: QueueHarness,
) -> None:
    queue = harness.queue
    sent = task_message(attempt=2, trace_context={"traceparent": TRACEPARENT})
    await queue.send(sent)

    delivery = await receive_one(queue, visibility_seconds=1)
    assert delivery.message == sent
    assert delivery.receive_count == 1

    await queue.ack(delivery)
    # Unacked, it would be visible again after 1 s, well inside this poll.
    assert await queue.receive(1, 3) == []


async def test_long_poll_on_an_empty_queue_waits_then_returns_nothing(
    harness: QueueHarness,
) -> None:
    started = anyio.current_time()
    assert await harness.queue.receive(1, 1) == []
    assert anyio.current_time() - started >= 0.9


async def test_long_poll_returns_as_soon_as_a_message_arrives(harness: QueueHarness) -> None:
    queue = harness.queue
    sent = task_message()
    found: list[Delivery] = []

    async def poll() -> None:
        found.extend(await queue.receive(1, LONG_WAIT))

    async with anyio.create_task_group() as group:
        group.start_soon(poll)
        with anyio.fail_after(10):
            # The queue offers no event for "a poll is under way"; its request
            # counter moves when the poll's request goes out.
            while queue.request_count < 1:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        await queue.send(sent)
        sent_at = anyio.current_time()
    assert [delivery.message for delivery in found] == [sent]
    assert anyio.current_time() - sent_at < LONG_WAIT - 5


async def test_unacked_message_reappears_after_its_visibility_timeout_with_a_higher_count(
    harness: QueueHarness,
) -> None:
    queue = harness.queue
    sent = task_message()
    await queue.send(sent)

    first = await receive_one(queue, visibility_seconds=1)
    again = await receive_one(queue, wait_seconds=LONG_WAIT, visibility_seconds=30)

    assert again.message == sent
    assert again.message_id == first.message_id
    assert again.receive_count > first.receive_count
    assert again.receipt != first.receipt


async def test_extended_message_stays_hidden_past_its_first_timeout(
    harness: QueueHarness,
) -> None:
    queue = harness.queue
    await queue.send(task_message())

    delivery = await receive_one(queue, visibility_seconds=2)
    await queue.extend(delivery, 30)
    # Without the extension it would be visible again 2 s after the receive.
    assert await queue.receive(1, 4) == []

    await queue.release(delivery)
    assert (await receive_one(queue)).message_id == delivery.message_id


async def test_released_message_is_visible_again_at_once(harness: QueueHarness) -> None:
    queue = harness.queue
    sent = task_message()
    await queue.send(sent)
    delivery = await receive_one(queue, visibility_seconds=30)

    await queue.release(delivery)

    again = await receive_one(queue, wait_seconds=5)
    assert again.message == sent
    assert again.receive_count > delivery.receive_count


async def test_message_received_too_often_goes_to_the_dead_letter_queue(
    harness: QueueHarness,
) -> None:
    queue = harness.queue
    sent = task_message()
    await queue.send(sent)
    for _ in range(harness.max_receive_count):
        delivery = await receive_one(queue, wait_seconds=LONG_WAIT, visibility_seconds=1)
        assert delivery.message == sent

    # Some queues move the message when its last visibility timeout ends,
    # others on the next receive from the source queue: poll both.
    dead: list[Delivery] = []
    with anyio.fail_after(30):
        while not dead:
            assert await queue.receive(1, 1, visibility_seconds=1) == [], (
                "delivered again after the maximum receive count"
            )
            dead = await harness.dead_letter.receive(1, 1)
    assert dead[0].message == sent


async def test_malformed_bodies_are_delivered_but_refused_on_reading(
    harness: QueueHarness,
) -> None:
    queue = harness.queue
    smuggled = task_message().encode().replace('"v":1', '"v":1,"arguments":{"token":"hunter2"}')
    bodies = ["not json at all", "[1, 2]", smuggled]
    for body in bodies:
        await harness.send_raw(body)

    received: list[Delivery] = []
    with anyio.fail_after(30):
        while len(received) < len(bodies):
            received.extend(await queue.receive(10, 1, visibility_seconds=30))
    for delivery in received:
        with pytest.raises(MalformedMessage) as refused:
            _ = delivery.message
        assert "hunter2" not in str(refused.value)
        assert delivery.message_id in str(refused.value)
        await queue.ack(delivery)  # a worker drops what it can never run
    assert await queue.receive(10, 0) == []


async def test_every_message_sent_is_received_and_no_batch_exceeds_its_limit(
    harness: QueueHarness,
) -> None:
    queue = harness.queue
    sent = [task_message() for _ in range(5)]
    for message in sent:
        await queue.send(message)

    first = await queue.receive(2, 1, visibility_seconds=30)
    assert 1 <= len(first) <= 2
    received = list(first)
    with anyio.fail_after(30):
        while len(received) < len(sent):
            received.extend(await queue.receive(10, 1, visibility_seconds=30))
    assert sorted(d.message.task_id for d in received) == sorted(m.task_id for m in sent)
    for delivery in received:
        await queue.ack(delivery)


async def test_each_operation_is_one_request(harness: QueueHarness) -> None:
    queue = harness.queue
    counts = [queue.request_count]

    def step() -> None:
        counts.append(queue.request_count)

    await queue.send(task_message())
    step()
    delivery = await receive_one(queue, visibility_seconds=30)
    step()
    assert await queue.receive(1, 0) == []
    step()
    await queue.extend(delivery, 60)
    step()
    await queue.release(delivery)
    step()
    delivery = await receive_one(queue, wait_seconds=5, visibility_seconds=30)
    step()
    await queue.ack(delivery)
    step()

    assert [after - before for before, after in itertools.pairwise(counts)] == [1] * 7


async def test_acknowledging_twice_is_harmless(harness: QueueHarness) -> None:
    queue = harness.queue
    await queue.send(task_message())
    delivery = await receive_one(queue, visibility_seconds=30)

    await queue.ack(delivery)
    await queue.ack(delivery)


async def test_extending_an_acknowledged_delivery_raises_delivery_expired(
    harness: QueueHarness,
) -> None:
    queue = harness.queue
    await queue.send(task_message())
    delivery = await receive_one(queue, visibility_seconds=30)
    await queue.ack(delivery)

    with pytest.raises(DeliveryExpired):
        await queue.extend(delivery, 60)
    await queue.release(delivery)  # nothing left to release: not an error


@pytest.mark.parametrize(
    "argument",
    [
        {"max_messages": 0},
        {"max_messages": 11},
        {"wait_seconds": 21},
        {"visibility_seconds": 43_201},
    ],
)
async def test_receive_arguments_outside_the_contract_are_refused_before_any_request(
    harness: QueueHarness, argument: dict[str, int]
) -> None:
    with pytest.raises(ValueError, match=next(iter(argument))):
        await harness.queue.receive(**argument)
    assert harness.queue.request_count == 0


@pytest.mark.parametrize("seconds", [0, 43_201])
async def test_extensions_outside_the_contract_are_refused_before_any_request(
    harness: QueueHarness, seconds: int
) -> None:
    delivery = Delivery("m-1", 1, "{}", "m-1.receipt")
    with pytest.raises(ValueError, match="seconds"):
        await harness.queue.extend(delivery, seconds)
    assert harness.queue.request_count == 0
