"""The audit trail of a real server over HTTP: one JSON line per create, answer, cancel,
finish and refusal, with hashed ids, on its own logger, and never a payload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_tasks_server.observability import LogIds
from tests.distributed.cluster import RpcError, client
from tests.dynamodb_servers import UVICORN_LISTENING, reported_port
from tests.support.processes import stop_process

pytestmark = pytest.mark.anyio

SERVER = str(Path(sys.executable).with_name("mcp-tasks-server"))
KEY = "an audit hash key shared by replicas"
IDS = LogIds(KEY.encode())


def start_server(log_path: Path) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MCP_TASKS_")}
    environment.update(
        {
            "MCP_TASKS_PORT": "0",
            "MCP_TASKS_LOG_LEVEL": "INFO",
            "MCP_TASKS_LOG_HASH_KEY": KEY,
            "MCP_TASKS_REPLICA_ID": "replica-1",
            "MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER": "2",
            "MCP_TASKS_HEARTBEAT_INTERVAL_SECONDS": "0.2",
            "MCP_TASKS_LEASE_SECONDS": "2",
        }
    )
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [SERVER, "serve", "--transport", "http", "--stateless"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def audit_events(log_path: Path) -> list[dict[str, Any]]:
    events = []
    for line in log_path.read_text().splitlines():
        entry = json.loads(line)  # every line is one JSON object
        if entry["logger"] == "mcp_tasks_server.audit":
            events.append(entry)
    return events


async def test_a_task_lifecycle_over_http_writes_one_audit_event_per_step(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    process = start_server(log_path)
    try:
        port = reported_port("server", log_path, UVICORN_LISTENING, process.poll)
        async with client(f"http://127.0.0.1:{port}/mcp") as mcp:
            deploy = await mcp.start(
                "deploy", {"service": "web", "version": "7", "step_seconds": 0}
            )
            with anyio.fail_after(30):
                while (parked := await mcp.get_modern(deploy))["status"] != "input_required":  # noqa: ASYNC110 - polling the server is the point
                    await anyio.sleep(0.05)
            [key] = parked["inputRequests"]
            await mcp.update(deploy, {key: {"action": "accept", "content": {"confirm": True}}})
            await mcp.wait_for(deploy, {"completed"})
            long = await mcp.start("count_primes", {"limit": 2, "seconds": 60})
            await mcp.start("count_primes", {"limit": 2, "seconds": 60})
            with pytest.raises(RpcError):  # the third unfinished task is over the quota
                await mcp.start("count_primes", {"limit": 2, "seconds": 60})
            await mcp.cancel(long)
    finally:
        process.send_signal(signal.SIGTERM)
        await anyio.to_thread.run_sync(process.wait, 30)
        stop_process(process)
    events = audit_events(log_path)
    steps = [(e["event"], e["outcome"], e["tool"]) for e in events]
    # The one still running at shutdown is finished by the shutdown, as failed.
    assert steps == [
        ("task.created", "accepted", "deploy"),
        ("task.answered", "accepted", "deploy"),
        ("task.finished", "completed", "deploy"),
        ("task.created", "accepted", "count_primes"),
        ("task.created", "accepted", "count_primes"),
        ("task.created", "refused", "count_primes"),
        ("task.cancelled", "accepted", "count_primes"),
        ("task.finished", "cancelled", "count_primes"),
        ("task.finished", "failed", "count_primes"),
    ]
    assert events[0]["task"] == IDS.task(deploy)  # the shared key: hashes correlate
    assert {e["task"] for e in events[:3]} == {IDS.task(deploy)}
    assert events[5]["reason"] == "quota"
    assert {e["replica"] for e in events} == {"replica-1"}
    assert len({e["owner"] for e in events}) == 1  # one stateless, unauthenticated owner
    assert {e["owner_kind"] for e in events} == {"anonymous"}
    assert all(e["level"] == "INFO" for e in events)
    text = log_path.read_text()
    assert deploy not in text  # ids reach the logs only as hashes
    assert '"web"' not in text  # and arguments not at all
