"""The queue contract: how a front end hands a task to whichever worker is free.

Queue mode stores the task first and only then sends one message that names
it. The message carries **ids only** (task, owner, attempt and optionally a
trace context); the tool's arguments, and any secret in them, stay in the
task record, where the store's encryption and size limits apply. A worker
receives the message, claims the task with one conditional write in the
store, and acknowledges the message. Because the claim decides who runs a
task, the queue may deliver a message twice, late, or after the task was
cancelled: every such delivery loses the claim and is simply acknowledged.

The contract is shaped by the most constrained production queue (Amazon
SQS, standard queues):

* every operation is **one request**, and ``request_count`` counts them, so
  tests and benchmarks can check that rather than assume it;
* delivery is **at least once**: a received message stays hidden for a
  visibility timeout and reappears, with a higher receive count, unless it
  is acknowledged (deleted) first; ``extend`` keeps it hidden for a long
  run, ``release`` makes it visible again at once for a retry soon;
* a queue may move a message that was received too often to a
  **dead-letter queue** (a redrive policy), so a poison message stops being
  retried after a bounded number of receives;
* a body that is not a task message is still delivered (any producer with
  send rights can put one there); reading ``Delivery.message`` raises
  ``MalformedMessage`` for it, and the receiver decides whether to drop it
  or let it reach the dead-letter queue.

To add a queue: subclass :class:`TaskQueue`, then add one entry to
``tests/queues/conftest.py``; the queue is done when the contract suite is
green against it.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Self

from mcp_tasks_server.queues.errors import DeliveryExpired
from mcp_tasks_server.queues.message import TaskMessage, decode_message

__all__ = [
    "MAX_BATCH",
    "MAX_VISIBILITY_SECONDS",
    "MAX_WAIT_SECONDS",
    "Delivery",
    "TaskQueue",
]

MAX_BATCH = 10
"""The most messages one receive returns (SQS's own limit)."""

MAX_WAIT_SECONDS = 20
"""The longest long poll (SQS's own limit)."""

MAX_VISIBILITY_SECONDS = 43_200
"""The longest a message can stay hidden from its receive on (SQS: 12 hours)."""


@dataclass(frozen=True)
class Delivery:
    """One received message: what it says, and the handle to settle it with.

    ``receipt`` is opaque and belongs to this one receive: a message that is
    delivered again gets a new receipt, and only the newest one is sure to
    settle it. ``receive_count`` is how many times the message has been
    received, this time included (approximate on SQS, never below 1).
    """

    message_id: str
    receive_count: int
    body: str = field(repr=False)
    receipt: str = field(repr=False)

    @cached_property
    def message(self) -> TaskMessage:
        """The task message. Raises ``MalformedMessage`` for a body that is not one."""
        return decode_message(self.body, message_id=self.message_id)


class TaskQueue(ABC):
    """An async queue of task messages with visibility timeouts.

    Every method that talks to the queue is one request (``request_count``
    goes up by exactly one) and raises only ``QueueUnavailable`` for a
    transient failure, another ``QueueError`` for one an operator must fix
    (the message says how), the errors named in its docstring, or
    ``ValueError`` for arguments outside the contract (checked before any
    request is made).
    """

    #: Name shown in logs and errors, e.g. ``"memory"`` or ``"sqs"``.
    name: str = "queue"

    def __init__(self) -> None:
        self.request_count = 0

    @abstractmethod
    async def send(self, message: TaskMessage) -> None:
        """Enqueue ``message``. Once this returns, the message is durably queued."""

    @abstractmethod
    async def receive(
        self,
        max_messages: int = 1,
        wait_seconds: int = 0,
        *,
        visibility_seconds: int | None = None,
    ) -> list[Delivery]:
        """Up to ``max_messages`` (1-10) visible messages, hiding each one received.

        With ``wait_seconds`` (0-20) it is a long poll: it returns as soon as
        a message is available, or empty-handed once the wait is over. Each
        message returned stays hidden for ``visibility_seconds`` (default:
        the queue's own visibility timeout) unless it is acknowledged,
        extended or released first. A queue may return fewer messages than
        are available.
        """

    @abstractmethod
    async def ack(self, delivery: Delivery) -> None:
        """Delete the message: it is done with and is never delivered again.

        Acknowledging a message that is already gone succeeds. Raises
        ``DeliveryExpired`` when the queue no longer accepts the receipt.
        """

    @abstractmethod
    async def _set_visibility(self, delivery: Delivery, seconds: int) -> None:
        """Hide the received message for ``seconds`` from now (0: visible at once).

        Raises ``DeliveryExpired`` when the message is gone or the receipt
        is no longer accepted.
        """

    async def extend(self, delivery: Delivery, seconds: int) -> None:
        """Keep a received message hidden for ``seconds`` (1-43200) more, from now.

        For runs longer than the visibility timeout: a worker extends before
        the timeout ends, so the message is not delivered to another worker.
        The total time a message stays hidden after a receive is capped at
        12 hours. Raises ``DeliveryExpired`` when the message was acknowledged
        or the receipt is no longer accepted.
        """
        _check_range("seconds", seconds, 1, MAX_VISIBILITY_SECONDS)
        await self._set_visibility(delivery, seconds)

    async def release(self, delivery: Delivery) -> None:
        """Make a received message visible again at once, for a retry soon.

        A message that is already visible again or gone needs no release, so
        ``DeliveryExpired`` is not raised.
        """
        with contextlib.suppress(DeliveryExpired):
            await self._set_visibility(delivery, 0)

    async def close(self) -> None:  # noqa: B027 - optional hook, default no-op
        """Release connections; a later operation opens new ones."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _count_request(self) -> None:
        self.request_count += 1

    @staticmethod
    def _check_receive(
        max_messages: int, wait_seconds: int, visibility_seconds: int | None
    ) -> None:
        """Validate ``receive`` arguments before any request is made."""
        _check_range("max_messages", max_messages, 1, MAX_BATCH)
        _check_range("wait_seconds", wait_seconds, 0, MAX_WAIT_SECONDS)
        if visibility_seconds is not None:
            _check_range("visibility_seconds", visibility_seconds, 0, MAX_VISIBILITY_SECONDS)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
