"""Fixtures for the DynamoDB-specific tests: each runs on DynamoDB Local and on moto."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from mcp_tasks_server import Settings, TaskStore
from tests.dynamodb_servers import (
    TEST_CREDENTIALS,
    TEST_REGION,
    DynamoDbServer,
    create_table,
    delete_table,
    open_backend,
    sync_client,
    unavailable,
)
from tests.support.clock import ManualClock
from tests.support.factories import make_store

try:
    from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
except ImportError:
    unavailable("the DynamoDB tests need aioboto3: pip install -e '.[dev,dynamodb]'")


@pytest.fixture
async def backend(
    dynamodb_server: DynamoDbServer, clock: ManualClock
) -> AsyncIterator[DynamoDbBackend]:
    """A backend with quota tracking on a fresh table."""
    async with open_backend(dynamodb_server, clock) as ready:
        yield ready


@pytest.fixture
def raw(dynamodb_server: DynamoDbServer) -> Any:
    """A plain boto3 client on the same server, to look at items as stored."""
    return sync_client(dynamodb_server.endpoint)


@pytest.fixture
def store_for(backend: DynamoDbBackend) -> Any:
    """Builds a TaskStore over the backend with the given settings."""

    def build(**settings: Any) -> TaskStore:
        return make_store(backend, Settings(backend="dynamodb", **settings))

    return build


@pytest.fixture
def table(dynamodb_server: DynamoDbServer) -> Iterator[str]:
    """A fresh, empty table with the backend's key schema."""
    name = create_table(dynamodb_server.endpoint)
    yield name
    delete_table(dynamodb_server.endpoint, name)


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, dynamodb_server: DynamoDbServer) -> str:
    """The environment an operator would set to reach this server; returns the endpoint."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_REGION", TEST_REGION)
    monkeypatch.setenv("MCP_TASKS_DYNAMODB_ENDPOINT", dynamodb_server.endpoint)
    return dynamodb_server.endpoint
