"""Core errors as JSON-RPC errors: the mapping both eras share.

The era adapters call :func:`to_mcp_error` and handle their few differences
themselves (a cancel of a finished task is -32602 in 2025-11-25 and an
acknowledged no-op in the 2026 extension).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND

from mcp_tasks_server.backends.errors import InvalidCursor, QuotaExceeded
from mcp_tasks_server.core.errors import (
    INTERNAL_ERROR,
    CapacityExceeded,
    ConcurrentModification,
    InvalidArgument,
    InvalidTransition,
    ListingNotAllowed,
    PayloadTooLarge,
    ResultNotReady,
    ServerShuttingDown,
    StorageFull,
    StorageUnavailable,
    TaskError,
    TaskNotFound,
)

__all__ = ["SERVER_BUSY", "from_error_object", "to_mcp_error"]

SERVER_BUSY = -32000
"""Implementation-defined: the server cannot take this request now (quota, capacity, draining)."""

_CODES: list[tuple[type[TaskError], int]] = [
    (TaskNotFound, INVALID_PARAMS),
    (InvalidCursor, INVALID_PARAMS),
    (InvalidArgument, INVALID_PARAMS),
    (InvalidTransition, INVALID_PARAMS),
    (PayloadTooLarge, INVALID_PARAMS),
    (ListingNotAllowed, METHOD_NOT_FOUND),
    (QuotaExceeded, SERVER_BUSY),
    (StorageFull, SERVER_BUSY),
    (CapacityExceeded, SERVER_BUSY),
    (ServerShuttingDown, SERVER_BUSY),
    (ResultNotReady, SERVER_BUSY),
    (ConcurrentModification, SERVER_BUSY),
    (StorageUnavailable, INTERNAL_ERROR),
]


def to_mcp_error(exc: TaskError) -> MCPError:
    """The JSON-RPC error for a core error. Messages are already safe for clients."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return MCPError(code=code, message=str(exc))
    return MCPError(code=INTERNAL_ERROR, message="Internal error")


def from_error_object(error: Mapping[str, Any]) -> MCPError:
    """A stored JSON-RPC error object (``{code, message, data?}``) as the error to raise."""
    return MCPError(code=int(error["code"]), message=str(error["message"]), data=error.get("data"))
