"""The DynamoDB requests the backend sends, as pure parameter builders.

Every guarantee of the backend rests on a condition or a filter evaluated
by DynamoDB itself, in the same request as the write or read it guards:
that is what keeps each contract operation to one request and safe against
every other replica. Writing them all here, without I/O, lets them be read
(and checked against ``docs/dynamodb.md``) in one place; the backend sends
them and explains refusals.

Every condition on a task item includes :data:`.dynamodb_items.LIVE`
against the caller's clock, because DynamoDB's TTL deletes lazily and an
expired item must count as absent at once.

**The orphan Scan** is the one request that is not owner-scoped: the
orphan sweep must look across owners, and the table has no index for that.
Its cost is the items it examines (``limit`` per call, half a read unit per
4 KB), so a pass over the table costs one read of the table, spread over
calls by an opaque cursor. See ``docs/distributed.md`` for why this is not a
secondary index.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, cast

from mcp_tasks_server.backends.base import decode_cursor
from mcp_tasks_server.backends.dynamodb_items import (
    LIVE,
    TASK_PREFIX,
    Item,
    entry_key,
    number,
    partition_key,
    task_key,
)

__all__ = [
    "create_put",
    "decode_scan_cursor",
    "delete_live",
    "encode_scan_cursor",
    "entry_reads",
    "owner_query",
    "replace_put",
    "same_quota_entry",
    "stale_scan",
    "still_active",
    "task_scan",
]


def create_put(table: str, item: Item, now_ms: int) -> dict[str, Any]:
    """Put a new task where no live task has its key (an expired one may be replaced)."""
    return {
        "TableName": table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(PK) OR #e <= :now",
        "ExpressionAttributeNames": {"#e": "expires_at_ms"},
        "ExpressionAttributeValues": {":now": number(now_ms)},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def replace_put(table: str, item: Item, expected_version: int, now_ms: int) -> dict[str, Any]:
    """Put the next version of a live task, only over ``expected_version``."""
    return {
        "TableName": table,
        "Item": item,
        "ConditionExpression": f"#v = :expected AND {LIVE}",
        "ExpressionAttributeNames": {"#v": "version", "#e": "expires_at_ms"},
        "ExpressionAttributeValues": {
            ":expected": number(expected_version),
            ":now": number(now_ms),
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def still_active(put: dict[str, Any]) -> dict[str, Any]:
    """``put`` of an active task, also on condition that the task was active already.

    A plain write keeps the task's shard entry (the global cap) true only
    then; otherwise this condition fails and the backend adds the entry in a
    transaction instead. A lease renewal passes it: the shard keeps no expiry.
    """
    return {
        **put,
        "ConditionExpression": f"{put['ConditionExpression']} AND #a = :true",
        "ExpressionAttributeNames": {**put["ExpressionAttributeNames"], "#a": "active"},
        "ExpressionAttributeValues": {**put["ExpressionAttributeValues"], ":true": {"BOOL": True}},
    }


def same_quota_entry(put: dict[str, Any], expires_at_ms: int | None) -> dict[str, Any]:
    """``put``, also on condition that the task's quota entry needs no change.

    A plain write keeps the ``ACTIVE`` entry true only if the task was
    active already, with the same expiry; otherwise this condition fails and
    the backend rewrites the entry in a transaction instead.
    """
    active = still_active(put)
    same_expiry = "attribute_not_exists(#e)"
    extra: dict[str, Any] = {}
    if expires_at_ms is not None:
        same_expiry, extra[":expiry"] = "#e = :expiry", number(expires_at_ms)
    return {
        **active,
        "ConditionExpression": f"{active['ConditionExpression']} AND {same_expiry}",
        "ExpressionAttributeValues": {**active["ExpressionAttributeValues"], **extra},
    }


def delete_live(table: str, key: Item, now_ms: int) -> dict[str, Any]:
    """Delete a task only if a live one is there (a transaction's ``Delete`` action)."""
    return {
        "TableName": table,
        "Key": key,
        "ConditionExpression": f"attribute_exists(PK) AND {LIVE}",
        "ExpressionAttributeNames": {"#e": "expires_at_ms"},
        "ExpressionAttributeValues": {":now": number(now_ms)},
    }


def entry_reads(table: str, entries: list[str]) -> dict[str, Any]:
    """One ``BatchGetItem`` of the tasks that shard entries name (at most 100), strongly
    consistent, projected to what tells whether each still counts."""
    return {
        "RequestItems": {
            table: {
                "Keys": [entry_key(entry) for entry in entries],
                "ConsistentRead": True,
                "ProjectionExpression": "PK, SK, #a, #e",
                "ExpressionAttributeNames": {"#a": "active", "#e": "expires_at_ms"},
            }
        }
    }


def owner_query(
    table: str, owner: str, *, limit: int, cursor: str | None, now_ms: int
) -> dict[str, Any]:
    """One page of the owner's live tasks, newest first, strongly consistent."""
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :task)",
        "FilterExpression": LIVE,
        "ExpressionAttributeNames": {"#e": "expires_at_ms"},
        "ExpressionAttributeValues": {
            ":pk": {"S": partition_key(owner)},
            ":task": {"S": TASK_PREFIX},
            ":now": number(now_ms),
        },
        "ScanIndexForward": False,
        "ConsistentRead": True,
        # One more than asked, so a full last page needs no empty follow-up.
        "Limit": limit + 1,
    }
    if cursor is not None:
        params["ExclusiveStartKey"] = task_key(owner, decode_cursor(owner, cursor))
    return params


def stale_scan(table: str, *, limit: int, cursor: str | None, now_ms: int) -> dict[str, Any]:
    """One Scan page examining ``limit`` items, filtered to live tasks with a run-out lease."""
    params: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": f"#a = :true AND #l <= :now AND {LIVE}",
        "ExpressionAttributeNames": {"#a": "active", "#l": "lease_ms", "#e": "expires_at_ms"},
        "ExpressionAttributeValues": {":true": {"BOOL": True}, ":now": number(now_ms)},
        "ConsistentRead": True,
        "Limit": limit,
    }
    if cursor is not None:
        params["ExclusiveStartKey"] = decode_scan_cursor(cursor)
    return params


def task_scan(table: str, *, limit: int, cursor: str | None, now_ms: int) -> dict[str, Any]:
    """One Scan page examining ``limit`` items, filtered to live tasks of any owner."""
    params: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": f"begins_with(#sk, :task) AND {LIVE}",
        "ExpressionAttributeNames": {"#sk": "SK", "#e": "expires_at_ms"},
        "ExpressionAttributeValues": {":task": {"S": TASK_PREFIX}, ":now": number(now_ms)},
        "ConsistentRead": True,
        "Limit": limit,
    }
    if cursor is not None:
        params["ExclusiveStartKey"] = decode_scan_cursor(cursor)
    return params


def encode_scan_cursor(key: Item) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_scan_cursor(cursor: str) -> Item:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor))
    except (ValueError, binascii.Error):
        raise ValueError("not a scan cursor of this backend") from None
    if not isinstance(key, dict):
        raise ValueError("not a scan cursor of this backend")
    return cast("Item", key)
