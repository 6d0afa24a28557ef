"""Every AWS component opens its client on first use and says how to fix a missing region.

DynamoDB, SQS and KMS share one client discipline (``aws_client.LazyClient``).
With no region anywhere botocore looks, the first request fails with the
component's own error naming the fix, and nothing is left half open: once a
region is known, the next request opens the client.
"""

from __future__ import annotations

from pathlib import Path

import aioboto3
import pytest

from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
from mcp_tasks_server.backends.dynamodb_errors import DynamoDbError
from mcp_tasks_server.queues.errors import QueueError
from mcp_tasks_server.queues.sqs import SqsQueue
from mcp_tasks_server.store.encryption.errors import KeyServiceError
from mcp_tasks_server.store.encryption.kms import KmsEnvelopeCipher

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))


async def test_dynamodb_without_a_region_fails_naming_aws_region() -> None:
    backend = DynamoDbBackend("t", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(DynamoDbError, match="no AWS region is set for DynamoDB: set AWS_REGION"):
        await backend.get("owner", "task")
    assert backend.endpoint == "http://127.0.0.1:9"  # nothing was opened


async def test_sqs_without_a_region_fails_naming_the_fix() -> None:
    queue = SqsQueue("http://127.0.0.1:9/000000000000/q")
    with pytest.raises(QueueError, match="no AWS region is set for SQS: pass the region"):
        await queue.client()


async def test_kms_without_a_region_fails_as_a_key_service_error() -> None:
    cipher = KmsEnvelopeCipher("alias/k", lambda: aioboto3.Session().client("kms"))
    with pytest.raises(KeyServiceError, match="no AWS region is set for KMS"):
        await cipher.encrypt(b"x", context={"task": "t"})


async def test_a_client_that_failed_to_open_opens_once_a_region_is_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = SqsQueue("http://127.0.0.1:9/000000000000/q", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(QueueError):
        await queue.client()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    async with queue:
        assert queue.endpoint == "http://127.0.0.1:9"
