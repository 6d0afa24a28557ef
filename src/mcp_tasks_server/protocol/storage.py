"""``build_backend``: the storage backend the settings name, built once at the root.

The one place that knows both ``MCP_TASKS_*`` names and backend constructor
arguments; the backends themselves never see the settings.
"""

from __future__ import annotations

from mcp_tasks_server.backends.base import StorageBackend
from mcp_tasks_server.backends.memory import MemoryBackend
from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.observability.telemetry import NOOP_TELEMETRY, Telemetry
from mcp_tasks_server.settings import Settings

__all__ = ["build_backend"]


def build_backend(settings: Settings, *, telemetry: Telemetry = NOOP_TELEMETRY) -> StorageBackend:
    """The backend ``MCP_TASKS_BACKEND`` names, configured from ``settings``.

    ``telemetry`` times each backend request (where a backend makes requests).
    """
    if settings.backend == "memory":
        return MemoryBackend(max_records=settings.memory_max_tasks or None)
    if settings.backend == "dynamodb":
        return _dynamodb_backend(settings, telemetry)
    raise ConfigError(f"MCP_TASKS_BACKEND={settings.backend!r} is not a known backend")


def _dynamodb_backend(settings: Settings, telemetry: Telemetry) -> StorageBackend:
    """The backend ``MCP_TASKS_DYNAMODB_*`` describe; region and credentials come from AWS."""
    try:
        from mcp_tasks_server.backends.dynamodb import MAX_TRACKED_ACTIVE, DynamoDbBackend
    except ImportError as exc:
        if exc.name not in {"aioboto3", "aiobotocore", "botocore", "boto3"}:
            raise
        raise ConfigError(
            "MCP_TASKS_BACKEND=dynamodb needs aioboto3: pip install 'mcp-tasks-server[dynamodb]'"
        ) from None
    quota = settings.max_active_tasks_per_owner
    if quota > MAX_TRACKED_ACTIVE:
        raise ConfigError(
            f"MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER={quota} is too large for the DynamoDB "
            f"backend, which enforces at most {MAX_TRACKED_ACTIVE} (0 disables the quota)"
        )
    return DynamoDbBackend(
        settings.dynamodb_table,
        endpoint_url=settings.dynamodb_endpoint,
        region_name=settings.dynamodb_region,
        max_pool_connections=settings.dynamodb_max_pool_connections,
        timeout_seconds=settings.dynamodb_timeout_seconds,
        max_attempts=settings.dynamodb_max_attempts,
        retry_mode=settings.dynamodb_retry_mode,
        max_item_bytes=settings.dynamodb_max_item_bytes,
        track_active=quota > 0,
        telemetry=telemetry,
    )
