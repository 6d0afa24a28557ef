"""Two real server processes on one DynamoDB Local table: any replica answers for any task.

Every request is stateless and unauthenticated, so both replicas see the same
(anonymous) owner. Listing needs an owner binding that stateless HTTP does
not give, so the cross-replica listing is checked on two stores in one process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcp_tasks_server import Settings, TaskStore, ToolRequest
from mcp_tasks_server.core.lifecycle import STOPPED_MESSAGE
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.observability.redact import LogIds
from tests.distributed.cluster import (
    SERVER,
    Replica,
    client,
    raw_task,
    replica_environment,
    stored_tasks,
)
from tests.dynamodb_servers import DynamoDbServer, local_session
from tests.support.factories import make_store

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.dynamodb]

HEARTBEAT = 0.2
LEASE = 4.0
SWEEP = 0.5
SLACK = 5.0
"""Seconds a loaded machine may add to what takes a few heartbeats when it is idle.

Bounds below are mechanism + ``SLACK``: still far from what a broken mechanism
would take (a 60 s task left running, the default 30 s lease, the default 10 s
sweep), yet not tripped by two processes and a JVM sharing two busy cores. The
exact heartbeat arithmetic is pinned in process, in ``tests/test_leases.py``.
"""


def primes(seconds: float) -> dict[str, Any]:
    return {"limit": 2, "seconds": seconds}


async def wait_for_log(replica: Replica, text: str, within: float = 10) -> float:
    """Seconds until ``text`` shows in the replica's log."""
    started = time.monotonic()
    with anyio.fail_after(within):
        while text not in replica.log:  # noqa: ASYNC110 - another process's log
            await anyio.sleep(0.02)
    return time.monotonic() - started


async def test_task_started_on_one_replica_is_read_and_awaited_on_the_other(
    pair: list[Replica],
) -> None:
    a, b = pair
    work = 3.0  # long enough to be still running when B first looks
    async with client(a.url) as on_a, client(b.url) as on_b:
        started = time.monotonic()
        task_id = await on_a.start("count_primes", primes(work))
        assert (await on_b.get(task_id))["status"] == "working"
        result = await on_b.result(task_id)  # blocks on B while A works
        # Not before the work could have ended (it paces itself from its start,
        # which comes after ``started``), and soon after it did.
        assert work <= time.monotonic() - started < work + SLACK
        assert result["structuredContent"]["primes"] == 1
        assert (await on_a.get(task_id))["status"] == "completed"


async def test_cancel_on_one_replica_stops_the_work_on_the_other_within_a_heartbeat(
    pair: list[Replica],
) -> None:
    a, b = pair
    async with client(a.url) as on_a, client(b.url) as on_b:
        task_id = await on_a.start("count_primes", primes(60))
        cancelled = await on_b.cancel(task_id)
        assert cancelled["status"] == "cancelled"  # stored before B answered
        # Logs show task ids only as keyed hashes; the replicas share the key.
        hashed = LogIds(b"distributed-tests-log-hash-key").task(task_id)
        stop_seconds = await wait_for_log(a, f"stopped task {hashed}", within=HEARTBEAT + SLACK)
        print(f"cancel on B to stop on A: {stop_seconds * 1000:.0f} ms")
        await anyio.sleep(HEARTBEAT * 2)
        final = await on_a.get(task_id)
        assert final["status"] == "cancelled"  # the stopped work stored nothing after it


async def test_answer_on_one_replica_resumes_the_tool_on_the_other(pair: list[Replica]) -> None:
    a, b = pair
    async with client(a.url) as on_a, client(b.url) as on_b:
        arguments = {"service": "web", "version": "2", "step_seconds": 0}
        task_id = await on_a.start("deploy", arguments)
        with anyio.fail_after(30):
            while (parked := await on_b.get_modern(task_id))["status"] != "input_required":  # noqa: ASYNC110
                await anyio.sleep(0.05)
        [key] = parked["inputRequests"]
        answered = time.monotonic()
        await on_b.update(task_id, {key: {"action": "accept", "content": {"confirm": True}}})
        done = await on_b.wait_for(
            task_id, {"completed", "failed", "cancelled"}, within=HEARTBEAT + SLACK
        )
        resume_seconds = time.monotonic() - answered
        print(f"answer on B to completion on A: {resume_seconds * 1000:.0f} ms")
        assert done["status"] == "completed"
        result = await on_a.result(task_id)
        assert result["structuredContent"]["deployed"] is True


