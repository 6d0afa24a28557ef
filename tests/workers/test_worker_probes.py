"""A worker process serves /healthz and /readyz on MCP_TASKS_PROBE_PORT, and stops on SIGTERM."""

from __future__ import annotations

import logging
import os
import re
import signal

import anyio
import httpx
import pytest

from mcp_tasks_server.backends.memory import MemoryBackend
from mcp_tasks_server.queues.memory import MemoryQueue
from mcp_tasks_server.server.worker import run_worker
from tests.workers.conftest import _tasks, settings_for

pytestmark = pytest.mark.anyio

SERVING = re.compile(r"serving /healthz and /readyz on 127\.0\.0\.1:(\d+)")


async def test_worker_serves_probes_on_its_probe_port_until_sigterm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_tasks_server.server.worker")
    settings = settings_for("w1", probe_port=0)  # port 0: the bound port is logged
    server = _tasks(settings, MemoryBackend(), MemoryQueue())
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(run_worker, settings, server)
            while not (found := SERVING.search(caplog.text)):  # noqa: ASYNC110
                await anyio.sleep(0.02)  # the worker says where it listens once it does
            base = f"http://127.0.0.1:{found.group(1)}"
            async with httpx.AsyncClient(timeout=10) as client:
                health = await client.get(f"{base}/healthz")
                ready = await client.get(f"{base}/readyz")
            os.kill(os.getpid(), signal.SIGTERM)  # the worker drains and returns
    assert health.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
