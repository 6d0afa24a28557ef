"""One ``backend`` fixture, parametrized over every storage backend.

Each entry of ``BACKENDS`` is a factory: given the pytest request (to reach
server fixtures) and a clock, it yields a ready backend. Adding a backend to
the contract suite is adding one entry here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from mcp_tasks_server.backends import MemoryBackend, StorageBackend
from tests.dynamodb_servers import ATOMIC_SERVERS, backend_factory
from tests.support.clock import ManualClock

BackendFactory = Callable[
    [pytest.FixtureRequest, ManualClock], AbstractAsyncContextManager[StorageBackend]
]


@asynccontextmanager
async def memory_backend(
    request: pytest.FixtureRequest, clock: ManualClock
) -> AsyncIterator[StorageBackend]:
    backend = MemoryBackend(clock=clock)
    try:
        yield backend
    finally:
        await backend.aclose()


# One shard of the global cap, so the suite's small caps (a few tasks) are exact
# there too; the DynamoDB tests cover several shards.
BACKENDS: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "dynamodb-local": backend_factory("dynamodb_local", active_shards=1),
    "moto": backend_factory("moto_dynamodb", active_shards=1),
}


ATOMIC_BACKENDS = sorted(name for name in BACKENDS if name == "memory" or name in ATOMIC_SERVERS)
"""The backends that keep a conditional write atomic under concurrent requests.

Race tests run only on these (``@on_atomic_backends``): moto's server does not
lock between a write's condition check and the write, so a race there tests the
emulator rather than the backend. Every other contract test runs everywhere.
"""

on_atomic_backends = pytest.mark.parametrize("backend", ATOMIC_BACKENDS, indirect=True)


@pytest.fixture(params=sorted(BACKENDS))
async def backend(
    request: pytest.FixtureRequest, clock: ManualClock
) -> AsyncIterator[StorageBackend]:
    async with BACKENDS[request.param](request, clock) as ready:
        yield ready


@pytest.fixture
def owner() -> str:
    """A fresh owner per test, so tests never see each other's records."""
    return f"owner-{uuid.uuid4().hex}"
