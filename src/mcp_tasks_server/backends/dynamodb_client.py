"""The DynamoDB client a backend shares, and the discipline of each request.

One aiobotocore client serves every operation of a backend: connections
are pooled, and creating a client costs far more than a request. It is
created on first use, so a backend can be built synchronously (at import,
from settings) and only fails on its first request if AWS is unreachable.

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
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Literal, Self

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

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
        self._session = session if session is not None else aioboto3.Session()
        self._config = AioConfig(
            max_pool_connections=max_pool_connections,
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        )
        self._client: DynamoDBClient | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._lock = anyio.Lock()

    async def client(self) -> DynamoDBClient:
        """The shared aiobotocore client, created on first use."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                stack = AsyncExitStack()
                # Credentials, endpoints and profiles are botocore's to read, as in
                # any AWS program. The region comes from the settings, which read
                # AWS_REGION (botocore knows only AWS_DEFAULT_REGION).
                region = self.region_name or None
                try:
                    self._client = await stack.enter_async_context(
                        self._session.client(
                            "dynamodb",
                            endpoint_url=self.endpoint_url,
                            region_name=region,
                            config=self._config,
                        )
                    )
                except NoRegionError:
                    raise DynamoDbError(
                        "no AWS region is set for DynamoDB: set AWS_REGION"
                    ) from None
                except BotoCoreError as exc:
                    raise DynamoDbError(f"cannot create the DynamoDB client: {exc}") from None
                self._exit_stack = stack
            return self._client

    @property
    def endpoint(self) -> str:
        """The URL requests go to, for messages (known once the client exists)."""
        if self._client is not None:
            return str(self._client.meta.endpoint_url)
        return self.endpoint_url or "the regional DynamoDB endpoint"

    async def aclose(self) -> None:
        """Close the client and its connections; a later operation opens a new one."""
        async with self._lock:
            stack, self._exit_stack, self._client = self._exit_stack, None, None
            if stack is not None:
                await stack.aclose()

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
        client = self._client if self._client is not None else await self.client()
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
