"""The storage contract, run against every backend in ``conftest.BACKENDS``."""

from __future__ import annotations

import anyio
import pytest

from mcp_tasks_server.backends import StorageBackend, StoredRecord
from mcp_tasks_server.backends.base import encode_cursor
from mcp_tasks_server.backends.errors import (
    GlobalCapReached,
    InvalidCursor,
    QuotaExceeded,
    RecordExists,
    RecordNotFound,
    VersionConflict,
)
from mcp_tasks_server.core.model import new_task_id
from tests.contract.conftest import on_atomic_backends
from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

HOUR_MS = 3_600_000


def make_record(
    owner: str,
    clock: ManualClock,
    *,
    data: str = '{"body":"x"}',
    ttl_ms: int | None = HOUR_MS,
    active: bool = True,
    task_id: str | None = None,
) -> StoredRecord:
    return StoredRecord(
        owner=owner,
        task_id=task_id or new_task_id(clock()),
        version=1,
        data=data,
        expires_at_ms=None if ttl_ms is None else clock() + ttl_ms,
        active=active,
    )


def successor(
    record: StoredRecord, *, data: str = '{"body":"y"}', active: bool = True
) -> StoredRecord:
    return StoredRecord(
        owner=record.owner,
        task_id=record.task_id,
        version=record.version + 1,
        data=data,
        expires_at_ms=record.expires_at_ms,
        active=active,
    )


async def create_series(
    backend: StorageBackend, owner: str, clock: ManualClock, count: int
) -> list[StoredRecord]:
    """``count`` records, each a millisecond newer than the last."""
    records = []
    for _ in range(count):
        clock.advance(1)
        record = make_record(owner, clock)
        await backend.create(record)
        records.append(record)
    return records


# ------------------------------------------------------------------ create / get


async def test_get_of_missing_record_is_not_found(backend: StorageBackend, owner: str) -> None:
    with pytest.raises(RecordNotFound):
        await backend.get(owner, new_task_id())


async def test_created_record_reads_back_identical(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock, data='{"text":"héllo ✓","n":[1,2.5,null]}')
    await backend.create(record)
    assert await backend.get(owner, record.task_id) == record


async def test_record_without_expiry_reads_back_identical(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock, ttl_ms=None)
    await backend.create(record)
    assert await backend.get(owner, record.task_id) == record


async def test_create_of_existing_key_is_refused(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock)
    await backend.create(record)
    with pytest.raises(RecordExists):
        await backend.create(make_record(owner, clock, data='{"other":1}', task_id=record.task_id))
    assert (await backend.get(owner, record.task_id)).data == record.data


