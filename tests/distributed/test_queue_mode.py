"""Queue mode with real processes: a front end and two workers on DynamoDB Local and moto SQS.

The front end is ``mcp-tasks-server serve --transport http --stateless`` in
queue mode; the workers are ``mcp-tasks-server worker``; all three load the
same tools (``tests/support/queue_tools.py``) and a real MCP client drives
them over HTTP. ``once`` and ``tally`` append a line to a file each time
they start, so the tests count real runs.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_tasks_server.core.lifecycle import STOPPED_MESSAGE
from tests.distributed.cluster import (
    SERVER,
    Replica,
    client,
    raw_task,
    replica_environment,
    run_replica,
    wait_until_serving,
)
from tests.dynamodb_servers import DynamoDbServer
from tests.protocol.harness import TASKS_EXTENSION, RawHttp
from tests.sqs_servers import SqsServer, create_queue_pair, delete_queues, moto_sqs
from tests.support.processes import stop_process

__all__ = ["moto_sqs"]

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOOLS = str(Path(__file__).resolve().parent.parent / "support" / "queue_tools.py") + ":register"


@pytest.fixture
def queue_settings(moto_sqs: SqsServer) -> Iterator[dict[str, str]]:
    pair = create_queue_pair(moto_sqs.endpoint, max_receive_count=5)
    yield {
        "MCP_TASKS_EXECUTION": "queue",
        "MCP_TASKS_QUEUE_URL": pair.url,
        "MCP_TASKS_SQS_ENDPOINT": moto_sqs.endpoint,
        "MCP_TASKS_TOOLS": TOOLS,
        "MCP_TASKS_WORKER_RECEIVE_WAIT_SECONDS": "1",
    }
    delete_queues(moto_sqs.endpoint, pair)


@contextlib.contextmanager
def run_worker(
    name: str, endpoint: str, table: str, directory: Path, **settings: str
) -> Iterator[Replica]:
    log_path = directory / f"{name}.log"
    environment = replica_environment(endpoint, table, MCP_TASKS_REPLICA_ID=name, **settings)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SERVER, "worker"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Replica(name, process, log_path)
    finally:
        stop_process(process)


@contextlib.contextmanager
def cluster(
    dynamodb: DynamoDbServer, table: str, tmp_path: Path, workers: int, **settings: str
) -> Iterator[tuple[Replica, list[Replica]]]:
    with contextlib.ExitStack() as stack:
        front = stack.enter_context(
            run_replica("front", dynamodb.endpoint, table, tmp_path, **settings)
        )
        started = [
            stack.enter_context(run_worker(f"w{n}", dynamodb.endpoint, table, tmp_path, **settings))
            for n in range(1, workers + 1)
        ]
        wait_until_serving(front)
        yield front, started


def runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def wait_until_claimed(endpoint: str, table: str, task_id: str) -> str:
    with anyio.fail_after(30):
        while (owner := raw_task(endpoint, table, task_id).get("lease_owner")) == "@queue":  # noqa: ASYNC110
            await anyio.sleep(0.05)
    assert isinstance(owner, str)
    return owner


async def wait_until_started(counter: Path, count: int) -> None:
    """Until the tool has run ``count`` times: a claim is stored before its tool starts."""
    with anyio.fail_after(30):
        while runs(counter) < count:  # noqa: ASYNC110
            await anyio.sleep(0.05)


async def test_tasks_run_on_the_workers_and_cancel_before_the_claim_skips_them(
    dynamodb_local: DynamoDbServer, table: str, tmp_path: Path, queue_settings: dict[str, str]
) -> None:
    counter = tmp_path / "runs"
    with cluster(dynamodb_local, table, tmp_path, 0, **queue_settings) as (front, _):
        async with client(front.url) as on_front:
            cancelled = await on_front.start("once", {"path": str(counter)})
            await on_front.cancel(cancelled)
    with cluster(dynamodb_local, table, tmp_path, 2, **queue_settings) as (front, _):
        async with client(front.url) as on_front:
            created = [await on_front.start("sleepy", {"seconds": 0.2}) for _ in range(4)]
            for task_id in created:
                task = await on_front.wait_for(task_id, {"completed", "failed"}, within=60)
                assert task["status"] == "completed", task
                owner = raw_task(dynamodb_local.endpoint, table, task_id)["lease_owner"]
                assert owner in ("w1", "w2")
            result = await on_front.result(created[0])
            assert result["content"][0]["text"] == "slept 0.2"
            assert (await on_front.get(cancelled))["status"] == "cancelled"
    assert runs(counter) == 0


async def test_cancel_after_the_claim_and_an_answer_through_the_front_end(
    dynamodb_local: DynamoDbServer, table: str, tmp_path: Path, queue_settings: dict[str, str]
) -> None:
    with cluster(dynamodb_local, table, tmp_path, 2, **queue_settings) as (front, _):
        async with client(front.url) as on_front:
            long = await on_front.start("sleepy", {"seconds": 120})
            await wait_until_claimed(dynamodb_local.endpoint, table, long)
            await on_front.cancel(long)
            asking = await on_front.start("ask", {})
            await on_front.wait_for(asking, {"input_required"}, within=60)
            answer: dict[str, Any] = {"action": "accept", "content": {"name": "ada"}}
            await on_front.update(asking, {"name": answer})
            task = await on_front.wait_for(asking, {"completed", "failed"}, within=60)
            assert task["status"] == "completed", task
            result = await on_front.result(asking)
            assert result["content"][0]["text"] == "hello ada"
            assert (await on_front.get(long))["status"] == "cancelled"


async def test_answers_given_before_the_task_reach_the_tool_on_a_worker(
    dynamodb_local: DynamoDbServer, table: str, tmp_path: Path, queue_settings: dict[str, str]
) -> None:
    """A 2026-07-28 multi-round call: the question is answered, then the task runs on a worker."""
    with cluster(dynamodb_local, table, tmp_path, 1, **queue_settings) as (front, _):
        async with RawHttp.modern(front.url) as modern:
            capabilities = {"elicitation": {}, "extensions": {TASKS_EXTENSION: {}}}
            call = {
                "name": "greet_asked",
                "arguments": {},
                "_meta": {"io.modelcontextprotocol/clientCapabilities": capabilities},
            }
            asked = await modern.request("tools/call", call)
            (question,) = asked.result["inputRequests"]
            retry = {
                **call,
                "inputResponses": {question: {"action": "accept", "content": {"name": "ada"}}},
                "requestState": asked.result["requestState"],
            }
            created = await modern.request("tools/call", retry)
            task_id = created.result["taskId"]
        async with client(front.url) as on_front:
            task = await on_front.wait_for(task_id, {"completed", "failed"}, within=60)
            assert task["status"] == "completed", task
            assert (await on_front.result(task_id))["content"][0]["text"] == "hello ada"
    stored = raw_task(dynamodb_local.endpoint, table, task_id)
    assert stored["lease_owner"] == "w1"  # the worker ran it, not the front end


async def test_killed_worker_fails_its_task_at_most_once(
    dynamodb_local: DynamoDbServer, table: str, tmp_path: Path, queue_settings: dict[str, str]
) -> None:
    counter = tmp_path / "runs"
    with cluster(dynamodb_local, table, tmp_path, 2, **queue_settings) as (front, workers):
        async with client(front.url) as on_front:
            task_id = await on_front.start("once", {"path": str(counter), "seconds": 120})
            owner = await wait_until_claimed(dynamodb_local.endpoint, table, task_id)
            await wait_until_started(counter, 1)
            next(w for w in workers if w.name == owner).crash()
            task = await on_front.wait_for(task_id, {"failed", "completed"}, within=60)
            assert task["status"] == "failed"
            assert task["statusMessage"] == STOPPED_MESSAGE
    assert runs(counter) == 1


async def test_killed_worker_running_an_idempotent_tool_has_it_run_again_to_completion(
    dynamodb_local: DynamoDbServer, table: str, tmp_path: Path, queue_settings: dict[str, str]
) -> None:
    counter = tmp_path / "runs"
    settings = {**queue_settings, "MCP_TASKS_MAX_ATTEMPTS": "2"}
    with cluster(dynamodb_local, table, tmp_path, 2, **settings) as (front, workers):
        async with client(front.url) as on_front:
            task_id = await on_front.start("tally", {"path": str(counter), "seconds": 4})
            owner = await wait_until_claimed(dynamodb_local.endpoint, table, task_id)
            await wait_until_started(counter, 1)
            next(w for w in workers if w.name == owner).crash()
            task = await on_front.wait_for(task_id, {"failed", "completed"}, within=90)
            assert task["status"] == "completed", task
            stored = raw_task(dynamodb_local.endpoint, table, task_id)
            assert stored["attempt"] == 2
            assert stored["lease_owner"] != owner
    assert runs(counter) == 2  # the killed run, and the one that completed


async def test_without_workers_a_task_fails_at_the_claim_timeout(
    dynamodb_local: DynamoDbServer, table: str, tmp_path: Path, queue_settings: dict[str, str]
) -> None:
    settings = {**queue_settings, "MCP_TASKS_CLAIM_TIMEOUT_SECONDS": "2"}
    with cluster(dynamodb_local, table, tmp_path, 0, **settings) as (front, _):
        async with client(front.url) as on_front:
            task_id = await on_front.start("sleepy", {})
            task = await on_front.wait_for(task_id, {"failed", "completed"}, within=30)
            assert task["status"] == "failed"
            assert task["statusMessage"] == "No worker took this task within 2 seconds"
