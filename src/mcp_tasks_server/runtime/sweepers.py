"""The sweepers: background upkeep that returns storage and settles orphans.

Neither is needed for correctness; both run in the runner's task group and
read only through the :class:`~mcp_tasks_server.store.TaskStore`.

* The **expiry sweep** removes expired records every ``sweep_interval_seconds``
  (reads already filter expiry; this only returns memory and storage).
  Backends that expire records natively are left alone.
* The **orphan sweep** fails unfinished tasks whose replica's lease ran out
  (orphans) every ``lease_sweep_interval_seconds``, for tasks nobody reads;
  every read settles an orphan anyway (:meth:`TaskStore.settle_orphan`),
  and the rule itself is :func:`mcp_tasks_server.core.lifecycle.orphan_failure`.

Execution is **at most once** by default: a tool is never started twice for
one task, and a task whose replica died fails rather than being re-run. The
exception is an idempotent tool's task with attempts left
(``TaskRecord.can_run_again``): the sweep hands such an orphan to ``retry``,
which re-runs it here (local mode) or queues its next attempt (queue mode).
Reads never do that (a read must not send messages or start tools); they
leave it to the sweep. A failed sweep is logged and retried at the next
interval, never fatal. An interval of 0 turns a sweeper off.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from mcp_tasks_server.backends.errors import BackendError
from mcp_tasks_server.core.errors import NotClaimable, TaskError, TaskNotFound, TaskTerminal
from mcp_tasks_server.core.lifecycle import QUEUED_REPLICA
from mcp_tasks_server.core.model import TaskRecord
from mcp_tasks_server.store.store import TaskStore

__all__ = [
    "SWEEP_MAX_PAGES",
    "SWEEP_PAGE_SIZE",
    "Retry",
    "SweepOutcome",
    "run_expiry_sweeper",
    "run_orphan_sweeper",
    "sweep_orphans",
]

logger = logging.getLogger(__name__)

SWEEP_PAGE_SIZE = 100
"""Records one sweep request examines at most."""

SWEEP_MAX_PAGES = 10
"""Requests one sweep makes at most; a longer pass resumes at the next sweep."""

Retry = Callable[[TaskRecord], Awaitable[None]]
"""Starts the next attempt of an orphan that may run again; raises ``NotClaimable`` if it lost."""


async def run_expiry_sweeper(store: TaskStore, interval: float) -> None:
    """Remove expired records every ``interval`` seconds, until cancelled."""
    if store.expires_natively or interval <= 0:
        return
    while True:
        await anyio.sleep(interval)
        try:
            removed = await store.sweep_expired()
        except (TaskError, BackendError) as exc:
            logger.warning("expiry sweep failed: %s", exc)
            continue
        if removed:
            logger.debug("expiry sweep removed %d tasks", removed)


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    """What one sweep did, and where the next one goes on from."""

    failed: int
    resume_from: str | None
    """The backend cursor to resume the pass from; None once a pass is complete."""
    retried: int = 0
    """Orphans given another attempt (idempotent tools)."""


async def sweep_orphans(
    store: TaskStore, resume_from: str | None = None, retry: Retry | None = None
) -> SweepOutcome:
    """Fail the orphans among at most ``SWEEP_MAX_PAGES`` pages of the store.

    A pass over a large store takes several sweeps: each starts where the
    last one stopped (``resume_from``), so every task is examined in turn,
    however many tasks come before it.
    """
    failed = retried = 0
    cursor = resume_from
    for _ in range(SWEEP_MAX_PAGES):
        page = await store.orphan_page(limit=SWEEP_PAGE_SIZE, cursor=cursor)
        for record in page.records:
            if retry is not None and _may_run_again(record, store.clock()):
                try:
                    await retry(record)
                except (NotClaimable, TaskNotFound, TaskTerminal):
                    continue  # another replica's sweep started it first
                retried += 1
                continue
            try:
                settled = await store.settle_orphan(record)
            except (TaskNotFound, TaskTerminal):
                continue
            if settled.is_terminal and not record.is_terminal:
                failed += 1  # stopped replica, or no worker took it in time
        cursor = page.next_cursor
        if cursor is None:
            break
    return SweepOutcome(failed, cursor, retried)


def _may_run_again(record: TaskRecord, now_ms: int) -> bool:
    return record.can_run_again and record.replica != QUEUED_REPLICA and record.is_orphaned(now_ms)


async def run_orphan_sweeper(store: TaskStore, interval: float, retry: Retry | None = None) -> None:
    """Sweep every ``interval`` seconds (0: never), until cancelled."""
    if interval <= 0:
        return
    resume_from: str | None = None
    while True:
        await anyio.sleep(interval)
        try:
            outcome = await sweep_orphans(store, resume_from, retry)
        except (TaskError, BackendError) as exc:
            logger.warning("orphan sweep failed: %s", exc)
            continue
        resume_from = outcome.resume_from
        if outcome.failed:
            logger.info("failed %d tasks whose replica stopped", outcome.failed)
