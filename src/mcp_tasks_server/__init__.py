"""Durable, long-running MCP tasks for servers built on the official Python SDK.

The public surface, re-exported here:

* the model: :class:`TaskStatus`, :class:`TaskRecord` and friends;
* storage: :class:`StorageBackend` (the contract), :class:`MemoryBackend`,
  and :func:`build_backend`, which picks one from the settings;
* rules: :class:`TaskStore`, lifecycle rules over any backend;
* configuration: :class:`Settings` and :func:`load_settings`;
* MCP: :class:`Tasks`, which installs tasks on an ``MCPServer``, and
  :class:`TaskContext`, what a task tool receives;
* errors: everything in :mod:`mcp_tasks_server.errors`.
"""

from importlib import metadata

from mcp_tasks_server.backends import MemoryBackend, StorageBackend, StoredRecord, build_backend
from mcp_tasks_server.context import TaskContext
from mcp_tasks_server.errors import (
    ConfigError,
    InvalidArgument,
    InvalidCursor,
    InvalidTransition,
    PayloadTooLarge,
    QuotaExceeded,
    StorageFull,
    StorageUnavailable,
    TaskError,
    TaskNotFound,
    TaskTerminal,
)
from mcp_tasks_server.model import InputRequest, Progress, TaskRecord, TaskStatus, ToolRequest
from mcp_tasks_server.protocol import Tasks, TaskSupport
from mcp_tasks_server.settings import Settings, load_settings
from mcp_tasks_server.store import InputDelivery, TaskPage, TaskStore

__version__ = metadata.version("mcp-tasks-server")

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
