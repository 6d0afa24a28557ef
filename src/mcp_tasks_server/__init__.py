"""Durable, long-running MCP tasks for servers built on the official Python SDK.

The public surface, re-exported here:

* the model: :class:`TaskStatus`, :class:`TaskRecord` and friends;
* storage: :class:`StorageBackend` (the contract), :class:`MemoryBackend`,
  and :func:`build_backend`, which picks one from the settings;
* rules: :class:`TaskStore`, lifecycle rules over any backend;
* configuration: :class:`Settings` and :func:`load_settings`;
* MCP: :class:`Tasks`, which installs tasks on an ``MCPServer``, and
  :class:`TaskContext`, what a task tool receives;
* errors: the task errors and the storage errors a caller may meet.

Each name is imported on first use, so ``mcp_tasks_server.client`` and the
CLI's light commands never load the server side.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_tasks_server.backends import MemoryBackend, StorageBackend, StoredRecord
    from mcp_tasks_server.backends.errors import InvalidCursor, QuotaExceeded
    from mcp_tasks_server.core.errors import (
        ConfigError,
        InvalidArgument,
        InvalidTransition,
        PayloadTooLarge,
        StorageFull,
        StorageUnavailable,
        TaskError,
        TaskNotFound,
        TaskTerminal,
    )
    from mcp_tasks_server.core.model import (
        InputRequest,
        Progress,
        TaskRecord,
        TaskStatus,
        ToolRequest,
    )
    from mcp_tasks_server.protocol import Tasks, TaskSupport
    from mcp_tasks_server.protocol.storage import build_backend
    from mcp_tasks_server.runtime.context import TaskContext
    from mcp_tasks_server.settings import Settings, load_settings
    from mcp_tasks_server.store.store import InputDelivery, TaskPage, TaskStore

__version__ = metadata.version("mcp-tasks-server")

# name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "MemoryBackend": "mcp_tasks_server.backends",
    "StorageBackend": "mcp_tasks_server.backends",
    "StoredRecord": "mcp_tasks_server.backends",
    "InvalidCursor": "mcp_tasks_server.backends.errors",
    "QuotaExceeded": "mcp_tasks_server.backends.errors",
    "TaskContext": "mcp_tasks_server.runtime.context",
    "ConfigError": "mcp_tasks_server.core.errors",
    "InvalidArgument": "mcp_tasks_server.core.errors",
    "InvalidTransition": "mcp_tasks_server.core.errors",
    "PayloadTooLarge": "mcp_tasks_server.core.errors",
    "StorageFull": "mcp_tasks_server.core.errors",
    "StorageUnavailable": "mcp_tasks_server.core.errors",
    "TaskError": "mcp_tasks_server.core.errors",
    "TaskNotFound": "mcp_tasks_server.core.errors",
    "TaskTerminal": "mcp_tasks_server.core.errors",
    "InputRequest": "mcp_tasks_server.core.model",
    "Progress": "mcp_tasks_server.core.model",
    "TaskRecord": "mcp_tasks_server.core.model",
    "TaskStatus": "mcp_tasks_server.core.model",
    "ToolRequest": "mcp_tasks_server.core.model",
    "Tasks": "mcp_tasks_server.protocol",
    "TaskSupport": "mcp_tasks_server.protocol",
    "build_backend": "mcp_tasks_server.protocol.storage",
    "Settings": "mcp_tasks_server.settings",
    "load_settings": "mcp_tasks_server.settings",
    "InputDelivery": "mcp_tasks_server.store.store",
    "TaskPage": "mcp_tasks_server.store.store",
    "TaskStore": "mcp_tasks_server.store.store",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "ConfigError",
    "InputDelivery",
    "InputRequest",
    "InvalidArgument",
    "InvalidCursor",
    "InvalidTransition",
    "MemoryBackend",
    "PayloadTooLarge",
    "Progress",
    "QuotaExceeded",
    "Settings",
    "StorageBackend",
    "StorageFull",
    "StorageUnavailable",
    "StoredRecord",
    "TaskContext",
    "TaskError",
    "TaskNotFound",
    "TaskPage",
    "TaskRecord",
    "TaskStatus",
    "TaskStore",
    "TaskSupport",
    "TaskTerminal",
    "Tasks",
    "ToolRequest",
    "__version__",
    "build_backend",
    "load_settings",
]
