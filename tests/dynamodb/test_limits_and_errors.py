"""Size caps, bad cursors and failures: each gives a clear error and writes nothing."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from mcp_tasks_server import (
    InvalidCursor,
    PayloadTooLarge,
    Settings,
    StorageUnavailable,
    TaskStatus,
    TaskStore,
    ToolRequest,
)
from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend, TableNotFound
from mcp_tasks_server.backends.dynamodb_errors import (
    AccessDenied,
    translate_client_error,
    translate_transport_error,
)
from mcp_tasks_server.backends.errors import BackendUnavailable, RecordTooLarge
from mcp_tasks_server.core.model import new_task_id
from tests.dynamodb_servers import DynamoDbServer, local_session
from tests.support.clock import ManualClock
from tests.support.factories import make_store

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="compute")
CAP = 358_400  # the default MCP_TASKS_DYNAMODB_MAX_ITEM_BYTES


def result_of(length: int) -> dict[str, Any]:
    text = "héllo ✓ \U0001f600 " + "x" * length
    return {"content": [{"type": "text", "text": text}], "structuredContent": {"n": 1.5}}


# ------------------------------------------------------------------ item size


async def test_result_just_under_the_cap_round_trips_byte_identical(
    backend: DynamoDbBackend, raw: Any
) -> None:
    store = make_store(backend, Settings(max_result_bytes=CAP + 10_000))
    assert backend.max_item_bytes == CAP
    task = await store.create("alice", REQUEST)
    # A result far too big reports the item's size, which tells the largest that fits.
    with pytest.raises(PayloadTooLarge) as too_big:
        await store.complete("alice", task.task_id, result_of(CAP), known=task)
    fits = CAP - (too_big.value.size - CAP)

    result = result_of(fits)
    done = await store.complete("alice", task.task_id, result, known=task)

    stored = await store.get("alice", task.task_id)
    assert json.dumps(stored.result, ensure_ascii=False) == json.dumps(result, ensure_ascii=False)
    assert stored.to_json() == done.to_json()
    item = raw.get_item(
        TableName=backend.table,
        Key={"PK": {"S": "OWNER#alice"}, "SK": {"S": f"TASK#{task.task_id}"}},
        ConsistentRead=True,
    )["Item"]
    assert item["data"]["S"] == done.to_json()


async def test_result_one_byte_over_the_cap_is_refused_and_nothing_is_written(
    backend: DynamoDbBackend,
) -> None:
    store = make_store(backend, Settings(max_result_bytes=CAP + 10_000))
    task = await store.create("alice", REQUEST)
    with pytest.raises(PayloadTooLarge) as too_big:
        await store.complete("alice", task.task_id, result_of(CAP), known=task)
    over = CAP - (too_big.value.size - CAP) + 1

    requests = backend.request_count
    with pytest.raises(PayloadTooLarge) as refused:
        await store.complete("alice", task.task_id, result_of(over), known=task)
    assert refused.value.size == CAP + 1
    assert refused.value.limit == CAP
    assert "task record" in str(refused.value)
    assert f"{CAP + 1} bytes" in str(refused.value)
    assert backend.request_count == requests  # refused before any request
    current = await store.get("alice", task.task_id)
    assert (current.status, current.version, current.result) == (TaskStatus.WORKING, 1, None)


async def test_oversized_create_is_refused_before_any_request(backend: DynamoDbBackend) -> None:
    record = StoredRecord("alice", new_task_id(), 1, "s" * CAP, None)
    with pytest.raises(RecordTooLarge) as refused:
        await backend.create(record)
    assert refused.value.limit == CAP
    assert "s" * 20 not in str(refused.value)
    assert backend.request_count == 0


def test_dynamodb_size_refusal_becomes_record_too_large() -> None:
    error = ClientError(
        {"Error": {"Code": "ValidationException", "Message": "Item size has exceeded"}},
        "PutItem",
    )
    translated = translate_client_error(
        error, operation="PutItem", table="t", size=500_000, max_item_bytes=CAP
    )
    assert isinstance(translated, RecordTooLarge)
    assert (translated.size, translated.limit) == (500_000, CAP)


# ------------------------------------------------------------------ cursors


async def test_tampered_cursor_is_a_clear_error(
    backend: DynamoDbBackend, clock: ManualClock
) -> None:
    store = make_store(backend, Settings(list_page_size=2))
    for _ in range(3):
        clock.advance(1)
        await store.create("alice", REQUEST)
    cursor = (await store.list("alice")).next_cursor
    assert cursor is not None
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    requests = backend.request_count
    with pytest.raises(InvalidCursor):
        await store.list("alice", cursor=tampered)
    with pytest.raises(InvalidCursor):
        await store.list("mallory", cursor=cursor)
    assert backend.request_count == requests
    assert len((await store.list("alice", cursor=cursor)).records) == 1


# ------------------------------------------------------------------ failures


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens here now


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("port_fixture", ["closed_port", "silent_port"])
async def test_unreachable_endpoint_is_unavailable_within_a_bounded_time(
    request: pytest.FixtureRequest, port_fixture: str
) -> None:
    port: int = request.getfixturevalue(port_fixture)
    endpoint = f"http://127.0.0.1:{port}"
    backend = DynamoDbBackend(
        "mcp_tasks",
        endpoint_url=endpoint,
        session=local_session(),
        timeout_seconds=0.5,
        max_attempts=2,
    )
    store = TaskStore(backend)
    started = time.monotonic()
    try:
        with pytest.raises(StorageUnavailable) as failed:
            await store.create("alice", REQUEST)
    finally:
        await backend.aclose()
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.1f} s"
    message = str(failed.value)
    assert endpoint in message
    assert "unavailable" in message
    assert "testing" not in message  # the (test) credentials


async def test_missing_table_names_the_command_that_creates_it(
    dynamodb_server: DynamoDbServer,
) -> None:
    async with DynamoDbBackend(
        "no_such_table", endpoint_url=dynamodb_server.endpoint, session=local_session()
    ) as backend:
        with pytest.raises(TableNotFound) as missing:
            await backend.get("alice", new_task_id())
        with pytest.raises(StorageUnavailable) as through_store:
            await TaskStore(backend).create("alice", REQUEST)
    expected = (
        "DynamoDB table no_such_table does not exist; "
        "create it with `mcp-tasks-server dynamodb create-table`"
    )
    assert str(missing.value) == expected
    assert str(through_store.value) == expected


def test_access_denied_names_the_missing_permission_and_nothing_else() -> None:
    error = ClientError(
        {
            "Error": {
                "Code": "AccessDeniedException",
                "Message": "User: arn:aws:iam::123456789012:user/ci is not authorized to "
                "perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:"
                "123456789012:table/mcp_tasks because no identity-based policy allows it",
            }
        },
        "PutItem",
    )
    translated = translate_client_error(error, operation="PutItem", table="mcp_tasks")
    assert isinstance(translated, AccessDenied)
    assert isinstance(translated, BackendUnavailable)
    assert "dynamodb:PutItem" in str(translated)
    assert "mcp_tasks" in str(translated)
    assert "123456789012" not in str(translated)


def test_access_denied_without_details_names_the_operations_permission() -> None:
    error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": ""}}, "Query")
    translated = translate_client_error(error, operation="Query", table="t")
    assert "dynamodb:Query" in str(translated)


def test_missing_credentials_say_where_credentials_come_from() -> None:
    translated = translate_transport_error(NoCredentialsError(), endpoint="e", attempts=3)
    assert isinstance(translated, AccessDenied)
    assert "AWS_PROFILE" in str(translated)


def test_throttling_that_outlasts_the_retries_is_unavailable() -> None:
    error = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "GetItem",
    )
    translated = translate_client_error(error, operation="GetItem", table="t")
    assert type(translated) is BackendUnavailable
    assert "ProvisionedThroughputExceededException" in str(translated)


# ------------------------------------------------------------------ installation


def test_selecting_dynamodb_without_aioboto3_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['aioboto3'] = None  # as if the extra were not installed\n"
        "from mcp_tasks_server import Settings, build_backend\n"
        "from mcp_tasks_server.core.errors import ConfigError\n"
        "try:\n"
        "    build_backend(Settings(backend='dynamodb'))\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
        "from mcp_tasks_server.cli import main\n"
        "sys.exit(main(['dynamodb', 'check']))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    hint = "pip install 'mcp-tasks-server[dynamodb]'"
    assert hint in ran.stdout
    assert ran.returncode == 2
    assert hint in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1
