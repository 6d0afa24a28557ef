"""Our server driven by the real fastmcp ``Client`` with fastmcp-tasks, over stdio and HTTP.

fastmcp-tasks makes every fastmcp ``Client`` speak the 2026-07-28 tasks
extension: ``call_tool`` polls ``tasks/get`` to the end and answers questions
through the client's elicitation handler with ``tasks/update``;
``call_tool_task`` hands back a task to steer. It patches the mcp SDK
process-wide, so it lives in its own virtualenv (made by
``scripts/interop/fastmcp-venv.sh``) and runs as a subprocess:
``fastmcp/client_scenarios.py`` plays the scenarios and reports what the
client saw as JSON, and the tests here judge it.

Over stdio the client starts ``mcp-tasks-server serve`` itself, as desktop
clients do; over HTTP the server runs on a free loopback port. Either way it
serves ``tests/interop/tools.py``.

Where this client departs from the letter of the extension, the server must
still serve it: it sends no ``Mcp-Name`` header on ``tasks/*`` over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.servers import api_key_server_env, http_server
from tests.support.wire import MODERN

REPO = Path(__file__).resolve().parents[2]
CLIENT_PYTHON = REPO / "tests" / "interop" / ".fastmcp-venv" / "bin" / "python"
CLIENT = REPO / "tests" / "interop" / "fastmcp" / "client_scenarios.py"
SERVER = Path(sys.executable).with_name("mcp-tasks-server")
TOOLS = "tests.interop.tools:register"
UPSTREAM_ERROR_CODE = -32050  # tests/interop/tools.py

# A short heartbeat and poll interval keep each scenario to seconds; the
# client caps its polling at the server's pollIntervalMs.
SERVER_ENV = {
    "MCP_TASKS_HEARTBEAT_INTERVAL_SECONDS": "0.2",
    "MCP_TASKS_POLL_INTERVAL_MS": "200",
    "MCP_TASKS_SHUTDOWN_GRACE_SECONDS": "1",
    "MCP_TASKS_LOG_LEVEL": "WARNING",
}
SCENARIOS = ("transparent", "cancel", "elicit", "errors", "concurrent")
# Generous, for a loaded 2-core machine: each scenario takes about a second alone.
SCENARIO_SECONDS = 120

Report = dict[str, Any]


@pytest.fixture(scope="module")
def client_python() -> Path:
    if CLIENT_PYTHON.exists():
        return CLIENT_PYTHON
    reason = f"the fastmcp client is not installed ({CLIENT_PYTHON.relative_to(REPO)} is missing)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; `make test-tools` installs it")
    pytest.skip(f"{reason}; install it with scripts/interop/fastmcp-venv.sh")


@pytest.fixture(scope="module")
def http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mcp-tasks-server serve --transport http`` on a loopback port of its own choosing."""
    with http_server(tmp_path_factory.mktemp("http-server"), tools=TOOLS, env=SERVER_ENV) as url:
        yield url


@pytest.fixture(scope="module")
def authenticated_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The same server behind an API key; the client sends it as a bearer token."""
    directory = tmp_path_factory.mktemp("authenticated")
    env, key = api_key_server_env(directory)
    with http_server(directory, tools=TOOLS, env={**SERVER_ENV, **env}) as url:
        yield url, key


class ClientRun:
    """One run of ``client_scenarios.py``: every scenario, in turn, on one connection.

    One server and client start-up instead of one per scenario; the run
    happens when a test first asks for a report, and its outcome (or why it
    failed) is kept for the other tests. A scenario that crashed fails only
    the tests that read it, with the client's traceback.
    """

    def __init__(self, python: Path, transport: str, target: Callable[[], list[str]]) -> None:
        self.python, self.transport, self.target = python, transport, target
        self.output: Report | None = None
        self.failure: str | None = None

    def report(self, name: str) -> Report:
        report: Report = self.run()["scenarios"][name]
        if "crashed" in report:
            pytest.fail(f"scenario {name} over {self.transport} raised:\n{report['crashed']}")
        return report

    def run(self) -> Report:
        if self.output is None and self.failure is None:
            self.output, self.failure = self._run()
        if self.failure is not None:
            pytest.fail(self.failure)
        assert self.output is not None
        return self.output

    def _run(self) -> tuple[Report | None, str | None]:
        options = [*SCENARIOS, "--label", self.transport, "--deadline", str(SCENARIO_SECONDS)]
        command = [str(self.python), str(CLIENT), *options, *self.target()]  # "--" SERVER last
        try:
            done = subprocess.run(
                command,
                cwd=REPO,
                env={**os.environ, **SERVER_ENV},
                capture_output=True,
                text=True,
                timeout=SCENARIO_SECONDS * len(SCENARIOS) + 60,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return None, f"the fastmcp client did not end within {exc.timeout} s: {exc.stderr!r}"
        if done.returncode != 0:
            return None, f"the fastmcp client failed ({done.returncode}):\n{done.stderr[-6000:]}"
        output: Report = json.loads(done.stdout.strip().splitlines()[-1])
        if not output["scenarios"]:
            return None, f"the fastmcp client could not connect:\n{output['connection_failed']}"
        return output, None


@pytest.fixture(scope="module", params=["stdio", "http", "http-auth"])
def client_run(request: pytest.FixtureRequest, client_python: Path) -> ClientRun:
    transport: str = request.param

    def target() -> list[str]:
        if transport == "http":
            return ["--url", request.getfixturevalue("http_url")]
        if transport == "http-auth":
            url, key = request.getfixturevalue("authenticated_http")
            return ["--url", url, "--token", key]
        return ["--", str(SERVER), "serve", "--tools", TOOLS]

    return ClientRun(client_python, transport, target)


def label_of(client_run: ClientRun, scenario: str) -> str:
    """The label the scenario's tool calls carry (as ``client_scenarios.py`` makes it)."""
    return f"{client_run.transport}-{scenario}"


