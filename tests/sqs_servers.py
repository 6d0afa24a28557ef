"""SQS-compatible servers for the queue tests, started once per session.

Two independent implementations keep the SQS queue honest:

* **moto**'s server (pure Python, from the ``dev`` extra);
* **local-aws-sqs**, an SQS emulator in an npm package pinned in
  ``tests/queues/npm`` (install it with ``scripts/interop/sqs-servers.sh``;
  it runs on the Node 20 the project already needs).

Each runs as a child process on a free 127.0.0.1 port, is polled until
``ListQueues`` answers, and is terminated by its PID when the session ends.
Tests isolate themselves with a fresh queue pair each (:func:`create_queue_pair`),
never by restarting a server.

A server that cannot be started here makes its tests skip with the reason;
under ``CI=true`` that is a failure instead, so CI cannot go green by running
nothing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import pytest

from tests.support import processes
from tests.support.processes import ServerUnavailable, free_port, moto_command, stop_process

__all__ = [
    "SQS_SERVERS",
    "TEST_CREDENTIALS",
    "TEST_REGION",
    "QueuePair",
    "ServerUnavailable",
    "SqsServer",
    "create_queue_pair",
    "delete_queues",
    "free_port",
    "local_aws_sqs",
    "local_session",
    "moto_sqs",
    "run_server",
    "sqs_client",
    "unavailable",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = REPO_ROOT / "tests/queues/npm"
TEST_REGION = "us-east-1"
TEST_CREDENTIALS: dict[str, str] = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}
SQS_SERVERS = ("moto", "local-aws-sqs")
"""Names of the servers, in the order parametrized tests run against them."""


@dataclass
class SqsServer:
    """A running server: where to reach it, and the process behind it."""

    name: str
    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass(frozen=True)
class QueuePair:
    """A queue and the dead-letter queue its redrive policy sends to."""

    url: str
    dead_letter_url: str


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose server is missing here, but fail it under ``CI=true``."""
    processes.unavailable(reason, "every SQS server")


def sqs_client(endpoint: str) -> Any:
    """A plain boto3 client for test setup and raw sends."""
    import boto3  # type: ignore[import-untyped]  # no stubs in the dev extra
    from botocore.config import Config

    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=TEST_REGION,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=25),
        **TEST_CREDENTIALS,
    )


def create_queue_pair(
    endpoint: str, *, max_receive_count: int, visibility_seconds: int = 30, fifo: bool = False
) -> QueuePair:
    """A fresh queue whose redrive policy moves a message to a fresh dead-letter queue."""
    client = sqs_client(endpoint)
    name = f"q-{uuid.uuid4().hex[:16]}"
    suffix = ".fifo" if fifo else ""
    kind: dict[str, str] = {"FifoQueue": "true"} if fifo else {}
    dead_letter_url = client.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=kind)[
        "QueueUrl"
    ]
    dead_letter_arn = client.get_queue_attributes(
        QueueUrl=dead_letter_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count}
    url = client.create_queue(
        QueueName=f"{name}{suffix}",
        Attributes={
            **kind,
            "VisibilityTimeout": str(visibility_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return QueuePair(url, dead_letter_url)


def delete_queues(endpoint: str, pair: QueuePair) -> None:
    client = sqs_client(endpoint)
    for url in (pair.url, pair.dead_letter_url):
        with contextlib.suppress(Exception):
            client.delete_queue(QueueUrl=url)


def local_session() -> Any:
    """An aioboto3 session with dummy credentials, for the local servers."""
    try:
        import aioboto3
    except ImportError:
        unavailable("the SQS queue needs aioboto3: pip install 'mcp-tasks-server[dynamodb]'")
    return aioboto3.Session(
        region_name=TEST_REGION,
        aws_access_key_id=TEST_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=TEST_CREDENTIALS["aws_secret_access_key"],
    )


# ------------------------------------------------------------------ processes


def _local_aws_sqs_command(port: int) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise ServerUnavailable("local-aws-sqs needs Node.js 20 or later on PATH")
    if not (NPM_DIR / "node_modules/local-aws-sqs/package.json").is_file():
        raise ServerUnavailable(
            "local-aws-sqs is not installed: run scripts/interop/sqs-servers.sh"
        )
    return [node, str(NPM_DIR / "serve.cjs"), str(port)]


_COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "moto": moto_command,
    "local-aws-sqs": _local_aws_sqs_command,
}


def _wait_until_ready(
    name: str, endpoint: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=TEST_REGION,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=0.5, read_timeout=2),
        **TEST_CREDENTIALS,
    )
    processes.wait_until_ready(name, process, log, client.list_queues)


@contextlib.contextmanager
def run_server(name: str) -> Iterator[SqsServer]:
    """Start the named server on a free port; stop it on exit.

    Raises ``ServerUnavailable`` when it cannot be started here.
    """
    port = free_port()
    command = _COMMANDS[name](port)
    log_dir = Path(tempfile.mkdtemp(prefix="mcp-tasks-sqs-"))
    log_path = log_dir / f"{name}.log"
    log: IO[bytes] = log_path.open("wb")
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
        yield SqsServer(name, endpoint, process, log_path)
    finally:
        stop_process(process)
        log.close()
        shutil.rmtree(log_dir, ignore_errors=True)


# ------------------------------------------------------------------ fixtures


def _serve(name: str) -> Iterator[SqsServer]:
    yield from processes.serve_or_skip(run_server(name), "every SQS server")


@pytest.fixture(scope="session")
def moto_sqs() -> Iterator[SqsServer]:
    """moto's server, for the whole session."""
    yield from _serve("moto")


@pytest.fixture(scope="session")
def local_aws_sqs() -> Iterator[SqsServer]:
    """The local-aws-sqs emulator, for the whole session."""
    yield from _serve("local-aws-sqs")
