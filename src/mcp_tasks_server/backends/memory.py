"""The in-memory backend: the default, for one process.

Every operation runs to completion without awaiting anything after its first
checkpoint, so on one event loop each operation is atomic: no lock is needed
and 64 racing conditional replaces have exactly one winner, as on DynamoDB.
The checkpoint lets other coroutines run first, the way a network round trip
would, so concurrency tests exercise real interleavings.

Three indexes keep every operation proportional to its answer, never to the
store's size:

* per owner, the task ids in sorted (= creation) order, for O(page) listing;
* per owner, the ids of active tasks, for an exact quota check (and to find
  active tasks whose lease ran out), and their total across owners, for the
  global cap;
* a heap of expiry times, so a sweep costs only what it removes.

The total counts expired active records too until the sweep removes them, so
a create that finds it at the global cap sweeps first: the count it then
compares is exact.
"""

from __future__ import annotations

import bisect
import heapq
import json

import anyio.lowlevel

from mcp_tasks_server.backends.base import (
    Clock,
    Page,
    StorageBackend,
    StoredRecord,
    decode_cursor,
    encode_cursor,
)
from mcp_tasks_server.backends.errors import (
    CapacityExceeded,
    GlobalCapReached,
    QuotaExceeded,
    RecordExists,
    RecordNotFound,
    VersionConflict,
)
from mcp_tasks_server.core.model import now_ms

__all__ = ["MemoryBackend"]


