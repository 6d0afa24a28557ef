"""A backend view that can be taken out of reach: one replica's store outage, in memory.

:class:`OutageBackend` forwards every operation to a shared backend, except
while ``down``: then each raises ``BackendUnavailable``, as a store out of
reach would. Another replica on the shared backend itself is unaffected.
"""

from __future__ import annotations

from mcp_tasks_server.backends import StorageBackend, StoredRecord
from mcp_tasks_server.backends.base import Page
from mcp_tasks_server.backends.errors import BackendUnavailable

__all__ = ["OutageBackend"]


class OutageBackend(StorageBackend):
    name = "outage"

    def __init__(self, inner: StorageBackend) -> None:
        super().__init__(clock=inner.clock)
        self.inner = inner
        self.down = False
        self.refused = 0

    def _reach(self) -> None:
        if self.down:
            self.refused += 1
            raise BackendUnavailable("the store cannot be reached")

    async def _create(
        self,
        record: StoredRecord,
        *,
        max_active: int | None = None,
        max_total_active: int | None = None,
    ) -> None:
        self._reach()
        await self.inner.create(record, max_active=max_active, max_total_active=max_total_active)

    async def get(self, owner: str, task_id: str) -> StoredRecord:
        self._reach()
        return await self.inner.get(owner, task_id)

    async def _replace(self, record: StoredRecord, expected_version: int) -> None:
        self._reach()
        await self.inner.replace(record, expected_version)

    async def delete(self, owner: str, task_id: str) -> bool:
        self._reach()
        return await self.inner.delete(owner, task_id)

    async def _list(self, owner: str, *, limit: int, cursor: str | None = None) -> Page:
        self._reach()
        return await self.inner.list(owner, limit=limit, cursor=cursor)

    async def _list_orphans(self, *, limit: int, cursor: str | None = None) -> Page:
        self._reach()
        return await self.inner.list_orphans(limit=limit, cursor=cursor)

    async def sweep_expired(self) -> int:
        self._reach()
        return await self.inner.sweep_expired()
