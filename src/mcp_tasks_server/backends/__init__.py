"""Storage backends, and the one place that picks one from the settings."""

from __future__ import annotations

from mcp_tasks_server.backends.base import Page, StorageBackend, StoredRecord
from mcp_tasks_server.backends.memory import MemoryBackend
from mcp_tasks_server.errors import ConfigError
from mcp_tasks_server.settings import Settings

__all__ = ["MemoryBackend", "Page", "StorageBackend", "StoredRecord", "build_backend"]


def build_backend(settings: Settings) -> StorageBackend:
    """The backend ``MCP_TASKS_BACKEND`` names, configured from ``settings``."""
    if settings.backend == "memory":
        return MemoryBackend(max_records=settings.memory_max_tasks or None)
    if settings.backend == "dynamodb":
        try:
            from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
        except ImportError as exc:
            if exc.name not in {"aioboto3", "aiobotocore", "botocore", "boto3"}:
                raise
            raise ConfigError(
                "MCP_TASKS_BACKEND=dynamodb needs aioboto3: "
                "pip install 'mcp-tasks-server[dynamodb]'"
            ) from None
        return DynamoDbBackend.from_settings(settings)
    raise ConfigError(f"MCP_TASKS_BACKEND={settings.backend!r} is not a known backend")
