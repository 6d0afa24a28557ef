"""Queue mode in one process: a front end and workers over one backend and one queue.

Each front end and worker is its own ``Tasks`` with its own replica id, its
own runner and its own ``MCPServer`` carrying the same tools
(:mod:`tests.support.queue_tools`): they share nothing but the store and the
queue, as processes would. ``queues`` is parametrized over the in-process
queue and both SQS servers, each with a fresh queue pair whose redrive policy
moves a message to its dead-letter queue after ``MAX_RECEIVES`` receives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server import Settings, Tasks
from mcp_tasks_server.backends import StorageBackend
from mcp_tasks_server.core.model import TaskRecord, TaskStatus
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.queues import TaskQueue
from mcp_tasks_server.runtime.worker import Worker
from mcp_tasks_server.server.worker import open_worker
from tests.queues.conftest import (
    MAX_RECEIVE_COUNT,
    HarnessFactory,
    QueueHarness,
    memory_harness,
    sqs_harness,
)
from tests.sqs_servers import (
    local_aws_sqs,
    moto_sqs,
)
from tests.support import queue_tools

__all__ = ["QueuePair", "local_aws_sqs", "moto_sqs"]

MAX_RECEIVES = MAX_RECEIVE_COUNT  # the in-process queue's, and the SQS queues' redrive
FAST: dict[str, Any] = {
    "execution": "queue",
    "heartbeat_interval_seconds": 0.1,
    # Long enough that an event loop stalled by a loaded machine never trips a
    # replica's fence (which stops its tool a margin before the lease ends).
    "lease_seconds": 3,
    "clock_skew_margin_seconds": 0,  # one machine, one clock
    "lease_sweep_interval_seconds": 0.1,
    "shutdown_grace_seconds": 0,
    "claim_timeout_seconds": 30,
    "worker_receive_wait_seconds": 1,
}


QueuePair = QueueHarness
"""A queue, its dead-letter queue and a raw sender: the queue contract suite's harness."""

_HARNESSES: dict[str, HarnessFactory] = {
    "memory": memory_harness,
    "moto": sqs_harness("moto_sqs", MAX_RECEIVES),
    "local-aws-sqs": sqs_harness("local_aws_sqs", MAX_RECEIVES),
}


@pytest.fixture(params=list(_HARNESSES))
async def queues(request: pytest.FixtureRequest) -> AsyncIterator[QueuePair]:
    async with _HARNESSES[request.param](request) as harness:
        yield harness


def settings_for(name: str, **overrides: Any) -> Settings:
    return Settings(**{**FAST, "replica_id": name, **overrides})


def _tasks(settings: Settings, backend: StorageBackend, queue: TaskQueue) -> MCPServer[Any]:
    tasks = Tasks(settings, backend=backend, queue=queue)
    server = MCPServer(settings.replica)
    queue_tools.register(tasks, server)
    tasks.install(server)
    return server


@asynccontextmanager
async def front_end(
    backend: StorageBackend, queue: TaskQueue, **overrides: Any
) -> AsyncIterator[Tasks]:
    """A queue-mode front end: stores and enqueues, runs nothing."""
    server = _tasks(settings_for("front", **overrides), backend, queue)
    tasks = Tasks.of(server)
    async with tasks.running():
        yield tasks


@asynccontextmanager
async def worker(
    backend: StorageBackend,
    queue: TaskQueue,
    name: str = "w1",
    *,
    loop: bool = True,
    **overrides: Any,
) -> AsyncIterator[Worker]:
    """A worker; with ``loop`` its long-poll loop runs until the block ends (then drains)."""
    settings = settings_for(name, **overrides)
    server = _tasks(settings, backend, queue)
    async with open_worker(settings, server) as ready, anyio.create_task_group() as group:
        if loop:
            group.start_soon(ready.run)
        try:
            yield ready
        finally:
            await ready.drain(0)
            group.cancel_scope.cancel()


async def start(front: Tasks, tool: str, **arguments: Any) -> TaskRecord:
    return await front.start_task(LOCAL, tool, arguments)


async def wait_for(
    front: Tasks,
    task_id: str,
    done: Callable[[TaskRecord], bool],
    within: float = 30,
) -> TaskRecord:
    """Poll the store (as a client would) until ``done`` holds."""
    with anyio.fail_after(within):
        while True:
            record = await front.service.get(LOCAL, task_id)
            if done(record):
                return record
            await anyio.sleep(0.02)


def finished(record: TaskRecord) -> bool:
    return record.is_terminal


def status_is(status: TaskStatus) -> Callable[[TaskRecord], bool]:
    return lambda record: record.status is status
