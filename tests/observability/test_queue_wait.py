"""Queue mode records each task's wait from queued to claimed, once, when a worker claims it."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server.backends.memory import MemoryBackend
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.observability import AuditLog, LogIds, Observers
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.queues.memory import MemoryQueue
from mcp_tasks_server.server.worker import open_worker
from tests.support import queue_tools
from tests.support.otel import Recorded
from tests.workers.conftest import settings_for

pytestmark = pytest.mark.anyio

IDS = LogIds(b"a shared key of 32 bytes........")


def served(name: str, otel: Recorded, backend: MemoryBackend, queue: MemoryQueue) -> Any:
    settings = settings_for(name)
    observers = Observers(IDS, otel.telemetry, AuditLog(IDS, replica=name))
    tasks = Tasks(settings, backend=backend, queue=queue, observers=observers)
    server: MCPServer[Any] = MCPServer(name)
    queue_tools.register(tasks, server)
    tasks.install(server)
    return settings, server, tasks


async def test_a_claimed_task_records_its_queue_wait_once(otel: Recorded) -> None:
    backend, queue = MemoryBackend(), MemoryQueue()
    _, _, front = served("front", otel, backend, queue)
    worker_settings, worker_server, _ = served("w1", otel, backend, queue)
    async with front.running():
        record = await front.start_task(LOCAL, "sleepy", {"seconds": 0})
        async with open_worker(worker_settings, worker_server) as worker:
            (delivery,) = await queue.receive(1, 1)
            with anyio.fail_after(30):
                await worker.handle(delivery)
        done = await front.service.get(LOCAL, record.task_id)
    waits = otel.histograms("mcp_tasks.task.queue_wait")
    assert done.status.value == "completed"
    assert sum(count for count, _ in waits.values()) == 1
    assert all(total >= 0 for _, total in waits.values())
