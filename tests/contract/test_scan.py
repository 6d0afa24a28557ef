"""The storage contract's operator walk, ``scan``, against every backend.

The table may hold other tests' records, so each test looks only at the
owners it created.
"""

from __future__ import annotations

import uuid

import pytest

from mcp_tasks_server.backends import StorageBackend, StoredRecord
from tests.clock import ManualClock
from tests.contract.test_backend_contract import HOUR_MS, make_record

pytestmark = pytest.mark.anyio


async def full_pass(
    backend: StorageBackend, *, limit: int, owners: set[str]
) -> tuple[list[StoredRecord], int]:
    """Every record of ``owners`` one pass finds, and the number of pages it took."""
    found: list[StoredRecord] = []
    cursor: str | None = None
    for pages in range(1, 10_000):
        page = await backend.scan(limit=limit, cursor=cursor)
        assert len(page.records) <= limit
        found.extend(record for record in page.records if record.owner in owners)
        cursor = page.next_cursor
        if cursor is None:
            return found, pages
    raise AssertionError("scan never finished a pass")


async def test_scan_finds_live_records_of_every_owner_once(
    backend: StorageBackend, clock: ManualClock
) -> None:
    owners = {f"owner-{uuid.uuid4().hex}" for _ in range(3)}
    created = []
    for owner in sorted(owners):
        for active in (True, False):
            clock.advance(1)
            record = make_record(owner, clock, active=active)
            await backend.create(record)
            created.append(record)
    found, _ = await full_pass(backend, limit=2, owners=owners)
    assert sorted((r.owner, r.task_id) for r in found) == sorted(
        (r.owner, r.task_id) for r in created
    )
    assert {r.task_id: r.active for r in found} == {r.task_id: r.active for r in created}


async def test_scan_leaves_out_expired_records(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    short = make_record(owner, clock, ttl_ms=1_000)
    await backend.create(short)
    clock.advance(1)
    lasting = make_record(owner, clock, ttl_ms=HOUR_MS)
    await backend.create(lasting)
    clock.advance(1_000)
    found, _ = await full_pass(backend, limit=10, owners={owner})
    assert [r.task_id for r in found] == [lasting.task_id]


async def test_scan_costs_one_request_a_page(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    for _ in range(3):
        clock.advance(1)
        await backend.create(make_record(owner, clock))
    before = backend.request_count
    _, pages = await full_pass(backend, limit=1, owners={owner})
    assert backend.request_count - before == pages
    assert pages >= 3  # one record examined a page: at least one page each


async def test_scan_with_a_bad_limit_is_refused(backend: StorageBackend) -> None:
    with pytest.raises(ValueError, match="limit"):
        await backend.scan(limit=0)
