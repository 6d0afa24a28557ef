"""Whether a backend answers: the readiness probe's one cheap request."""

from __future__ import annotations

import contextlib

from mcp_tasks_server.backends.base import StorageBackend
from mcp_tasks_server.backends.errors import RecordNotFound
from mcp_tasks_server.store.codec import backend_errors

__all__ = ["ping"]

# No owner key has this shape (each carries a kind prefix such as
# ``principal:``), so the read always misses and never touches a task.
_PING_OWNER = "readiness-probe"
_PING_TASK_ID = "0" * 36


async def ping(backend: StorageBackend) -> bool:
    """True once the backend answered one read of a key no task can have.

    One ``get`` (a GetItem on DynamoDB): it proves the endpoint, the
    credentials and the table at once. Raises ``StorageUnavailable`` when the
    backend does not answer.
    """
    with backend_errors(), contextlib.suppress(RecordNotFound):
        await backend.get(_PING_OWNER, _PING_TASK_ID)
    return True
