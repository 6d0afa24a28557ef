"""The items as DynamoDB stores them, and expiry exact to the millisecond on read."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mcp_tasks_server import TaskNotFound, TaskStore, ToolRequest
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
from mcp_tasks_server.backends.dynamodb_items import partition_key
from mcp_tasks_server.backends.errors import RecordNotFound
from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="compute", arguments={"n": 1})


def raw_item(raw: Any, backend: DynamoDbBackend, owner: str, task_id: str) -> dict[str, Any]:
    response = raw.get_item(
        TableName=backend.table,
        Key={"PK": {"S": f"OWNER#{owner}"}, "SK": {"S": f"TASK#{task_id}"}},
        ConsistentRead=True,
    )
    item: dict[str, Any] = response["Item"]
    return item


async def test_task_with_a_ttl_stores_expires_at_in_epoch_seconds(
    store_for: Any, raw: Any, backend: DynamoDbBackend, clock: ManualClock
) -> None:
    store: TaskStore = store_for(default_ttl_ms=60_000)
    task = await store.create("alice", REQUEST)
    item = raw_item(raw, backend, "alice", task.task_id)

    # The backend's clock started at the real time and stands still: exact. (The
    # real time now is later by however long the table took to create.)
    assert task.expires_at_ms == clock() + 60_000
    assert int(item["expires_at_ms"]["N"]) == task.expires_at_ms
    expires_at = int(item["expires_at"]["N"])
    # Seconds, rounded up: DynamoDB's TTL never deletes a task before it expires.
    assert expires_at == math.ceil(task.expires_at_ms / 1000)
    assert item["version"] == {"N": "1"}
    assert item["active"] == {"BOOL": True}
    assert item["data"]["S"] == task.to_json()


async def test_task_without_a_ttl_has_no_expires_at(
    store_for: Any, raw: Any, backend: DynamoDbBackend
) -> None:
    store: TaskStore = store_for(default_ttl_ms="unlimited", max_ttl_ms="unlimited")
    task = await store.create("alice", REQUEST)
    item = raw_item(raw, backend, "alice", task.task_id)
    assert "expires_at" not in item
    assert "expires_at_ms" not in item
    assert set(item) == {"PK", "SK", "version", "data", "active", "w"}


async def test_finished_task_is_stored_inactive_with_its_new_version(
    store_for: Any, raw: Any, backend: DynamoDbBackend
) -> None:
    store: TaskStore = store_for()
    task = await store.create("alice", REQUEST)
    done = await store.complete("alice", task.task_id, {"content": []}, known=task)
    item = raw_item(raw, backend, "alice", task.task_id)
    assert item["version"] == {"N": str(done.version)}
    assert item["active"] == {"BOOL": False}


async def test_expired_item_not_yet_deleted_is_invisible_to_get_and_list(
    store_for: Any, raw: Any, backend: DynamoDbBackend, clock: ManualClock
) -> None:
    store: TaskStore = store_for()
    expiring = await store.create("alice", REQUEST, ttl_ms=5_000)
    lasting = await store.create("alice", REQUEST, ttl_ms=3_600_000)
    clock.advance(4_999)
    assert (await store.get("alice", expiring.task_id)).task_id == expiring.task_id

    clock.advance(1)  # the expiry instant: expired from here on
    assert raw_item(raw, backend, "alice", expiring.task_id)  # still physically there
    with pytest.raises(TaskNotFound):
        await store.get("alice", expiring.task_id)
    with pytest.raises(RecordNotFound):
        await backend.get("alice", expiring.task_id)
    assert [task.task_id for task in (await store.list("alice")).records] == [lasting.task_id]
    assert [r.task_id for r in (await backend.list("alice", limit=10)).records] == [lasting.task_id]


async def test_owner_too_long_for_a_key_is_stored_under_its_hash(
    store_for: Any, raw: Any, backend: DynamoDbBackend
) -> None:
    owner = "o" * 3_000  # DynamoDB partition keys hold at most 2,048 bytes
    store: TaskStore = store_for()
    task = await store.create(owner, REQUEST)
    assert (await store.get(owner, task.task_id)).owner == owner
    assert partition_key(owner).startswith("OWNERH#")
    keys = raw.scan(TableName=backend.table, ProjectionExpression="PK")["Items"]
    assert {"PK": {"S": partition_key(owner)}} in keys


async def test_quota_item_holds_the_active_ids_and_their_expiry(
    store_for: Any, raw: Any, backend: DynamoDbBackend
) -> None:
    store: TaskStore = store_for(max_active_tasks_per_owner=10)
    first = await store.create("alice", REQUEST, ttl_ms=60_000)
    second = await store.create("alice", REQUEST, ttl_ms=60_000)
    await store.cancel("alice", first.task_id, known=first)
    active = raw.get_item(
        TableName=backend.table,
        Key={"PK": {"S": "OWNER#alice"}, "SK": {"S": "ACTIVE"}},
        ConsistentRead=True,
    )["Item"]
    assert active["ids"] == {"SS": [second.task_id]}
    assert active[f"x#{second.task_id}"] == {"N": str(second.expires_at_ms)}
    assert f"x#{first.task_id}" not in active
