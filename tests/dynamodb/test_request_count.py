"""Every operation is exactly one DynamoDB request, counted two independent ways."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from mcp_tasks_server import Settings, ToolRequest
from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend, shards_for
from mcp_tasks_server.backends.errors import VersionConflict
from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.store.encryption import new_key_entry
from tests.dynamodb_servers import DynamoDbServer, open_backend
from tests.support.clock import ManualClock
from tests.support.factories import make_store

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="compute")


class WireCounter:
    """Counts HTTP requests as botocore sends them, independently of the backend."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def attach(self, backend: DynamoDbBackend) -> None:
        client = await backend.client()
        client.meta.events.register("before-send.dynamodb", self._on_send)

    def _on_send(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        if isinstance(target, bytes):
            target = target.decode()
        self.sent.append(target.rsplit(".", 1)[-1])


async def cost(backend: DynamoDbBackend, wire: WireCounter, operation: Awaitable[Any]) -> list[str]:
    """The requests ``operation`` sent; asserts both counts agree."""
    counted, sent = backend.request_count, len(wire.sent)
    await operation
    calls = wire.sent[sent:]
    assert backend.request_count - counted == len(calls)
    return calls


# Encryption at rest seals the record body only: keys, versions and the lease
# stay in clear, so it must not add a single request.
ENCRYPTION: dict[str, dict[str, Any]] = {
    "plaintext": {},
    "encrypted": {"encryption": "local", "encryption_keys": new_key_entry("k1")},
}


# Which limits are kept: (per-owner quota, global cap). Either makes a create and
# a finish one transaction; neither leaves plain conditional writes.
LIMITS = {"quota-and-cap": (10, 10), "cap-only": (0, 10), "no-limits": (0, 0)}


@pytest.mark.parametrize("encryption", list(ENCRYPTION))
@pytest.mark.parametrize("limits", list(LIMITS))
async def test_each_store_operation_is_one_request(
    dynamodb_server: DynamoDbServer, clock: ManualClock, limits: str, encryption: str
) -> None:
    quota, cap = LIMITS[limits]
    options = {"track_active": quota > 0, "active_shards": shards_for(cap)}
    async with open_backend(dynamodb_server, clock, **options) as backend:
        wire = WireCounter()
        await wire.attach(backend)
        settings = Settings(
            max_active_tasks_per_owner=quota, max_active_tasks=cap, **ENCRYPTION[encryption]
        )
        store = make_store(backend, settings)
        tracked = quota > 0 or cap > 0
        write = "TransactWriteItems" if tracked else "PutItem"

        created: list[Any] = []

        async def create() -> None:
            created.append(await store.create("alice", REQUEST))

        assert await cost(backend, wire, create()) == [write]
        task = created[0]
        assert await cost(backend, wire, store.get("alice", task.task_id)) == ["GetItem"]
        updated: list[Any] = []

        async def update() -> None:
            updated.append(
                await store.update("alice", task.task_id, status_message="half", known=task)
            )

        assert await cost(backend, wire, update()) == ["PutItem"]
        assert await cost(
            backend, wire, store.complete("alice", task.task_id, {"content": []}, known=updated[0])
        ) == [write]
        assert await cost(backend, wire, store.list("alice")) == ["Query"]
        delete = "TransactWriteItems" if tracked else "DeleteItem"
        assert await cost(backend, wire, backend.delete("alice", task.task_id)) == [delete]
        assert await cost(backend, wire, backend.sweep_expired()) == []


async def test_a_lease_renewal_with_the_global_cap_on_is_one_plain_write(
    dynamodb_server: DynamoDbServer, clock: ManualClock
) -> None:
    # A renewal moves the task's expiry; the cap's shards keep none, so it
    # stays a plain PutItem and never touches the item other owners share.
    async with open_backend(dynamodb_server, clock, track_active=False, active_shards=1) as backend:
        wire = WireCounter()
        await wire.attach(backend)
        settings = Settings(max_active_tasks_per_owner=0, max_active_tasks=10, replica_id="r1")
        store = make_store(backend, settings)
        task = await store.create("alice", REQUEST, replica="r1")
        clock.advance(20_000)
        renewed: list[Any] = []

        async def renew() -> None:
            renewed.append(await store.renew_lease(task, "r1"))

        assert await cost(backend, wire, renew()) == ["PutItem"]
        assert renewed[0].expires_at_ms > task.expires_at_ms


async def test_each_backend_operation_is_one_request(backend: DynamoDbBackend) -> None:
    wire = WireCounter()
    await wire.attach(backend)
    owner = "bob"
    record = StoredRecord(owner, new_task_id(backend.clock()), 1, "{}", backend.clock() + 60_000)
    limits = {"max_active": 5, "max_total_active": 10_000}
    assert len(await cost(backend, wire, backend.create(record, **limits))) == 1
    assert len(await cost(backend, wire, backend.get(owner, record.task_id))) == 1
    following = StoredRecord(owner, record.task_id, 2, '{"a":1}', record.expires_at_ms)
    assert len(await cost(backend, wire, backend.replace(following, 1))) == 1
    assert len(await cost(backend, wire, backend.list(owner, limit=5))) == 1
    assert len(await cost(backend, wire, backend.delete(owner, record.task_id))) == 1


async def test_a_lost_race_reports_the_winner_without_a_second_read(
    backend: DynamoDbBackend,
) -> None:
    wire = WireCounter()
    await wire.attach(backend)
    record = StoredRecord("carol", new_task_id(backend.clock()), 1, "{}", None)
    await backend.create(record)
    winner = StoredRecord("carol", record.task_id, 2, '"winner"', None)
    await backend.replace(winner, 1)
    sent = len(wire.sent)
    with pytest.raises(VersionConflict) as conflict:
        await backend.replace(StoredRecord("carol", record.task_id, 2, '"loser"', None), 1)
    assert wire.sent[sent:] == ["PutItem"]
    assert conflict.value.current == winner
