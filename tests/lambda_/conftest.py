"""A queue-mode stack for the Lambda handlers: DynamoDB Local, moto's SQS, settings.

Each test gets a fresh table and a fresh queue (with its dead-letter queue),
and settings that point the handlers at them, as the SAM template's
environment does in AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("mangum", reason="the Lambda handlers need the 'lambda' extra")

from mcp_tasks_server import Settings
from tests.dynamodb_servers import DynamoDbServer, create_table, delete_table, sync_client
from tests.sqs_servers import (
    TEST_CREDENTIALS,
    TEST_REGION,
    QueuePair,
    SqsServer,
    create_queue_pair,
    delete_queues,
    moto_sqs,
    sqs_client,
)
from tests.support.lambda_events import FUNCTION_HOST

__all__ = ["Stack", "moto_sqs"]

TOOLS = "tests.lambda_.tools:register"


@dataclass
class Stack:
    """One table, one queue, and the settings every function of the deployment shares."""

    dynamodb: DynamoDbServer
    sqs: SqsServer
    table: str
    queues: QueuePair

    def settings(self, **overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "backend": "dynamodb",
            "dynamodb_table": self.table,
            "dynamodb_endpoint": self.dynamodb.endpoint,
            "dynamodb_region": TEST_REGION,
            "execution": "queue",
            "queue_url": self.queues.url,
            "sqs_endpoint": self.sqs.endpoint,
            "json_response": True,
            "allowed_hosts": [FUNCTION_HOST],
            "tools": TOOLS,
            "heartbeat_interval_seconds": 0.2,
            "lease_seconds": 2.0,
            "lease_sweep_interval_seconds": 0,
            "shutdown_grace_seconds": 0,
            "worker_time_margin_seconds": 1.0,
        }
        return Settings(**{**base, **overrides})

    def sqs_client(self) -> Any:
        return sqs_client(self.sqs.endpoint)

    def record(self, owner_key: str, task_id: str) -> dict[str, Any] | None:
        """The raw stored item, read past the server (to check what is stored)."""
        item = sync_client(self.dynamodb.endpoint).get_item(
            TableName=self.table,
            Key={"PK": {"S": f"OWNER#{owner_key}"}, "SK": {"S": f"TASK#{task_id}"}},
            ConsistentRead=True,
        )
        return item.get("Item")


@pytest.fixture
def stack(
    dynamodb_local: DynamoDbServer, moto_sqs: SqsServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_REGION", TEST_REGION)
    table = create_table(dynamodb_local.endpoint, ttl=True)
    queues = create_queue_pair(moto_sqs.endpoint, max_receive_count=5, visibility_seconds=30)
    try:
        yield Stack(dynamodb_local, moto_sqs, table, queues)
    finally:
        delete_queues(moto_sqs.endpoint, queues)
        delete_table(dynamodb_local.endpoint, table)
