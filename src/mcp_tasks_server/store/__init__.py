"""The task store: every lifecycle rule over any backend, and the record codec."""

from mcp_tasks_server.store.policy import StorePolicy
from mcp_tasks_server.store.store import InputDelivery, TaskPage, TaskStore

__all__ = ["InputDelivery", "StorePolicy", "TaskPage", "TaskStore"]
