"""An in-process task queue with SQS's delivery rules, for one process and for tests.

It keeps what makes SQS hard to get right: a received message is hidden,
not removed, and comes back with a higher receive count unless it is
acknowledged in time; a long poll returns the moment a message is sent or
becomes visible again; and, with ``max_receive_count``, a message received
that many times moves to a dead-letter queue on the next receive instead of
being delivered again. Time is the event loop's clock, so visibility
timeouts run in real time, as they do on SQS.

It is bounded: ``max_messages`` caps what it holds, and a send beyond that
is refused with ``QueueUnavailable`` (retry later) rather than growing
without limit.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import anyio

from mcp_tasks_server.queues.base import MAX_VISIBILITY_SECONDS, Delivery, TaskQueue
from mcp_tasks_server.queues.errors import DeliveryExpired, QueueUnavailable
from mcp_tasks_server.queues.message import TaskMessage, encode_message

__all__ = ["MemoryQueue"]


@dataclass
class _Stored:
    message_id: str
    body: str
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str | None = None


class MemoryQueue(TaskQueue):
    """Task messages in this process, with visibility timeouts and a dead-letter queue.

    ``visibility_seconds`` is how long a received message stays hidden when
    ``receive`` names no other time. With ``max_receive_count``, a message
    already received that many times is moved to ``dead_letter`` (another
    ``MemoryQueue``, required then) instead of being delivered again, as an
    SQS redrive policy does.
    """

    name = "memory"

    def __init__(
        self,
        *,
        visibility_seconds: int = 30,
        max_receive_count: int | None = None,
        dead_letter: MemoryQueue | None = None,
        max_messages: int = 10_000,
    ) -> None:
        super().__init__()
        if not 0 <= visibility_seconds <= MAX_VISIBILITY_SECONDS:
            raise ValueError(f"visibility_seconds must be from 0 to {MAX_VISIBILITY_SECONDS}")
        if (max_receive_count is None) != (dead_letter is None):
            raise ValueError("max_receive_count and dead_letter go together (a redrive policy)")
        if max_receive_count is not None and max_receive_count < 1:
            raise ValueError("max_receive_count must be at least 1")
        if dead_letter is self:
            raise ValueError("a queue cannot be its own dead-letter queue")
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.visibility_seconds = visibility_seconds
        self.max_receive_count = max_receive_count
        self.dead_letter = dead_letter
        self.max_messages = max_messages
        self._stored: dict[str, _Stored] = {}
        # Created on first wait: an anyio.Event needs a running event loop.
        self._changed: anyio.Event | None = None

    async def send(self, message: TaskMessage) -> None:
        await self.send_raw(encode_message(message))

    async def send_raw(self, body: str) -> None:
        """Enqueue ``body`` as it is, as any producer with send rights on a real queue could.

        For tests and tools that need a message which is not a task message;
        the application sends with :meth:`send`.
        """
        self._count_request()
        if not self._accept(body, uuid.uuid4().hex):
            raise QueueUnavailable(
                f"the in-memory queue holds its maximum of {self.max_messages} messages; "
                "try again once workers have taken some"
            )

    async def receive(
        self,
        max_messages: int = 1,
        wait_seconds: int = 0,
        *,
        visibility_seconds: int | None = None,
    ) -> list[Delivery]:
        self._check_receive(max_messages, wait_seconds, visibility_seconds)
        self._count_request()
        hide_for = self.visibility_seconds if visibility_seconds is None else visibility_seconds
        deadline = anyio.current_time() + wait_seconds
        while True:
            now = anyio.current_time()
            batch = self._take(now, max_messages, hide_for)
            if batch or now >= deadline:
                return batch
            # Sleep until a send or release, or until the next hidden message
            # turns visible, whichever comes first; then look again.
            changed = self._change_event()
            hidden = (m.visible_at for m in self._stored.values() if m.visible_at > now)
            wake_at = min([deadline, *hidden])
            with anyio.move_on_after(max(0.0, wake_at - now)):
                await changed.wait()

    async def ack(self, delivery: Delivery) -> None:
        message_id = self._message_id(delivery)
        self._count_request()
        # Like SQS, any receipt of the message deletes it, and deleting a
        # message that is gone already succeeds.
        self._stored.pop(message_id, None)

    async def _set_visibility(self, delivery: Delivery, seconds: int) -> None:
        message_id = self._message_id(delivery)
        self._count_request()
        stored = self._stored.get(message_id)
        if stored is None or stored.receipt != delivery.receipt:
            raise DeliveryExpired(
                f"message {delivery.message_id} was acknowledged or delivered again since "
                "this receipt was issued; it can no longer be extended or released"
            )
        stored.visible_at = anyio.current_time() + seconds
        if seconds == 0:
            self._notify()

    # ------------------------------------------------------------ internals

    def _accept(self, body: str, message_id: str, receive_count: int = 0) -> bool:
        if len(self._stored) >= self.max_messages:
            return False
        self._stored[message_id] = _Stored(message_id, body, receive_count)
        self._notify()
        return True

    def _take(self, now: float, limit: int, hide_for: int) -> list[Delivery]:
        batch: list[Delivery] = []
        for stored in list(self._stored.values()):
            if len(batch) == limit:
                break
            if stored.visible_at > now:
                continue
            if self._dead_letter_due(stored):
                continue
            stored.receive_count += 1
            stored.receipt = f"{stored.message_id}.{secrets.token_urlsafe(18)}"
            stored.visible_at = now + hide_for
            batch.append(
                Delivery(stored.message_id, stored.receive_count, stored.body, stored.receipt)
            )
        return batch

    def _dead_letter_due(self, stored: _Stored) -> bool:
        """Move a message received too often to the dead-letter queue; True if moved."""
        if self.dead_letter is None or self.max_receive_count is None:
            return False
        if stored.receive_count < self.max_receive_count:
            return False
        # A full dead-letter queue leaves the message here rather than lose it.
        if self.dead_letter._accept(stored.body, stored.message_id, stored.receive_count):
            del self._stored[stored.message_id]
        return True

    def _message_id(self, delivery: Delivery) -> str:
        message_id, dot, _ = delivery.receipt.partition(".")
        if not dot or message_id != delivery.message_id:
            raise DeliveryExpired(f"the receipt of message {delivery.message_id} is not valid")
        return message_id

    def _change_event(self) -> anyio.Event:
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
