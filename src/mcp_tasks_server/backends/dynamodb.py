"""The DynamoDB backend: one table shared by every replica, on aioboto3.

Each contract operation is one DynamoDB request, and every read is strongly
consistent, so any replica can answer for any task the moment a write is
acknowledged. The item layout is in :mod:`.dynamodb_items`, the error
translation in :mod:`.dynamodb_errors`, the design in ``docs/dynamodb.md``.

**Expiry** is exact to the millisecond: conditions and filters compare
``expires_at_ms`` with the injected clock, because DynamoDB's TTL deletes
lazily (sometimes days late) and must never decide what a client sees.

**The quota** must be checked atomically with the create, or two replicas
could both take an owner's last slot. A per-owner ``ACTIVE`` item is that
check: a create is one ``TransactWriteItems`` that adds the task id to a
string set on condition ``size(ids) < max`` and puts the task on condition
that no live task has its key. (A string set, unlike a map, needs no
initialisation: ``ADD`` creates it, and ``size`` is the exact count.) A task
leaves the set in the same transaction that makes it inactive. A task that
expired while active stays in the set until a create finds the quota full;
that refusal carries the ``ACTIVE`` item (``ALL_OLD``), so one more write
drops the expired entries and the create is retried once. Only that rare
path costs extra requests. Without a quota (``track_active=False``) there is
no ``ACTIVE`` item and every write is a plain conditional write.

**Retries are idempotent.** botocore retries throttling and transient errors
itself, with bounded attempts and timeouts. A transaction carries a client
request token, and a conditional write refused because our own record is
already in place counts as done, so a retried request never duplicates a task.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import random
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Literal, Self, cast

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from mcp_tasks_server.backends.base import (
    Clock,
    Page,
    StorageBackend,
    StoredRecord,
    decode_cursor,
    encode_cursor,
)
from mcp_tasks_server.backends.dynamodb_errors import (
    AccessDenied,
    DynamoDbError,
    TableNotFound,
    cancellation_reasons,
    error_code,
    translate_client_error,
    translate_transport_error,
)
from mcp_tasks_server.backends.dynamodb_items import (
    LIVE,
    TASK_PREFIX,
    Item,
    active_update,
    decode_item,
    encode_item,
    expired_entries,
    is_write,
    item_size,
    number,
    owner_of,
    partition_key,
    prune_update,
    task_key,
)
from mcp_tasks_server.errors import (
    BackendUnavailable,
    ConfigError,
    QuotaExceeded,
    RecordExists,
    RecordNotFound,
    RecordTooLarge,
    VersionConflict,
)
from mcp_tasks_server.model import now_ms

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

    from mcp_tasks_server.settings import Settings

__all__ = ["AccessDenied", "DynamoDbBackend", "DynamoDbError", "TableNotFound"]

logger = logging.getLogger(__name__)

RetryMode = Literal["standard", "adaptive"]

DYNAMODB_ITEM_LIMIT = 409_600
"""DynamoDB's own item size limit (400 KB), attribute names included."""

MAX_TRACKED_ACTIVE = 4_000
"""The largest quota one ``ACTIVE`` item holds (about 82 bytes an entry)."""

_CONFLICT_RETRIES = 8
_METHODS = {
    "GetItem": "get_item",
    "PutItem": "put_item",
    "UpdateItem": "update_item",
    "DeleteItem": "delete_item",
    "Query": "query",
    "Scan": "scan",
    "TransactWriteItems": "transact_write_items",
}


