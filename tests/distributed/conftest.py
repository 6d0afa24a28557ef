"""Fixtures for the distributed tests: replicas on a fresh table of DynamoDB Local."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.distributed.cluster import Replica, run_replica, wait_until_serving
from tests.dynamodb_servers import DynamoDbServer, create_table, delete_table


@pytest.fixture
def table(dynamodb_local: DynamoDbServer) -> Iterator[str]:
    name = create_table(dynamodb_local.endpoint)
    yield name
    delete_table(dynamodb_local.endpoint, name)


@pytest.fixture
def pair(dynamodb_local: DynamoDbServer, table: str, tmp_path: Path) -> Iterator[list[Replica]]:
    """Replicas ``a`` and ``b``: two processes sharing one table."""
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(run_replica(name, dynamodb_local.endpoint, table, tmp_path))
            for name in ("a", "b")
        ]
        wait_until_serving(*replicas)
        yield replicas
