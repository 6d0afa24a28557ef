"""Races between replicas: conditional writes have one winner, the quota and the
global cap are never exceeded.

The races run only on the servers that keep a conditional write atomic under
concurrent requests (``ATOMIC_SERVERS``: DynamoDB Local, as DynamoDB does);
moto's server does not (it checks a transaction's conditions and writes its
items without a lock between them), so there they would test the emulator,
not the backend. The checks without concurrency run on every server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import pytest

from mcp_tasks_server import QuotaExceeded, Settings, TaskStore, TaskTerminal, ToolRequest
from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend, shards_for
from mcp_tasks_server.backends.errors import GlobalCapReached, RecordExists
from mcp_tasks_server.core.model import new_task_id
from tests.dynamodb_servers import ATOMIC_SERVERS, DynamoDbServer, local_session, open_backend
from tests.support.clock import ManualClock
from tests.support.factories import make_store

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="compute")

#: Runs a race test only where conditional writes stay atomic under concurrency.
on_atomic_servers = pytest.mark.parametrize("dynamodb_server", ATOMIC_SERVERS, indirect=True)


@pytest.fixture
async def replica(
    backend: DynamoDbBackend, dynamodb_server: DynamoDbServer, clock: ManualClock
) -> AsyncIterator[DynamoDbBackend]:
    """A second backend (another server replica) on the same table."""
    async with DynamoDbBackend(
        backend.table, endpoint_url=dynamodb_server.endpoint, session=local_session(), clock=clock
    ) as other:
        yield other


@on_atomic_servers
async def test_64_racing_creates_of_one_key_have_exactly_one_winner(
    backend: DynamoDbBackend, replica: DynamoDbBackend
) -> None:
    task_id = new_task_id(backend.clock())
    winners: list[int] = []
    refused: list[int] = []

    async def contender(index: int) -> None:
        record = StoredRecord("alice", task_id, 1, f'{{"w":{index}}}', None)
        try:
            await (backend if index % 2 else replica).create(record)
            winners.append(index)
        except RecordExists:
            refused.append(index)

    async with anyio.create_task_group() as group:
        for index in range(64):
            group.start_soon(contender, index)
    assert len(winners) == 1
    assert len(refused) == 63
    assert (await replica.get("alice", task_id)).data == f'{{"w":{winners[0]}}}'


@on_atomic_servers
async def test_64_racing_finishes_across_replicas_have_exactly_one_winner(
    backend: DynamoDbBackend, replica: DynamoDbBackend
) -> None:
    stores = [TaskStore(backend), TaskStore(replica)]
    task = await stores[0].create("alice", REQUEST)
    outcomes: list[str] = []

    async def contender(index: int) -> None:
        store = stores[index % 2]
        try:
            if index % 3:
                await store.complete("alice", task.task_id, {"content": [], "n": index}, known=task)
            else:
                await store.cancel("alice", task.task_id, known=task)
            outcomes.append(f"won:{index}")
        except TaskTerminal:
            outcomes.append("lost")

    async with anyio.create_task_group() as group:
        for index in range(64):
            group.start_soon(contender, index)
    winners = [outcome for outcome in outcomes if outcome.startswith("won")]
    assert len(winners) == 1
    assert outcomes.count("lost") == 63
    final = await stores[1].get("alice", task.task_id)
    assert final.is_terminal
    assert final.version == 2


@on_atomic_servers
async def test_racing_creates_on_two_replicas_never_exceed_the_quota(
    backend: DynamoDbBackend, replica: DynamoDbBackend, raw: Any
) -> None:
    settings = Settings(max_active_tasks_per_owner=5)
    stores = [make_store(backend, settings), make_store(replica, settings)]
    accepted: list[str] = []
    refused = 0

    async def contender(index: int) -> None:
        nonlocal refused
        try:
            accepted.append((await stores[index % 2].create("alice", REQUEST)).task_id)
        except QuotaExceeded:
            refused += 1

    async with anyio.create_task_group() as group:
        for index in range(40):
            group.start_soon(contender, index)
    assert len(accepted) == 5
    assert refused == 35
    listed = (await stores[0].list("alice")).records
    assert sorted(task.task_id for task in listed) == sorted(accepted)
    active = raw.get_item(
        TableName=backend.table,
        Key={"PK": {"S": "OWNER#alice"}, "SK": {"S": "ACTIVE"}},
        ConsistentRead=True,
    )["Item"]
    assert sorted(active["ids"]["SS"]) == sorted(accepted)


async def two_replicas(
    stack: AsyncExitStack, server: DynamoDbServer, clock: ManualClock, shards: int
) -> list[DynamoDbBackend]:
    """Two backends on one fresh table, keeping only the global count in ``shards`` shards."""
    options: dict[str, Any] = {"clock": clock, "track_active": False, "active_shards": shards}
    first = await stack.enter_async_context(open_backend(server, **options))
    second = DynamoDbBackend(
        first.table, endpoint_url=server.endpoint, session=local_session(), **options
    )
    return [first, await stack.enter_async_context(second)]


@on_atomic_servers
async def test_racing_creates_on_two_replicas_never_exceed_the_global_cap(
    dynamodb_server: DynamoDbServer, clock: ManualClock
) -> None:
    settings = Settings(max_active_tasks_per_owner=0, max_active_tasks=5)
    async with AsyncExitStack() as stack:
        replicas = await two_replicas(stack, dynamodb_server, clock, shards_for(5))
        stores = [make_store(replica, settings) for replica in replicas]
        accepted: list[tuple[str, str]] = []
        refused = 0

        async def contender(index: int) -> None:
            nonlocal refused
            owner = f"owner-{index}"
            try:
                task = await stores[index % 2].create(owner, REQUEST)
                accepted.append((owner, task.task_id))
            except GlobalCapReached:
                refused += 1

        async with anyio.create_task_group() as group:
            for index in range(40):
                group.start_soon(contender, index)
        assert len(accepted) == 5
        assert refused == 35
        for owner, task_id in accepted:
            assert (await stores[1].get(owner, task_id)).task_id == task_id


@on_atomic_servers
async def test_racing_creates_over_several_shards_never_exceed_the_global_cap(
    dynamodb_server: DynamoDbServer, clock: ManualClock, raw: Any
) -> None:
    # Three shards of two: a create is refused when its own shard is full, so
    # fewer than six may be taken, never more, and each shard counts exactly its own.
    async with AsyncExitStack() as stack:
        replicas = await two_replicas(stack, dynamodb_server, clock, shards=3)
        accepted: list[StoredRecord] = []

        async def contender(index: int) -> None:
            record = StoredRecord(f"owner-{index}", new_task_id(clock()), 1, "{}", None)
            try:
                await replicas[index % 2].create(record, max_total_active=6)
                accepted.append(record)
            except GlobalCapReached:
                pass

        async with anyio.create_task_group() as group:
            for index in range(48):
                group.start_soon(contender, index)
        counted = []
        for shard in range(3):
            item = raw.get_item(
                TableName=replicas[0].table,
                Key={"PK": {"S": f"ACTIVE#{shard}"}, "SK": {"S": "ACTIVE"}},
                ConsistentRead=True,
            ).get("Item", {})
            entries = item.get("ids", {}).get("SS", [])
            assert len(entries) <= 2
            counted += entries
    assert 0 < len(accepted) <= 6
    assert sorted(counted) == sorted(f"{r.task_id} OWNER#{r.owner}" for r in accepted)


async def test_expired_active_tasks_stop_counting_toward_the_quota(
    backend: DynamoDbBackend, clock: ManualClock, raw: Any
) -> None:
    store = make_store(backend, Settings(max_active_tasks_per_owner=3))
    expiring = [await store.create("alice", REQUEST, ttl_ms=1_000) for _ in range(2)]
    lasting = await store.create("alice", REQUEST, ttl_ms=3_600_000)
    with pytest.raises(QuotaExceeded):
        await store.create("alice", REQUEST)

    clock.advance(1_000)
    before = backend.request_count
    fresh = await store.create("alice", REQUEST)
    # The refusal carried the quota item: one write drops the expired entries,
    # and the create is retried once.
    assert backend.request_count - before == 3
    active = raw.get_item(
        TableName=backend.table,
        Key={"PK": {"S": "OWNER#alice"}, "SK": {"S": "ACTIVE"}},
        ConsistentRead=True,
    )["Item"]
    assert sorted(active["ids"]["SS"]) == sorted([lasting.task_id, fresh.task_id])
    assert not any(f"x#{task.task_id}" in active for task in expiring)
    await store.create("alice", REQUEST)
    with pytest.raises(QuotaExceeded):
        await store.create("alice", REQUEST)


async def test_quota_refusal_without_expired_entries_costs_one_request(
    backend: DynamoDbBackend,
) -> None:
    store = make_store(backend, Settings(max_active_tasks_per_owner=1))
    await store.create("alice", REQUEST)
    before = backend.request_count
    with pytest.raises(QuotaExceeded):
        await store.create("alice", REQUEST)
    assert backend.request_count - before == 1


async def test_a_task_made_active_again_counts_toward_the_quota(
    backend: DynamoDbBackend,
) -> None:
    record = StoredRecord("alice", new_task_id(backend.clock()), 1, "{}", None, active=False)
    await backend.create(record, max_active=1)
    await backend.replace(StoredRecord("alice", record.task_id, 2, "{}", None, active=True), 1)
    with pytest.raises(QuotaExceeded):
        await backend.create(StoredRecord("alice", new_task_id(), 1, "{}", None), max_active=1)


async def test_changing_an_active_tasks_expiry_keeps_its_quota_entry_exact(
    backend: DynamoDbBackend, clock: ManualClock
) -> None:
    start = clock()
    record = StoredRecord("alice", new_task_id(start), 1, "{}", start + 1_000)
    await backend.create(record, max_active=1)
    extended = StoredRecord("alice", record.task_id, 2, "{}", start + 60_000)
    await backend.replace(extended, 1)
    clock.advance(1_000)  # past the first expiry, not the new one: still counts
    with pytest.raises(QuotaExceeded):
        await backend.create(StoredRecord("alice", new_task_id(), 1, "{}", None), max_active=1)
