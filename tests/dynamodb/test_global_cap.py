"""The global cap on DynamoDB: shards of active-task entries, kept by the writes that
change them, repaired from the refusal when one fills with tasks that no longer count.

The races between replicas are in ``test_races_and_quota.py``; the behaviour every
backend shares is in the contract suite.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcp_tasks_server import Settings, ToolRequest
from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.dynamodb import REPAIR_INTERVAL_MS, DynamoDbBackend
from mcp_tasks_server.backends.dynamodb_items import shard_of
from mcp_tasks_server.backends.errors import GlobalCapReached
from mcp_tasks_server.core.model import new_task_id
from tests.dynamodb.test_request_count import WireCounter
from tests.dynamodb_servers import DynamoDbServer, local_session, open_backend
from tests.support.clock import ManualClock
from tests.support.factories import make_store

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="compute")
MINUTE_MS = 60_000


def shard_entries(raw: Any, table: str, shard: int) -> list[str]:
    """The entries of one shard, read straight from the table."""
    item = raw.get_item(
        TableName=table,
        Key={"PK": {"S": f"ACTIVE#{shard}"}, "SK": {"S": "ACTIVE"}},
        ConsistentRead=True,
    ).get("Item", {})
    return sorted(item.get("ids", {}).get("SS", []))


def record(owner: str, clock: ManualClock, ttl_ms: int | None = MINUTE_MS) -> StoredRecord:
    expiry = None if ttl_ms is None else clock() + ttl_ms
    return StoredRecord(owner, new_task_id(clock()), 1, "{}", expiry)


@pytest.fixture
async def one_shard(
    dynamodb_server: DynamoDbServer, clock: ManualClock
) -> AsyncIterator[DynamoDbBackend]:
    """A backend that keeps only the global count, in one shard."""
    async with open_backend(dynamodb_server, clock, track_active=False, active_shards=1) as ready:
        yield ready


async def test_a_shard_holds_each_active_task_by_id_and_key_until_it_finishes(
    backend: DynamoDbBackend, raw: Any
) -> None:
    store = make_store(backend, Settings())  # the defaults: a cap of 10,000 in 100 shards
    first = await store.create("alice", REQUEST)
    second = await store.create("bob", REQUEST)
    await store.cancel("alice", first.task_id, known=first)
    kept = shard_entries(raw, backend.table, shard_of(second.task_id, 100))
    assert f"{second.task_id} OWNER#bob" in kept
    left = shard_entries(raw, backend.table, shard_of(first.task_id, 100))
    assert f"{first.task_id} OWNER#alice" not in left


async def test_a_renewal_with_both_limits_on_never_writes_a_shard(
    backend: DynamoDbBackend, clock: ManualClock
) -> None:
    # The owner's quota item keeps each task's expiry, so a renewal that moves it
    # rewrites that item in a transaction; the shard, shared by every owner, stays out.
    written: list[str] = []

    def on_send(request: Any, **_: Any) -> None:
        if request.headers.get("X-Amz-Target", b"").endswith(b"TransactWriteItems"):
            for action in json.loads(request.body)["TransactItems"]:
                for write in action.values():
                    written.append(write.get("Key", write.get("Item", {}))["PK"]["S"])

    store = make_store(backend, Settings(replica_id="r1"))
    task = await store.create("alice", REQUEST, replica="r1")
    (await backend.client()).meta.events.register("before-send.dynamodb", on_send)
    clock.advance(20_000)
    await store.renew_lease(task, "r1")
    assert written == ["OWNER#alice", "OWNER#alice"]  # the task and its owner's quota item


async def test_a_full_shard_of_live_tasks_is_read_once_then_refused_in_one_request(
    one_shard: DynamoDbBackend, clock: ManualClock
) -> None:
    wire = WireCounter()
    await wire.attach(one_shard)
    await one_shard.create(record("alice", clock, ttl_ms=None), max_total_active=1)
    for expected in (["TransactWriteItems", "BatchGetItem"], ["TransactWriteItems"]):
        sent = len(wire.sent)
        with pytest.raises(GlobalCapReached):
            await one_shard.create(record("bob", clock), max_total_active=1)
        assert wire.sent[sent:] == expected
    clock.advance(REPAIR_INTERVAL_MS)  # a shard full of live tasks is read again only now
    sent = len(wire.sent)
    with pytest.raises(GlobalCapReached):
        await one_shard.create(record("bob", clock), max_total_active=1)
    assert wire.sent[sent:] == ["TransactWriteItems", "BatchGetItem"]


async def test_a_full_shard_drops_the_tasks_that_expired_while_active_and_the_create_goes_on(
    one_shard: DynamoDbBackend, clock: ManualClock, raw: Any
) -> None:
    wire = WireCounter()
    await wire.attach(one_shard)
    expiring = record("alice", clock, ttl_ms=1_000)
    lasting = record("bob", clock)
    for created in (expiring, lasting):
        await one_shard.create(created, max_total_active=2)
    with pytest.raises(GlobalCapReached):
        await one_shard.create(record("carol", clock), max_total_active=2)
    clock.advance(1_000)  # sooner than the repair interval: the earliest expiry decides
    fresh = record("carol", clock)
    sent = len(wire.sent)
    await one_shard.create(fresh, max_total_active=2)
    # The refusal carried the shard: one read of its tasks, one write dropping the
    # expired entry, and the create again.
    assert wire.sent[sent:] == [
        "TransactWriteItems",
        "BatchGetItem",
        "UpdateItem",
        "TransactWriteItems",
    ]
    assert shard_entries(raw, one_shard.table, 0) == sorted(
        [f"{lasting.task_id} OWNER#bob", f"{fresh.task_id} OWNER#carol"]
    )


async def test_entries_a_replica_without_the_cap_left_behind_are_dropped_by_a_repair(
    one_shard: DynamoDbBackend, dynamodb_server: DynamoDbServer, clock: ManualClock, raw: Any
) -> None:
    # A replica configured without the cap (or with another one) finishes a task
    # without touching its entry: the entry outlives the task's activity, until a
    # create finds the shard full and reads the task.
    finished = record("alice", clock)
    await one_shard.create(finished, max_total_active=1)
    async with DynamoDbBackend(
        one_shard.table,
        endpoint_url=dynamodb_server.endpoint,
        session=local_session(),
        clock=clock,
        track_active=False,
        active_shards=0,
    ) as careless:
        done = StoredRecord("alice", finished.task_id, 2, "{}", finished.expires_at_ms, False)
        await careless.replace(done, 1)
    assert shard_entries(raw, one_shard.table, 0) == [f"{finished.task_id} OWNER#alice"]
    fresh = record("bob", clock)
    await one_shard.create(fresh, max_total_active=1)
    assert shard_entries(raw, one_shard.table, 0) == [f"{fresh.task_id} OWNER#bob"]


async def test_a_cap_the_shards_cannot_hold_breaks_the_contract(
    one_shard: DynamoDbBackend, clock: ManualClock
) -> None:
    with pytest.raises(ValueError, match="active_shards=2"):
        await one_shard.create(record("alice", clock), max_total_active=101)
