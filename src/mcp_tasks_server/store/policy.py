"""``StorePolicy``: the limits and defaults the task store enforces, as plain values.

The store never reads settings: the entry point turns ``Settings`` into one
of these (:meth:`mcp_tasks_server.settings.Settings.store_policy`). The
defaults are the documented defaults of the matching ``MCP_TASKS_*`` settings.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StorePolicy"]


@dataclass(frozen=True, slots=True)
class StorePolicy:
    """TTL, caps, page size and lease length for one :class:`TaskStore`."""

    default_ttl_ms: int | None = 3_600_000
    max_ttl_ms: int | None = 86_400_000
    poll_interval_ms: int = 1_000
    max_active_tasks_per_owner: int = 100
    """0 disables the quota."""
    list_page_size: int = 50
    max_result_bytes: int = 262_144
    max_error_bytes: int = 32_768
    max_input_bytes: int = 32_768
    max_arguments_bytes: int = 32_768
    max_status_message_bytes: int = 2_048
    lease_ms: int = 30_000