# ---------------------------------------------------------------------- tests


def test_client_speaks_the_2026_era_and_closes_cleanly(client_run: ClientRun) -> None:
    output = client_run.run()
    assert output["protocol_version"] == MODERN
    assert output.get("connection_failed") is None, output["connection_failed"]


def test_call_tool_on_a_task_tool_returns_the_final_result(client_run: ClientRun) -> None:
    report = client_run.report("transparent")
    label = label_of(client_run, "transparent")
    assert report["is_error"] is False
    assert report["texts"] == [f"{label}: slept 1 s as a task"]
    assert report["journal"] == ["start", "done"]
    assert report["asked"] == []


def test_cancelled_task_handle_ends_cancelled_and_stops_the_tool(client_run: ClientRun) -> None:
    report = client_run.report("cancel")
    assert report["created_status"] == "working"
    assert report["journal_before_cancel"] == ["start"]
    assert report["final"]["status"] == "cancelled"
    assert report["final"]["result"] is None
    assert report["final"]["error"] is None
    assert report["handle_result"]["raised"] == {
        "type": "ToolError",
        "message": f"Task {report['task_id']} was cancelled",
    }
    assert report["journal"] == ["start", "stopped"]


def test_question_from_a_running_task_is_answered_through_the_elicitation_handler(
    client_run: ClientRun,
) -> None:
    report = client_run.report("elicit")
    label = label_of(client_run, "elicit")
    asked = ["Favourite colour?", "Please decline this one", "Favourite sky colour?"]
    assert report["asked"] == asked
    assert report["answered"] == [f"{label}-answered: answer=blue as a task"]
    assert report["declined"] == [f"{label}-declined: decline as a task"]


def test_task_waiting_for_an_answer_shows_the_question_until_the_handle_answers_it(
    client_run: ClientRun,
) -> None:
    report = client_run.report("elicit")
    label = label_of(client_run, "elicit")
    parked = report["parked"]
    assert parked["status"] == "input_required"
    [question] = parked["input_requests"].values()
    assert question["method"] == "elicitation/create"
    assert question["params"]["message"] == "Favourite sky colour?"
    answered = f"{label}-handle: answer=blue as a task"
    assert report["handle_result"] == {"is_error": False, "texts": [answered]}
    assert report["final"]["status"] == "completed"
    assert report["final"]["result"]["isError"] is False
    assert report["final"]["input_requests"] is None


def test_tool_error_completes_the_task_and_the_client_raises_it(client_run: ClientRun) -> None:
    report = client_run.report("errors")["tool_error"]
    reason = f"{label_of(client_run, 'errors')}: 3 bad rows"
    # 2026-07-28: isError is an outcome of the tool, so the task completed.
    assert report["final"]["status"] == "completed"
    assert report["final"]["error"] is None
    assert report["final"]["result"]["isError"] is True
    [text] = report["final"]["result"]["content"]
    assert text["text"].endswith(reason)
    assert report["call_tool_raised"] == {"type": "ToolError", "message": text["text"]}
    assert report["returned"] == {"is_error": True, "texts": [text["text"]]}
    assert report["handle_result"]["raised"] == report["call_tool_raised"]


def test_protocol_error_fails_the_task_with_the_json_rpc_error(client_run: ClientRun) -> None:
    report = client_run.report("errors")["protocol_error"]
    message = f"{label_of(client_run, 'errors')}: upstream refused"
    assert report["final"]["status"] == "failed"
    assert report["final"]["result"] is None
    assert report["final"]["error"] == {"code": UPSTREAM_ERROR_CODE, "message": message}
    assert report["final"]["status_message"] == message
    # The client turns a failed task into a tool error carrying the error's message.
    assert report["call_tool_raised"] == {"type": "ToolError", "message": message}
    assert report["returned"] == {"is_error": True, "texts": [message]}
    assert report["handle_result"]["raised"] == {"type": "ToolError", "message": message}


def test_twenty_concurrent_task_calls_all_complete_with_their_own_results(
    client_run: ClientRun,
) -> None:
    report = client_run.report("concurrent")
    expected = [{"is_error": False, "texts": [f"{n * n} as a task"]} for n in range(20)]
    assert report["results"] == expected
    # Each call ran its tool exactly once.
    assert sorted(report["journal"]) == sorted(f"run {n}" for n in range(20))
