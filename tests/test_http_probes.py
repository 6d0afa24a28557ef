"""The probes of the HTTP transport: beside the MCP endpoint, honest about the backend,
and 503 from the moment a SIGTERM arrives while the replica still serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from mcp_tasks_server.server.build import build_server
from mcp_tasks_server.server.http import http_app
from mcp_tasks_server.settings import Settings
from tests.dynamodb_servers import (
    TEST_CREDENTIALS,
    TEST_REGION,
    UVICORN_LISTENING,
    reported_port,
)
from tests.protocol.harness import serve_asgi
from tests.support.processes import free_port, stop_process

pytestmark = pytest.mark.anyio

SERVER = str(Path(sys.executable).with_name("mcp-tasks-server"))


async def test_probes_answer_beside_the_mcp_endpoint_with_a_status_only() -> None:
    settings = Settings(backend="memory", transport="http")
    app = http_app(build_server(settings), settings)
    async with serve_asgi(app) as port, httpx.AsyncClient() as http:
        base = f"http://127.0.0.1:{port}"
        health = await http.get(f"{base}/healthz")
        ready = await http.get(f"{base}/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert ready.headers["cache-control"] == "no-store"


async def test_readyz_is_503_while_the_backend_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_CREDENTIALS["aws_secret_access_key"])
    settings = Settings(
        backend="dynamodb",
        transport="http",
        dynamodb_endpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        dynamodb_region=TEST_REGION,
        dynamodb_timeout_seconds=0.2,
        dynamodb_max_attempts=1,
    )
    app = http_app(build_server(settings), settings)
    async with serve_asgi(app) as port, httpx.AsyncClient() as http:
        base = f"http://127.0.0.1:{port}"
        ready = await http.get(f"{base}/readyz")
        health = await http.get(f"{base}/healthz")
    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "not ready", "reason": "backend unreachable"},
    )
    assert health.status_code == 200  # a slow backend never gets a live process restarted


def start_server(tmp_path: Path, **settings: str) -> tuple[subprocess.Popen[bytes], Path]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MCP_TASKS_")}
    environment.update({"MCP_TASKS_PORT": "0", "MCP_TASKS_LOG_LEVEL": "INFO", **settings})
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SERVER, "serve", "--transport", "http", "--stateless"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, log_path


async def test_sigterm_turns_readyz_to_503_while_the_replica_still_serves(
    tmp_path: Path,
) -> None:
    process, log_path = start_server(tmp_path, MCP_TASKS_DRAIN_SECONDS="4")
    try:
        port = reported_port("server", log_path, UVICORN_LISTENING, process.poll)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{base}/readyz")).status_code == 200
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(3):
                while (ready := await http.get(f"{base}/readyz")).status_code == 200:  # noqa: ASYNC110 - polling the server is the point
                    await anyio.sleep(0.05)
            assert ready.json() == {"status": "not ready", "reason": "draining"}
            # Still serving: liveness and a new connection both answer.
            async with httpx.AsyncClient(timeout=10) as fresh:
                assert (await fresh.get(f"{base}/healthz")).status_code == 200
            code = await anyio.to_thread.run_sync(process.wait, 30)
        assert time.monotonic() - signalled >= 4
        assert code in (0, -signal.SIGTERM), log_path.read_text()
        assert "draining for 4 s" in log_path.read_text()
    finally:
        stop_process(process)
