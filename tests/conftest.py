"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

# DynamoDB Local and moto, started once per session when a test asks for them.
from tests.dynamodb_servers import dynamodb_local, dynamodb_server, moto_dynamodb  # noqa: F401
from tests.support.clock import ManualClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so (see :class:`ManualClock`)."""
    return ManualClock()