async def test_create_over_an_expired_record_succeeds(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    old = make_record(owner, clock, ttl_ms=1_000)
    await backend.create(old)
    clock.advance(1_000)
    fresh = make_record(owner, clock, data='{"fresh":true}', task_id=old.task_id)
    await backend.create(fresh)
    assert await backend.get(owner, old.task_id) == fresh


async def test_same_task_id_under_another_owner_is_a_different_record(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock)
    await backend.create(record)
    with pytest.raises(RecordNotFound):
        await backend.get(owner + "-other", record.task_id)


async def test_create_with_wrong_version_breaks_the_contract(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = successor(make_record(owner, clock))
    with pytest.raises(ValueError, match="version 1"):
        await backend.create(record)


# ------------------------------------------------------------------ replace


async def test_replace_on_matching_version_stores_the_new_version(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock)
    await backend.create(record)
    await backend.replace(successor(record), expected_version=1)
    stored = await backend.get(owner, record.task_id)
    assert (stored.version, stored.data) == (2, '{"body":"y"}')


async def test_replace_on_stale_version_conflicts_and_reports_the_current_record(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock)
    await backend.create(record)
    winner = successor(record, data='{"winner":true}')
    await backend.replace(winner, expected_version=1)
    with pytest.raises(VersionConflict) as conflict:
        await backend.replace(successor(record, data='{"loser":true}'), expected_version=1)
    assert conflict.value.expected == 1
    assert conflict.value.current == winner
    assert await backend.get(owner, record.task_id) == winner


async def test_replace_of_missing_record_is_not_found(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    with pytest.raises(RecordNotFound):
        await backend.replace(successor(make_record(owner, clock)), expected_version=1)


async def test_replace_of_expired_record_is_not_found(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock, ttl_ms=1_000)
    await backend.create(record)
    clock.advance(1_000)
    with pytest.raises(RecordNotFound):
        await backend.replace(successor(record), expected_version=1)


async def test_replace_with_wrong_next_version_breaks_the_contract(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock)
    await backend.create(record)
    with pytest.raises(ValueError, match=r"expected_version \+ 1"):
        await backend.replace(successor(successor(record)), expected_version=1)


@on_atomic_backends
async def test_64_concurrent_replaces_of_one_version_have_exactly_one_winner(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock)
    await backend.create(record)
    outcomes: list[str] = []

    async def contender(index: int) -> None:
        try:
            await backend.replace(successor(record, data=f'{{"w":{index}}}'), expected_version=1)
            outcomes.append(f"won:{index}")
        except VersionConflict:
            outcomes.append("lost")

    async with anyio.create_task_group() as group:
        for index in range(64):
            group.start_soon(contender, index)

    winners = [outcome for outcome in outcomes if outcome.startswith("won")]
    assert len(winners) == 1
    assert outcomes.count("lost") == 63
    stored = await backend.get(owner, record.task_id)
    assert stored.version == 2
    assert stored.data == f'{{"w":{winners[0].split(":")[1]}}}'


# ------------------------------------------------------------------ delete


async def test_delete_of_existing_record_reports_true_and_removes_it(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock)
    await backend.create(record)
    assert await backend.delete(owner, record.task_id) is True
    with pytest.raises(RecordNotFound):
        await backend.get(owner, record.task_id)


async def test_delete_of_missing_record_reports_false(backend: StorageBackend, owner: str) -> None:
    assert await backend.delete(owner, new_task_id()) is False


async def test_delete_of_expired_record_reports_false(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock, ttl_ms=1_000)
    await backend.create(record)
    clock.advance(1_000)
    assert await backend.delete(owner, record.task_id) is False


# ------------------------------------------------------------------ list


async def test_list_returns_only_the_owners_records_newest_first(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    mine = await create_series(backend, owner, clock, 5)
    await create_series(backend, owner + "-other", clock, 3)
    page = await backend.list(owner, limit=50)
    assert [r.task_id for r in page.records] == [r.task_id for r in reversed(mine)]
    assert page.records == list(reversed(mine))
    assert page.next_cursor is None


async def test_list_of_unknown_owner_is_empty(backend: StorageBackend, owner: str) -> None:
    page = await backend.list(owner, limit=10)
    assert page.records == []
    assert page.next_cursor is None


@pytest.mark.parametrize("page_size", [1, 3, 7, 10, 11])
async def test_paging_covers_every_record_exactly_once_in_order(
    backend: StorageBackend, owner: str, clock: ManualClock, page_size: int
) -> None:
    created = await create_series(backend, owner, clock, 10)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        page = await backend.list(owner, limit=page_size, cursor=cursor)
        assert len(page.records) <= page_size
        seen.extend(record.task_id for record in page.records)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [record.task_id for record in reversed(created)]


async def test_records_created_between_pages_do_not_disturb_paging(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    created = await create_series(backend, owner, clock, 4)
    first = await backend.list(owner, limit=2)
    await create_series(backend, owner, clock, 2)
    assert first.next_cursor is not None
    second = await backend.list(owner, limit=10, cursor=first.next_cursor)
    listed = [r.task_id for r in first.records + second.records]
    assert listed == [record.task_id for record in reversed(created)]


@pytest.mark.parametrize("garbage", ["", "not-a-cursor", "!!!!", "AAAA", "x" * 300])
async def test_garbage_cursor_is_a_clear_error(
    backend: StorageBackend, owner: str, clock: ManualClock, garbage: str
) -> None:
    await create_series(backend, owner, clock, 2)
    with pytest.raises(InvalidCursor):
        await backend.list(owner, limit=1, cursor=garbage)


async def test_another_owners_cursor_is_a_clear_error(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    other = owner + "-other"
    await create_series(backend, other, clock, 3)
    foreign = (await backend.list(other, limit=1)).next_cursor
    assert foreign is not None
    with pytest.raises(InvalidCursor):
        await backend.list(owner, limit=1, cursor=foreign)


async def test_cursor_past_the_last_record_gives_an_empty_last_page(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    created = await create_series(backend, owner, clock, 2)
    cursor = encode_cursor(owner, created[0].task_id)
    page = await backend.list(owner, limit=5, cursor=cursor)
    assert page.records == []
    assert page.next_cursor is None


async def test_list_with_a_non_positive_limit_breaks_the_contract(
    backend: StorageBackend, owner: str
) -> None:
    with pytest.raises(ValueError, match="limit"):
        await backend.list(owner, limit=0)


# ------------------------------------------------------------------ expiry


async def test_expired_record_is_invisible_to_get_and_list_at_once(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    short = make_record(owner, clock, ttl_ms=1_000)
    await backend.create(short)
    clock.advance(1)
    long = make_record(owner, clock, ttl_ms=HOUR_MS)
    await backend.create(long)
    clock.advance(999)  # the short record's expiry instant: expired from here on
    with pytest.raises(RecordNotFound):
        await backend.get(owner, short.task_id)
    assert [r.task_id for r in (await backend.list(owner, limit=10)).records] == [long.task_id]


async def test_record_is_visible_until_its_expiry_instant(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock, ttl_ms=1_000)
    await backend.create(record)
    clock.advance(999)
    assert await backend.get(owner, record.task_id) == record


async def test_sweep_keeps_live_records_and_expired_ones_stay_invisible(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    expiring = [make_record(owner, clock, ttl_ms=500) for _ in range(3)]
    for record in expiring:
        await backend.create(record)
    clock.advance(1)
    keepers = [make_record(owner, clock, ttl_ms=None), make_record(owner, clock)]
    for record in keepers:
        await backend.create(record)
    clock.advance(1_000)
    removed = await backend.sweep_expired()
    if not backend.expires_natively:
        assert removed == len(expiring)
    for record in keepers:
        assert await backend.get(owner, record.task_id) == record
    for record in expiring:
        with pytest.raises(RecordNotFound):
            await backend.get(owner, record.task_id)
    listed = {r.task_id for r in (await backend.list(owner, limit=10)).records}
    assert listed == {record.task_id for record in keepers}


# ------------------------------------------------------------------ quota


async def test_quota_refuses_a_create_beyond_the_active_limit(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    for _ in range(3):
        await backend.create(make_record(owner, clock), max_active=3)
    refused = make_record(owner, clock)
    with pytest.raises(QuotaExceeded):
        await backend.create(refused, max_active=3)
    with pytest.raises(RecordNotFound):
        await backend.get(owner, refused.task_id)


async def test_quota_is_per_owner(backend: StorageBackend, owner: str, clock: ManualClock) -> None:
    for _ in range(2):
        await backend.create(make_record(owner, clock), max_active=2)
    await backend.create(make_record(owner + "-other", clock), max_active=2)


async def test_records_made_inactive_free_their_quota_slot(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    first = make_record(owner, clock)
    await backend.create(first, max_active=2)
    await backend.create(make_record(owner, clock), max_active=2)
    await backend.replace(successor(first, active=False), expected_version=1)
    await backend.create(make_record(owner, clock), max_active=2)


async def test_expired_active_records_do_not_count_toward_the_quota(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    await backend.create(make_record(owner, clock, ttl_ms=1_000), max_active=1)
    clock.advance(1_000)
    await backend.create(make_record(owner, clock), max_active=1)


@on_atomic_backends
async def test_racing_creates_never_exceed_the_quota(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    outcomes: list[bool] = []

    async def contender() -> None:
        try:
            await backend.create(make_record(owner, clock), max_active=5)
            outcomes.append(True)
        except QuotaExceeded:
            outcomes.append(False)

    async with anyio.create_task_group() as group:
        for _ in range(16):
            group.start_soon(contender)
    assert outcomes.count(True) == 5
    assert len((await backend.list(owner, limit=50)).records) == 5


# ------------------------------------------------------------------ global cap


async def test_creates_beyond_the_global_cap_are_refused_across_owners_and_store_nothing(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    for name in ("a", "b", "c"):
        await backend.create(make_record(f"{owner}-{name}", clock), max_total_active=3)
    for name in ("d", "a"):  # a new owner, and one that has a task already
        refused = make_record(f"{owner}-{name}", clock)
        with pytest.raises(GlobalCapReached, match="limit of 3 unfinished tasks"):
            await backend.create(refused, max_total_active=3)
        with pytest.raises(RecordNotFound):
            await backend.get(refused.owner, refused.task_id)
    assert (await backend.list(f"{owner}-d", limit=10)).records == []


async def test_the_owner_quota_and_the_global_cap_are_checked_together(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    limits = {"max_active": 1, "max_total_active": 2}
    await backend.create(make_record(owner, clock), **limits)
    with pytest.raises(QuotaExceeded) as over_quota:
        await backend.create(make_record(owner, clock), **limits)
    assert not isinstance(over_quota.value, GlobalCapReached)
    await backend.create(make_record(owner + "-other", clock), **limits)
    with pytest.raises(GlobalCapReached):
        await backend.create(make_record(owner + "-third", clock), **limits)


async def test_inactive_records_do_not_count_toward_the_global_cap(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    await backend.create(make_record(owner, clock, active=False), max_total_active=1)
    await backend.create(make_record(owner, clock), max_total_active=1)


# To a backend a completion and a cancel are the same: the record becomes inactive.
@pytest.mark.parametrize("ending", ["completed", "cancelled", "deleted"])
async def test_a_task_that_ends_frees_its_global_slot(
    backend: StorageBackend, owner: str, clock: ManualClock, ending: str
) -> None:
    first = make_record(owner, clock)
    await backend.create(first, max_total_active=2)
    await backend.create(make_record(owner + "-other", clock), max_total_active=2)
    with pytest.raises(GlobalCapReached):
        await backend.create(make_record(owner + "-third", clock), max_total_active=2)
    if ending == "deleted":
        assert await backend.delete(owner, first.task_id)
    else:
        ended = successor(first, data=f'{{"status":"{ending}"}}', active=False)
        await backend.replace(ended, expected_version=1)
    await backend.create(make_record(owner + "-third", clock), max_total_active=2)
    with pytest.raises(GlobalCapReached):
        await backend.create(make_record(owner + "-fourth", clock), max_total_active=2)


async def test_a_task_that_expired_while_active_gives_its_global_slot_back(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    await backend.create(make_record(owner, clock, ttl_ms=1_000), max_total_active=2)
    await backend.create(make_record(owner + "-b", clock, ttl_ms=5_000), max_total_active=2)
    with pytest.raises(GlobalCapReached):
        await backend.create(make_record(owner + "-c", clock), max_total_active=2)
    clock.advance(1_000)  # the first expired without ever finishing; the second still counts
    await backend.create(make_record(owner + "-c", clock), max_total_active=2)
    with pytest.raises(GlobalCapReached):
        await backend.create(make_record(owner + "-d", clock), max_total_active=2)


async def test_an_active_task_replaced_while_running_keeps_its_global_slot(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    running = make_record(owner, clock, ttl_ms=1_000)
    await backend.create(running, max_total_active=1)
    renewed = StoredRecord(owner, running.task_id, 2, "{}", clock() + 60_000, active=True)
    await backend.replace(renewed, expected_version=1)  # a lease renewal moves the expiry
    clock.advance(1_000)  # past the first expiry, not the new one: it still counts
    with pytest.raises(GlobalCapReached):
        await backend.create(make_record(owner + "-b", clock), max_total_active=1)


@on_atomic_backends
async def test_racing_creates_of_many_owners_never_exceed_the_global_cap(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    accepted: list[StoredRecord] = []

    async def contender(index: int) -> None:
        record = make_record(f"{owner}-{index}", clock)
        try:
            await backend.create(record, max_total_active=5)
            accepted.append(record)
        except GlobalCapReached:
            pass

    async with anyio.create_task_group() as group:
        for index in range(16):
            group.start_soon(contender, index)
    assert len(accepted) == 5
    for record in accepted:
        assert await backend.get(record.owner, record.task_id) == record


# ------------------------------------------------------------------ cost


async def test_every_operation_is_one_request(
    backend: StorageBackend, owner: str, clock: ManualClock
) -> None:
    record = make_record(owner, clock)

    async def cost(operation: object) -> int:
        before = backend.request_count
        await operation  # type: ignore[misc]
        return backend.request_count - before

    assert await cost(backend.create(record)) == 1
    assert await cost(backend.create(make_record(owner, clock), max_active=10)) == 1
    limits = {"max_active": 10, "max_total_active": 10}
    assert await cost(backend.create(make_record(owner, clock), **limits)) == 1
    assert await cost(backend.get(owner, record.task_id)) == 1
    assert await cost(backend.replace(successor(record), expected_version=1)) == 1
    assert await cost(backend.list(owner, limit=1)) == 1
    assert await cost(backend.delete(owner, record.task_id)) == 1
