"""Waiting on a condition by polling, with a deadline: one loop for every test.

No fixed sleeps as synchronisation: each helper re-reads until the condition
holds, and fails the test (``TimeoutError``) if it does not within ``within``
seconds, which is generous for a loaded machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

import anyio

__all__ = ["poll_until", "status_in"]

T = TypeVar("T")


async def poll_until(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float = 10,
    every: float = 0.02,
) -> T:
    """Call ``read`` every ``every`` seconds until ``done`` holds for what it returned."""
    with anyio.fail_after(within):
        while not done(value := await read()):  # noqa: ASYNC110 - polling is the point
            await anyio.sleep(every)
    return value


def status_in(statuses: Collection[str]) -> Callable[[Mapping[str, Any]], bool]:
    """``done`` for a task as the wire shows it: its ``status`` is one of ``statuses``."""
    return lambda task: task["status"] in statuses
