"""Real replicas for the distributed tests: server processes on one DynamoDB table.

* :class:`Replica` runs ``mcp-tasks-server serve --transport http --stateless``
  as a child process on 127.0.0.1, with the given ``MCP_TASKS_*`` settings,
  and knows how to stop it gracefully (SIGTERM) or crash it (SIGKILL). It
  binds a port the system picks and logs it, so no other process can take
  its port before it binds.
* :func:`persistent_dynamodb_local` runs DynamoDB Local on a data directory
  instead of in memory, so it can be killed and restarted on the same port
  with its tables intact (an outage, not a data loss).
* :class:`Client` speaks raw JSON-RPC to one replica: 2025-11-25 for
  ``tools/call`` as a task, ``tasks/get``, ``tasks/result`` and
  ``tasks/cancel``; 2026-07-28 for ``tasks/update``. Stateless and
  unauthenticated, every request has the same owner on every replica.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.dynamodb_servers import (
    TEST_CREDENTIALS,
    TEST_REGION,
    UVICORN_LISTENING,
    DynamoDbServer,
    PortTaken,
    ServerUnavailable,
    _dynamodb_local_command,
    _wait_until_ready,
    reported_port,
    sync_client,
)
from tests.protocol.harness import RawHttp
from tests.support.polling import poll_until, status_in
from tests.support.processes import free_port, stop_process

SERVER = str(Path(sys.executable).with_name("mcp-tasks-server"))

FAST: dict[str, str] = {
    "MCP_TASKS_HEARTBEAT_INTERVAL_SECONDS": "0.2",
    # Long enough for a slow first request to a cold emulator: a replica whose
    # lease is nearly spent by the time its write is acknowledged fences itself.
    "MCP_TASKS_LEASE_SECONDS": "4",
    "MCP_TASKS_CLOCK_SKEW_MARGIN_SECONDS": "0",  # one machine, one clock
    "MCP_TASKS_LEASE_SWEEP_INTERVAL_SECONDS": "0.5",
    "MCP_TASKS_SHUTDOWN_GRACE_SECONDS": "1",
    "MCP_TASKS_POLL_INTERVAL_MS": "100",
    "MCP_TASKS_DYNAMODB_TIMEOUT_SECONDS": "1",
    "MCP_TASKS_DYNAMODB_MAX_ATTEMPTS": "2",
    "MCP_TASKS_LOG_HASH_KEY": "distributed-tests-log-hash-key",
}
"""Short heartbeats, leases and timeouts, so crashes and outages show in seconds."""


def replica_environment(endpoint: str, table: str, **settings: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MCP_TASKS_", "AWS_"))
    }
    environment.update(
        {
            "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": TEST_REGION,
            "MCP_TASKS_BACKEND": "dynamodb",
            "MCP_TASKS_DYNAMODB_ENDPOINT": endpoint,
            "MCP_TASKS_DYNAMODB_TABLE": table,
            "MCP_TASKS_LOG_LEVEL": "INFO",
            **FAST,
            **settings,
        }
    )
    return environment


@dataclass
class Replica:
    """One server process; ``url`` is its MCP endpoint, known once it serves."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None
    """Set by :func:`wait_until_serving` from the port the process logged."""

    @property
    def url(self) -> str:
        assert self.port is not None, f"replica {self.name}: call wait_until_serving first"
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> int:
        """SIGTERM, then wait for the graceful exit; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def crash(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a lost machine."""
        self.process.kill()
        self.process.wait(10)


