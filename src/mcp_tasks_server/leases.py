"""Leases: how a task outlives neither its replica nor a crash of it.

The replica running a task holds a **lease** in the task's own record: its
replica id and an expiry. The runner's heartbeat renews it, and any write the
holder makes to the task renews it for free. When a replica dies, its leases
run out by time alone; the first replica to notice an unfinished task with a
run-out lease moves it to ``failed`` ("The server running this task stopped
before it finished"), through the same conditional write as any other change,
so it happens exactly once whoever notices first. Noticing happens

* on **read**: :meth:`TaskStore.get` and :meth:`TaskStore.list` settle an
  orphan before returning it, so a client polling any replica sees the
  failure at once;
* in the **orphan sweep** every ``lease_sweep_interval_seconds``, for tasks
  nobody reads (it also frees their owner's quota slots).

Execution is therefore **at most once**: a tool is never started twice for one
task, and a task whose replica died fails rather than being re-run.

This module holds the rule (what an orphan becomes) and the sweep loop; the
store applies the rule on every read, in :meth:`TaskStore.settle_orphan`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from mcp_tasks_server.errors import BackendError, TaskError, TaskNotFound, TaskTerminal
from mcp_tasks_server.model import TaskRecord, TaskStatus

if TYPE_CHECKING:
    from mcp_tasks_server.store import TaskStore

__all__ = [
    "ORPHAN_ERROR",
    "STOPPED_MESSAGE",
    "SweepOutcome",
    "orphan_failure",
    "run_orphan_sweeper",
    "sweep_orphans",
]

logger = logging.getLogger(__name__)

STOPPED_MESSAGE = "The server running this task stopped before it finished"
ORPHAN_ERROR: dict[str, Any] = {"code": -32603, "message": STOPPED_MESSAGE}

SWEEP_PAGE_SIZE = 100
"""Records one sweep request examines at most."""

SWEEP_MAX_PAGES = 10
"""Requests one sweep makes at most; a longer pass resumes at the next sweep."""


def orphan_failure(now_ms: int) -> Any:
    """The change that fails a task whose lease ran out by ``now_ms``.

    Re-checked against whatever record the conditional write meets, so a
    lease renewed, or a task finished, meanwhile is left as it is.
    """

    def change(current: TaskRecord) -> TaskRecord:
        if not current.is_orphaned(now_ms):
            return current
        return current.model_copy(
            update={
                "status": TaskStatus.FAILED,
                "status_message": STOPPED_MESSAGE,
                "error": dict(ORPHAN_ERROR),
                "input_requests": {},
            }
        )

    return change


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    """What one sweep did, and where the next one goes on from."""

    failed: int
    resume_from: str | None
    """The backend cursor to resume the pass from; None once a pass is complete."""


async def sweep_orphans(store: TaskStore, resume_from: str | None = None) -> SweepOutcome:
    """Fail the orphans among at most ``SWEEP_MAX_PAGES`` pages of the store.

    A pass over a large store takes several sweeps: each starts where the
    last one stopped (``resume_from``), so every task is examined in turn,
    however many tasks come before it.
    """
    failed = 0
    cursor = resume_from
    for _ in range(SWEEP_MAX_PAGES):
        page = await store.backend.list_stale(limit=SWEEP_PAGE_SIZE, cursor=cursor)
        for stored in page.records:
            try:
                record = store.decode(stored)
                settled = await store.settle_orphan(record)
            except (TaskNotFound, TaskTerminal):
                continue
            if settled is not record and settled.error == ORPHAN_ERROR:
                failed += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    return SweepOutcome(failed, cursor)


async def run_orphan_sweeper(store: TaskStore) -> None:
    """Sweep every ``lease_sweep_interval_seconds``, until cancelled. Never fatal."""
    interval = store.settings.lease_sweep_interval_seconds
    resume_from: str | None = None
    while True:
        await anyio.sleep(interval)
        try:
            outcome = await sweep_orphans(store, resume_from)
        except (TaskError, BackendError) as exc:
            logger.warning("orphan sweep failed: %s", exc)
            continue
        resume_from = outcome.resume_from
        if outcome.failed:
            logger.info("failed %d tasks whose replica stopped", outcome.failed)
