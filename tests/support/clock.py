"""A clock tests can move, so expiry is tested without waiting."""

from __future__ import annotations

from mcp_tasks_server.core.model import now_ms


class ManualClock:
    """Starts at the real time (so stored expiry stays realistic) and moves only when told."""

    def __init__(self, start_ms: int | None = None) -> None:
        self.now = now_ms() if start_ms is None else start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms
