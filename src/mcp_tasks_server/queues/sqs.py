"""Amazon SQS as the task queue, on aioboto3 (the ``dynamodb`` extra's client).

One aiobotocore client serves every operation of a queue, opened on first
use (:class:`~mcp_tasks_server.aws_client.LazyClient`), or eagerly with
``async with``.

Each operation is one SQS request: ``SendMessage``, ``ReceiveMessage``
(a long poll of up to 20 s), ``DeleteMessage``, ``ChangeMessageVisibility``.
botocore retries throttling and transient errors itself, with bounded
attempts and timeouts; what is left is translated once, in
:mod:`.sqs_errors`.

**Timeouts.** A long poll holds its connection open for up to 20 s, so the
client's read timeout is ``timeout_seconds`` *plus* the longest poll; the
connect timeout is ``timeout_seconds`` alone, which is what bounds a call to
an endpoint that is down.

**FIFO and fair queues.** On a ``.fifo`` queue every message carries a
group id (a hash of the owner, so one owner's tasks keep their order) and a
deduplication id (the task id and attempt, so a send retried within SQS's
five-minute window is not queued twice). ``group_by_owner=True`` sends the
same group id on a standard queue, which SQS fair queues use to keep one
busy owner from delaying everyone else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Literal, Self

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from mcp_tasks_server.aws_client import LazyClient
from mcp_tasks_server.queues.base import MAX_WAIT_SECONDS, Delivery, TaskQueue
from mcp_tasks_server.queues.errors import QueueError
from mcp_tasks_server.queues.message import TaskMessage, encode_message
from mcp_tasks_server.queues.sqs_errors import translate_client_error, translate_transport_error

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

__all__ = ["SqsQueue"]

RetryMode = Literal["standard", "adaptive"]

_REGION_IN_URL = re.compile(r"^https://(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com")
_RECEIVE_COUNT: Final = "ApproximateReceiveCount"


class SqsQueue(TaskQueue):
    """Task messages on one SQS queue, through one shared aioboto3 client.

    ``queue_url`` is the queue's URL (``CreateQueue`` or the console gives
    it). ``endpoint_url`` points the client at another endpoint (a VPC
    endpoint, or an emulator in tests); without it, botocore's usual
    resolution applies, ``AWS_ENDPOINT_URL_SQS`` included. ``region_name``
    defaults to the region in an AWS queue URL, then to botocore's.
    """

    name = "sqs"

    def __init__(
        self,
        queue_url: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        session: aioboto3.Session | None = None,
        max_pool_connections: int = 10,
        timeout_seconds: float = 5.0,
        max_attempts: int = 3,
        retry_mode: RetryMode = "standard",
        group_by_owner: bool = False,
    ) -> None:
        super().__init__()
        if not queue_url.startswith(("https://", "http://")):
            raise ValueError("queue_url must be the queue's URL (https://sqs.<region>...)")
        if timeout_seconds <= 0 or max_attempts < 1 or max_pool_connections < 1:
            raise ValueError(
                "timeout_seconds must be positive; max_attempts and max_pool_connections at least 1"
            )
        self.queue_url = queue_url
        self.queue_name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        self.endpoint_url = endpoint_url
        self.region_name = region_name or _region_of(queue_url)
        self.max_attempts = max_attempts
        self.fifo = self.queue_name.endswith(".fifo")
        self.group_by_owner = group_by_owner or self.fifo
        session = session if session is not None else aioboto3.Session()
        config = AioConfig(
            max_pool_connections=max_pool_connections,
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds + MAX_WAIT_SECONDS,
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        )
        self._client: LazyClient[SQSClient] = LazyClient(
            "SQS",
            lambda: session.client(
                "sqs", endpoint_url=endpoint_url, region_name=self.region_name, config=config
            ),
            fail=QueueError,
            no_region="pass the region or set AWS_REGION",
        )

    # ------------------------------------------------------------ the client

    async def client(self) -> SQSClient:
        """The shared aiobotocore client, created on first use."""
        return await self._client.get()

    @property
    def endpoint(self) -> str:
        """The URL requests go to, for messages (known once the client exists)."""
        client = self._client.opened
        if client is not None:
            return str(client.meta.endpoint_url)
        return self.endpoint_url or "the regional SQS endpoint"

    async def close(self) -> None:
        """Close the client and its connections; a later operation opens a new one."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        await self.client()
        return self

    # ------------------------------------------------------------ operations

    async def send(self, message: TaskMessage) -> None:
        body = encode_message(message)
        params: dict[str, Any] = {"QueueUrl": self.queue_url, "MessageBody": body}
        if self.group_by_owner:
            params["MessageGroupId"] = _group_id(message.owner_key)
        if self.fifo:
            params["MessageDeduplicationId"] = f"{message.task_id}-{message.attempt}"
        client = await self.client()
        with self._translated("SendMessage"):
            await client.send_message(**params)

    async def receive(
        self,
        max_messages: int = 1,
        wait_seconds: int = 0,
        *,
        visibility_seconds: int | None = None,
    ) -> list[Delivery]:
        self._check_receive(max_messages, wait_seconds, visibility_seconds)
        params: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            # Both spellings: SQS documents the second, some emulators read
            # only the first; each names the same system attribute.
            "AttributeNames": [_RECEIVE_COUNT],
            "MessageSystemAttributeNames": [_RECEIVE_COUNT],
        }
        if visibility_seconds is not None:
            params["VisibilityTimeout"] = visibility_seconds
        client = await self.client()
        with self._translated("ReceiveMessage"):
            response = await client.receive_message(**params)
        return [
            delivery
            for delivery in map(_delivery, response.get("Messages", []))
            if delivery is not None
        ]

    async def ack(self, delivery: Delivery) -> None:
        client = await self.client()
        with self._translated("DeleteMessage", delivery):
            await client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=delivery.receipt)

    async def _set_visibility(self, delivery: Delivery, seconds: int) -> None:
        client = await self.client()
        with self._translated("ChangeMessageVisibility", delivery):
            await client.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=delivery.receipt,
                VisibilityTimeout=seconds,
            )

    @contextmanager
    def _translated(self, operation: str, delivery: Delivery | None = None) -> Iterator[None]:
        """Count one request, and turn whatever it raises into a ``QueueError``."""
        self._count_request()
        try:
            yield
        except ClientError as exc:
            raise translate_client_error(
                exc,
                operation=operation,
                queue=self.queue_name,
                endpoint=self.endpoint,
                message_id=delivery.message_id if delivery is not None else None,
            ) from None
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise translate_transport_error(
                exc, endpoint=self.endpoint, attempts=self.max_attempts
            ) from None


def _delivery(message: MessageTypeDef) -> Delivery | None:
    receipt = message.get("ReceiptHandle")
    if not receipt:
        return None  # nothing could settle it; SQS always sends one
    try:
        count = int(message.get("Attributes", {}).get(_RECEIVE_COUNT, "1"))
    except ValueError:
        count = 1
    return Delivery(
        message_id=message.get("MessageId", ""),
        receive_count=max(1, count),
        body=message.get("Body", ""),
        receipt=receipt,
    )


def _group_id(owner_key: str) -> str:
    # Group ids show in the console and in metrics: a hash, never the owner.
    return hashlib.sha256(owner_key.encode()).hexdigest()[:32]


def _region_of(queue_url: str) -> str | None:
    found = _REGION_IN_URL.match(queue_url)
    if found is None:
        return None
    return found.group(1) or found.group(2)
