"""Task store rules over the memory backend: TTL, expiry, isolation, quotas, caps, races."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import pytest

from mcp_tasks_server import (
    InputRequest,
    InvalidArgument,
    InvalidTransition,
    MemoryBackend,
    PayloadTooLarge,
    Progress,
    QuotaExceeded,
    Settings,
    TaskNotFound,
    TaskStatus,
    TaskStore,
    TaskTerminal,
    ToolRequest,
)
from mcp_tasks_server.backends import StoredRecord
from mcp_tasks_server.backends.errors import GlobalCapReached
from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.runtime.sweepers import run_expiry_sweeper
from tests.support.clock import ManualClock
from tests.support.factories import make_store as store_with

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="compute", arguments={"n": 3})
RESULT = {"content": [{"type": "text", "text": "done"}], "isError": False}
ASK = {"confirm": InputRequest(method="elicitation/create", params={"message": "Sure?"})}


def make_store(clock: ManualClock | None = None, **settings: Any) -> TaskStore:
    return store_with(MemoryBackend(clock=clock or ManualClock()), Settings(**settings))


@pytest.fixture
def store(clock: ManualClock) -> TaskStore:
    return make_store(clock)


# ------------------------------------------------------------------ TTL


async def test_task_without_requested_ttl_gets_the_default(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    assert task.ttl_ms == Settings().default_ttl_ms
    assert task.expires_at_ms == task.created_at_ms + task.ttl_ms


async def test_requested_ttl_above_the_maximum_is_clamped_to_it() -> None:
    store = make_store(max_ttl_ms=60_000, default_ttl_ms=10_000)
    task = await store.create("alice", REQUEST, ttl_ms=10_000_000)
    assert task.ttl_ms == 60_000


async def test_requested_ttl_within_the_maximum_is_granted(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST, ttl_ms=5_000)
    assert task.ttl_ms == 5_000


async def test_unlimited_ttl_is_granted_only_when_configured() -> None:
    store = make_store(max_ttl_ms=None, default_ttl_ms=None)
    task = await store.create("alice", REQUEST)
    assert task.ttl_ms is None
    assert task.expires_at_ms is None


@pytest.mark.parametrize("ttl", [0, -5])
async def test_non_positive_ttl_is_refused_and_nothing_is_stored(
    store: TaskStore, ttl: int
) -> None:
    with pytest.raises(InvalidArgument, match="ttl"):
        await store.create("alice", REQUEST, ttl_ms=ttl)
    assert (await store.list("alice")).records == []


# ------------------------------------------------------------------ expiry


async def test_expired_task_is_not_found_at_once_everywhere(
    store: TaskStore, clock: ManualClock
) -> None:
    task = await store.create("alice", REQUEST, ttl_ms=1_000)
    clock.advance(1_000)
    with pytest.raises(TaskNotFound):
        await store.get("alice", task.task_id)
    with pytest.raises(TaskNotFound):
        await store.cancel("alice", task.task_id)
    with pytest.raises(TaskNotFound):
        await store.complete("alice", task.task_id, RESULT, known=task)
    assert (await store.list("alice")).records == []


async def test_expired_tasks_do_not_count_toward_the_quota(clock: ManualClock) -> None:
    store = make_store(clock, max_active_tasks_per_owner=1)
    await store.create("alice", REQUEST, ttl_ms=1_000)
    clock.advance(1_000)
    await store.create("alice", REQUEST)


# ------------------------------------------------------------------ isolation


async def test_foreign_missing_and_expired_tasks_give_the_identical_error(
    store: TaskStore, clock: ManualClock
) -> None:
    task = await store.create("alice", REQUEST, ttl_ms=2_000)
    missing_id = new_task_id()

    async def not_found_message(owner: str, task_id: str) -> list[str]:
        messages = []
        operations = [
            store.get(owner, task_id),
            store.cancel(owner, task_id),
            store.update(owner, task_id, status_message="x"),
            store.complete(owner, task_id, RESULT),
            store.fail(owner, task_id, {"code": -1, "message": "m"}),
            store.request_input(owner, task_id, ASK),
            store.deliver_input(owner, task_id, {"confirm": {}}),
        ]
        for operation in operations:
            with pytest.raises(TaskNotFound) as caught:
                await operation
            messages.append(str(caught.value))
        return messages

    foreign = await not_found_message("mallory", task.task_id)
    missing = await not_found_message("alice", missing_id)
    clock.advance(2_000)
    expired = await not_found_message("alice", task.task_id)
    assert foreign == expired == ["Task not found"] * 7
    assert missing == ["Task not found"] * 7
    assert "mallory" not in " ".join(foreign)
    assert "alice" not in " ".join(foreign)


@pytest.mark.parametrize("task_id", ["", "short", "../../etc", "A" * 36, "x" * 1000])
async def test_malformed_task_id_is_not_found_without_a_backend_request(
    store: TaskStore, task_id: str
) -> None:
    before = store.backend.request_count
    with pytest.raises(TaskNotFound):
        await store.get("alice", task_id)
    assert store.backend.request_count == before


async def test_list_shows_only_the_callers_tasks(store: TaskStore) -> None:
    mine = await store.create("alice", REQUEST)
    await store.create("bob", REQUEST)
    assert [t.task_id for t in (await store.list("alice")).records] == [mine.task_id]


# ------------------------------------------------------------------ quota


async def test_quota_refuses_the_task_beyond_the_limit_with_a_clear_error() -> None:
    store = make_store(max_active_tasks_per_owner=2)
    await store.create("alice", REQUEST)
    await store.create("alice", REQUEST)
    with pytest.raises(QuotaExceeded, match="2 unfinished tasks"):
        await store.create("alice", REQUEST)
    await store.create("bob", REQUEST)


async def test_finished_tasks_free_their_quota_slot() -> None:
    store = make_store(max_active_tasks_per_owner=1)
    task = await store.create("alice", REQUEST)
    await store.complete("alice", task.task_id, RESULT, known=task)
    await store.create("alice", REQUEST)


async def test_zero_quota_means_no_limit() -> None:
    store = make_store(max_active_tasks_per_owner=0)
    for _ in range(150):
        await store.create("alice", REQUEST)


# ------------------------------------------------------------------ global cap


async def test_global_cap_refuses_the_task_beyond_it_for_every_owner_and_stores_nothing() -> None:
    backend = MemoryBackend()
    store = store_with(backend, Settings(max_active_tasks=2))
    await store.create("alice", REQUEST)
    await store.create("bob", REQUEST)
    for owner in ("carol", "alice"):
        with pytest.raises(GlobalCapReached, match="limit of 2 unfinished tasks; try again"):
            await store.create(owner, REQUEST)
    assert (await store.list("carol")).records == []
    assert len(backend) == 2


@pytest.mark.parametrize("ending", ["complete", "cancel"])
async def test_finished_tasks_free_their_global_slot(ending: str) -> None:
    store = make_store(max_active_tasks=1)
    task = await store.create("alice", REQUEST)
    if ending == "complete":
        await store.complete("alice", task.task_id, RESULT, known=task)
    else:
        await store.cancel("alice", task.task_id, known=task)
    await store.create("bob", REQUEST)


async def test_zero_global_cap_means_no_limit() -> None:
    store = make_store(max_active_tasks=0, max_active_tasks_per_owner=0)
    for _ in range(150):
        await store.create("alice", REQUEST)


class OneFullShard(MemoryBackend):
    """Refuses the first ``refusals`` creates as a backend whose one shard of several is full."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.refused: list[str] = []

    async def _create(
        self, record: StoredRecord, *, max_active: int | None, max_total_active: int | None
    ) -> None:
        if len(self.refused) < self.refusals and max_total_active is not None:
            self.refused.append(record.task_id)
            raise GlobalCapReached(max_total_active, partial=True)
        await super()._create(record, max_active=max_active, max_total_active=max_total_active)


