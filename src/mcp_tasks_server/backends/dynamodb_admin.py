"""Creating and checking the table the DynamoDB backend needs.

These are operator actions (``mcp-tasks-server dynamodb create-table`` and
``... check``), never run by the server itself: a server's credentials need
no table-management permissions. Both go through the backend's own client, so
they see exactly the endpoint, region and credentials the server would.

The table: ``PK`` (S) partition key, ``SK`` (S) sort key, on-demand capacity,
TTL on ``expires_at``. Nothing else is required; a GSI, streams, backups or
provisioned capacity added by the operator do no harm.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import anyio
from botocore.exceptions import BotoCoreError, ClientError

from mcp_tasks_server.backends.dynamodb_errors import (
    DynamoDbError,
    error_code,
    translate_client_error,
    translate_transport_error,
)

if TYPE_CHECKING:
    from mcp_tasks_server.backends.dynamodb import DynamoDbBackend

__all__ = ["TTL_ATTRIBUTE", "ProvisioningError", "check_table", "create_table"]

TTL_ATTRIBUTE = "expires_at"
_KEYS: tuple[tuple[str, Literal["HASH", "RANGE"], str], ...] = (
    ("PK", "HASH", "partition"),
    ("SK", "RANGE", "sort"),
)
_USABLE_STATUSES = ("ACTIVE", "UPDATING")


class ProvisioningError(DynamoDbError):
    """The table cannot be made ready as it is; the message says what to do."""


async def create_table(  # long: create, wait, then enable TTL: one idempotent provisioning story
    backend: DynamoDbBackend, *, wait_seconds: float = 300.0, poll_seconds: float = 1.0
) -> list[str]:
    """Create the table and enable its TTL, whichever is missing; wait until ACTIVE.

    Idempotent: run it again and it only reports what is already there.
    Returns what it did or found, one line each. Raises ``ProvisioningError``
    for a same-named table with another key schema or another TTL attribute.
    """
    client = await backend.client()
    table = backend.table
    done = []
    description = await _describe(backend)
    if description is None:
        try:
            with _errors(backend, "CreateTable", passthrough={"ResourceInUseException"}):
                await client.create_table(
                    TableName=table,
                    AttributeDefinitions=[
                        {"AttributeName": name, "AttributeType": "S"} for name, _, _ in _KEYS
                    ],
                    KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind, _ in _KEYS],
                    BillingMode="PAY_PER_REQUEST",
                )
            done.append(f"created table {table} (on-demand capacity)")
        except ClientError:  # created by someone else in the meantime
            done.append(f"table {table} already exists")
    else:
        problems = _key_problems(description)
        if problems:
            raise ProvisioningError(
                f"table {table} exists with another key schema ({'; '.join(problems)}); "
                "delete it or choose another name with --table / MCP_TASKS_DYNAMODB_TABLE"
            )
        done.append(f"table {table} already exists with the right key schema")
    await _wait_until_active(backend, wait_seconds, poll_seconds)

    status, attribute = await _ttl(backend)
    if status in ("ENABLED", "ENABLING") and attribute == TTL_ATTRIBUTE:
        done.append(f"TTL is already {status.lower()} on {TTL_ATTRIBUTE}")
    elif status in ("ENABLED", "ENABLING"):
        raise ProvisioningError(
            f"TTL on table {table} is set on {attribute}, but the backend writes "
            f"{TTL_ATTRIBUTE}; disable it (aws dynamodb update-time-to-live --table-name "
            f"{table} --time-to-live-specification Enabled=false,AttributeName={attribute}), "
            "then run create-table again once that has finished"
        )
    elif status == "DISABLING":
        raise ProvisioningError(
            f"TTL on table {table} is being disabled; DynamoDB accepts a new TTL setting "
            "once that finishes (up to an hour): run create-table again then"
        )
    else:
        try:
            with _errors(backend, "UpdateTimeToLive", passthrough={"ValidationException"}):
                await client.update_time_to_live(
                    TableName=table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
                )
        except ClientError:
            raise ProvisioningError(
                f"DynamoDB refused to enable TTL on table {table} now (it allows one TTL "
                "change an hour); run create-table again later"
            ) from None
        done.append(f"enabled TTL on {TTL_ATTRIBUTE}")
    return done


async def check_table(backend: DynamoDbBackend) -> list[str]:
    """Everything that keeps the table from serving the backend, one line each.

    An empty list means the table is ready.
    """
    table = backend.table
    description = await _describe(backend)
    if description is None:
        return [
            f"table {table} does not exist; create it with `mcp-tasks-server dynamodb create-table`"
        ]
    problems = [f"table {table}: {problem}" for problem in _key_problems(description)]
    if problems:
        problems.append(
            f"table {table} cannot be fixed in place; delete it and run "
            "`mcp-tasks-server dynamodb create-table`, or use another table"
        )
    status = description.get("TableStatus", "unknown")
    if status not in _USABLE_STATUSES:
        problems.append(f"table {table} is {status}, not ACTIVE")
    ttl_status, attribute = await _ttl(backend)
    if ttl_status not in ("ENABLED", "ENABLING"):
        problems.append(
            f"table {table}: TTL is {ttl_status.lower()}, so expired tasks are never deleted; "
            "enable it with `mcp-tasks-server dynamodb create-table`"
        )
    elif attribute != TTL_ATTRIBUTE:
        problems.append(
            f"table {table}: TTL is on {attribute}, but must be on {TTL_ATTRIBUTE}; "
            f"disable it, then run `mcp-tasks-server dynamodb create-table`"
        )
    return problems


# ------------------------------------------------------------------ internals


def _key_problems(description: Any) -> list[str]:
    kinds = {key["AttributeName"]: key["KeyType"] for key in description.get("KeySchema", ())}
    types = {
        attribute["AttributeName"]: attribute["AttributeType"]
        for attribute in description.get("AttributeDefinitions", ())
    }
    problems = []
    for name, kind, role in _KEYS:
        actual = next((key for key, found in kinds.items() if found == kind), None)
        if actual is None:
            problems.append(f"it has no {role} key; it needs {name} (string)")
        elif actual != name:
            problems.append(f"its {role} key is {actual}; it must be {name} (string)")
        elif types.get(name) != "S":
            problems.append(f"its {role} key {name} is of type {types.get(name)}; it must be S")
    return problems


async def _describe(backend: DynamoDbBackend) -> Any:
    """The table's description, or None if it does not exist."""
    client = await backend.client()
    try:
        with _errors(backend, "DescribeTable", passthrough={"ResourceNotFoundException"}):
            response = await client.describe_table(TableName=backend.table)
    except ClientError:
        return None
    return response["Table"]


