"""How the DynamoDB backend counts active tasks: the owner's quota and the global cap.

Both limits must be checked atomically with the create, or two replicas
could both take the last slot, so each is a set that the create's own
``TransactWriteItems`` adds the task to, on condition that the set is not
full; the write that makes the task inactive removes it again. The sets are
what this module decides: which updates ride along with each write.

* **The per-owner quota**: the owner's ``ACTIVE`` item, ``ids`` SS of task
  ids, plus the expiry of each (``x#<id>``), so a full set can drop expired
  entries from the refusal alone (see :mod:`.dynamodb`).
* **The global cap** (``max_total_active``): one item for every owner would
  take every create and finish of the deployment, a hot item that DynamoDB
  limits to about 1,000 writes of 1 KB a second and that makes concurrent
  transactions conflict. So the count is split over ``shards`` items
  (``ACTIVE#<n>``); a task is counted in the shard its id hashes to, so the
  write that finishes it, on any replica, knows that shard without a read.
  A shard takes its share of the cap (the shares differ by at most one and
  add up to the cap), so the cap is never exceeded, but a create is refused
  when *its* shard is full even if another has room: with several shards,
  refusals begin somewhat below the cap (the store then tries once more with
  a new task id, which usually lands elsewhere; ``docs/dynamodb.md`` gives
  numbers). Entries are ``<task id> <task's PK>``, so a full shard can read
  the tasks it counts and drop those that are missing, finished or expired:
  an entry keeps no expiry, because a lease renewal moves a running task's
  expiry, and keeping it here would turn every renewal into a transaction on
  a shard that other owners' tasks share. A renewal stays a plain ``PutItem``
  on condition that the task was active already.

A shard's share of the cap is at most :data:`SHARD_ENTRIES`, so a repair
reads all of it in one ``BatchGetItem`` and the item stays small (about 85
bytes an entry): small items are cheap to rewrite (a write costs the item's size) and
many shards rarely conflict. ``shards_for(cap)`` gives the shard count;
every replica on a table must use the same, because it decides where each
task is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.dynamodb_items import active_update, shard_of, shard_update

__all__ = [
    "MAX_TOTAL_ACTIVE",
    "MAX_TRACKED_ACTIVE",
    "SHARD_ENTRIES",
    "ActiveCounting",
    "EntryWrites",
    "shards_for",
]

MAX_TRACKED_ACTIVE = 4_000
"""The largest quota one ``ACTIVE`` item holds (about 82 bytes an entry)."""

SHARD_ENTRIES = 100
"""The most entries one shard of the global cap holds: one ``BatchGetItem`` reads them all."""

MAX_TOTAL_ACTIVE = 1_000_000
"""The largest global cap: a limit beyond that bounds nothing, so spell it 0 (no cap)."""


def shards_for(limit: int) -> int:
    """How many shards hold a global cap of ``limit`` (0 for no cap)."""
    return -(-limit // SHARD_ENTRIES)


@dataclass(frozen=True, slots=True)
class EntryWrites:
    """The updates a task's write carries, in transaction order after the task's own action."""

    owner: dict[str, Any] | None = None
    """The ``ACTIVE`` item update, if the owner's quota is tracked."""
    shard: dict[str, Any] | None = None
    """The shard update, if the global cap is tracked and this write changes the entry."""
    shard_index: int = 0

    @property
    def actions(self) -> list[dict[str, Any]]:
        return [{"Update": update} for update in (self.owner, self.shard) if update is not None]

    @property
    def shard_position(self) -> int:
        """The shard update's index in the transaction (the task's action is 0)."""
        return 2 if self.owner is not None else 1


@dataclass(frozen=True, slots=True)
class ActiveCounting:
    """Which counts of active tasks a backend keeps: per owner, and in ``shards`` shards."""

    table: str
    per_owner: bool
    shards: int

    @property
    def on(self) -> bool:
        """Whether any count is kept (then a create or finish is a transaction)."""
        return self.per_owner or self.shards > 0

    def check_limits(self, max_active: int | None, max_total_active: int | None) -> None:
        """``ValueError`` for a limit this layout cannot enforce."""
        if max_active is not None and not self.per_owner:
            raise ValueError("a quota needs a DynamoDbBackend built with track_active=True")
        if max_active is not None and max_active > MAX_TRACKED_ACTIVE:
            raise ValueError(f"max_active must be between 1 and {MAX_TRACKED_ACTIVE}")
        if max_total_active is not None and not (
            self.shards <= max_total_active <= self.shards * SHARD_ENTRIES
        ):
            raise ValueError(
                f"max_total_active={max_total_active} needs a DynamoDbBackend built with "
                f"active_shards={shards_for(max_total_active)} (it has {self.shards})"
            )

    def additions(
        self, record: StoredRecord, *, max_active: int | None, max_total_active: int | None
    ) -> EntryWrites:
        """What a create of ``record`` adds, each update capped by its limit."""
        if not record.active:
            return EntryWrites()
        owner = None
        if self.per_owner:
            owner = active_update(self.table, record, add=True, max_active=max_active)
        if not self.shards:
            return EntryWrites(owner)
        shard = shard_of(record.task_id, self.shards)
        capacity = None if max_total_active is None else self.capacity(max_total_active, shard)
        update = shard_update(self.table, record, shard, add=True, capacity=capacity)
        return EntryWrites(owner, update, shard)

    def changes(self, record: StoredRecord, *, shard_too: bool = True) -> EntryWrites:
        """What a write that leaves ``record`` (in)active changes, never capped.

        ``shard_too=False`` when the task was active before and stays so: its
        shard entry is right already (only the owner's entry keeps an expiry).
        """
        owner = None
        if self.per_owner:
            owner = active_update(self.table, record, add=record.active)
        if not (self.shards and shard_too):
            return EntryWrites(owner)
        shard = shard_of(record.task_id, self.shards)
        return EntryWrites(owner, shard_update(self.table, record, shard, add=record.active), shard)

    def capacity(self, limit: int, shard: int) -> int:
        """Shard ``shard``'s share of ``limit``: the shares differ by at most one and sum to it."""
        return limit // self.shards + (1 if shard < limit % self.shards else 0)
