"""Time rules that depend on more than one clock: task expiry and clock skew.

Leases compare wall clocks across replicas. The store assumes they differ by
at most ``StorePolicy.clock_skew_margin_ms``: an orphan is failed only once
its lease plus that margin has passed, and a running task is never expired
before it could have been failed as an orphan. :class:`SkewWatch` says so in
the logs, once, when a record shows a clock further ahead than that.
"""

from __future__ import annotations

import logging

from mcp_tasks_server.core.model import TaskRecord
from mcp_tasks_server.store.policy import StorePolicy

__all__ = ["SkewWatch", "task_expiry"]

logger = logging.getLogger("mcp_tasks_server.store.store")


def task_expiry(
    policy: StorePolicy, ttl_ms: int | None, now: int, lease_until: int | None
) -> int | None:
    """When a task expires: its TTL counts from its end, never while it may still run.

    A leased, running task ends at the latest when its lease (plus the skew
    margin) runs out and it is failed as an orphan, so it expires one TTL
    after that; every write by its replica moves both. A finished task (or
    one without a lease) expires one TTL after ``now``.
    """
    if ttl_ms is None:
        return None
    if lease_until is None:
        return now + ttl_ms
    return lease_until + policy.clock_skew_margin_ms + ttl_ms


class SkewWatch:
    """Warns once when a record was stamped further in the future than the skew margin."""

    def __init__(self, margin_ms: int) -> None:
        self.margin_ms = margin_ms
        self.reported = False

    def notice(self, record: TaskRecord, now: int) -> None:
        ahead = record.last_updated_at_ms - now
        if ahead > self.margin_ms and not self.reported:
            self.reported = True
            logger.warning(
                "a task was last updated %d ms in the future by this replica's clock, more "
                "than the %d ms clock skew margin: keep the replicas' clocks in sync (NTP), or "
                "tasks may be failed as orphans while their replica still runs them",
                ahead,
                self.margin_ms,
            )
