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

Execution is therefore **at most once**: a tool is never started twice for one
task, and a task whose replica died fails rather than being re-run. A failed
sweep is logged and retried at the next interval, never fatal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio

from mcp_tasks_server.backends.errors import BackendError
from mcp_tasks_server.core.errors import TaskError, TaskNotFound, TaskTerminal
from mcp_tasks_server.core.lifecycle import ORPHAN_ERROR
from mcp_tasks_server.store.store import TaskStore

__all__ = [
    "SWEEP_MAX_PAGES",
    "SWEEP_PAGE_SIZE",
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


async def run_expiry_sweeper(store: TaskStore, interval: float) -> None:
    """Remove expired records every ``interval`` seconds, until cancelled."""
    if store.expires_natively:
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


async def sweep_orphans(store: TaskStore, resume_from: str | None = None) -> SweepOutcome:
    """Fail the orphans among at most ``SWEEP_MAX_PAGES`` pages of the store.

    A pass over a large store takes several sweeps: each starts where the
    last one stopped (``resume_from``), so every task is examined in turn,
    however many tasks come before it.
    """
    failed = 0
    cursor = resume_from
    for _ in range(SWEEP_MAX_PAGES):
        page = await store.orphan_page(limit=SWEEP_PAGE_SIZE, cursor=cursor)
        for record in page.records:
            try:
                settled = await store.settle_orphan(record)
            except (TaskNotFound, TaskTerminal):
                continue
            if settled is not record and settled.error == ORPHAN_ERROR:
                failed += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    return SweepOutcome(failed, cursor)


async def run_orphan_sweeper(store: TaskStore, interval: float) -> None:
    """Sweep every ``interval`` seconds, until cancelled."""
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
