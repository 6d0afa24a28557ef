"""Storage backends: the contract, its errors, and the backends that keep it.

Backends take plain constructor arguments; which one a server uses, and with
what arguments, is decided from the settings by the composition root
(:func:`mcp_tasks_server.protocol.storage.build_backend`).
"""

from __future__ import annotations

from mcp_tasks_server.backends.base import Page, StorageBackend, StoredRecord
from mcp_tasks_server.backends.memory import MemoryBackend

__all__ = ["MemoryBackend", "Page", "StorageBackend", "StoredRecord"]
