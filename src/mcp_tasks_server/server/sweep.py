"""One sweep, run on demand: ``mcp-tasks-server sweep --once`` and the Lambda ``sweep_handler``.

Replicas and ``worker`` processes sweep in the background
(:mod:`mcp_tasks_server.runtime.sweepers`). A deployment with no long-lived
process (front end and workers on Lambda) has nobody to do that, so a
schedule runs this instead: one complete orphan pass, which fails every
unfinished task whose replica or worker stopped, or that no worker claimed
in time, and then one expiry sweep for backends that do not expire records
themselves.

Correctness never depends on it (every read settles an orphan and filters
expiry); it makes tasks that nobody reads end on time.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass

from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.protocol.storage import build_backend
from mcp_tasks_server.runtime.sweepers import Retry, sweep_orphans
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.store import TaskStore

__all__ = ["MAX_SWEEPS_PER_RUN", "SweepReport", "sweep_once", "sweep_store"]

MAX_SWEEPS_PER_RUN = 100
"""Orphan sweeps one run makes at most (each examines up to 1,000 records):
a pass over a larger store goes on at the next run, from the start."""


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one run did."""

    orphans_failed: int
    orphans_queued_again: int
    expired_removed: int
    complete: bool
    """Whether the orphan pass covered the whole store."""

    def as_json(self) -> dict[str, int | bool]:
        return {
            "orphansFailed": self.orphans_failed,
            "orphansQueuedAgain": self.orphans_queued_again,
            "expiredRemoved": self.expired_removed,
            "complete": self.complete,
        }


async def sweep_store(store: TaskStore, retry: Retry | None = None) -> SweepReport:
    """One complete orphan pass over ``store`` (bounded), then one expiry sweep."""
    failed = retried = 0
    cursor: str | None = None
    complete = False
    for _ in range(MAX_SWEEPS_PER_RUN):
        outcome = await sweep_orphans(store, cursor, retry)
        failed += outcome.failed
        retried += outcome.retried
        cursor = outcome.resume_from
        if cursor is None:
            complete = True
            break
    expired = 0 if store.expires_natively else await store.sweep_expired()
    return SweepReport(failed, retried, expired, complete)


async def sweep_once(settings: Settings) -> SweepReport:
    """Open the configured backend (and queue), sweep it once, close them.

    In queue mode an idempotent tool's orphan with attempts left is queued
    again for a worker; every other orphan is failed. A one-off sweep runs
    no tools, so in local mode it fails them all (a replica's own sweep is
    what re-runs an idempotent tool there).
    """
    if settings.execution == "queue":
        tasks = Tasks(settings)
        async with tasks.running():
            return await sweep_store(tasks.store, tasks.runner.retry)
    backend = build_backend(settings)
    async with aclosing(backend):
        store = TaskStore(backend, settings.store_policy(), replica=settings.replica)
        return await sweep_store(store)