class DynamoDbBackend(StorageBackend):
    """Task records in one DynamoDB table, through one shared aioboto3 client.

    The client is created on first use (so construction stays synchronous)
    and reused by every operation; close it with ``await backend.aclose()``
    or by using the backend as ``async with``.

    ``track_active`` keeps the per-owner ``ACTIVE`` item that makes the quota
    atomic; ``create(..., max_active=...)`` needs it. Turn it off only when no
    quota is enforced: creates and terminal transitions then become plain
    writes instead of transactions.
    """

    name = "dynamodb"
    expires_natively = True

    def __init__(
        self,
        table: str = "mcp_tasks",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        session: aioboto3.Session | None = None,
        max_pool_connections: int = 50,
        timeout_seconds: float = 5.0,
        max_attempts: int = 3,
        retry_mode: RetryMode = "standard",
        max_item_bytes: int = 358_400,
        track_active: bool = True,
        clock: Clock = now_ms,
    ) -> None:
        super().__init__(clock=clock)
        if not 0 < max_item_bytes <= DYNAMODB_ITEM_LIMIT:
            raise ValueError(f"max_item_bytes must be between 1 and {DYNAMODB_ITEM_LIMIT}")
        self.table = table
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self.max_item_bytes = max_item_bytes
        self.max_attempts = max_attempts
        self.track_active = track_active
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

    @classmethod
    def from_settings(
        cls, settings: Settings, *, session: aioboto3.Session | None = None, clock: Clock = now_ms
    ) -> DynamoDbBackend:
        """The backend ``MCP_TASKS_DYNAMODB_*`` describe; region and credentials come from AWS."""
        quota = settings.max_active_tasks_per_owner
        if quota > MAX_TRACKED_ACTIVE:
            raise ConfigError(
                f"MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER={quota} is too large for the DynamoDB "
                f"backend, which enforces at most {MAX_TRACKED_ACTIVE} (0 disables the quota)"
            )
        return cls(
            settings.dynamodb_table,
            endpoint_url=settings.dynamodb_endpoint,
            region_name=settings.dynamodb_region,
            session=session,
            max_pool_connections=settings.dynamodb_max_pool_connections,
            timeout_seconds=settings.dynamodb_timeout_seconds,
            max_attempts=settings.dynamodb_max_attempts,
            retry_mode=settings.dynamodb_retry_mode,
            max_item_bytes=settings.dynamodb_max_item_bytes,
            track_active=quota > 0,
            clock=clock,
        )

    # ------------------------------------------------------------ lifecycle

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

    # ------------------------------------------------------------ operations

    async def create(self, record: StoredRecord, *, max_active: int | None = None) -> None:
        if record.version != 1:
            raise ValueError("a created record must have version 1")
        if max_active is not None and not self.track_active:
            raise ValueError("a quota needs a DynamoDbBackend built with track_active=True")
        if max_active is not None and not 0 < max_active <= MAX_TRACKED_ACTIVE:
            raise ValueError(f"max_active must be between 1 and {MAX_TRACKED_ACTIVE}")
        item, size = self._encode(record)
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(PK) OR #e <= :now",
            "ExpressionAttributeNames": {"#e": "expires_at_ms"},
            "ExpressionAttributeValues": {":now": number(self.clock())},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if not (self.track_active and record.active):
            try:
                await self._send("PutItem", put, size)
            except ClientError as exc:
                if not is_write(_old_item(exc), item["w"]["S"]):
                    raise RecordExists(record.task_id) from None
            return
        add = active_update(self.table, record, add=True, max_active=max_active)
        for retry in (False, True):
            try:
                await self._transact([{"Put": put}, {"Update": add}], size)
                return
            except _Cancelled as cancelled:
                if cancelled.failed(0):
                    if is_write(cancelled.item(0), item["w"]["S"]):
                        return  # a retried create that had landed
                    raise RecordExists(record.task_id) from None
                if retry or not await self._prune_expired(record.owner, cancelled.item(1)):
                    raise QuotaExceeded(
                        f"At most {max_active} unfinished tasks are allowed per owner"
                    ) from None
            put["ExpressionAttributeValues"] = {":now": number(self.clock())}

    async def get(self, owner: str, task_id: str) -> StoredRecord:
        response = await self._send(
            "GetItem",
            {"TableName": self.table, "Key": task_key(owner, task_id), "ConsistentRead": True},
        )
        item = response.get("Item")
        if item is None:
            raise RecordNotFound(task_id)
        record = self._decode(owner, item)
        if record.is_expired(self.clock()):
            raise RecordNotFound(task_id)
        return record

    async def replace(self, record: StoredRecord, expected_version: int) -> None:
        if record.version != expected_version + 1:
            raise ValueError("a replacement must carry expected_version + 1")
        item, size = self._encode(record)
        names = {"#v": "version", "#e": "expires_at_ms"}
        values = {":expected": number(expected_version), ":now": number(self.clock())}
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": f"#v = :expected AND {LIVE}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if self.track_active and not record.active:
            await self._replace_in_transaction(record, expected_version, put, size)
            return
        plain = put
        if self.track_active:
            # A plain write keeps the quota entry true only if the task was
            # active already, with the same expiry; otherwise this condition
            # fails and the transaction below rewrites the entry as well.
            same_expiry = "attribute_not_exists(#e)"
            extra: dict[str, Any] = {":true": {"BOOL": True}}
            if record.expires_at_ms is not None:
                same_expiry, extra[":expiry"] = "#e = :expiry", number(record.expires_at_ms)
            plain = {
                **put,
                "ConditionExpression": f"{put['ConditionExpression']} AND #a = :true AND "
                + same_expiry,
                "ExpressionAttributeNames": {**names, "#a": "active"},
                "ExpressionAttributeValues": {**values, **extra},
            }
        try:
            await self._send("PutItem", plain, size)
        except ClientError as exc:
            if self._landed(record, expected_version, _old_item(exc), item):
                return
            if not self.track_active:
                raise BackendUnavailable("DynamoDB refused a write; try again") from None
            await self._replace_in_transaction(record, expected_version, put, size)

    async def delete(self, owner: str, task_id: str) -> bool:
        key = task_key(owner, task_id)
        if not self.track_active:
            response = await self._send(
                "DeleteItem", {"TableName": self.table, "Key": key, "ReturnValues": "ALL_OLD"}
            )
            old = response.get("Attributes")
            return bool(old) and not self._decode(owner, old).is_expired(self.clock())
        delete = {
            "TableName": self.table,
            "Key": key,
            "ConditionExpression": f"attribute_exists(PK) AND {LIVE}",
            "ExpressionAttributeNames": {"#e": "expires_at_ms"},
            "ExpressionAttributeValues": {":now": number(self.clock())},
        }
        gone = StoredRecord(owner, task_id, 0, "", active=False)
        remove = active_update(self.table, gone, add=False)
        try:
            await self._transact([{"Delete": delete}, {"Update": remove}], 0)
        except _Cancelled:
            return False  # no live task; an expired one's quota entry is pruned later
        return True

    async def list(self, owner: str, *, limit: int, cursor: str | None = None) -> Page:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :task)",
            "FilterExpression": LIVE,
            "ExpressionAttributeNames": {"#e": "expires_at_ms"},
            "ExpressionAttributeValues": {
                ":pk": {"S": partition_key(owner)},
                ":task": {"S": TASK_PREFIX},
                ":now": number(self.clock()),
            },
            "ScanIndexForward": False,
            "ConsistentRead": True,
            # One more than asked, so a full last page needs no empty follow-up.
            "Limit": limit + 1,
        }
        if cursor is not None:
            params["ExclusiveStartKey"] = task_key(owner, decode_cursor(owner, cursor))
        response = await self._send("Query", params)
        items = response.get("Items", ())
        records = [self._decode(owner, item) for item in items[:limit]]
        next_cursor = None
        if len(items) > limit:
            next_cursor = encode_cursor(owner, records[-1].task_id)
        elif "LastEvaluatedKey" in response:  # items filtered out, or the 1 MB page limit
            last = response["LastEvaluatedKey"]["SK"]["S"].removeprefix(TASK_PREFIX)
            next_cursor = encode_cursor(owner, last)
        return Page(records, next_cursor)

    async def list_stale(self, *, limit: int, cursor: str | None = None) -> Page:
        """One Scan page of at most ``limit`` items, filtered to run-out leases.

        A Scan, because the sweep must look across owners and the table has
        no index for that: its cost is the items it examines (``limit`` per
        call, half a read unit per 4 KB), so a pass over the table costs one
        read of the table, spread over calls by ``cursor``. See
        docs/distributed.md for why this is not a secondary index.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        params: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": f"#a = :true AND #l <= :now AND {LIVE}",
            "ExpressionAttributeNames": {"#a": "active", "#l": "lease_ms", "#e": "expires_at_ms"},
            "ExpressionAttributeValues": {":true": {"BOOL": True}, ":now": number(self.clock())},
            "ConsistentRead": True,
            "Limit": limit,
        }
        if cursor is not None:
            params["ExclusiveStartKey"] = _decode_scan_cursor(cursor)
        response = await self._send("Scan", params)
        records = []
        for item in response.get("Items", ()):
            owner = owner_of(item)
            if owner is not None and item["SK"]["S"].startswith(TASK_PREFIX):
                records.append(self._decode(owner, item))
        last = response.get("LastEvaluatedKey")
        return Page(records, None if last is None else _encode_scan_cursor(last))

    async def sweep_expired(self) -> int:
        return 0  # DynamoDB's TTL deletes expired items; no read depends on it

    def item_size(self, record: StoredRecord) -> int:
        """The size DynamoDB counts for the record's item, in bytes."""
        return item_size(encode_item(record))

    # ------------------------------------------------------------ internals

    async def _prune_expired(self, owner: str, active: Item | None) -> bool:
        """Drop quota entries whose task has expired. True if any were dropped."""
        expired = expired_entries(active or {}, self.clock())
        if not expired:
            return False
        await self._send("UpdateItem", prune_update(self.table, owner, expired))
        logger.debug("dropped %d expired entries from a quota item", len(expired))
        return True

    async def _replace_in_transaction(
        self, record: StoredRecord, expected: int, put: dict[str, Any], size: int
    ) -> None:
        entry = active_update(self.table, record, add=record.active)
        try:
            await self._transact([{"Put": put}, {"Update": entry}], size)
        except _Cancelled as cancelled:
            if not self._landed(record, expected, cancelled.item(0), put["Item"]):
                raise BackendUnavailable("DynamoDB refused a write; try again") from None

    def _landed(self, record: StoredRecord, expected: int, old: Item | None, new: Item) -> bool:
        """Explain a refused replace from the item stored when it was refused.

        Raises ``RecordNotFound`` or ``VersionConflict``. Returns True when the
        stored item is our own write (a retried request that had landed), and
        False when it is live at ``expected`` (so another condition failed).
        """
        if old is None:
            raise RecordNotFound(record.task_id)
        current = self._decode(record.owner, old)
        if current.is_expired(self.clock()):
            raise RecordNotFound(record.task_id)
        if is_write(old, new["w"]["S"]):
            return True
        if current.version != expected:
            raise VersionConflict(expected, current)
        return False

    def _encode(self, record: StoredRecord) -> tuple[Item, int]:
        item = encode_item(record)
        size = item_size(item)
        if size > self.max_item_bytes:
            raise RecordTooLarge(size, self.max_item_bytes)
        return item, size

    def _decode(self, owner: str, item: Item) -> StoredRecord:
        try:
            return decode_item(owner, item)
        except (KeyError, TypeError, ValueError):
            raise DynamoDbError(
                f"a task item in DynamoDB table {self.table} is malformed"
            ) from None

    async def _transact(self, actions: Sequence[dict[str, Any]], size: int) -> None:
        params = {"TransactItems": actions, "ClientRequestToken": str(uuid.uuid4())}
        try:
            await self._send("TransactWriteItems", params, size)
        except ClientError as exc:
            raise _Cancelled(cancellation_reasons(exc)) from None

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
                return await method(**params)
            except ClientError as exc:
                if _is_conflict(exc) and attempt < _CONFLICT_RETRIES:
                    # Another transaction holds an item for a moment: back off, retry.
                    await anyio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                    if "ClientRequestToken" in params:
                        params["ClientRequestToken"] = str(uuid.uuid4())
                    continue
                if "ConditionalCheckFailed" in _failure_codes(exc):
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


class _Cancelled(Exception):
    """A transaction refused by a condition; ``reasons`` are in action order."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index].get("Code") == (
            "ConditionalCheckFailed"
        )

    def item(self, index: int) -> Item | None:
        found: Item | None = self.reasons[index].get("Item") if index < len(self.reasons) else None
        return found


def _encode_scan_cursor(key: Item) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_scan_cursor(cursor: str) -> Item:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor))
    except (ValueError, binascii.Error):
        raise ValueError("not a cursor from list_stale") from None
    if not isinstance(key, dict):
        raise ValueError("not a cursor from list_stale")
    return cast("Item", key)


def _old_item(exc: ClientError) -> Item | None:
    found: Item | None = cast("dict[str, Any]", exc.response).get("Item")
    return found


def _failure_codes(exc: ClientError) -> list[str]:
    """The error code, or for a cancelled transaction each action's reason code."""
    code = error_code(exc)
    if code == "ConditionalCheckFailedException":
        return ["ConditionalCheckFailed"]
    return [str(reason.get("Code")) for reason in cancellation_reasons(exc)] or [code]


def _is_conflict(exc: ClientError) -> bool:
    if error_code(exc) == "TransactionConflictException":
        return True
    codes = _failure_codes(exc)
    return "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes
