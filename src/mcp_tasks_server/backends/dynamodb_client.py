"""The DynamoDB client a backend shares, and the discipline of each request.

One aiobotocore client serves every operation of a backend, opened on first
use (:class:`~mcp_tasks_server.aws_client.LazyClient`).

**Retries.** botocore retries throttling and transient errors itself, with
bounded attempts and timeouts. A ``TransactionConflict`` (another
transaction held an item for a moment) is retried here, with jittered
backoff and a fresh client request token. A refused condition is never
retried: it is raised to the operation, which explains it from the item
DynamoDB returned with the refusal.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from mcp_tasks_server.aws_client import LazyClient
from mcp_tasks_server.backends.base import Clock, StorageBackend
from mcp_tasks_server.backends.dynamodb_errors import (
    DynamoDbError,
    TransactionCancelled,
    cancellation_reasons,
    failure_codes,
    is_conflict,
    translate_client_error,
    translate_transport_error,
)
from mcp_tasks_server.core.model import now_ms
from mcp_tasks_server.observability.telemetry import NOOP_TELEMETRY, Telemetry

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

__all__ = ["DynamoDbConnection", "RetryMode"]

RetryMode = Literal["standard", "adaptive"]

_CONFLICT_RETRIES = 8
_METHODS = {
    "GetItem": "get_item",
    "BatchGetItem": "batch_get_item",
    "PutItem": "put_item",
    "UpdateItem": "update_item",
    "DeleteItem": "delete_item",
    "Query": "query",
    "Scan": "scan",
    "TransactWriteItems": "transact_write_items",
}


class DynamoDbConnection(StorageBackend):
    """The part of a DynamoDB backend that talks to DynamoDB.

    Abstract: :class:`~.dynamodb.DynamoDbBackend` adds the contract
    operations. It owns the shared client (``client``, ``aclose``, ``async
    with``) and sends every request through :meth:`_send`, which counts it.
    """

    def __init__(
        self,
        table: str,
        *,
        endpoint_url: str | None,
        region_name: str | None,
        session: aioboto3.Session | None,
        max_pool_connections: int,
        timeout_seconds: float,
        max_attempts: int,
        retry_mode: RetryMode,
        max_item_bytes: int,
        clock: Clock = now_ms,
        telemetry: Telemetry = NOOP_TELEMETRY,
    ) -> None:
        super().__init__(clock=clock)
        self.telemetry = telemetry
        self.table = table
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self.max_item_bytes = max_item_bytes
        self.max_attempts = max_attempts
        session = session if session is not None else aioboto3.Session()
        config = AioConfig(
            max_pool_connections=max_pool_connections,
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        )
        # The region comes from the settings, which read AWS_REGION (botocore
        # knows only AWS_DEFAULT_REGION).
        self._client: LazyClient[DynamoDBClient] = LazyClient(
            "DynamoDB",
            lambda: session.client(
                "dynamodb",
                endpoint_url=endpoint_url,
                region_name=region_name or None,
                config=config,
            ),
            fail=DynamoDbError,
        )

    async def client(self) -> DynamoDBClient:
        """The shared aiobotocore client, created on first use."""
        return await self._client.get()

    @property
    def endpoint(self) -> str:
        """The URL requests go to, for messages (known once the client exists)."""
        client = self._client.opened
        if client is not None:
            return str(client.meta.endpoint_url)
        return self.endpoint_url or "the regional DynamoDB endpoint"

    async def aclose(self) -> None:
        """Close the client and its connections; a later operation opens a new one."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        await self.client()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ requests

    async def _transact(self, actions: Sequence[dict[str, Any]], size: int) -> None:
        """One ``TransactWriteItems``; a refused condition raises ``TransactionCancelled``."""
        params = {"TransactItems": actions, "ClientRequestToken": str(uuid.uuid4())}
        try:
            await self._send("TransactWriteItems", params, size)
        except ClientError as exc:
            raise TransactionCancelled(cancellation_reasons(exc)) from None

    async def _send(self, operation: str, params: dict[str, Any], size: int = 0) -> Any:
        """One request; more only while DynamoDB reports a conflicting transaction.

        A refused condition is raised as the ``ClientError``, for the caller to
        explain; every other failure becomes a ``BackendError``.
        """
        client = await self._client.get()
        method = getattr(client, _METHODS[operation])
        for attempt in range(_CONFLICT_RETRIES + 1):
            self._count_request()
            try:
                with self.telemetry.backend_request(operation):
                    return await method(**params)
            except ClientError as exc:
                if is_conflict(exc) and attempt < _CONFLICT_RETRIES:
                    # Another transaction holds an item for a moment: back off, retry.
                    await anyio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                    if "ClientRequestToken" in params:
                        params["ClientRequestToken"] = str(uuid.uuid4())
                    continue
                if "ConditionalCheckFailed" in failure_codes(exc):
                    raise
                raise translate_client_error(
                    exc,
                    operation=operation,
                    table=self.table,
                    size=size,
                    max_item_bytes=self.max_item_bytes,
                ) from None
            except (BotoCoreError, OSError, TimeoutError) as exc:
                raise translate_transport_error(
                    exc, endpoint=self.endpoint, attempts=self.max_attempts
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover
