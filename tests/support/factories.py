"""How tests assemble the lower layers from settings, as the composition root does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp_tasks_server import Settings
from mcp_tasks_server.backends import StorageBackend
from mcp_tasks_server.protocol.storage import build_record_codec
from mcp_tasks_server.runtime.runner import Runner
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.store.codec import RecordCodec
from mcp_tasks_server.store.store import TaskStore


def make_store(
    backend: StorageBackend, settings: Settings | None = None, *, codec: RecordCodec | None = None
) -> TaskStore:
    """A store over ``backend`` with the limits, replica id and encryption ``settings`` give."""
    settings = settings if settings is not None else Settings()
    if codec is None:
        codec = build_record_codec(settings)
    return TaskStore(backend, settings.store_policy(), replica=settings.replica, codec=codec)


@asynccontextmanager
async def running_service(
    backend: StorageBackend, settings: Settings
) -> AsyncIterator[TaskService]:
    """One replica on ``backend``: a store, its running runner and the service over both."""
    store = make_store(backend, settings)
    async with Runner(store, settings) as runner:
        yield TaskService(store, runner)
