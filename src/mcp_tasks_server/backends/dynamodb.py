"""The DynamoDB backend: one table shared by every replica, on aioboto3.

Each contract operation is one DynamoDB request, and every read is strongly
consistent, so any replica can answer for any task the moment a write is
acknowledged. This module holds the contract operations and how each
explains a refused condition; the client and its request discipline are in
:mod:`.dynamodb_client`, the requests themselves in :mod:`.dynamodb_requests`,
the item layout in :mod:`.dynamodb_items`, the counts of active tasks each
write keeps up to date in :mod:`.dynamodb_active`, the error translation in
:mod:`.dynamodb_errors`, the design in ``docs/dynamodb.md``.

**Expiry** is exact to the millisecond: conditions and filters compare
``expires_at_ms`` with the injected clock, because DynamoDB's TTL deletes
lazily (sometimes days late) and must never decide what a client sees.

**The quota and the global cap** must be checked atomically with the
create, or two replicas could both take the last slot. Each is a string set
(the owner's ``ACTIVE`` item; one of the global cap's shards, see
:mod:`.dynamodb_active`): a create is one ``TransactWriteItems`` that adds
the task to each set on condition ``size(ids) < max`` and puts the task on
condition that no live task has its key. (A string set, unlike a map, needs
no initialisation: ``ADD`` creates it, and ``size`` is the exact count.) A
task leaves the sets in the same transaction that makes it inactive. A task
that expired while active stays in them until a create finds one full; that
refusal carries the full item (``ALL_OLD``): the owner's item names the
expired entries itself, and one more write drops them; a shard's entries
name their tasks, which one ``BatchGetItem`` reads to drop those missing,
finished or expired. Then the create is retried once. Only that rare path
costs extra requests (and a shard found full of live tasks is not read again
for :data:`REPAIR_INTERVAL_MS`, or until the first of them expires). Without
either (``track_active=False, active_shards=0``) every write is a plain
conditional write.

**Retries are idempotent.** botocore retries throttling and transient errors
itself, with bounded attempts and timeouts. A transaction carries a client
request token, and a conditional write refused because our own record is
already in place counts as done, so a retried request never duplicates a task.
"""

# long: the contract operations and how each explains a refused condition; the two
# limits' repairs (a full quota item, a full shard) belong with the refusals they answer.

from __future__ import annotations

import logging
from typing import Any

import aioboto3
from botocore.exceptions import ClientError

from mcp_tasks_server.backends.base import (
    Clock,
    Page,
    StoredRecord,
    encode_cursor,
)
from mcp_tasks_server.backends.dynamodb_active import (
    MAX_TOTAL_ACTIVE,
    MAX_TRACKED_ACTIVE,
    SHARD_ENTRIES,
    ActiveCounting,
    EntryWrites,
    shards_for,
)
from mcp_tasks_server.backends.dynamodb_client import DynamoDbConnection, RetryMode
from mcp_tasks_server.backends.dynamodb_errors import (
    AccessDenied,
    DynamoDbError,
    TableNotFound,
    TransactionCancelled,
    old_item,
)
from mcp_tasks_server.backends.dynamodb_items import (
    TASK_PREFIX,
    Item,
    dead_entries,
    decode_item,
    encode_item,
    expired_entries,
    is_write,
    item_size,
    number,
    owner_of,
    prune_update,
    shard_prune,
    task_key,
)
from mcp_tasks_server.backends.dynamodb_requests import (
    create_put,
    delete_live,
    encode_scan_cursor,
    entry_reads,
    owner_query,
    replace_put,
    same_quota_entry,
    stale_scan,
    still_active,
    task_scan,
)
from mcp_tasks_server.backends.errors import (
    BackendUnavailable,
    GlobalCapReached,
    QuotaExceeded,
    RecordExists,
    RecordNotFound,
    RecordTooLarge,
    VersionConflict,
)
from mcp_tasks_server.core.model import now_ms
from mcp_tasks_server.observability.telemetry import NOOP_TELEMETRY, Telemetry

__all__ = [
    "MAX_TOTAL_ACTIVE",
    "MAX_TRACKED_ACTIVE",
    "AccessDenied",
    "DynamoDbBackend",
    "DynamoDbError",
    "TableNotFound",
    "shards_for",
]

logger = logging.getLogger(__name__)

DYNAMODB_ITEM_LIMIT = 409_600
"""DynamoDB's own item size limit (400 KB), attribute names included."""

REPAIR_INTERVAL_MS = 5_000
"""How long a shard found full of live tasks is not read again (unless one of them expires
sooner): at the cap, every refused create would otherwise read a whole shard."""


