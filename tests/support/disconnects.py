"""A client that goes away mid-create, held at the one moment that matters.

The risk: a task's write lands, but its reply has not reached the server yet
when the request that created it is cancelled (its client disconnected). If
storing and starting were two steps, the cancel would fall between them and
leave a stored task that never runs. On a real store that window is one
round trip; here it is held open on purpose:

* :class:`HeldReplyBackend` stores a create at once, then holds its reply
  back until the creating request was cancelled (or a deadline passed);
* :func:`hold_until_caller_leaves` watches each create's caller and releases
  the reply as soon as that caller is cancelled, so the cancel is in flight
  exactly while the task is stored and not yet started.

Tests then check that every task the backend stored ran to its end, and that
the caller really was cancelled (or the test would prove nothing).
:func:`stdio_server` builds the same server for ``mcp-tasks-server serve
--tools tests.support.disconnects:stdio_server``, reporting on stderr
(``STORED <task id>``, ``CALLER LEFT``, ``RAN``), since its store dies with
the process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server import MemoryBackend, Settings
from mcp_tasks_server.backends import StoredRecord
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.runtime.service import TaskService

__all__ = ["HeldReplyBackend", "hold_until_caller_leaves", "stdio_server"]

HOLD_SECONDS = 30.0
"""Longest a reply is held when no caller leaves (the test then fails, saying so)."""


class HeldReplyBackend(MemoryBackend):
    """A memory backend whose creates are durable at once and answered late.

    ``write_first=False`` holds the write itself instead: a create still on
    its way to the table.
    """

    def __init__(
        self, report: Callable[[str], None] = lambda line: None, *, write_first: bool = True
    ) -> None:
        super().__init__()
        self.stored: list[str] = []
        self.holding = False
        self.caller_left = False
        self._report = report
        self._write_first = write_first
        self._reply: anyio.Event | None = None

    async def create(
        self,
        record: StoredRecord,
        *,
        max_active: int | None = None,
        max_total_active: int | None = None,
    ) -> None:
        limits = {"max_active": max_active, "max_total_active": max_total_active}
        if self._write_first:
            await self._store(record, limits)
        if self._reply is None:
            self._reply = anyio.Event()
        self.holding = True
        with anyio.move_on_after(HOLD_SECONDS):
            await self._reply.wait()
        if not self._write_first:
            await self._store(record, limits)

    async def _store(self, record: StoredRecord, limits: dict[str, int | None]) -> None:
        await super().create(record, **limits)
        self.stored.append(record.task_id)
        self._report(f"STORED {record.task_id}")

    def release(self, *, caller_left: bool) -> None:
        """Let held replies through; ``caller_left``: because a creating request was cancelled."""
        if caller_left and not self.caller_left:
            self.caller_left = True
            self._report("CALLER LEFT")
        if self._reply is None:
            self._reply = anyio.Event()
        self._reply.set()


def hold_until_caller_leaves(service: TaskService, backend: HeldReplyBackend) -> None:
    """Release ``backend``'s held replies once the request calling ``service.create`` is cancelled.

    A watcher runs beside each create, in the caller's own cancel scope: the
    store-and-start inside ``create`` is shielded from that scope, the watcher
    is not, so it sees the caller's cancel even while the create cannot.
    """
    create = service.create

    async def watched_create(*args: Any, **kwargs: Any) -> Any:
        answered = False  # the create ended on its own, not by its caller's cancel

        async def watch() -> None:
            try:
                await anyio.sleep_forever()
            finally:
                backend.release(caller_left=not answered)

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            try:
                record = await create(*args, **kwargs)
            except anyio.get_cancelled_exc_class():
                raise  # the caller left: the watcher, cancelled with it, says so
            except Exception:
                answered = True
                raise
            answered = True
            group.cancel_scope.cancel()
            return record

    service.create = watched_create  # type: ignore[method-assign]


def _report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def stdio_server() -> MCPServer[Any]:
    """The server for ``serve --tools``: one quick task tool over a held-reply backend."""
    backend = HeldReplyBackend(_report)
    tasks = Tasks(Settings(), backend=backend)
    server: MCPServer[Any] = MCPServer("disconnects")

    @tasks.tool(task_support="optional")
    async def quick() -> str:
        """Answer at once."""
        _report("RAN")
        return "ran"

    tasks.install(server)
    hold_until_caller_leaves(tasks.service, backend)
    return server