async def test_listing_shows_tasks_another_replica_stored(
    dynamodb_local: DynamoDbServer, table: str
) -> None:
    from mcp_tasks_server.backends.dynamodb import DynamoDbBackend

    def replica_store(name: str) -> TaskStore:
        backend = DynamoDbBackend(
            table, endpoint_url=dynamodb_local.endpoint, session=local_session()
        )
        return make_store(backend, Settings(backend="dynamodb", replica_id=name))

    store_a, store_b = replica_store("a"), replica_store("b")
    try:
        created = [
            await store_a.create(LOCAL.key, ToolRequest(name="job"), replica="a") for _ in range(3)
        ]
        listed = (await store_b.list(LOCAL.key)).records
        assert [r.task_id for r in listed] == [r.task_id for r in reversed(created)]
        assert {r.replica for r in listed} == {"a"}
    finally:
        await store_a.backend.aclose()
        await store_b.backend.aclose()


async def test_crashed_replicas_running_task_fails_within_lease_and_sweep(
    pair: list[Replica], dynamodb_local: DynamoDbServer, table: str
) -> None:
    a, b = pair
    async with client(a.url) as on_a, client(b.url) as on_b:
        finished = await on_a.start("count_primes", primes(0))
        assert (await on_a.result(finished))["structuredContent"]["primes"] == 1
        running = await on_a.start("count_primes", primes(60))
        a.crash()
        crashed = time.monotonic()
        # Read the table directly: only B's orphan sweep can change the task.
        with anyio.fail_after(LEASE + SWEEP + SLACK):
            stored = raw_task(dynamodb_local.endpoint, table, running)
            while stored["status"] == "working":
                await anyio.sleep(0.05)
                stored = raw_task(dynamodb_local.endpoint, table, running)
        crash_to_failed = time.monotonic() - crashed
        print(f"kill -9 to failed: {crash_to_failed * 1000:.0f} ms")
        assert stored["status"] == "failed"
        assert stored["status_message"] == STOPPED_MESSAGE
        assert (await on_b.get(running))["status"] == "failed"
        assert (await on_b.get(finished))["status"] == "completed"
        assert (await on_b.result(finished))["structuredContent"]["primes"] == 1


async def test_sigterm_lets_short_work_finish_and_fails_the_rest(
    pair: list[Replica], dynamodb_local: DynamoDbServer, table: str
) -> None:
    a, b = pair
    async with client(a.url) as on_a, client(b.url) as on_b:
        short = await on_a.start("count_primes", primes(0.5))
        long = await on_a.start("count_primes", primes(60))
        started = time.monotonic()
        code = await anyio.to_thread.run_sync(a.terminate)
        # uvicorn re-raises the signal once its graceful shutdown is complete.
        assert code in (0, -signal.SIGTERM), a.log
        assert "Application shutdown complete" in a.log
        assert time.monotonic() - started < 1.0 + 6 + SLACK  # grace + uvicorn's drain
        assert (await on_b.get(short))["status"] == "completed"
        stopped = await on_b.get(long)
        assert stopped["status"] == "failed"
        assert stopped["statusMessage"] == STOPPED_MESSAGE
        with pytest.raises(httpx.ConnectError):  # a stopped replica takes no connection
            await on_a.start("count_primes", primes(0))
    assert not [t for t in stored_tasks(dynamodb_local.endpoint, table) if t["status"] == "working"]


def test_sigterm_on_stdio_takes_the_graceful_path(
    dynamodb_local: DynamoDbServer, table: str, tmp_path: Path
) -> None:
    environment = replica_environment(dynamodb_local.endpoint, table)
    with (tmp_path / "stdio.log").open("wb") as log:
        process = subprocess.Popen(
            [SERVER, "serve"],
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdin is not None
    assert process.stdout is not None
    try:

        def send(message: dict[str, Any]) -> None:
            assert process.stdin is not None
            process.stdin.write(json.dumps(message).encode() + b"\n")
            process.stdin.flush()

        def reply() -> dict[str, Any]:
            assert process.stdout is not None
            while True:
                message: dict[str, Any] = json.loads(process.stdout.readline())
                if "id" in message:
                    return message

        send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "sigterm-test", "version": "0"},
                },
            }
        )
        reply()
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "count_primes", "arguments": primes(60), "task": {}},
            }
        )
        task_id = reply()["result"]["task"]["taskId"]
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    [stored] = [t for t in stored_tasks(dynamodb_local.endpoint, table) if t["task_id"] == task_id]
    assert stored["status"] == "failed"
    assert stored["status_message"] == STOPPED_MESSAGE
    assert "received SIGTERM" in (tmp_path / "stdio.log").read_text()
