"""Queue mode: requests per task, create -> running latency, and throughput against local mode.

Everything runs on DynamoDB Local and moto's SQS server, both started here:

* **requests per task**: one zero-work task through a queue-mode front end
  (``Tasks`` in this process) and one in-process worker, every backend and
  queue request recorded in order, and named (create, claim, delete, finish);
* **create -> running latency**: a worker *process* (``mcp-tasks-server
  worker``) long-polls the queue; this process creates one task at a time
  and reads it (strongly consistent, every ``POLL_SECONDS``) until a worker
  holds its lease; p50/p99 over ``--latency-tasks`` tasks;
* **lifecycle throughput**: ``--tasks`` zero-work tasks created by 16
  concurrent callers, until every one is finished, in local mode (the front
  end runs them itself) and in queue mode with two worker processes, in the
  same run, alternating, ``--repeats`` times.

    .venv/bin/python bench/bench_queue.py [--tasks N] [--latency-tasks N] [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    REPO,
    RESULTS,
    Spread,
    exit_on_sigterm,
    machine_info,
    machine_lines,
    percentile,
    stop_process,
    write_json,
    write_report,
)
from tests.dynamodb_servers import create_table
from tests.dynamodb_servers import run_server as run_dynamodb
from tests.sqs_servers import TEST_CREDENTIALS, TEST_REGION, create_queue_pair
from tests.sqs_servers import run_server as run_sqs

from mcp_tasks_server import Settings, Tasks
from mcp_tasks_server.core.lifecycle import QUEUED_REPLICA
from mcp_tasks_server.core.owner import bind_owner
from mcp_tasks_server.protocol import sdk
from mcp_tasks_server.queues.message import TaskMessage
from mcp_tasks_server.server.build import build_server
from mcp_tasks_server.server.worker import open_worker

TOOLS = "bench/zero_tools.py:register"
POLL_SECONDS = 0.005
CONCURRENCY = 16
OWNER = bind_owner(session_id="queue-bench")
ENV = {
    "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
    "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"],
    "AWS_REGION": TEST_REGION,
}


class Stack:
    """DynamoDB Local and moto's SQS; a fresh table and queue per configuration."""

    def __init__(self, dynamodb: str, sqs: str) -> None:
        self.dynamodb = dynamodb
        self.sqs = sqs

    def settings(self, execution: str) -> Settings:
        queue_url = None
        if execution == "queue":
            queue_url = create_queue_pair(self.sqs, max_receive_count=5, visibility_seconds=60).url
        return Settings(
            backend="dynamodb",
            dynamodb_table=create_table(self.dynamodb, ttl=True),
            dynamodb_endpoint=self.dynamodb,
            dynamodb_region=TEST_REGION,
            execution=execution,  # type: ignore[arg-type]
            queue_url=queue_url,
            sqs_endpoint=self.sqs if queue_url else None,
            tools=TOOLS,
            log_level="WARNING",
            lease_sweep_interval_seconds=0,
            shutdown_grace_seconds=0,
        )


@contextlib.asynccontextmanager
async def front_end(settings: Settings) -> AsyncIterator[Tasks]:
    server = build_server(settings, tools=settings.tools)
    async with sdk.server_lifespan(server):
        yield Tasks.of(server)


