"""The reference server's example tools (the default profile) do what they promise."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult

from mcp_tasks_server import Settings
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.server import build_server
from mcp_tasks_server.server.profiles import examples
from tests.protocol.harness import RawHttp, serve_http
from tests.support.results import task_of, text_of

pytestmark = pytest.mark.anyio

SETTINGS = Settings(
    heartbeat_interval_seconds=0.1,
    inline_budget_seconds=0.3,
    shutdown_grace_seconds=0.2,
    log_level="WARNING",
)
INLINE = SETTINGS.model_copy(update={"inline_budget_seconds": 20.0})
"""The default budget, for calls that must answer inline (or park on a question) at
once: a loaded machine can take longer than SETTINGS' 0.3 s over even a quick call,
which would then come back as a handle."""


async def result_when_done(client: Client, task_id: str) -> CallToolResult:
    """``tasks_result`` until the task has finished (each call waits up to the budget)."""
    with anyio.fail_after(10):
        while True:
            result = await client.call_tool("tasks_result", {"task_id": task_id})
            task = (result.structured_content or {}).get("task") or {}
            if task.get("status") not in ("working", "input_required"):
                return result


async def with_progress(client: Client, task_id: str) -> dict[str, Any]:
    """The task as ``tasks_get`` shows it once it has made some progress."""
    with anyio.fail_after(10):
        while True:
            task = task_of(await client.call_tool("tasks_get", {"task_id": task_id}))
            if (task.get("progress") or {}).get("progress", 0) > 0:
                return task
            await anyio.sleep(0.05)


def test_the_default_profile_serves_the_examples() -> None:
    server = build_server(SETTINGS)
    names = {tool.name for tool in server._tool_manager.list_tools()}
    assert set(examples.TOOL_NAMES) <= names


def test_the_examples_register_on_any_server() -> None:
    tasks = Tasks(SETTINGS)
    server: MCPServer[Any] = MCPServer("examples", log_level="WARNING")
    examples.register(tasks, server)
    tasks.install(server)
    assert {name for name in examples.TOOL_NAMES if tasks.support_of(name) == "optional"} == {
        "count_primes",
        "deploy",
        "failing_job",
        "word_stats",
    }
    assert tasks.support_of("server_time") == "forbidden"


async def test_count_primes_answers_small_questions_inline() -> None:
    with anyio.fail_after(30):
        async with Client(build_server(INLINE), mode="legacy") as client:
            result = await client.call_tool("count_primes", {"limit": 100, "seconds": 0})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["primes"] == 25
    assert result.structured_content["largest"] == 97


async def test_count_primes_shows_progress_and_status_while_it_runs() -> None:
    with anyio.fail_after(20):
        async with Client(build_server(SETTINGS), mode="legacy") as client:
            # Thirty seconds of work: still running whenever the test looks.
            handle = await client.call_tool("count_primes", {"limit": 1_000_000, "seconds": 30})
            task_id = task_of(handle)["taskId"]
            seen = await with_progress(client, task_id)
            cancelled = await client.call_tool("tasks_cancel", {"task_id": task_id})
    assert seen["status"] == "working"
    assert seen["statusMessage"] == "Sieving the primes up to 1,000,000"
    assert seen["progress"]["total"] == examples.PRIME_STEPS
    assert 0 < seen["progress"]["progress"] < examples.PRIME_STEPS
    assert "primes up to" in seen["progress"]["message"]
    assert task_of(cancelled)["status"] == "cancelled"


async def test_count_primes_runs_as_a_native_task() -> None:
    with anyio.fail_after(20):
        async with serve_http(build_server(SETTINGS)) as url, RawHttp.legacy_session(url) as raw:
            created = await raw.request(
                "tools/call",
                {
                    "name": "count_primes",
                    "arguments": {"limit": 1000, "seconds": 0.2},
                    "task": {"ttl": 60_000},
                },
            )
            task_id = created.result["task"]["taskId"]
            result = await raw.request("tasks/result", {"taskId": task_id})
    assert result.result["structuredContent"]["primes"] == 168
    assert result.result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task_id}


@pytest.mark.parametrize(
    ("answer", "deployed"),
    [({"content": {"confirm": True, "note": "ship it"}}, True), ({"action": "decline"}, False)],
)
async def test_deploy_asks_for_confirmation_and_acts_on_the_answer(
    answer: dict[str, Any], deployed: bool
) -> None:
    arguments = {"service": "api", "version": "1.2.3", "step_seconds": 0}
    with anyio.fail_after(30):
        async with Client(build_server(INLINE), mode="legacy") as client:
            handle = await client.call_tool("deploy", arguments)
            task = task_of(handle)
            result = await client.call_tool("tasks_respond", {"task_id": task["taskId"], **answer})
    assert task["status"] == "input_required"
    assert "Deploy api 1.2.3 to staging?" in text_of(handle)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["deployed"] is deployed
    assert result.structured_content["note"] == ("ship it" if deployed else None)


async def test_failing_job_fails_in_each_of_its_ways() -> None:
    with anyio.fail_after(30):
        async with Client(build_server(INLINE), mode="legacy") as client:
            tool_error = await client.call_tool(
                "failing_job", {"kind": "tool_error", "after_seconds": 0}
            )
            with pytest.raises(MCPError) as protocol_error:
                await client.call_tool(
                    "failing_job", {"kind": "protocol_error", "after_seconds": 0}
                )
            with pytest.raises(MCPError) as crash:
                await client.call_tool("failing_job", {"kind": "crash", "after_seconds": 0})
        async with Client(build_server(SETTINGS), mode="legacy") as client:
            late = await client.call_tool("failing_job", {"after_seconds": 1})
            failed = await result_when_done(client, task_of(late)["taskId"])
    assert tool_error.is_error
    assert "malformed rows" in text_of(tool_error)
    assert protocol_error.value.error.code == examples.UPSTREAM_UNAVAILABLE
    assert crash.value.error.code == -32603
    assert "unexpected failure" not in crash.value.error.message
    assert failed.is_error
    assert "malformed rows" in text_of(failed)


async def test_word_stats_and_server_time_answer_at_once() -> None:
    with anyio.fail_after(30):
        async with Client(build_server(INLINE), mode="legacy") as client:
            stats = await client.call_tool("word_stats", {"text": "the cat and the hat\nthe end"})
            time = await client.call_tool("server_time", {})
    assert stats.structured_content == {
        "characters": 27,
        "words": 7,
        "lines": 2,
        "most_common": ["the", "and", "cat", "end", "hat"],
    }
    assert text_of(time).endswith("+00:00")
