"""Self-fencing: a replica that can no longer renew a lease stops the tool itself.

Another replica may fail a task as an orphan once its lease (plus the clock
skew margin) has run out. A replica cut off from the store cannot learn that,
so it must stop the tool first, on its own: each running task's cancel scope
carries a deadline, ``fence_margin`` seconds before the end of the last lease
this replica knows it holds. Every record that shows a newer lease (a
renewal, or any other write the replica made) moves the deadline on.

The deadline is on the event loop's monotonic clock: the lease's remaining
time is read off the replica's own wall clock once, when the record arrives,
and from then on no wall-clock step can stretch it.
"""

from __future__ import annotations

import anyio

from mcp_tasks_server.core.model import TaskRecord

__all__ = ["LeaseFence"]


class LeaseFence:
    """The watchdog of one running task: cancels ``scope`` before the task's lease runs out."""

    def __init__(self, scope: anyio.CancelScope, replica: str, margin: float) -> None:
        self.scope = scope
        self.replica = replica
        self.margin = margin
        self.lease_ends_at = anyio.current_time()  # replaced by the first observe()
        self._lease_ms = -1

    def observe(self, record: TaskRecord, wall_now_ms: int) -> None:
        """Take note of a lease ``record`` shows, if it is this replica's and newer."""
        lease = record.lease_expires_at_ms
        if record.replica != self.replica or lease is None or lease <= self._lease_ms:
            return
        self._lease_ms = lease
        self.lease_ends_at = anyio.current_time() + (lease - wall_now_ms) / 1000
        self.scope.deadline = self.fence_at

    @property
    def fence_at(self) -> float:
        """When the tool is stopped unless the lease is renewed first (monotonic seconds)."""
        return self.lease_ends_at - self.margin

    @property
    def fenced(self) -> bool:
        """True once the scope was cancelled because the lease could not be renewed in time."""
        return self.scope.cancel_called and anyio.current_time() >= self.fence_at
