"""``StorePolicy``: the limits and defaults the task store enforces, as plain values.

The store never reads settings: the entry point turns ``Settings`` into one
of these (:meth:`mcp_tasks_server.settings.Settings.store_policy`). The
defaults are the documented defaults of the matching ``MCP_TASKS_*`` settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic_core

from mcp_tasks_server.core.errors import InvalidArgument, PayloadTooLarge
from mcp_tasks_server.core.model import ToolRequest

__all__ = ["StorePolicy", "truncate_utf8"]


@dataclass(frozen=True, slots=True)
class StorePolicy:
    """TTL, caps, page size and lease length for one :class:`TaskStore`."""

    default_ttl_ms: int | None = 3_600_000
    max_ttl_ms: int | None = 86_400_000
    poll_interval_ms: int = 1_000
    max_active_tasks_per_owner: int = 100
    """0 disables the quota."""
    max_active_tasks: int = 10_000
    """Unfinished tasks of all owners together (the global cap); 0 disables it."""
    list_page_size: int = 50
    max_result_bytes: int = 262_144
    max_error_bytes: int = 32_768
    max_input_bytes: int = 32_768
    max_arguments_bytes: int = 32_768
    max_status_message_bytes: int = 2_048
    lease_ms: int = 30_000
    clock_skew_margin_ms: int = 2_000
    """How long after its lease runs out an unfinished task counts as an orphan."""

    def effective_ttl_ms(self, requested_ms: int | None) -> int | None:
        """The TTL the server grants for a request (``None`` = unlimited).

        No request gets the default. A request above the maximum is clamped
        to it: the spec lets the server override the TTL, and it reports the
        value it actually used.
        """
        if requested_ms is None:
            return self.default_ttl_ms
        if isinstance(requested_ms, bool) or not isinstance(requested_ms, int):
            raise InvalidArgument("ttl must be an integer number of milliseconds")
        if requested_ms < 1:
            raise InvalidArgument("ttl must be at least 1 millisecond")
        ceiling = self.max_ttl_ms
        return requested_ms if ceiling is None else min(requested_ms, ceiling)

    def check_request(self, request: ToolRequest) -> None:
        """``PayloadTooLarge`` for call arguments, or answers given with them, over the caps."""
        self.check_size("tool arguments", request.arguments, self.max_arguments_bytes)
        if request.answered_before_the_task:
            answers = [request.input_responses, request.request_state]
            self.check_size("input responses", answers, self.max_input_bytes)

    @staticmethod
    def check_size(what: str, value: Any, limit: int) -> None:
        """``PayloadTooLarge`` unless ``value`` fits ``limit`` bytes as JSON."""
        size = len(pydantic_core.to_json(value))
        if size > limit:
            raise PayloadTooLarge(what, size, limit)

    def check_message(self, message: str | None) -> None:
        """``PayloadTooLarge`` for a status message over the cap."""
        if message is not None:
            size = len(message.encode())
            if size > self.max_status_message_bytes:
                raise PayloadTooLarge("status message", size, self.max_status_message_bytes)


def truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, marked with an ellipsis when cut."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "..."
