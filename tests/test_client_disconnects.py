"""A client that goes away mid-create leaves no task, or a task that runs to its end.

Never a stored task that never runs. Each test holds the create's reply
until the client's departure has cancelled the request (see
:mod:`tests.support.disconnects`), so the cancel lands after the task is
stored and before it starts: the one moment where create and start could
come apart. Each test also checks that the departure really cancelled the
request, so it cannot pass without exercising that moment.

* stdio: ``mcp-tasks-server serve`` as a subprocess whose stdin is closed
  right after a task-augmented ``tools/call``; its store dies with it, so
  the outcome is read from its stderr (the backend's ``STORED`` lines, the
  tool's ``RAN``, and the audit trail).
* HTTP: the reference server's stateless app under uvicorn, behind API keys
  (so the owner is the principal, and listing works from any new request);
  the TCP connection is closed right after the request is sent, and a new
  request lists the principal's tasks and reads each one's result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_tasks_server import Settings
from mcp_tasks_server.observability import LogIds
from mcp_tasks_server.server.auth.api_keys import hash_entry, new_api_key
from mcp_tasks_server.server.http import http_app
from tests.protocol.harness import REPO, RawHttp, modern_meta, serve_asgi
from tests.support.disconnects import HeldReplyBackend, hold_until_caller_leaves
from tests.support.held_tools import held_tools_server
from tests.support.polling import poll_until, status_in
from tests.support.processes import stop_process
from tests.support.wire import LEGACY, MODERN, TERMINAL

pytestmark = pytest.mark.anyio

SERVER = str(Path(sys.executable).with_name("mcp-tasks-server"))
HASH_KEY = "a log hash key the test knows"
LIMIT_SECONDS = 90  # a bound on each test, generous for a loaded 2-core machine


def jsonrpc(message_id: int | None, method: str, params: dict[str, Any]) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if message_id is not None:
        message["id"] = message_id
    return json.dumps(message).encode() + b"\n"


INITIALIZE = {
    "protocolVersion": LEGACY,
    "capabilities": {},
    "clientInfo": {"name": "disconnect-test", "version": "0"},
}
TASK_CALL = {"name": "quick", "arguments": {}, "task": {"ttl": 60_000}}


def stdio_process(log_path: Path) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MCP_TASKS_")}
    environment.update({"MCP_TASKS_LOG_LEVEL": "INFO", "MCP_TASKS_LOG_HASH_KEY": HASH_KEY})
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [SERVER, "serve", "--tools", "tests.support.disconnects:stdio_server"],
            cwd=REPO,  # where `tests.support` imports from
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def stored_and_finished(log_text: str) -> tuple[list[str], dict[str, str], list[str]]:
    """From a server's stderr: the task ids it stored, each finished task's status, markers."""
    stored, finished, markers = [], {}, []
    for line in log_text.splitlines():
        if line.startswith("STORED "):
            stored.append(line.removeprefix("STORED "))
        elif line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "task.finished":
                finished[entry["task"]] = entry["outcome"]
        else:
            markers.append(line)
    return stored, finished, markers


async def test_stdio_client_gone_mid_create_leaves_a_task_that_runs_to_its_end(
    tmp_path: Path,
) -> None:
    log_path = tmp_path / "server.log"
    process = stdio_process(log_path)
    assert process.stdin is not None
    try:
        with anyio.fail_after(LIMIT_SECONDS):
            process.stdin.write(
                jsonrpc(1, "initialize", INITIALIZE)
                + jsonrpc(None, "notifications/initialized", {})
                + jsonrpc(2, "tools/call", TASK_CALL)
            )
            process.stdin.flush()

            async def log_text() -> str:
                return log_path.read_text(errors="replace")

            await poll_until(log_text, lambda text: "STORED " in text, within=60, every=0.05)
            process.stdin.close()  # the client is gone; the task's reply is still held
            assert await anyio.to_thread.run_sync(process.wait, 60) == 0
    finally:
        stop_process(process)
    stored, finished, markers = stored_and_finished(log_path.read_text(errors="replace"))
    assert "CALLER LEFT" in markers, "the closed stdin did not cancel the create"
    ids = LogIds(HASH_KEY.encode())
    assert [finished.get(ids.task(task_id)) for task_id in stored] == ["completed"]
    assert "RAN" in markers


def create_request(era: str, port: int, key: str) -> bytes:
    """A task-augmented ``tools/call`` of ``hold("gone")`` in ``era``, as raw HTTP/1.1."""
    params: dict[str, Any] = {"name": "hold", "arguments": {"label": "gone"}}
    headers = {"MCP-Protocol-Version": era}
    if era == LEGACY:
        params["task"] = {"ttl": 60_000}
    else:  # 2026-07-28: every request self-describing; the tasks extension makes it a task
        params["_meta"] = modern_meta()
        headers.update({"Mcp-Method": "tools/call", "Mcp-Name": "hold"})
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
    lines = [
        "POST /mcp HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {key}",
        "Accept: application/json, text/event-stream",
        "Content-Type: application/json",
        *(f"{name}: {value}" for name, value in headers.items()),
        f"Content-Length: {len(body.encode())}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


@pytest.mark.parametrize("era", [LEGACY, MODERN])
async def test_http_client_gone_mid_create_leaves_a_task_that_runs_to_its_end(
    tmp_path: Path, era: str
) -> None:
    key = new_api_key()
    keys = tmp_path / "api-keys.txt"
    keys.write_text(hash_entry("alice", key) + "\n")
    settings = Settings(
        transport="http",
        stateless=True,
        auth="api-keys",
        auth_api_keys_file=str(keys),
        # A stored task that never ran would be failed by the orphan rule within a second.
        heartbeat_interval_seconds=0.1,
        lease_seconds=1,
        lease_sweep_interval_seconds=0.1,
        clock_skew_margin_seconds=0,
    )
    backend = HeldReplyBackend()
    server, tasks, tools = held_tools_server(settings, backend=backend)
    hold_until_caller_leaves(tasks.service, backend)
    alice = {"Authorization": f"Bearer {key}"}
    with anyio.fail_after(LIMIT_SECONDS):
        async with serve_asgi(http_app(server, settings)) as port:
            tools["gone"].release.set()  # the tool itself ends as soon as it runs
            connection = await anyio.connect_tcp("127.0.0.1", port)
            await connection.send(create_request(era, port, key))

            async def stored() -> list[str]:
                return backend.stored

            async def caller_left() -> bool:
                return backend.caller_left

            await poll_until(stored, bool, within=30)
            await connection.aclose()  # the client is gone; the task's reply is still held
            with anyio.move_on_after(30):
                await poll_until(caller_left, bool, within=30)
            assert backend.caller_left, "closing the connection did not cancel the create"
            async with RawHttp.legacy_session(
                f"http://127.0.0.1:{port}/mcp", stateless=True, headers=alice
            ) as raw:
                listed = await raw.request("tasks/list", {})
                task_ids = [task["taskId"] for task in listed.result["tasks"]]
                assert task_ids == backend.stored

                async def task() -> dict[str, Any]:
                    return (await raw.request("tasks/get", {"taskId": task_ids[0]})).result

                ended = await poll_until(task, status_in(TERMINAL), within=30)
                assert ended["status"] == "completed", ended
                done = await raw.request("tasks/result", {"taskId": task_ids[0]})
                assert done.result["content"][0]["text"] == "gone: released"
    assert tools["gone"].started.is_set()
