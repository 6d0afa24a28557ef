"""The DynamoDB item layout: how records map onto one table's items.

One table, three kinds of item; the first two in the owner's partition:

=================  ===================  ==========================================
``PK``             ``SK``               attributes
=================  ===================  ==========================================
``OWNER#<owner>``  ``TASK#<task id>``   ``version`` N, ``data`` S (the record
                                        body, opaque), ``active`` BOOL, ``w`` S
                                        (a random id of the write that stored
                                        it), and only when the task has a TTL:
                                        ``expires_at`` N (epoch seconds, for
                                        DynamoDB's TTL) and ``expires_at_ms`` N
                                        (exact, for reads); only while the task
                                        is active and leased: ``lease_ms`` N
                                        (when the lease ends, for the sweep)
``OWNER#<owner>``  ``ACTIVE``           ``ids`` SS (the owner's active task ids)
                                        and ``x#<task id>`` N (the expiry in ms
                                        of each active task that has one)
``ACTIVE#<n>``     ``ACTIVE``           ``ids`` SS: one shard of the global cap,
                                        an entry ``<task id> <task's PK>`` per
                                        active task whose id hashes to shard
                                        ``n`` (see :mod:`.dynamodb_active`)
=================  ===================  ==========================================

Task ids sort by creation time, so ``TASK#`` keys in descending order are
newest first, and ``begins_with(SK, "TASK#")`` keeps the ``ACTIVE`` items out
of listings (and a shard, which has no ``active`` attribute, out of the
orphan Scan). An owner longer than 1 KB is keyed by its SHA-256
(``OWNERH#<hex>``) to stay inside DynamoDB's 2 KB partition-key limit; such a
task item also carries the owner in ``o`` S, so the orphan sweep (a Scan,
which sees items without knowing their owner) can name it.

``w`` lets a refused conditional write tell "my own earlier attempt landed"
(botocore retried a request whose answer was lost) from "another writer
stored the same bytes": both would otherwise look identical.

Everything here is pure (no I/O), so the layout can be read in one place.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from mcp_tasks_server.backends.base import StoredRecord

__all__ = [
    "ACTIVE_SK",
    "LIVE",
    "TASK_PREFIX",
    "Item",
    "active_key",
    "active_update",
    "dead_entries",
    "decode_item",
    "encode_item",
    "entry_key",
    "expired_entries",
    "is_write",
    "item_size",
    "new_write_id",
    "number",
    "owner_of",
    "partition_key",
    "prune_update",
    "shard_entry",
    "shard_key",
    "shard_of",
    "shard_prune",
    "shard_update",
    "task_key",
]

Item = dict[str, dict[str, Any]]
"""An item in DynamoDB's wire form: ``{"name": {"S": "..."}}``."""

TASK_PREFIX = "TASK#"
ACTIVE_SK = "ACTIVE"

LIVE = "(attribute_not_exists(#e) OR #e > :now)"
"""Condition or filter for an unexpired task item; needs ``#e`` and ``:now``."""

_LONG_OWNER_BYTES = 1_024
_OWNER_PREFIX = "OWNER#"
_HASHED_PREFIX = "OWNERH#"
_SHARD_PREFIX = "ACTIVE#"  # no owner's partition key starts so
_CAPPED = "attribute_not_exists(ids) OR size(ids) < :max"


def number(value: int) -> dict[str, str]:
    return {"N": str(value)}


def partition_key(owner: str) -> str:
    encoded = owner.encode()
    if len(encoded) > _LONG_OWNER_BYTES:
        return _HASHED_PREFIX + hashlib.sha256(encoded).hexdigest()
    return _OWNER_PREFIX + owner


def owner_of(item: Item) -> str | None:
    """The owner of a task item found without knowing it (by a Scan)."""
    if "o" in item:
        return str(item["o"]["S"])
    key: str = item["PK"]["S"]
    return key.removeprefix(_OWNER_PREFIX) if key.startswith(_OWNER_PREFIX) else None


def task_key(owner: str, task_id: str) -> Item:
    return {"PK": {"S": partition_key(owner)}, "SK": {"S": TASK_PREFIX + task_id}}


