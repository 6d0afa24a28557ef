"""The operator CLI, ``mcp-tasks-server tasks``: across owners, bounded, payloads only on request.

In-process on the memory backend for the walks and filters; as a subprocess
against DynamoDB Local for the command itself, the way an operator runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_tasks_server.backends import MemoryBackend
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
from mcp_tasks_server.core.model import TaskStatus, ToolRequest
from mcp_tasks_server.observability import LogIds
from mcp_tasks_server.server.operator import describe, find_task, list_tasks, task_stats
from mcp_tasks_server.store.store import TaskStore
from tests.dynamodb_servers import (
    TEST_CREDENTIALS,
    TEST_REGION,
    DynamoDbServer,
    create_table,
    delete_table,
    local_session,
)

pytestmark = pytest.mark.anyio

SERVER = str(Path(sys.executable).with_name("mcp-tasks-server"))
KEY = "an operator's shared hash key"
IDS = LogIds(KEY.encode())
SECRET = {"password": "hunter2"}


async def populate(store: TaskStore) -> dict[str, list[str]]:
    """Five tasks of two owners: ids by final status."""
    made: dict[str, list[str]] = {"working": [], "completed": [], "cancelled": []}
    for owner in ("principal:alice", "principal:bob"):
        running = await store.create(owner, ToolRequest(name="render", arguments=SECRET))
        made["working"].append(running.task_id)
        done = await store.create(owner, ToolRequest(name="render", arguments=SECRET))
        await store.complete(owner, done.task_id, {"content": []})
        made["completed"].append(done.task_id)
    gone = await store.create("principal:bob", ToolRequest(name="ping"))
    await store.cancel("principal:bob", gone.task_id)
    made["cancelled"].append(gone.task_id)
    return made


@pytest.fixture
async def memory_store() -> TaskStore:
    return TaskStore(MemoryBackend())


async def test_list_pages_through_every_owner_once(memory_store: TaskStore) -> None:
    made = await populate(memory_store)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        listing = await list_tasks(memory_store.backend, IDS, limit=2, cursor=cursor)
        assert len(listing.records) <= 2
        seen.extend(record.task_id for record in listing.records)
        cursor = listing.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(task for ids in made.values() for task in ids)


async def test_list_filters_by_status_and_owner_hash(memory_store: TaskStore) -> None:
    made = await populate(memory_store)
    working = await list_tasks(memory_store.backend, IDS, limit=50, status=TaskStatus.WORKING)
    assert sorted(r.task_id for r in working.records) == sorted(made["working"])
    bob = await list_tasks(
        memory_store.backend, IDS, limit=50, owner_hash=IDS.owner("principal:bob")
    )
    assert {r.owner for r in bob.records} == {"principal:bob"}
    assert len(bob.records) == 3


async def test_list_stops_after_max_items_with_a_cursor_to_go_on(memory_store: TaskStore) -> None:
    await populate(memory_store)
    listing = await list_tasks(memory_store.backend, IDS, limit=50, max_items=3)
    assert listing.examined == 3
    assert len(listing.records) == 3
    assert listing.next_cursor is not None
    rest = await list_tasks(memory_store.backend, IDS, limit=50, cursor=listing.next_cursor)
    assert len(rest.records) == 2


async def test_stats_count_by_status_and_say_when_partial(memory_store: TaskStore) -> None:
    await populate(memory_store)
    full = await task_stats(memory_store.backend, max_items=1_000)
    assert full.complete
    assert dict(full.counts) == {"working": 2, "completed": 2, "cancelled": 1}
    partial = await task_stats(memory_store.backend, max_items=2)
    assert not partial.complete
    assert sum(partial.counts.values()) == 2


async def test_show_finds_a_task_of_any_owner_and_hides_payloads_unless_asked(
    memory_store: TaskStore,
) -> None:
    made = await populate(memory_store)
    record = await find_task(memory_store.backend, made["completed"][1], max_items=1_000)
    shown = describe(record, IDS)
    assert shown["owner"] == IDS.owner("principal:bob")
    assert "hunter2" not in json.dumps(shown)
    assert "principal:bob" not in json.dumps(shown)
    assert describe(record, IDS, payloads=True)["arguments"] == SECRET


# ------------------------------------------------------------------ the command, on DynamoDB Local


def run_cli(endpoint: str, table: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_TASKS_", "AWS_"))}
    environment.update(
        {
            "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": TEST_REGION,
            "MCP_TASKS_BACKEND": "dynamodb",
            "MCP_TASKS_DYNAMODB_ENDPOINT": endpoint,
            "MCP_TASKS_DYNAMODB_TABLE": table,
            "MCP_TASKS_LOG_HASH_KEY": KEY,
        }
    )
    return subprocess.run(
        [SERVER, "tasks", *args], env=environment, capture_output=True, text=True, timeout=60
    )


def output(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_the_cli_lists_shows_cancels_and_counts_tasks_on_dynamodb_local(
    dynamodb_local: DynamoDbServer,
) -> None:
    table = create_table(dynamodb_local.endpoint)
    try:
        backend = DynamoDbBackend(
            table, endpoint_url=dynamodb_local.endpoint, session=local_session()
        )
        async with backend:
            made = await populate(TaskStore(backend))
        endpoint = dynamodb_local.endpoint
        listed = output(run_cli(endpoint, table, "list", "--json", "--status", "working"))
        assert sorted(t["task_id"] for t in listed["tasks"]) == sorted(made["working"])
        target = made["working"][0]
        shown = run_cli(endpoint, table, "show", target)
        assert shown.returncode == 0, shown.stderr
        assert target in shown.stdout
        assert "hunter2" not in shown.stdout
        assert "hunter2" in run_cli(endpoint, table, "show", target, "--payloads").stdout
        cancelling = run_cli(endpoint, table, "cancel", target, "--json")
        assert output(cancelling)["status"] == "cancelled"
        audited = [json.loads(line) for line in cancelling.stderr.splitlines()]
        assert [(e["event"], e["replica"]) for e in audited if "event" in e] == [
            ("task.cancelled", "operator-cli"),
            ("task.finished", "operator-cli"),
        ]
        stats = output(run_cli(endpoint, table, "stats", "--json"))
        assert stats["counts"] == {"working": 1, "completed": 2, "cancelled": 2}
        assert stats["complete"] is True
        human = run_cli(endpoint, table, "stats")
        assert "cancelled       2" in human.stdout
        missing = run_cli(endpoint, table, "show", "0" * 36)
        assert missing.returncode == 1
        assert "Task not found" in missing.stderr
    finally:
        delete_table(dynamodb_local.endpoint, table)


def test_the_cli_help_says_it_is_for_the_shared_backend() -> None:
    result = subprocess.run([SERVER, "tasks", "--help"], capture_output=True, text=True, timeout=60)
    assert "memory backend" in result.stdout
    assert "dynamodb" in result.stdout