async def test_a_refusal_by_one_full_shard_is_tried_once_more_with_another_id() -> None:
    backend = OneFullShard(refusals=1)
    store = store_with(backend, Settings(max_active_tasks=10))
    task = await store.create("alice", REQUEST)
    assert backend.refused != [task.task_id]  # a new id, counted in another shard


async def test_a_second_refusal_by_a_full_shard_is_final() -> None:
    backend = OneFullShard(refusals=2)
    store = store_with(backend, Settings(max_active_tasks=10))
    with pytest.raises(GlobalCapReached):
        await store.create("alice", REQUEST)
    assert len(backend.refused) == 2
    assert len(backend) == 0


# ------------------------------------------------------------------ size caps


async def test_oversize_result_is_refused_and_changes_nothing(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    big = {"content": [{"type": "text", "text": "x" * 300_000}]}
    with pytest.raises(PayloadTooLarge, match="result"):
        await store.complete("alice", task.task_id, big)
    assert await store.get("alice", task.task_id) == task


async def test_result_just_under_the_cap_is_stored_intact() -> None:
    store = make_store(max_result_bytes=10_000)
    task = await store.create("alice", REQUEST)
    overhead = len('{"content":[{"type":"text","text":""}]}')
    result = {"content": [{"type": "text", "text": "é" * ((10_000 - overhead) // 2)}]}
    await store.complete("alice", task.task_id, result, known=task)
    assert (await store.get("alice", task.task_id)).result == result


@pytest.mark.parametrize(
    ("operation", "what"),
    [
        ("message", "status message"),
        ("error", "error"),
        ("input", "input requests"),
        ("answer", "input responses"),
    ],
)
async def test_oversize_payloads_are_refused_and_change_nothing(
    store: TaskStore, operation: str, what: str
) -> None:
    task = await store.create("alice", REQUEST)
    huge = "x" * 100_000
    attempts = {
        "message": lambda: store.update("alice", task.task_id, status_message=huge),
        "error": lambda: store.fail(
            "alice", task.task_id, {"code": 1, "message": "m", "data": huge}
        ),
        "input": lambda: store.request_input(
            "alice",
            task.task_id,
            {"k": InputRequest(method="elicitation/create", params={"message": huge})},
        ),
        "answer": lambda: store.deliver_input("alice", task.task_id, {"k": huge}),
    }
    with pytest.raises(PayloadTooLarge, match=what):
        await attempts[operation]()
    assert await store.get("alice", task.task_id) == task


async def test_oversize_arguments_are_refused_and_nothing_is_stored(store: TaskStore) -> None:
    with pytest.raises(PayloadTooLarge, match="arguments"):
        await store.create("alice", ToolRequest(name="t", arguments={"blob": "x" * 100_000}))
    assert (await store.list("alice")).records == []


async def test_oversize_answers_given_before_the_task_are_refused_and_nothing_is_stored(
    store: TaskStore,
) -> None:
    answers = {"q": {"action": "accept", "content": {"name": "x" * 100_000}}}
    with pytest.raises(PayloadTooLarge, match="input responses"):
        await store.create("alice", ToolRequest(name="t", input_responses=answers))
    with pytest.raises(PayloadTooLarge, match="input responses"):
        await store.create("alice", ToolRequest(name="t", request_state="x" * 100_000))
    assert (await store.list("alice")).records == []


async def test_answers_given_before_the_task_are_stored_with_its_request(
    store: TaskStore,
) -> None:
    request = ToolRequest(
        name="t", input_responses={"q": {"action": "accept"}}, request_state='{"v":1}'
    )
    task = await store.create("alice", request)
    assert (await store.get("alice", task.task_id)).request == request


# ------------------------------------------------------------------ transitions


async def test_cancel_of_completed_task_is_rejected_and_keeps_the_result(
    store: TaskStore,
) -> None:
    task = await store.create("alice", REQUEST)
    done = await store.complete("alice", task.task_id, RESULT, known=task)
    with pytest.raises(TaskTerminal):
        await store.cancel("alice", task.task_id)
    assert await store.get("alice", task.task_id) == done


async def test_nothing_changes_a_cancelled_task(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    cancelled = await store.cancel("alice", task.task_id)
    with pytest.raises(TaskTerminal):
        await store.complete("alice", task.task_id, RESULT)
    with pytest.raises(TaskTerminal):
        await store.update("alice", task.task_id, status_message="late")
    with pytest.raises(TaskTerminal):
        await store.request_input("alice", task.task_id, ASK)
    assert await store.get("alice", task.task_id) == cancelled


async def test_tool_error_result_fails_the_task_by_default(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    done = await store.complete("alice", task.task_id, {**RESULT, "isError": True})
    assert done.status is TaskStatus.FAILED
    assert done.result is not None


async def test_tool_error_result_can_complete_the_task(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST, tool_error_status=TaskStatus.COMPLETED)
    done = await store.complete("alice", task.task_id, {**RESULT, "isError": True})
    assert done.status is TaskStatus.COMPLETED


async def test_failure_keeps_the_json_rpc_error_and_explains_itself(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    failed = await store.fail("alice", task.task_id, {"code": -32000, "message": "boom"})
    assert failed.status is TaskStatus.FAILED
    assert failed.error == {"code": -32000, "message": "boom"}
    assert failed.status_message == "boom"


async def test_tool_error_failure_says_why_even_without_text(store: TaskStore) -> None:
    worded = await store.create("alice", REQUEST)
    silent = await store.create("alice", REQUEST)
    long = await store.create("alice", REQUEST)
    error = {"content": [{"type": "text", "text": "  disk full  "}], "isError": True}
    huge = {"content": [{"type": "text", "text": "é" * 5_000}], "isError": True}
    worded = await store.complete("alice", worded.task_id, error)
    silent = await store.complete("alice", silent.task_id, {"content": [], "isError": True})
    long = await store.complete("alice", long.task_id, huge)
    assert worded.status_message == "disk full"
    assert silent.status_message == "The tool reported an error"
    assert long.status_message is not None
    assert len(long.status_message.encode()) <= store.policy.max_status_message_bytes


async def test_failure_with_an_empty_error_message_still_says_why(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    failed = await store.fail("alice", task.task_id, {"code": -32000, "message": " "})
    assert failed.status_message == "The task failed with error -32000"


async def test_malformed_error_object_is_refused(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    with pytest.raises(InvalidArgument, match="JSON-RPC error"):
        await store.fail("alice", task.task_id, {"message": "no code"})


async def test_status_message_and_progress_are_stored(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    progress = Progress(progress=3, total=10, message="three of ten")
    await store.update("alice", task.task_id, status_message="crunching", progress=progress)
    stored = await store.get("alice", task.task_id)
    assert (stored.status_message, stored.progress) == ("crunching", progress)
    assert stored.status is TaskStatus.WORKING


async def test_last_updated_moves_forward_and_created_stays(
    store: TaskStore, clock: ManualClock
) -> None:
    task = await store.create("alice", REQUEST)
    clock.advance(250)
    updated = await store.update("alice", task.task_id, status_message="x")
    assert updated.created_at_ms == task.created_at_ms
    assert updated.last_updated_at_ms == task.created_at_ms + 250


# ------------------------------------------------------------------ input


async def test_input_round_trip_parks_then_resumes_the_task(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    two = {**ASK, "name": InputRequest(method="elicitation/create", params={"message": "Name?"})}
    parked = await store.request_input("alice", task.task_id, two, status_message="waiting")
    assert parked.status is TaskStatus.INPUT_REQUIRED
    assert set(parked.input_requests) == {"confirm", "name"}

    partial = await store.deliver_input("alice", task.task_id, {"confirm": {"ok": True}})
    assert partial.accepted == {"confirm"}
    assert partial.record.status is TaskStatus.INPUT_REQUIRED
    assert set(partial.record.input_requests) == {"name"}

    done = await store.deliver_input("alice", task.task_id, {"name": "Ada", "bogus": 1})
    assert done.accepted == {"name"}
    assert done.ignored == {"bogus"}
    assert done.record.status is TaskStatus.WORKING
    assert done.record.input_responses == {"confirm": {"ok": True}, "name": "Ada"}


async def test_answers_for_unknown_or_answered_keys_change_nothing(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    await store.request_input("alice", task.task_id, ASK)
    await store.deliver_input("alice", task.task_id, {"confirm": True})
    before = await store.get("alice", task.task_id)
    again = await store.deliver_input("alice", task.task_id, {"confirm": False, "other": 1})
    assert again.accepted == frozenset()
    assert await store.get("alice", task.task_id) == before


async def test_input_keys_are_unique_for_the_tasks_lifetime(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    await store.request_input("alice", task.task_id, ASK)
    await store.deliver_input("alice", task.task_id, {"confirm": True})
    with pytest.raises(InvalidArgument, match="confirm"):
        await store.request_input("alice", task.task_id, ASK)


async def test_input_cannot_be_requested_twice_without_an_answer(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    await store.request_input("alice", task.task_id, ASK)
    other = {"again": InputRequest(method="elicitation/create")}
    with pytest.raises(InvalidTransition):
        await store.request_input("alice", task.task_id, other)


# ------------------------------------------------------------------ races


@pytest.mark.parametrize("attempt", range(20))
async def test_cancel_racing_completion_has_exactly_one_winner(attempt: int) -> None:
    store = make_store()
    task = await store.create("alice", REQUEST)
    winners: list[str] = []

    async def cancel() -> None:
        with contextlib.suppress(TaskTerminal):
            await store.cancel("alice", task.task_id)
            winners.append("cancel")

    async def complete() -> None:
        with contextlib.suppress(TaskTerminal):
            await store.complete("alice", task.task_id, RESULT, known=task)
            winners.append("complete")

    async with anyio.create_task_group() as group:
        if attempt % 2:
            group.start_soon(cancel)
            group.start_soon(complete)
        else:
            group.start_soon(complete)
            group.start_soon(cancel)
    assert len(winners) == 1
    final = await store.get("alice", task.task_id)
    expected = TaskStatus.CANCELLED if winners == ["cancel"] else TaskStatus.COMPLETED
    assert final.status is expected


async def test_concurrent_status_updates_all_land_by_retrying(store: TaskStore) -> None:
    # Each round of a race has one winner, so as many writers as attempts always land.
    writers = store.max_retries
    task = await store.create("alice", REQUEST)

    async def bump(index: int) -> None:
        await store.update("alice", task.task_id, status_message=f"step {index}")

    async with anyio.create_task_group() as group:
        for index in range(writers):
            group.start_soon(bump, index)
    final = await store.get("alice", task.task_id)
    assert final.version == 1 + writers


# ------------------------------------------------------------------ cost


async def test_request_counts_per_operation(store: TaskStore) -> None:
    backend = store.backend

    async def cost(operation: Any) -> tuple[int, Any]:
        before = backend.request_count
        value = await operation
        return backend.request_count - before, value

    created_cost, task = await cost(store.create("alice", REQUEST))
    assert created_cost == 1
    assert (await cost(store.get("alice", task.task_id)))[0] == 1
    updated_cost, task = await cost(
        store.update("alice", task.task_id, status_message="a", known=task)
    )
    assert updated_cost == 1
    assert (await cost(store.update("alice", task.task_id, status_message="b")))[0] == 2
    assert (await cost(store.list("alice")))[0] == 1
    other = await store.create("alice", REQUEST)
    assert (await cost(store.cancel("alice", other.task_id, known=other)))[0] == 1
    fresh = await store.get("alice", task.task_id)
    assert (await cost(store.complete("alice", task.task_id, RESULT, known=fresh)))[0] == 1


async def test_stale_known_record_costs_no_extra_read_on_conflict(store: TaskStore) -> None:
    task = await store.create("alice", REQUEST)
    await store.update("alice", task.task_id, status_message="moved on", known=task)
    before = store.backend.request_count
    done = await store.complete("alice", task.task_id, RESULT, known=task)  # stale version
    assert store.backend.request_count - before == 2  # the failed write, then the retry
    assert done.status is TaskStatus.COMPLETED


# ------------------------------------------------------------------ upkeep


async def test_background_sweep_returns_the_memory_of_expired_tasks(clock: ManualClock) -> None:
    backend = MemoryBackend(clock=clock)
    store = store_with(backend)
    for _ in range(50):
        await store.create("alice", REQUEST, ttl_ms=1_000)
    keeper = await store.create("alice", REQUEST, ttl_ms=60_000)
    clock.advance(1_000)
    async with anyio.create_task_group() as group:
        group.start_soon(run_expiry_sweeper, store, 0.01)
        with anyio.fail_after(5):
            while len(backend) > 1:  # noqa: ASYNC110 - watching the sweep from outside
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    assert await store.get("alice", keeper.task_id) == keeper
