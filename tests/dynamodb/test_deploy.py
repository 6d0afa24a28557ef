"""The IAM policy and CloudFormation template allow exactly what the code calls."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
from mcp_tasks_server.backends.dynamodb_admin import check_table, create_table
from mcp_tasks_server.core.model import new_task_id
from tests.clock import ManualClock
from tests.dynamodb_servers import DynamoDbServer, delete_table, local_session

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ADMIN_ACTIONS = {"CreateTable", "DescribeTable", "DescribeTimeToLive", "UpdateTimeToLive"}


def policy_actions() -> dict[str, set[str]]:
    policy = json.loads((DEPLOY / "iam-policy.json").read_text())
    return {
        statement["Sid"]: {action.removeprefix("dynamodb:") for action in statement["Action"]}
        for statement in policy["Statement"]
    }


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads ``!Ref`` / ``!GetAtt`` as plain values."""


_CloudFormationLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: loader.construct_scalar(node),
)


@pytest.mark.anyio
async def test_policy_allows_exactly_the_calls_the_server_and_cli_make(
    dynamodb_server: DynamoDbServer, clock: ManualClock
) -> None:
    table = f"iam-{uuid.uuid4().hex[:12]}"
    called: set[str] = set()

    def record(request: Any, **_: Any) -> None:
        operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[-1]
        if operation == "TransactWriteItems":
            # Authorized per action inside the transaction.
            for action in json.loads(request.body)["TransactItems"]:
                called.update(f"{kind}Item" for kind in action)
        else:
            called.add(operation)

    backend = DynamoDbBackend(
        table, endpoint_url=dynamodb_server.endpoint, session=local_session(), clock=clock
    )
    try:
        async with backend:
            (await backend.client()).meta.events.register("before-send.dynamodb", record)
            await create_table(backend, poll_seconds=0.05)
            assert await check_table(backend) == []
            admin, called = called, set()

            owner = "alice"
            first = StoredRecord(owner, new_task_id(clock()), 1, "{}", clock() + 1_000)
            await backend.create(first, max_active=1)
            await backend.get(owner, first.task_id)
            await backend.replace(
                StoredRecord(owner, first.task_id, 2, "{}", first.expires_at_ms), 1
            )
            await backend.list(owner, limit=5)
            clock.advance(1_000)  # the quota's expired entry is pruned on the next create
            second = StoredRecord(owner, new_task_id(clock()), 1, "{}", None)
            await backend.create(second, max_active=1)
            await backend.replace(StoredRecord(owner, second.task_id, 2, "{}", None, False), 1)
            await backend.delete(owner, second.task_id)
            await backend.list_stale(limit=10)  # the orphan sweep
    finally:
        delete_table(dynamodb_server.endpoint, table)

    actions = policy_actions()
    assert admin == ADMIN_ACTIONS == actions["TaskStoreProvisioning"]
    assert called == actions["TaskStoreServer"]


def test_cloudformation_template_matches_the_backend_and_the_policy() -> None:
    template = yaml.load(
        (DEPLOY / "dynamodb-table.yaml").read_text(),
        Loader=_CloudFormationLoader,  # a SafeLoader that reads !Ref as text
    )
    table = template["Resources"]["TasksTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        "PK": "S",
        "SK": "S",
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert template["Parameters"]["TableName"]["Default"] == "mcp_tasks"
    statement = template["Resources"]["ServerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed = {action.removeprefix("dynamodb:") for action in statement[0]["Action"]}
    assert allowed == policy_actions()["TaskStoreServer"]
