"""Task queues: how queue mode hands a stored task to a worker.

The contract is :class:`TaskQueue` (see :mod:`.base` for its rules); the
message it carries is :class:`TaskMessage`, ids only. :class:`MemoryQueue`
serves one process and the tests; ``SqsQueue`` (in :mod:`.sqs`, which
needs the ``dynamodb`` extra's aioboto3) serves every other deployment.
Queues take plain constructor arguments and never read settings.
"""

from __future__ import annotations

from mcp_tasks_server.queues.base import Delivery, TaskQueue
from mcp_tasks_server.queues.errors import (
    DeliveryExpired,
    MalformedMessage,
    QueueAccessDenied,
    QueueError,
    QueueNotFound,
    QueueUnavailable,
)
from mcp_tasks_server.queues.memory import MemoryQueue
from mcp_tasks_server.queues.message import MESSAGE_VERSION, TaskMessage

__all__ = [
    "MESSAGE_VERSION",
    "Delivery",
    "DeliveryExpired",
    "MalformedMessage",
    "MemoryQueue",
    "QueueAccessDenied",
    "QueueError",
    "QueueNotFound",
    "QueueUnavailable",
    "TaskMessage",
    "TaskQueue",
]
