"""The task state machine, as a table and as driven through the store by random operations."""

from __future__ import annotations

import contextlib

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_tasks_server import (
    InputRequest,
    InvalidArgument,
    InvalidTransition,
    MemoryBackend,
    Progress,
    Settings,
    TaskStatus,
    TaskStore,
    ToolRequest,
)
from mcp_tasks_server.core.model import TERMINAL_STATUSES, is_valid_task_id, new_task_id
from tests.support.factories import make_store

ALL = list(TaskStatus)


@pytest.mark.parametrize("status", ALL)
def test_no_status_transitions_to_itself(status: TaskStatus) -> None:
    assert not status.can_transition_to(status)


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_statuses_have_no_way_out(status: TaskStatus) -> None:
    assert status.is_terminal
    assert not any(status.can_transition_to(target) for target in ALL)


@pytest.mark.parametrize(
    ("source", "targets"),
    [
        (TaskStatus.WORKING, {"input_required", "completed", "failed", "cancelled"}),
        (TaskStatus.INPUT_REQUIRED, {"working", "completed", "failed", "cancelled"}),
    ],
)
def test_unfinished_statuses_follow_the_spec_table(source: TaskStatus, targets: set[str]) -> None:
    assert {t.value for t in ALL if source.can_transition_to(t)} == targets


@given(st.integers(min_value=0, max_value=2**48 - 1), st.integers(min_value=1, max_value=2**40))
def test_task_ids_sort_in_creation_order(earlier: int, gap: int) -> None:
    later = min(earlier + gap, 2**48 - 1)
    first, second = new_task_id(earlier), new_task_id(later)
    assert is_valid_task_id(first)
    assert is_valid_task_id(second)
    assert first < second or earlier == later


def test_task_ids_do_not_repeat() -> None:
    assert len({new_task_id(0) for _ in range(10_000)}) == 10_000


OPERATIONS = st.lists(
    st.sampled_from(
        ["update", "progress", "complete", "tool_error", "fail", "cancel", "ask", "answer"]
    ),
    max_size=12,
)


async def apply(store: TaskStore, task_id: str, operation: str, step: int) -> None:
    """One operation, driven through the public store API."""
    if operation == "update":
        await store.update("o", task_id, status_message=f"step {step}")
    elif operation == "progress":
        await store.update("o", task_id, progress=Progress(progress=step))
    elif operation == "complete":
        await store.complete("o", task_id, {"content": [], "isError": False})
    elif operation == "tool_error":
        await store.complete("o", task_id, {"content": [], "isError": True})
    elif operation == "fail":
        await store.fail("o", task_id, {"code": -32000, "message": "boom"})
    elif operation == "cancel":
        await store.cancel("o", task_id)
    elif operation == "ask":
        await store.request_input(
            "o", task_id, {f"k{step}": InputRequest(method="elicitation/create")}
        )
    else:
        current = await store.get("o", task_id)
        await store.deliver_input("o", task_id, dict.fromkeys(current.input_requests, True))


# Timing is not under test: no deadline, and no health check on how fast examples are drawn.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_random_operation_sequences_never_leave_a_terminal_state(operations: list[str]) -> None:
    async def run() -> None:
        store = make_store(MemoryBackend(), Settings())
        task = await store.create("o", ToolRequest(name="t"))
        previous = task
        for step, operation in enumerate(operations):
            with contextlib.suppress(InvalidTransition, InvalidArgument):
                await apply(store, task.task_id, operation, step)
            current = await store.get("o", task.task_id)
            if previous.is_terminal:
                assert current == previous, f"{operation} changed a finished task"
            elif current.status is not previous.status:
                assert previous.status.can_transition_to(current.status)
            if current.status is TaskStatus.INPUT_REQUIRED:
                assert current.input_requests
            previous = current

    anyio.run(run)
