"""Local mode's re-run of an idempotent tool's orphan, by the replica that finds it.

The orphan sweep hands it an orphan with attempts left; one conditional
write (:func:`~mcp_tasks_server.core.lifecycle.run_again`) gives the task to
this replica as its next attempt, and the tool starts here, built from the
stored request. Exactly one replica wins that write; the others' sweeps get
``NotClaimable`` and leave it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mcp_tasks_server.core.errors import ServerShuttingDown
from mcp_tasks_server.core.lifecycle import ORPHAN_ERROR, run_again
from mcp_tasks_server.core.model import TaskRecord
from mcp_tasks_server.runtime.runner import Invoke, Runner
from mcp_tasks_server.runtime.sweepers import Retry

__all__ = ["local_retry"]

logger = logging.getLogger(__name__)


def local_retry(runner: Runner, invoke_for: Callable[[TaskRecord], Invoke]) -> Retry:
    """A :data:`~.sweepers.Retry` that re-runs the orphan on ``runner``."""

    async def retry(record: TaskRecord) -> None:
        store = runner.store
        if not runner.accepting:
            return  # shutting down: another replica's sweep takes it
        change = run_again(store.clock(), to=runner.replica, lease_ms=store.policy.lease_ms)
        again = await store.apply(record, change)
        logger.warning(
            "task %s lost its replica; running it again here as attempt %d of %d",
            store.observers.ids.task(record.task_id),
            again.attempt,
            again.max_attempts,
        )
        try:
            await runner.dispatch(again, invoke_for(again))
        except ServerShuttingDown:
            failed = await store.fail(again.owner, again.task_id, ORPHAN_ERROR, known=again)
            await runner.publish(failed)
            return
        await runner.publish(again)

    return retry