class DynamoDbBackend(DynamoDbConnection):
    """Task records in one DynamoDB table, through one shared aioboto3 client.

    The client is created on first use (so construction stays synchronous)
    and reused by every operation; close it with ``await backend.aclose()``
    or by using the backend as ``async with`` (see :class:`DynamoDbConnection`).

    ``track_active`` keeps the per-owner ``ACTIVE`` item that makes the quota
    atomic; ``create(..., max_active=...)`` needs it. ``active_shards`` keeps
    the global count in that many shards; ``create(..., max_total_active=N)``
    needs ``shards_for(N)`` of them, and every replica on the table must use
    the same number (the default suits the default cap, 10,000). Turn both off
    only when neither limit is enforced: creates and terminal transitions then
    become plain writes instead of transactions.
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
        active_shards: int = shards_for(10_000),
        clock: Clock = now_ms,
        telemetry: Telemetry = NOOP_TELEMETRY,
    ) -> None:
        if not 0 < max_item_bytes <= DYNAMODB_ITEM_LIMIT:
            raise ValueError(f"max_item_bytes must be between 1 and {DYNAMODB_ITEM_LIMIT}")
        super().__init__(
            table,
            endpoint_url=endpoint_url,
            region_name=region_name,
            session=session,
            max_pool_connections=max_pool_connections,
            timeout_seconds=timeout_seconds,
            max_attempts=max_attempts,
            retry_mode=retry_mode,
            max_item_bytes=max_item_bytes,
            clock=clock,
            telemetry=telemetry,
        )
        if active_shards < 0:
            raise ValueError("active_shards must be 0 (no global count) or more")
        self.track_active = track_active
        self.active_shards = active_shards
        self._counting = ActiveCounting(table, track_active, active_shards)
        self._shard_read_after: dict[int, int] = {}  # shard -> when a repair may read it again

    # ------------------------------------------------------------ operations

    async def _create(
        self, record: StoredRecord, *, max_active: int | None, max_total_active: int | None
    ) -> None:
        self._counting.check_limits(max_active, max_total_active)
        item, size = self._encode(record)
        put = create_put(self.table, item, self.clock())
        entries = self._counting.additions(
            record, max_active=max_active, max_total_active=max_total_active
        )
        if not entries.actions:
            try:
                await self._send("PutItem", put, size)
            except ClientError as exc:
                if not is_write(old_item(exc), item["w"]["S"]):
                    raise RecordExists(record.task_id) from None
            return
        for retry in (False, True):
            try:
                await self._transact([{"Put": put}, *entries.actions], size)
                return
            except TransactionCancelled as cancelled:
                if cancelled.failed(0):
                    if is_write(cancelled.item(0), item["w"]["S"]):
                        return  # a retried create that had landed
                    raise RecordExists(record.task_id) from None
                refusal, freed = await self._make_room(
                    record, entries, cancelled, max_active, max_total_active
                )
                if retry or not freed:
                    raise refusal from None
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

    async def _replace(self, record: StoredRecord, expected_version: int) -> None:
        item, size = self._encode(record)
        put = replace_put(self.table, item, expected_version, self.clock())
        if self._counting.on and not record.active:
            entries = self._counting.changes(record)
            await self._replace_in_transaction(record, expected_version, put, size, entries)
            return
        # With counts kept, the plain write is refused if an entry must change
        # too; the transaction below then rewrites the entries as well.
        plain = put
        if self.track_active:
            plain = same_quota_entry(put, record.expires_at_ms)
        elif self.active_shards:
            plain = still_active(put)
        try:
            await self._send("PutItem", plain, size)
        except ClientError as exc:
            old = old_item(exc)
            if self._landed(record, expected_version, old, item):
                return
            if not self._counting.on:
                raise BackendUnavailable("DynamoDB refused a write; try again") from None
            # Live at the expected version: the refusal shows whether it was active.
            was_active = old is not None and self._decode(record.owner, old).active
            entries = self._counting.changes(record, shard_too=not was_active)
            await self._replace_in_transaction(record, expected_version, put, size, entries)

    async def delete(self, owner: str, task_id: str) -> bool:
        key = task_key(owner, task_id)
        if not self._counting.on:
            response = await self._send(
                "DeleteItem", {"TableName": self.table, "Key": key, "ReturnValues": "ALL_OLD"}
            )
            old = response.get("Attributes")
            return bool(old) and not self._decode(owner, old).is_expired(self.clock())
        delete = delete_live(self.table, key, self.clock())
        gone = StoredRecord(owner, task_id, 0, "", active=False)
        try:
            await self._transact([{"Delete": delete}, *self._counting.changes(gone).actions], 0)
        except TransactionCancelled:
            return False  # no live task; an expired one's entries are dropped later
        return True

    async def _list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        params = owner_query(self.table, owner, limit=limit, cursor=cursor, now_ms=self.clock())
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

    async def _list_orphans(self, *, limit: int, cursor: str | None) -> Page:
        """One Scan page of at most ``limit`` items, filtered to run-out leases.

        A Scan, because the sweep must look across owners; its cost is the
        items it examines (see :mod:`.dynamodb_requests`).
        """
        params = stale_scan(self.table, limit=limit, cursor=cursor, now_ms=self.clock())
        response = await self._send("Scan", params)
        records = []
        for item in response.get("Items", ()):
            owner = owner_of(item)
            if owner is not None and item["SK"]["S"].startswith(TASK_PREFIX):
                records.append(self._decode(owner, item))
        last = response.get("LastEvaluatedKey")
        return Page(records, None if last is None else encode_scan_cursor(last))

    async def scan(self, *, limit: int, cursor: str | None = None) -> Page:
        """One Scan page of at most ``limit`` items, filtered to live tasks."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        params = task_scan(self.table, limit=limit, cursor=cursor, now_ms=self.clock())
        response = await self._send("Scan", params)
        records = []
        for item in response.get("Items", ()):
            owner = owner_of(item)
            if owner is not None:
                records.append(self._decode(owner, item))
        last = response.get("LastEvaluatedKey")
        return Page(records, None if last is None else encode_scan_cursor(last))

    async def sweep_expired(self) -> int:
        return 0  # DynamoDB's TTL deletes expired items; no read depends on it

    def item_size(self, record: StoredRecord) -> int:
        """The size DynamoDB counts for the record's item, in bytes."""
        return item_size(encode_item(record))

    # ------------------------------------------------------------ internals

    async def _make_room(
        self,
        record: StoredRecord,
        entries: EntryWrites,
        cancelled: TransactionCancelled,
        max_active: int | None,
        max_total_active: int | None,
    ) -> tuple[QuotaExceeded, bool]:
        """The limit that refused a create, and whether dropping stale entries freed a slot.

        The owner's quota is looked at first: while it is full, freeing a
        slot in the shard would not help.
        """
        if entries.owner is not None and cancelled.failed(1):
            refusal = QuotaExceeded(f"At most {max_active} unfinished tasks are allowed per owner")
            return refusal, await self._prune_expired(record.owner, cancelled.item(1))
        at = entries.shard_position
        if entries.shard is not None and max_total_active is not None and cancelled.failed(at):
            refusal = GlobalCapReached(max_total_active, partial=self.active_shards > 1)
            return refusal, await self._repair_shard(entries.shard_index, cancelled.item(at))
        raise BackendUnavailable("DynamoDB refused a write; try again")

    async def _prune_expired(self, owner: str, active: Item | None) -> bool:
        """Drop quota entries whose task has expired. True if any were dropped."""
        expired = expired_entries(active or {}, self.clock())
        if not expired:
            return False
        await self._send("UpdateItem", prune_update(self.table, owner, expired))
        logger.debug("dropped %d expired entries from a quota item", len(expired))
        return True

    async def _repair_shard(self, shard: int, found: Item | None) -> bool:
        """Drop a full shard's entries whose task is missing, finished or expired.

        The entries come with the refusal; their tasks cost one strongly
        consistent ``BatchGetItem``. True if any entry was dropped.
        """
        now = self.clock()
        entries = sorted((found or {}).get("ids", {}).get("SS", ()))[:SHARD_ENTRIES]
        if not entries or now < self._shard_read_after.get(shard, 0):
            return False
        response = await self._send("BatchGetItem", entry_reads(self.table, entries))
        read = response.get("Responses", {}).get(self.table, [])
        unread = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        dead, earliest = dead_entries(entries, read, unread, now)
        if not dead:
            later = now + REPAIR_INTERVAL_MS
            self._shard_read_after[shard] = later if earliest is None else min(earliest, later)
            return False
        await self._send("UpdateItem", shard_prune(self.table, shard, dead))
        logger.debug("dropped %d stale entries from a shard of the global cap", len(dead))
        return True

    async def _replace_in_transaction(
        self,
        record: StoredRecord,
        expected: int,
        put: dict[str, Any],
        size: int,
        entries: EntryWrites,
    ) -> None:
        try:
            await self._transact([{"Put": put}, *entries.actions], size)
        except TransactionCancelled as cancelled:
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
