"""The ``dynamodb create-table`` and ``check`` commands; choosing the backend by environment."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from mcp_tasks_server import TaskStore, ToolRequest, __version__, build_backend, load_settings
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.server.cli import main
from tests.dynamodb_servers import DynamoDbServer, delete_table, sync_client
from tests.support.factories import make_store


@pytest.fixture
def table_name(dynamodb_server: DynamoDbServer) -> Iterator[str]:
    """A table name nobody uses yet; dropped afterwards if a test created it."""
    name = f"cli-{uuid.uuid4().hex[:16]}"
    yield name
    delete_table(dynamodb_server.endpoint, name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_table(endpoint: str, name: str, keys: list[tuple[str, str, str]]) -> None:
    client = sync_client(endpoint)
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, _, t in keys],
        KeySchema=[{"AttributeName": n, "KeyType": k} for n, k, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1})


def test_create_table_is_idempotent_and_the_result_passes_the_check(
    aws_environment: str, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "dynamodb", "create-table", "--table", table_name)
    assert (code, err) == (0, "")
    assert f"created table {table_name} (on-demand capacity)" in out
    assert "enabled TTL on expires_at" in out

    code, out, err = run(capsys, "dynamodb", "create-table", "--table", table_name)
    assert (code, err) == (0, "")
    assert "already exists with the right key schema" in out
    assert "TTL is already enabled on expires_at" in out

    code, out, err = run(capsys, "dynamodb", "check", "--table", table_name)
    assert (code, err) == (0, "")
    assert out.strip() == f"table {table_name} is ready"

    description = sync_client(aws_environment).describe_table(TableName=table_name)["Table"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = sync_client(aws_environment).describe_time_to_live(TableName=table_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_table_name_comes_from_the_environment_by_default(
    aws_environment: str,
    table_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_TABLE", table_name)
    code, out, _ = run(capsys, "dynamodb", "create-table")
    assert code == 0
    assert f"created table {table_name}" in out


def test_check_of_a_missing_table_names_the_command_that_creates_it(
    aws_environment: str, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "dynamodb", "check", "--table", table_name)
    assert code == 1
    assert out == ""
    assert err.strip() == (
        f"mcp-tasks-server: table {table_name} does not exist; "
        "create it with `mcp-tasks-server dynamodb create-table`"
    )


def test_check_reports_a_wrong_key_schema_and_a_missing_ttl(
    aws_environment: str, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(aws_environment, table_name, [("id", "HASH", "S")])
    code, _, err = run(capsys, "dynamodb", "check", "--table", table_name)
    assert code == 1
    lines = err.strip().splitlines()
    assert (
        f"mcp-tasks-server: table {table_name}: its partition key is id; it must be PK (string)"
        in lines
    )
    assert (
        f"mcp-tasks-server: table {table_name}: it has no sort key; it needs SK (string)" in lines
    )
    assert any("TTL is disabled" in line for line in lines)


def test_check_reports_a_key_of_the_wrong_type(
    aws_environment: str, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(aws_environment, table_name, [("PK", "HASH", "S"), ("SK", "RANGE", "N")])
    code, _, err = run(capsys, "dynamodb", "check", "--table", table_name)
    assert code == 1
    assert "its sort key SK is of type N; it must be S" in err


def test_check_reports_ttl_on_another_attribute(
    aws_environment: str, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(aws_environment, table_name, [("PK", "HASH", "S"), ("SK", "RANGE", "S")])
    sync_client(aws_environment).update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
    )
    code, _, err = run(capsys, "dynamodb", "check", "--table", table_name)
    assert code == 1
    assert "TTL is on ttl, but must be on expires_at" in err

    code, _, err = run(capsys, "dynamodb", "create-table", "--table", table_name)
    assert code == 1
    assert "TTL on table" in err
    assert "Enabled=false,AttributeName=ttl" in err
    assert len(err.strip().splitlines()) == 1


def test_create_table_refuses_a_same_named_table_with_another_schema(
    aws_environment: str, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(aws_environment, table_name, [("id", "HASH", "S")])
    code, out, err = run(capsys, "dynamodb", "create-table", "--table", table_name)
    assert code == 1
    assert out == ""
    assert err.startswith(f"mcp-tasks-server: table {table_name} exists with another key schema")
    assert len(err.strip().splitlines()) == 1


def test_unreachable_endpoint_fails_the_command_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed once the block ends
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_ENDPOINT", endpoint)
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_MAX_ATTEMPTS", "1")
    code, _, err = run(capsys, "dynamodb", "check")
    assert code == 1
    assert err.strip() == (
        f"mcp-tasks-server: DynamoDB at {endpoint} is unavailable "
        "(EndpointConnectionError after 1 attempt)"
    )


def test_bad_setting_fails_the_command_as_a_configuration_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_MAX_ATTEMPTS", "many")
    code, _, err = run(capsys, "dynamodb", "check")
    assert code == 2
    assert "MCP_TASKS_DYNAMODB_MAX_ATTEMPTS='many' is invalid" in err


def test_version_and_usage() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "mcp_tasks_server", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (ran.returncode, ran.stdout.strip()) == (0, f"mcp-tasks-server {__version__}")
    ran = subprocess.run(
        [sys.executable, "-m", "mcp_tasks_server", "dynamodb"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 2
    assert "{create-table,check}" in ran.stderr


# ------------------------------------------------------------------ selection


def test_dynamodb_backend_is_chosen_and_configured_by_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TASKS_BACKEND", "dynamodb")
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_TABLE", "tasks_prod")
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_MAX_ITEM_BYTES", "200000")
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER", "0")
    monkeypatch.setenv("MCP_TASKS_MAX_ACTIVE_TASKS", "250")
    backend = build_backend(load_settings())
    assert isinstance(backend, DynamoDbBackend)
    assert backend.table == "tasks_prod"
    assert backend.endpoint_url == "http://127.0.0.1:8000"
    assert backend.max_item_bytes == 200_000
    assert backend.max_attempts == 5
    assert backend.track_active is False
    assert backend.active_shards == 3  # a shard counts at most 100 tasks
    assert backend.expires_natively
    no_cap = build_backend(load_settings(max_active_tasks=0))
    assert isinstance(no_cap, DynamoDbBackend)
    assert no_cap.active_shards == 0


def test_a_quota_beyond_what_one_item_holds_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER", "5000")
    with pytest.raises(ConfigError, match="MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER=5000"):
        build_backend(load_settings(backend="dynamodb"))


def test_tasks_survive_a_restart_of_the_server(
    aws_environment: str,
    table_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TASKS_BACKEND", "dynamodb")
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_TABLE", table_name)
    assert main(["dynamodb", "create-table"]) == 0

    def start_server() -> tuple[DynamoDbBackend, TaskStore]:
        settings = load_settings()
        backend = build_backend(settings)
        assert isinstance(backend, DynamoDbBackend)
        return backend, make_store(backend, settings)

    async def first_life() -> Any:
        backend, store = start_server()
        async with backend:
            task = await store.create("alice", ToolRequest(name="compute"))
            return await store.complete("alice", task.task_id, {"content": []}, known=task)

    async def second_life(task_id: str) -> Any:
        backend, store = start_server()
        async with backend:
            return await store.get("alice", task_id)

    done = anyio.run(first_life)
    assert anyio.run(second_life, done.task_id) == done
