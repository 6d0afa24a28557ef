"""The IAM policies and the CloudFormation template allow exactly what the code calls."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
from mcp_tasks_server.backends.dynamodb_admin import check_table, create_table
from mcp_tasks_server.core.model import new_task_id
from tests.dynamodb_servers import DynamoDbServer, delete_table, local_session
from tests.support.clock import ManualClock

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVER_POLICY = DEPLOY / "iam-server-policy.json"
PROVISIONING_POLICY = DEPLOY / "iam-provisioning-policy.json"
TEMPLATE = DEPLOY / "dynamodb-table.yaml"
TABLE_ARN = "arn:aws:dynamodb:REGION:ACCOUNT_ID:table/mcp_tasks"


def statements(path: Path) -> list[dict[str, Any]]:
    policy = json.loads(path.read_text())
    assert policy["Version"] == "2012-10-17"
    return list(policy["Statement"])


def allowed_actions(path: Path) -> set[str]:
    return {
        action.removeprefix("dynamodb:")
        for statement in statements(path)
        for action in statement["Action"]
    }


def template() -> dict[str, Any]:
    """The template as CloudFormation reads it (intrinsic functions as ``Fn::*`` mappings)."""
    import cfnlint.decode  # type: ignore[import-untyped]  # cfn-lint ships no type hints

    decoded, problems = cfnlint.decode.decode_str(TEMPLATE.read_text())
    assert not problems, problems
    assert decoded is not None
    return dict(decoded)


@pytest.mark.anyio
async def test_policies_allow_exactly_the_calls_the_server_and_cli_make(
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
        table,
        endpoint_url=dynamodb_server.endpoint,
        session=local_session(),
        clock=clock,
        active_shards=1,  # one shard, so a global cap of one fills it
    )
    try:
        async with backend:
            (await backend.client()).meta.events.register("before-send.dynamodb", record)
            await create_table(backend, poll_seconds=0.05)
            assert await check_table(backend) == []
            admin, called = called, set()

            # Every backend call the task store and the lease sweep make. The
            # contract's `delete` is not among them: tasks leave by TTL.
            owner = "alice"
            # A minute of TTL: DynamoDB Local's own TTL, which runs on real time,
            # must not delete the item while a slow machine gets to the next call.
            first = StoredRecord(owner, new_task_id(clock()), 1, "{}", clock() + 60_000)
            await backend.create(first, max_active=1)
            await backend.get(owner, first.task_id)
            await backend.replace(
                StoredRecord(owner, first.task_id, 2, "{}", first.expires_at_ms), 1
            )
            await backend.list(owner, limit=5)
            clock.advance(60_000)  # the quota's expired entry is pruned on the next create
            second = StoredRecord(owner, new_task_id(clock()), 1, "{}", None)
            await backend.create(second, max_active=1)
            await backend.replace(StoredRecord(owner, second.task_id, 2, "{}", None, False), 1)
            # The global cap's shard still counts the expired first task: a create
            # that finds it full reads the tasks it counts, and drops that entry.
            third = StoredRecord("bob", new_task_id(clock()), 1, "{}", None)
            await backend.create(third, max_total_active=1)
            await backend.list_orphans(limit=10)  # the orphan sweep
            await backend.sweep_expired()  # DynamoDB's TTL does it: no request
    finally:
        delete_table(dynamodb_server.endpoint, table)

    assert admin == allowed_actions(PROVISIONING_POLICY)
    assert called == allowed_actions(SERVER_POLICY)
    assert "DeleteItem" not in called


def test_policies_name_the_table_with_region_and_account_placeholders() -> None:
    for path in (SERVER_POLICY, PROVISIONING_POLICY):
        for statement in statements(path):
            assert statement["Effect"] == "Allow"
            assert statement["Resource"] == TABLE_ARN, path.name
            assert all(action.startswith("dynamodb:") for action in statement["Action"])


def test_cloudformation_template_passes_cfn_lint() -> None:
    import cfnlint.api  # type: ignore[import-untyped]  # cfn-lint ships no type hints

    problems = cfnlint.api.lint(TEMPLATE.read_text())
    assert [f"{match.rule.id} {match.message}" for match in problems] == []


def test_cloudformation_table_matches_the_backend() -> None:
    decoded = template()
    table = decoded["Resources"]["TasksTable"]
    properties = table["Properties"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]} == {
        "PK": "S",
        "SK": "S",
    }
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert decoded["Parameters"]["TableName"]["Default"] == "mcp_tasks"


def test_cloudformation_table_is_protected_by_default_and_optionally_customer_keyed() -> None:
    decoded = template()
    parameters = decoded["Parameters"]
    properties = decoded["Resources"]["TasksTable"]["Properties"]

    assert properties["DeletionProtectionEnabled"] == {"Ref": "DeletionProtection"}
    assert parameters["DeletionProtection"]["Default"] == "true"
    assert properties["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": {"Ref": "PointInTimeRecovery"}
    }
    assert parameters["PointInTimeRecovery"]["Default"] == "true"

    # A customer managed key only when one is given; DynamoDB's own key otherwise.
    assert parameters["KmsKeyArn"]["Default"] == ""
    assert decoded["Conditions"]["UseCustomerKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]
    }
    assert properties["SSESpecification"] == {
        "Fn::If": [
            "UseCustomerKey",
            {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "KmsKeyArn"}},
            {"Ref": "AWS::NoValue"},
        ]
    }

    # An on-demand ceiling only when one is set (0 = none).
    assert parameters["MaxReadRequestUnits"]["Default"] == 0
    assert parameters["MaxWriteRequestUnits"]["Default"] == 0
    throughput = properties["OnDemandThroughput"]["Fn::If"]
    assert throughput[0] == "CapThroughput"
    assert throughput[2] == {"Ref": "AWS::NoValue"}
    assert set(throughput[1]) == {"MaxReadRequestUnits", "MaxWriteRequestUnits"}


def test_cloudformation_server_policy_is_the_json_server_policy() -> None:
    resource = template()["Resources"]["ServerPolicy"]
    (statement,) = resource["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Fn::GetAtt": ["TasksTable", "Arn"]}
    allowed = {action.removeprefix("dynamodb:") for action in statement["Action"]}
    assert allowed == allowed_actions(SERVER_POLICY)
