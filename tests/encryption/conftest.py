"""Fixtures for the encryption tests: moto's KMS on 127.0.0.1 and keys made in it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clock import ManualClock
from tests.dynamodb_servers import TEST_CREDENTIALS, TEST_REGION, DynamoDbServer


@pytest.fixture
def moto_kms(moto_dynamodb: DynamoDbServer) -> str:
    """The endpoint of moto's server, started once per session; it serves KMS on the same port."""
    return moto_dynamodb.endpoint


def kms_admin(endpoint: str) -> Any:
    """A plain botocore KMS client for test setup (creating keys)."""
    import botocore.session

    return botocore.session.get_session().create_client(
        "kms",
        endpoint_url=endpoint,
        region_name=TEST_REGION,
        aws_access_key_id=TEST_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=TEST_CREDENTIALS["aws_secret_access_key"],
    )


@pytest.fixture
def kms_key(moto_kms: str) -> str:
    """The ARN of a fresh symmetric KMS key."""
    metadata = kms_admin(moto_kms).create_key(Description="mcp-tasks-server test key")
    return str(metadata["KeyMetadata"]["Arn"])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