@contextlib.contextmanager
def worker_processes(settings: Settings, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``mcp-tasks-server worker`` processes, stopped by their own PIDs afterwards."""
    env = {**os.environ, **ENV}
    for name, value in settings.model_dump(mode="json").items():
        if name in ("backend", "dynamodb_table", "dynamodb_endpoint", "dynamodb_region"):
            env[f"MCP_TASKS_{name.upper()}"] = str(value)
        if name in ("execution", "queue_url", "sqs_endpoint", "tools", "log_level"):
            env[f"MCP_TASKS_{name.upper()}"] = str(value)
    env["MCP_TASKS_WORKER_CONCURRENCY"] = str(CONCURRENCY)
    command = [sys.executable, "-m", "mcp_tasks_server", "worker"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(count):
            log = (RESULTS / f".queue-worker-{index}.log").open("wb")
            processes.append(
                subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        yield processes
    finally:
        for process in processes:
            stop_process(process)


# ---------------------------------------------------------------------- requests


def record_calls(target: Any, names: tuple[str, ...], label: str, log: list[str]) -> None:
    """Log each call of ``names`` on ``target`` (one request each) as ``label.name``."""
    for name in names:
        original = getattr(target, name)

        async def logged(
            *args: Any, _name: str = name, _original: Any = original, **kw: Any
        ) -> Any:
            log.append(f"{label}.{_name}")
            return await _original(*args, **kw)

        setattr(target, name, logged)


STORE_METHODS = ("create", "get", "replace", "delete", "list", "list_orphans")
QUEUE_METHODS = ("send", "receive", "ack", "_set_visibility")


async def requests_per_task(stack: Stack) -> dict[str, Any]:
    settings = stack.settings("queue")
    log: list[str] = []
    async with front_end(settings) as front:
        record_calls(front.backend, STORE_METHODS, "front DynamoDB", log)
        record_calls(front.queue, QUEUE_METHODS, "front SQS", log)
        worker_server = build_server(settings, tools=settings.tools)
        async with open_worker(settings, worker_server) as worker:
            tasks = Tasks.of(worker_server)
            record_calls(tasks.backend, STORE_METHODS, "worker DynamoDB", log)
            record_calls(tasks.queue, QUEUE_METHODS, "worker SQS", log)
            phases: dict[str, list[str]] = {}

            async def phase(name: str, action: Any) -> Any:
                start = len(log)
                outcome = await action
                phases[name] = log[start:]
                return outcome

            record = await phase("create (front end)", front.start_task(OWNER, "zero_task", {}))
            deliveries = await phase("receive (worker, long poll)", worker.queue.receive(1, 20))
            await phase("claim + delete + run + finish (worker)", worker.handle(deliveries[0]))
            got = await phase("tasks/get (front end)", front.service.get(OWNER, record.task_id))
    assert got.status.value == "completed", got
    return {"phases": phases, "total": len(log)}


# ---------------------------------------------------------------------- latency


async def baselines(stack: Stack, count: int = 50) -> dict[str, float]:
    """p50 of one SendMessage and one GetItem here: what each step above is made of."""
    settings = stack.settings("queue")
    sends: list[float] = []
    gets: list[float] = []
    async with front_end(settings) as front:
        assert front.queue is not None
        record = await front.start_task(OWNER, "zero_task", {})
        message = TaskMessage(record.task_id, OWNER.key, 1)
        for index in range(count + 5):
            started = time.perf_counter()
            await front.queue.send(message)
            sent = time.perf_counter()
            await front.store.get(OWNER.key, record.task_id)
            if index >= 5:
                sends.append((sent - started) * 1000)
                gets.append((time.perf_counter() - sent) * 1000)
    return {"send_p50_ms": percentile(sends, 0.5), "get_p50_ms": percentile(gets, 0.5)}


async def create_to_running(stack: Stack, count: int) -> dict[str, Any]:
    settings = stack.settings("queue")
    samples: list[float] = []
    creates: list[float] = []
    with worker_processes(settings, 1):
        async with front_end(settings) as front:
            for index in range(count + 5):  # the first 5 warm the worker up, unrecorded
                started = time.perf_counter()
                record = await front.start_task(OWNER, "sleepy_task", {"seconds": 0.05})
                answered = time.perf_counter()
                deadline = time.monotonic() + 60
                while record.replica == QUEUED_REPLICA and not record.status.is_terminal:
                    if time.monotonic() > deadline:
                        raise RuntimeError("no worker claimed the task within 60 s")
                    await asyncio.sleep(POLL_SECONDS)
                    record = await front.store.get(OWNER.key, record.task_id)
                if index >= 5:
                    samples.append((time.perf_counter() - started) * 1000)
                    creates.append((answered - started) * 1000)
    return {
        "p50_ms": percentile(samples, 0.5),
        "p99_ms": percentile(samples, 0.99),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "n": len(samples),
        "create_p50_ms": percentile(creates, 0.5),
        "create_p99_ms": percentile(creates, 0.99),
    }


# ---------------------------------------------------------------------- throughput


async def lifecycles(front: Tasks, count: int) -> float:
    """Create ``count`` zero-work tasks from 16 callers; seconds until all are finished."""
    started = time.perf_counter()

    ids: list[tuple[str, str]] = []

    async def caller(index: int, share: int) -> None:
        # One owner per caller, as separate clients would be: a shared owner would
        # make every create contend for that owner's one quota item.
        owner = bind_owner(session_id=f"queue-bench-{index}")
        for _ in range(share):
            ids.append((owner.key, (await front.start_task(owner, "zero_task", {})).task_id))

    shares = [count // CONCURRENCY + (i < count % CONCURRENCY) for i in range(CONCURRENCY)]
    await asyncio.gather(*(caller(i, s) for i, s in enumerate(shares)))
    for owner_key, task_id in ids:
        while not (await front.store.get(owner_key, task_id)).status.is_terminal:  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)
    return time.perf_counter() - started


async def throughput(stack: Stack, count: int, repeats: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"local": [], "queue, 2 workers": []}
    for repeat in range(repeats):
        order = ["local", "queue"] if repeat % 2 == 0 else ["queue", "local"]
        for mode in order:
            settings = stack.settings(mode)
            with contextlib.ExitStack() as processes:
                if mode == "queue":
                    processes.enter_context(worker_processes(settings, 2))
                async with front_end(settings) as front:
                    await lifecycles(front, 20)  # warm-up: clients, workers' first polls
                    seconds = await lifecycles(front, count)
            rates["local" if mode == "local" else "queue, 2 workers"].append(count / seconds)
    return rates


# ---------------------------------------------------------------------- report


def report(data: dict[str, Any]) -> str:
    phases = data["requests"]["phases"]
    latency = data["latency"]
    rates = {name: Spread.of(values) for name, values in data["throughput"].items()}
    local = data["throughput"]["local"]
    queued = data["throughput"]["queue, 2 workers"]
    ratios = Spread.of([q / lo for q, lo in zip(queued, local, strict=True)])
    lines = [
        "# Queue mode: requests per task, create -> running, throughput",
        "",
        *machine_lines(data["machine"]),
        f"- DynamoDB Local and moto's SQS server on the same 2 CPUs; wall time "
        f"{data['wall_seconds']} s; 1-minute load average {data['load'][1]:.1f} at the "
        f"start, {data['load'][0]:.1f} at the end",
        f"- one request alone, p50 (same run): SQS SendMessage to moto "
        f"{data['baseline']['send_p50_ms']:.1f} ms, DynamoDB GetItem to DynamoDB Local "
        f"{data['baseline']['get_p50_ms']:.1f} ms",
        "",
        "**Requests per task** (one zero-work task, in order; a transaction counts as one):",
        "",
        "| step | requests |",
        "|---|---|",
    ]
    for name, calls in phases.items():
        lines.append(f"| {name} | {len(calls)}: {', '.join(calls)} |")
    lines += [
        f"| **total** | **{data['requests']['total']}** |",
        "",
        f"**Create -> running** ({latency['n']} tasks, one at a time; one worker process "
        f"long-polling; the creator reads the task every {POLL_SECONDS * 1000:g} ms):",
        "",
        "| | p50 ms | p99 ms | min ms | max ms |",
        "|---|---:|---:|---:|---:|",
        f"| create -> running | {latency['p50_ms']:.1f} | {latency['p99_ms']:.1f} "
        f"| {latency['min_ms']:.1f} | {latency['max_ms']:.1f} |",
        f"| of which the create (store + send) | {latency['create_p50_ms']:.1f} "
        f"| {latency['create_p99_ms']:.1f} | | |",
        "",
        f"**Lifecycle throughput** ({data['tasks']} zero-work tasks from {CONCURRENCY} callers "
        f"until all finished; median (min-max) of {data['repeats']} repeats, alternating):",
        "",
        "| mode | lifecycles/s |",
        "|---|---:|",
        *(f"| {name} | {spread.show(0)} |" for name, spread in rates.items()),
        f"| queue ÷ local | {ratios.show(2, 'x')} |",
        "",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    os.environ.update(ENV)
    with run_dynamodb("dynamodb-local") as dynamodb, run_sqs("moto") as sqs:
        stack = Stack(dynamodb.endpoint, sqs.endpoint)
        requests = await requests_per_task(stack)
        baseline = await baselines(stack)
        latency = await create_to_running(stack, args.latency_tasks)
        rates = await throughput(stack, args.tasks, args.repeats)
    return {
        "machine": machine_info(),
        "requests": requests,
        "baseline": baseline,
        "load": [os.getloadavg()[0], load_start],
        "latency": latency,
        "throughput": rates,
        "tasks": args.tasks,
        "repeats": args.repeats,
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    exit_on_sigterm()
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=300, help="tasks per throughput run")
    parser.add_argument("--latency-tasks", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = asyncio.run(main_async(args))
    write_json("queue", data)
    text = report(data)
    path = write_report("queue", text)
    print(text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
