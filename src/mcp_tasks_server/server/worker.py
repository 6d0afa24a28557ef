"""``open_worker``: a ready queue worker for a server's tools, built from ``Settings``.

The CLI's ``worker`` command and the AWS Lambda handler share it::

    server = build_server(settings, profile=..., tools=...)
    async with open_worker(settings, server) as worker:
        await worker.run()                     # a process: long-poll the queue
        # or: outcome = await worker.handle(delivery, deadline=...)   # Lambda

It enters the server's lifespan (storage, the runner with its heartbeat and
sweeps, the queue, and whatever the tools' own lifespan opens), so the worker
runs the very tools ``serve`` offers, from the same registry. Leaving the
block shuts down as ``serve`` does: running tasks get
``MCP_TASKS_SHUTDOWN_GRACE_SECONDS``, the rest are failed.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.protocol import Tasks, sdk
from mcp_tasks_server.runtime.worker import Worker, WorkerPolicy
from mcp_tasks_server.server.probes import serve_probes
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.readiness import ping

__all__ = ["open_worker", "run_worker", "worker_policy"]

logger = logging.getLogger(__name__)


def worker_policy(settings: Settings, *, ack: bool = True) -> WorkerPolicy:
    """The ``MCP_TASKS_WORKER_*`` settings as a policy (``ack=False`` for Lambda's event source)."""
    return WorkerPolicy(
        claim_ms=round(settings.claim_timeout_seconds * 1000),
        concurrency=settings.worker_concurrency,
        receive_wait_seconds=settings.worker_receive_wait_seconds,
        visibility_seconds=settings.worker_visibility_seconds,
        time_margin_seconds=settings.worker_time_margin_seconds,
        ack=ack,
    )


@asynccontextmanager
async def open_worker(
    settings: Settings, server: MCPServer[Any], *, ack: bool = True
) -> AsyncIterator[Worker]:
    """A worker for ``server``'s tasks, its lifespan open for as long as the block runs."""
    tasks = Tasks.of(server)
    if tasks.queue is None:
        raise ConfigError("a worker needs MCP_TASKS_EXECUTION=queue (and MCP_TASKS_QUEUE_URL)")
    async with sdk.server_lifespan(server):
        yield Worker(
            tasks.store,
            tasks.runner,
            tasks.queue,
            tasks.invoke_for,
            worker_policy(settings, ack=ack),
        )


async def run_worker(settings: Settings, server: MCPServer[Any]) -> None:
    """Run a worker until SIGTERM or SIGINT, then drain: stop receiving, grace, fail the rest.

    With ``MCP_TASKS_PROBE_PORT`` the worker also serves ``/healthz`` and
    ``/readyz`` on ``MCP_TASKS_HOST`` at that port: ready while it takes
    tasks and its backend answers, 503 once it drains.
    """
    async with (
        open_worker(settings, server) as worker,
        _probes(settings, server),
        anyio.create_task_group() as group,
    ):

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    await worker.drain()
                    return

        group.start_soon(stop_on_signal)
        await worker.run()  # returns once the signal's drain has stopped every task


@asynccontextmanager
async def _probes(settings: Settings, server: MCPServer[Any]) -> AsyncIterator[None]:
    if settings.probe_port is None:
        yield
        return
    tasks = Tasks.of(server)

    async def ready() -> bool:
        return tasks.runner.accepting and await ping(tasks.backend)

    def draining() -> bool:
        return not tasks.runner.accepting

    async with serve_probes(settings.host, settings.probe_port, ready, draining=draining) as port:
        logger.info("serving /healthz and /readyz on %s:%s", settings.host, port)
        yield
