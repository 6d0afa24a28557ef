"""The storage contract's orphan query, ``list_orphans``, against every backend."""

from __future__ import annotations

import pytest

from mcp_tasks_server.backends import StorageBackend, StoredRecord
from mcp_tasks_server.core.model import new_task_id
from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

HOUR_MS = 3_600_000


def leased(
    owner: str,
    clock: ManualClock,
    *,
    lease_in_ms: int,
    active: bool = True,
    ttl_ms: int | None = HOUR_MS,
) -> StoredRecord:
    return StoredRecord(
        owner=owner,
        task_id=new_task_id(clock()),
        version=1,
        data='{"body":"x"}',
        expires_at_ms=None if ttl_ms is None else clock() + ttl_ms,
        active=active,
        lease_expires_at_ms=clock() + lease_in_ms,
    )


async def every_stale(backend: StorageBackend, *, limit: int = 100) -> list[StoredRecord]:
    found: list[StoredRecord] = []
    cursor: str | None = None
    for _ in range(1_000):
        page = await backend.list_orphans(limit=limit, cursor=cursor)
        found.extend(page.records)
        cursor = page.next_cursor
        if cursor is None:
            return found
    raise AssertionError("list_orphans never finished a pass")


async def test_list_stale_finds_active_records_whose_lease_ran_out(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    running = leased(owner, clock, lease_in_ms=30_000)
    await backend.create(running)
    assert await every_stale(backend) == []
    clock.advance(30_000)
    [stale] = await every_stale(backend)
    assert (stale.owner, stale.task_id, stale.version) == (owner, running.task_id, 1)
    assert stale.lease_expires_at_ms == running.lease_expires_at_ms


async def test_list_stale_finds_orphans_of_every_owner(
    backend: StorageBackend, clock: ManualClock
) -> None:
    owners = [f"owner-{index}-{new_task_id()}" for index in range(3)]
    long_owner = "principal:" + "x" * 2_000  # keyed by its hash in DynamoDB
    for owner in [*owners, long_owner]:
        await backend.create(leased(owner, clock, lease_in_ms=1_000))
    clock.advance(1_000)
    found = {record.owner for record in await every_stale(backend)}
    assert found == {*owners, long_owner}


async def test_list_stale_skips_finished_expired_and_unleased_records(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    await backend.create(leased(owner, clock, lease_in_ms=1_000, active=False))
    await backend.create(leased(owner, clock, lease_in_ms=1_000, ttl_ms=500))
    unleased = StoredRecord(owner, new_task_id(clock()), 1, "{}", clock() + HOUR_MS)
    await backend.create(unleased)
    clock.advance(1_000)
    assert await every_stale(backend) == []


async def test_renewed_lease_is_no_longer_stale(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = leased(owner, clock, lease_in_ms=1_000)
    await backend.create(record)
    clock.advance(1_000)
    assert len(await every_stale(backend)) == 1
    renewed = StoredRecord(
        owner,
        record.task_id,
        2,
        record.data,
        record.expires_at_ms,
        lease_expires_at_ms=clock() + 1_000,
    )
    await backend.replace(renewed, 1)
    assert await every_stale(backend) == []
    finished = StoredRecord(owner, record.task_id, 3, record.data, record.expires_at_ms, False)
    await backend.replace(finished, 2)
    clock.advance(5_000)
    assert await every_stale(backend) == []


async def test_list_stale_bounds_each_call_by_its_limit(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    for _ in range(5):
        await backend.create(leased(owner, clock, lease_in_ms=1_000))
    clock.advance(1_000)
    before = backend.request_count
    page = await backend.list_orphans(limit=2)
    assert backend.request_count == before + 1
    assert len(page.records) <= 2
    assert len({record.task_id for record in await every_stale(backend, limit=2)}) == 5


async def test_list_stale_rejects_a_limit_below_one(backend: StorageBackend) -> None:
    with pytest.raises(ValueError, match="limit"):
        await backend.list_orphans(limit=0)
