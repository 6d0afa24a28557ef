"""How tests assemble the lower layers from settings, as the composition root does."""

from __future__ import annotations

from mcp_tasks_server import Settings
from mcp_tasks_server.backends import StorageBackend
from mcp_tasks_server.store.store import TaskStore


def make_store(backend: StorageBackend, settings: Settings | None = None) -> TaskStore:
    """A store over ``backend`` with the limits and replica id ``settings`` give."""
    settings = settings if settings is not None else Settings()
    return TaskStore(backend, settings.store_policy(), replica=settings.replica)