class MemoryBackend(StorageBackend):
    """Records in a dict, with the indexes listing, quotas and sweeping need.

    ``max_records`` caps how many records (live or awaiting the sweep) may be
    held; a create beyond it first sweeps, then raises ``CapacityExceeded``.
    """

    name = "memory"

    def __init__(self, *, max_records: int | None = None, clock: Clock = now_ms) -> None:
        super().__init__(clock=clock)
        if max_records is not None and max_records < 1:
            raise ValueError("max_records must be at least 1")
        self.max_records = max_records
        self._records: dict[tuple[str, str], StoredRecord] = {}
        self._ids_by_owner: dict[str, list[str]] = {}
        self._active_by_owner: dict[str, set[str]] = {}
        self._active_total = 0  # the sum of the sets' sizes above
        self._expiry_heap: list[tuple[int, str, str]] = []

    def __len__(self) -> int:
        """Records held, including expired ones the sweep has not removed yet."""
        return len(self._records)

    # ------------------------------------------------------------ operations

    async def _create(
        self, record: StoredRecord, *, max_active: int | None, max_total_active: int | None
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self._count_request()
        now = self.clock()
        key = (record.owner, record.task_id)
        existing = self._records.get(key)
        if existing is not None and not existing.is_expired(now):
            raise RecordExists(record.task_id)
        if (
            max_active is not None
            and record.active
            and self._count_active(record.owner, now) >= max_active
        ):
            raise QuotaExceeded(f"At most {max_active} unfinished tasks are allowed per owner")
        if max_total_active is not None and record.active:
            self._check_total_active(max_total_active, now)
        existing = self._records.get(key)  # the sweep may have removed an expired one
        if existing is None and self.max_records is not None:
            if len(self._records) >= self.max_records:
                self._sweep(now)
            if len(self._records) >= self.max_records:
                raise CapacityExceeded(f"The memory backend holds {self.max_records} tasks")
        if existing is not None:
            self._remove(existing)
        self._put(record)

    async def get(self, owner: str, task_id: str) -> StoredRecord:
        await anyio.lowlevel.checkpoint()
        self._count_request()
        return self._live(owner, task_id, self.clock())

    async def _replace(self, record: StoredRecord, expected_version: int) -> None:
        await anyio.lowlevel.checkpoint()
        self._count_request()
        current = self._live(record.owner, record.task_id, self.clock())
        if current.version != expected_version:
            raise VersionConflict(expected_version, current)
        self._remove(current)
        self._put(record, index_expiry=record.expires_at_ms != current.expires_at_ms)

    async def delete(self, owner: str, task_id: str) -> bool:
        await anyio.lowlevel.checkpoint()
        self._count_request()
        existing = self._records.get((owner, task_id))
        if existing is None:
            return False
        self._remove(existing)
        return not existing.is_expired(self.clock())

    async def _list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        after = decode_cursor(owner, cursor) if cursor is not None else None
        await anyio.lowlevel.checkpoint()
        self._count_request()
        ids = self._ids_by_owner.get(owner, [])
        # Newest first is descending id order: walk the sorted list backwards.
        index = len(ids) - 1 if after is None else bisect.bisect_left(ids, after) - 1
        now = self.clock()
        records: list[StoredRecord] = []
        while index >= 0 and len(records) < limit:
            found = self._records[(owner, ids[index])]
            if not found.is_expired(now):
                records.append(found)
            index -= 1
        more = index >= 0 and bool(records)
        next_cursor = encode_cursor(owner, records[-1].task_id) if more else None
        return Page(records, next_cursor)

    async def _list_orphans(self, *, limit: int, cursor: str | None) -> Page:
        after = tuple(json.loads(cursor)) if cursor is not None else None
        await anyio.lowlevel.checkpoint()
        self._count_request()
        now = self.clock()
        # The per-owner active sets are the index: the walk costs the number of
        # unfinished tasks, never the finished ones.
        keys = sorted(
            (owner, task_id)
            for owner, task_ids in self._active_by_owner.items()
            for task_id in task_ids
        )
        start = 0 if after is None else bisect.bisect_right(keys, after)
        examined = keys[start : start + limit]
        stale = [self._records[key] for key in examined if self._records[key].is_orphaned(now)]
        more = start + limit < len(keys)
        return Page(stale, json.dumps(examined[-1]) if more else None)

    async def scan(self, *, limit: int, cursor: str | None = None) -> Page:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        after = tuple(json.loads(cursor)) if cursor is not None else None
        await anyio.lowlevel.checkpoint()
        self._count_request()
        now = self.clock()
        keys = sorted(self._records)  # an operator's walk: its cost is not a client's
        start = 0 if after is None else bisect.bisect_right(keys, after)
        examined = keys[start : start + limit]
        live = [self._records[key] for key in examined if not self._records[key].is_expired(now)]
        more = start + limit < len(keys)
        return Page(live, json.dumps(examined[-1]) if more else None)

    async def sweep_expired(self) -> int:
        await anyio.lowlevel.checkpoint()
        self._count_request()
        return self._sweep(self.clock())

    # ------------------------------------------------------------- internals

    def _live(self, owner: str, task_id: str, now: int) -> StoredRecord:
        found = self._records.get((owner, task_id))
        if found is None or found.is_expired(now):
            raise RecordNotFound(task_id)
        return found

    def _check_total_active(self, limit: int, now: int) -> None:
        """``GlobalCapReached`` unless fewer than ``limit`` active records are live."""
        if self._active_total >= limit:
            self._sweep(now)  # expired records stop counting: remove them, then count again
        if self._active_total >= limit:
            raise GlobalCapReached(limit)

    def _count_active(self, owner: str, now: int) -> int:
        active = self._active_by_owner.get(owner)
        if not active:
            return 0
        return sum(1 for task_id in active if not self._records[(owner, task_id)].is_expired(now))

    def _put(self, record: StoredRecord, *, index_expiry: bool = True) -> None:
        key = (record.owner, record.task_id)
        self._records[key] = record
        ids = self._ids_by_owner.setdefault(record.owner, [])
        if not ids or ids[-1] < record.task_id:
            ids.append(record.task_id)  # the common case: ids are time-ordered
        else:
            position = bisect.bisect_left(ids, record.task_id)
            if position == len(ids) or ids[position] != record.task_id:
                ids.insert(position, record.task_id)
        if record.active:
            active = self._active_by_owner.setdefault(record.owner, set())
            if record.task_id not in active:
                active.add(record.task_id)
                self._active_total += 1
        else:
            self._discard_active(record.owner, record.task_id)
        if index_expiry and record.expires_at_ms is not None:
            heapq.heappush(self._expiry_heap, (record.expires_at_ms, record.owner, record.task_id))

    def _remove(self, record: StoredRecord) -> None:
        owner, task_id = record.owner, record.task_id
        del self._records[(owner, task_id)]
        ids = self._ids_by_owner[owner]
        position = bisect.bisect_left(ids, task_id)
        del ids[position]
        if not ids:
            del self._ids_by_owner[owner]
        self._discard_active(owner, task_id)

    def _discard_active(self, owner: str, task_id: str) -> None:
        active = self._active_by_owner.get(owner)
        if active is not None and task_id in active:
            active.remove(task_id)
            self._active_total -= 1
            if not active:
                del self._active_by_owner[owner]

    def _sweep(self, now: int) -> int:
        removed = 0
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            expires_at, owner, task_id = heapq.heappop(heap)
            found = self._records.get((owner, task_id))
            # The heap may hold stale entries for records since replaced or deleted.
            if found is not None and found.expires_at_ms == expires_at:
                self._remove(found)
                removed += 1
        return removed