def active_key(owner: str) -> Item:
    return {"PK": {"S": partition_key(owner)}, "SK": {"S": ACTIVE_SK}}


def shard_key(shard: int) -> Item:
    return {"PK": {"S": f"{_SHARD_PREFIX}{shard}"}, "SK": {"S": ACTIVE_SK}}


def shard_of(task_id: str, shards: int) -> int:
    """The shard that counts ``task_id``: a hash of the id alone, so any replica
    finishing the task knows which shard to update without a read."""
    digest = hashlib.sha256(task_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shard_entry(record: StoredRecord) -> str:
    """A task's entry in its shard: its id and partition key, all a repair needs to read it."""
    return f"{record.task_id} {partition_key(record.owner)}"


def entry_key(entry: str) -> Item:
    """The key of the task item a shard entry names."""
    task_id, _, partition = entry.partition(" ")
    return {"PK": {"S": partition}, "SK": {"S": TASK_PREFIX + task_id}}


def encode_item(record: StoredRecord) -> Item:
    """The task item for ``record``, marked with a fresh write id (see ``w``)."""
    key = partition_key(record.owner)
    item: Item = {
        "PK": {"S": key},
        "SK": {"S": TASK_PREFIX + record.task_id},
        "version": number(record.version),
        "data": {"S": record.data},
        "active": {"BOOL": record.active},
        "w": {"S": new_write_id()},
    }
    if record.expires_at_ms is not None:
        # Rounded up, so the TTL never deletes a task before it expires.
        item["expires_at"] = number(-(-record.expires_at_ms // 1000))
        item["expires_at_ms"] = number(record.expires_at_ms)
    if key.startswith(_HASHED_PREFIX):
        item["o"] = {"S": record.owner}
    if record.active and record.lease_expires_at_ms is not None:
        item["lease_ms"] = number(record.lease_expires_at_ms)
    return item


def new_write_id() -> str:
    return secrets.token_urlsafe(12)


def is_write(item: Item | None, write_id: str) -> bool:
    """Whether ``item`` is the one stored by the write marked ``write_id``."""
    return item is not None and item.get("w", {}).get("S") == write_id


def decode_item(owner: str, item: Item) -> StoredRecord:
    """The record a task item holds. Raises ``KeyError``/``ValueError`` if malformed."""
    expires = item.get("expires_at_ms")
    active = item.get("active")
    lease = item.get("lease_ms")
    return StoredRecord(  # positional: a list page decodes many of these
        owner,
        item["SK"]["S"].removeprefix(TASK_PREFIX),
        int(item["version"]["N"]),
        item["data"]["S"],
        None if expires is None else int(expires["N"]),
        True if active is None else bool(active["BOOL"]),
        None if lease is None else int(lease["N"]),
    )


def item_size(item: Item) -> int:
    """Bytes as DynamoDB counts them: UTF-8 names and values, ~1 byte per 2 digits."""
    size = 0
    for name, value in item.items():
        size += len(name)
        if "S" in value:
            text: str = value["S"]
            size += len(text) if text.isascii() else len(text.encode())
        elif "N" in value:
            size += (len(value["N"].lstrip("-")) + 1) // 2 + 1
        else:
            size += 1
    return size


def active_update(
    table: str, record: StoredRecord, *, add: bool, max_active: int | None = None
) -> dict[str, Any]:
    """The ``ACTIVE`` item update that adds or removes one task.

    With ``max_active`` the add is conditional on the owner having fewer
    active tasks, and a refusal returns the item so expired entries can be
    found without another read.
    """
    values: dict[str, Any] = {":id": {"SS": [record.task_id]}}
    if add and record.expires_at_ms is not None:
        expression = "ADD ids :id SET #x = :x"
        values[":x"] = number(record.expires_at_ms)
    else:
        expression = ("ADD" if add else "DELETE") + " ids :id REMOVE #x"
    update: dict[str, Any] = {
        "TableName": table,
        "Key": active_key(record.owner),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": {"#x": "x#" + record.task_id},
        "ExpressionAttributeValues": values,
    }
    return _capped(update, max_active)


def shard_update(
    table: str, record: StoredRecord, shard: int, *, add: bool, capacity: int | None = None
) -> dict[str, Any]:
    """The update that adds a task's entry to its shard (with ``capacity``, only while
    the shard holds fewer entries) or removes it.

    No expiry is kept here, unlike the ``ACTIVE`` item: a lease renewal moves
    a running task's expiry, and keeping it here would make every renewal a
    transaction on a shard that other owners' tasks share.
    """
    update: dict[str, Any] = {
        "TableName": table,
        "Key": shard_key(shard),
        "UpdateExpression": ("ADD" if add else "DELETE") + " ids :entry",
        "ExpressionAttributeValues": {":entry": {"SS": [shard_entry(record)]}},
    }
    return _capped(update, capacity)


def _capped(update: dict[str, Any], limit: int | None) -> dict[str, Any]:
    """``update``, only while its set holds fewer than ``limit`` members.

    A refusal returns the item (``ALL_OLD``), so the stale members can be
    found without another read.
    """
    if limit is not None:
        update["ConditionExpression"] = _CAPPED
        update["ExpressionAttributeValues"][":max"] = number(limit)
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return update


def expired_entries(active: Item, now_ms: int, *, limit: int = 100) -> list[str]:
    """Ids in an ``ACTIVE`` item whose task has expired (at most ``limit``)."""
    expired = []
    for task_id in active.get("ids", {}).get("SS", ()):
        expiry = active.get("x#" + task_id)
        if expiry is not None and int(expiry["N"]) <= now_ms:
            expired.append(task_id)
            if len(expired) == limit:
                break
    return expired


def dead_entries(
    entries: list[str], found: list[Item], unread: list[Item], now_ms: int
) -> tuple[list[str], int | None]:
    """The shard entries whose task is missing, finished or expired, read from ``found``
    (the task items), and the earliest expiry among the others (None: none expires).

    Each of the three is final for a task the store wrote (ids are never reused,
    a finished task never changes, an expired one cannot be written), so
    dropping its entry can never uncount a task that is active. An entry whose
    item was not read (``unread``: BatchGetItem's unprocessed keys) counts as alive.
    """
    items = {(item["PK"]["S"], item["SK"]["S"]): item for item in found}
    skipped = {(key["PK"]["S"], key["SK"]["S"]) for key in unread}
    dead: list[str] = []
    earliest: int | None = None
    for entry in entries:
        key = entry_key(entry)
        where = (key["PK"]["S"], key["SK"]["S"])
        if where in skipped:
            continue
        item = items.get(where)
        if item is None or item.get("active", {}).get("BOOL") is False:
            dead.append(entry)
            continue
        expiry = int(item["expires_at_ms"]["N"]) if "expires_at_ms" in item else None
        if expiry is not None and expiry <= now_ms:
            dead.append(entry)
        elif expiry is not None:
            earliest = expiry if earliest is None else min(earliest, expiry)
    return dead, earliest


def prune_update(table: str, owner: str, task_ids: list[str]) -> dict[str, Any]:
    """The ``ACTIVE`` item update that drops the entries of ``task_ids``."""
    names = {f"#x{index}": "x#" + task_id for index, task_id in enumerate(task_ids)}
    return _removal(table, active_key(owner), task_ids, names)


def shard_prune(table: str, shard: int, entries: list[str]) -> dict[str, Any]:
    """The shard update that drops ``entries``."""
    return _removal(table, shard_key(shard), entries)


def _removal(
    table: str, key: Item, members: list[str], names: dict[str, str] | None = None
) -> dict[str, Any]:
    """Drop ``members`` from the set ``ids`` of the item at ``key``, and attributes ``names``."""
    update: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": "DELETE ids :ids",
        "ExpressionAttributeValues": {":ids": {"SS": members}},
    }
    if names:
        update["UpdateExpression"] += " REMOVE " + ", ".join(names)
        update["ExpressionAttributeNames"] = names
    return update