async def _ttl(backend: DynamoDbBackend) -> tuple[str, str | None]:
    client = await backend.client()
    with _errors(backend, "DescribeTimeToLive"):
        response = await client.describe_time_to_live(TableName=backend.table)
    description = response.get("TimeToLiveDescription", {})
    return description.get("TimeToLiveStatus", "DISABLED"), description.get("AttributeName")


async def _wait_until_active(backend: DynamoDbBackend, wait_seconds: float, poll: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        description = await _describe(backend)
        status = "missing" if description is None else description.get("TableStatus")
        if status == "ACTIVE":
            return
        if time.monotonic() >= deadline:
            raise ProvisioningError(
                f"table {backend.table} is still {status} after {wait_seconds:g} s; "
                "run the command again to keep waiting"
            )
        await anyio.sleep(poll)


@contextmanager
def _errors(
    backend: DynamoDbBackend, operation: str, passthrough: frozenset[str] | set[str] = frozenset()
) -> Iterator[None]:
    """Translate failures as the backend does, letting the named error codes through."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in passthrough:
            raise
        raise translate_client_error(exc, operation=operation, table=backend.table) from None
    except (BotoCoreError, OSError, TimeoutError) as exc:
        raise translate_transport_error(
            exc, endpoint=backend.endpoint, attempts=backend.max_attempts
        ) from None