@contextlib.contextmanager
def run_replica(
    name: str, endpoint: str, table: str, directory: Path, **settings: str
) -> Iterator[Replica]:
    log_path = directory / f"{name}.log"
    environment = replica_environment(
        endpoint, table, MCP_TASKS_REPLICA_ID=name, MCP_TASKS_PORT="0", **settings
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SERVER, "serve", "--transport", "http", "--stateless"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    replica = Replica(name, process, log_path)
    try:
        yield replica  # starting: call wait_until_serving before use
    finally:
        stop_process(process)


def wait_until_serving(*replicas: Replica) -> None:
    """Block until every replica serves HTTP (they start in parallel)."""
    for replica in replicas:
        try:
            replica.port = reported_port(
                f"replica {replica.name}", replica.log_path, UVICORN_LISTENING, replica.process.poll
            )
        except ServerUnavailable as exc:
            raise AssertionError(str(exc)) from None


@contextlib.contextmanager
def persistent_dynamodb_local() -> Iterator[PersistentDynamoDb]:
    """DynamoDB Local with a data directory, on a fixed port, restartable."""
    directory = Path(tempfile.mkdtemp(prefix="mcp-tasks-ddb-"))
    server = PersistentDynamoDb(free_port(), directory)
    try:
        # DynamoDB Local cannot bind port 0, so its port is one that was free a
        # moment ago; if another process took it in between, pick another.
        for attempt in range(1, 4):
            try:
                server.start()
                break
            except PortTaken:
                if attempt == 3:
                    raise
                server.port = free_port()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class PersistentDynamoDb:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = _dynamodb_local_command(self.port)
        command[command.index("-inMemory")] = "-dbPath"
        command.insert(command.index("-dbPath") + 1, str(self.directory))
        self.starts += 1
        log = self.directory / f"dynamodb-{self.starts}.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
            )
        _wait_until_ready("dynamodb-local", self.endpoint, self.process, log)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def as_server(self) -> DynamoDbServer:
        assert self.process is not None
        return DynamoDbServer("dynamodb-local", self.endpoint, self.process, self.directory)


# ------------------------------------------------------------------ client


class RpcError(Exception):
    def __init__(self, error: Mapping[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = str(error.get("message"))


@dataclass
class Client:
    """Raw JSON-RPC to one replica, in both eras, on one connection pool."""

    legacy: RawHttp
    modern: RawHttp
    seen: list[str] = field(default_factory=list)

    async def call(self, method: str, params: Mapping[str, Any], *, modern: bool = False) -> Any:
        raw = self.modern if modern else self.legacy
        answer = await raw.request(method, params)
        if "error" in answer.body:
            raise RpcError(answer.body["error"])
        if not answer.body:
            raise RpcError({"code": answer.status, "message": f"HTTP {answer.status}"})
        return answer.result

    async def start(self, tool: str, arguments: Mapping[str, Any]) -> str:
        created = await self.call(
            "tools/call", {"name": tool, "arguments": dict(arguments), "task": {}}
        )
        task_id: str = created["task"]["taskId"]
        return task_id

    async def get(self, task_id: str) -> dict[str, Any]:
        return dict(await self.call("tasks/get", {"taskId": task_id}))

    async def get_modern(self, task_id: str) -> dict[str, Any]:
        return dict(await self.call("tasks/get", {"taskId": task_id}, modern=True))

    async def result(self, task_id: str) -> dict[str, Any]:
        return dict(await self.call("tasks/result", {"taskId": task_id}))

    async def cancel(self, task_id: str) -> dict[str, Any]:
        return dict(await self.call("tasks/cancel", {"taskId": task_id}))

    async def update(self, task_id: str, responses: Mapping[str, Any]) -> dict[str, Any]:
        params = {"taskId": task_id, "inputResponses": dict(responses)}
        return dict(await self.call("tasks/update", params, modern=True))

    async def wait_for(self, task_id: str, statuses: set[str], within: float = 20) -> Any:
        read = functools.partial(self.get, task_id)
        return await poll_until(read, status_in(statuses), within=within, every=0.05)


@asynccontextmanager
async def client(url: str) -> AsyncIterator[Client]:
    async with (
        RawHttp.legacy_session(url, stateless=True) as legacy,
        RawHttp.modern(url) as modern,
    ):
        yield Client(legacy, modern)


def raw_task(endpoint: str, table: str, task_id: str) -> dict[str, Any]:
    """An anonymous owner's task as stored, read straight from the table (no replica)."""
    key = {"PK": {"S": "OWNER#anonymous"}, "SK": {"S": f"TASK#{task_id}"}}
    item = sync_client(endpoint).get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    body: dict[str, Any] = json.loads(item["data"]["S"])
    body.setdefault("status", "working")  # the body leaves defaults out
    return body


def stored_tasks(endpoint: str, table: str) -> list[dict[str, Any]]:
    """Every task in the table, as stored."""

    client = sync_client(endpoint)
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**params)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    tasks = [json.loads(item["data"]["S"]) for item in items if item["SK"]["S"].startswith("TASK#")]
    for task in tasks:
        task.setdefault("status", "working")  # the body leaves defaults out
    return tasks


__all__ = [
    "FAST",
    "Client",
    "PersistentDynamoDb",
    "Replica",
    "RpcError",
    "ServerUnavailable",
    "client",
    "persistent_dynamodb_local",
    "raw_task",
    "replica_environment",
    "run_replica",
    "stored_tasks",
    "wait_until_serving",
]
