"""Clients without task support, over real transports: the inline budget and the task tools.

Every client here is a plain ``mcp.Client`` that never asks for a task: it
calls tools, reads resources, and nothing else. The server gives each call
0.3 s inline before it hands back a task handle (the default 20 s, from
:func:`roomy`, where a quick call must be answered inline whatever the load).

``python -m tests.protocol.test_task_tools`` serves :func:`build` on stdio,
with the budget ``MCP_TASKS_INLINE_BUDGET_SECONDS`` sets (default 20 s).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError as SharedMCPError
from mcp_types import TextResourceContents

from mcp_tasks_server import Settings
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.runtime.context import TaskContext
from tests.protocol.harness import RawHttp, serve_http, stdio_server
from tests.support.polling import poll_until, status_in
from tests.support.results import task_of, text_of

pytestmark = pytest.mark.anyio

BUDGET = 0.3
QUICK: dict[str, Any] = {"heartbeat_interval_seconds": 0.1, "shutdown_grace_seconds": 0.2}
CONFIRM_SCHEMA = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "description": "true to go ahead"}},
    "required": ["confirm"],
}


def build(settings: Settings | None = None) -> MCPServer[Any]:
    """A server whose task tools are slow, quick, inquisitive, failing or required."""
    settings = settings or Settings(**QUICK, inline_budget_seconds=BUDGET)
    tasks = Tasks(settings)
    server: MCPServer[Any] = MCPServer("task-tools-test", log_level="WARNING")

    @tasks.tool(task_support="optional")
    async def slow(seconds: float, ctx: TaskContext) -> str:
        """Work for ``seconds`` in ten steps, reporting each."""
        await ctx.set_status("warming up")
        for step in range(10):
            await ctx.report_progress(step, 10, f"step {step}")
            await anyio.sleep(seconds / 10)
        return f"slept {seconds:g}s"

    @tasks.tool(task_support="optional")
    async def quick(text: str) -> str:
        """Answer at once."""
        return text.upper()

    @tasks.tool(task_support="optional")
    async def delete(filename: str, ctx: TaskContext) -> str:
        """Ask before deleting ``filename``."""
        answer = await ctx.elicit(f"Really delete {filename}?", CONFIRM_SCHEMA)
        if answer.get("action") == "accept" and answer["content"]["confirm"]:
            return f"deleted {filename}"
        return f"kept {filename}"

    @tasks.tool(task_support="optional")
    async def broken(kind: str) -> str:
        """Fail with a tool error, a protocol error or a crash."""
        if kind == "protocol":
            raise SharedMCPError(code=-32050, message="upstream refused")
        if kind == "crash":
            raise RuntimeError("a secret detail")
        raise ToolError("bad input")

    @tasks.tool(task_support="required")
    async def must_be_task() -> str:
        """Only ever a task."""
        return "done"

    @server.tool()
    def echo(text: str) -> str:
        """An ordinary tool."""
        return text

    tasks.install(server)
    return server


def roomy() -> MCPServer[Any]:
    """:func:`build` with the default 20 s budget, which no quick call outlasts.

    For tests whose calls must answer inline, or park on a question, at once:
    within 0.3 s, a pause of a loaded machine could turn them into handles.
    """
    return build(Settings(**QUICK, inline_budget_seconds=20))


if __name__ == "__main__":
    # The budget comes from MCP_TASKS_INLINE_BUDGET_SECONDS, as an operator sets it.
    build(Settings(**QUICK)).run()


# ---------------------------------------------------------------- helpers


async def wait_for_status(client: Client, task_id: str, *statuses: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        return task_of(await client.call_tool("tasks_get", {"task_id": task_id}))

    return await poll_until(read, status_in(statuses), every=0.05)


def stdio(**env: str) -> StdioServerParameters:
    return stdio_server("tests.protocol.test_task_tools", env=env)


@asynccontextmanager
async def http_client(
    server: MCPServer[Any] | None = None, *, stateless: bool = False
) -> AsyncIterator[tuple[Client, str]]:
    async with (
        serve_http(server or build(), stateless=stateless) as url,
        Client(url, mode="legacy") as client,
    ):
        yield client, url


# ---------------------------------------------------------------- the inline budget


async def test_quick_call_answers_inline_with_its_ordinary_result() -> None:
    with anyio.fail_after(20):
        async with http_client(roomy()) as (client, _):
            result = await client.call_tool("quick", {"text": "hi"})
    assert not result.is_error
    assert text_of(result) == "HI"
    assert result.structured_content == {"result": "HI"}


async def test_slow_call_returns_a_handle_that_tells_the_model_how_to_go_on() -> None:
    with anyio.fail_after(20):
        async with http_client() as (client, _):
            started = anyio.current_time()
            handle = await client.call_tool("slow", {"seconds": 60})
            waited = anyio.current_time() - started
            await client.call_tool("tasks_cancel", {"task_id": task_of(handle)["taskId"]})
    # The 0.3 s budget, with room for a loaded machine: nowhere near the 60 s of
    # work, nor the 20 s default budget.
    assert waited < 5
    task = task_of(handle)
    assert not handle.is_error
    assert task["status"] == "working"
    assert task["tool"] == "slow"
    text = text_of(handle)
    task_id = task["taskId"]
    assert task_id in text
    assert "did not finish within 0.3 s" in text
    for step in ("tasks_result", "tasks_get", "tasks_cancel"):
        assert f'call {step} with {{"task_id": "{task_id}"}}' in text


async def test_the_handle_fits_the_tools_listed_output_schema() -> None:
    # The SDK client validates structuredContent against the listed schema:
    # the handle above passed it, and the listing says why.
    with anyio.fail_after(20):
        async with http_client() as (client, _):
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    schema = tools["slow"].output_schema
    assert schema is not None
    own, handle = schema["anyOf"]
    assert own["properties"]["result"] == {"title": "Result", "type": "string"}
    assert handle["required"] == ["task"]
    assert tools["echo"].output_schema == {
        "type": "object",
        "properties": {"result": {"title": "Result", "type": "string"}},
        "required": ["result"],
        "title": "echoOutput",
    }


async def test_poll_then_fetch_the_result_over_stdio() -> None:
    params = stdio(MCP_TASKS_INLINE_BUDGET_SECONDS=str(BUDGET))
    with anyio.fail_after(30):
        async with Client(params, mode="legacy") as client:
            # Two seconds: still running when tasks_get comes, one stdio round trip later.
            handle = await client.call_tool("slow", {"seconds": 2})
            task_id = task_of(handle)["taskId"]
            seen = task_of(await client.call_tool("tasks_get", {"task_id": task_id}))
            assert seen["status"] == "working"
            assert seen["statusMessage"] == "warming up"
            assert seen["progress"]["total"] == 10
            await wait_for_status(client, task_id, "completed")
            result = await client.call_tool("tasks_result", {"task_id": task_id})
    assert not result.is_error
    assert text_of(result) == "slept 2s"
    assert result.structured_content == {"result": "slept 2s"}
    assert result.meta == {"io.modelcontextprotocol/related-task": {"taskId": task_id}}


async def test_tasks_result_waits_up_to_the_budget_then_says_it_still_runs() -> None:
    with anyio.fail_after(20):
        async with http_client() as (client, _):
            task_id = task_of(await client.call_tool("slow", {"seconds": 60}))["taskId"]
            started = anyio.current_time()
            again = await client.call_tool("tasks_result", {"task_id": task_id})
            waited = anyio.current_time() - started
            await client.call_tool("tasks_cancel", {"task_id": task_id})
    # At least the budget; then, with room for a loaded machine, nowhere near the
    # 60 s of work, the 20 s default budget or the 600 s result wait.
    assert BUDGET * 0.8 <= waited < 5
    assert task_of(again)["status"] == "working"
    assert "goes on running" in text_of(again)


async def test_progress_is_relayed_to_a_caller_that_asked_for_it() -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    settings = Settings(**QUICK, inline_budget_seconds=60)  # inline, however slow the machine
    with anyio.fail_after(20):
        async with http_client(build(settings)) as (client, _):
            result = await client.call_tool("slow", {"seconds": 1}, progress_callback=on_progress)
    assert text_of(result) == "slept 1s"
    assert len(seen) >= 2
    assert seen == sorted(set(seen))  # strictly increasing, as the spec asks


async def test_errors_inside_the_budget_are_what_an_inline_call_gives() -> None:
    with anyio.fail_after(20):
        async with http_client(roomy()) as (client, _):
            tool_error = await client.call_tool("broken", {"kind": "tool"})
            with pytest.raises(MCPError) as protocol_error:
                await client.call_tool("broken", {"kind": "protocol"})
            with pytest.raises(MCPError) as crash:
                await client.call_tool("broken", {"kind": "crash"})
            bad_arguments = await client.call_tool("quick", {})
    assert tool_error.is_error
    assert "bad input" in text_of(tool_error)
    assert protocol_error.value.error.code == -32050
    assert protocol_error.value.error.message == "upstream refused"
    # A crash is an internal error, as it is for a task; its details stay in the log.
    assert crash.value.error.code == -32603
    assert "secret" not in crash.value.error.message
    assert bad_arguments.is_error
    assert "text" in text_of(bad_arguments)


async def test_arguments_over_the_limit_are_refused_and_run_nothing() -> None:
    settings = Settings(**QUICK, inline_budget_seconds=BUDGET, max_arguments_bytes=256)
    with anyio.fail_after(20):
        async with http_client(build(settings)) as (client, _):
            with pytest.raises(MCPError) as refused:
                await client.call_tool("quick", {"text": "x" * 1_000})
            listed = await client.call_tool("tasks_list", {})
    assert refused.value.error.code == -32602
    assert "the limit is 256 bytes" in refused.value.error.message
    assert listed.structured_content is not None
    assert listed.structured_content["tasks"] == []  # no task, no quota slot, no run


# ---------------------------------------------------------------- input, cancel


async def test_a_question_comes_back_as_a_handle_and_tasks_respond_answers_it() -> None:
    with anyio.fail_after(30):
        async with Client(stdio(), mode="legacy") as client:
            started = anyio.current_time()
            handle = await client.call_tool("delete", {"filename": "notes.txt"})
            assert anyio.current_time() - started < 5  # at once, not after the budget
            task = task_of(handle)
            assert task["status"] == "input_required"
            (key,) = task["inputRequests"]
            text = text_of(handle)
            assert "Really delete notes.txt?" in text
            assert "confirm (boolean, required): true to go ahead" in text
            assert f'"key": "{key}", "content": {{"confirm": true}}' in text

            seen = task_of(await client.call_tool("tasks_get", {"task_id": task["taskId"]}))
            assert seen["inputRequests"][key]["params"]["message"] == "Really delete notes.txt?"

            wrong = await client.call_tool(
                "tasks_respond", {"task_id": task["taskId"], "content": {"confirm": "yes"}}
            )
            assert wrong.is_error
            assert "does not fit the question" in text_of(wrong)

            answered = await client.call_tool(
                "tasks_respond", {"task_id": task["taskId"], "content": {"confirm": True}}
            )
    assert not answered.is_error, text_of(answered)
    assert text_of(answered) == "deleted notes.txt"


async def test_a_declined_question_resumes_the_tool_with_the_refusal() -> None:
    with anyio.fail_after(20):
        async with http_client(roomy()) as (client, _):
            task = task_of(await client.call_tool("delete", {"filename": "a.txt"}))
            answered = await client.call_tool(
                "tasks_respond", {"task_id": task["taskId"], "action": "decline"}
            )
            again = await client.call_tool(
                "tasks_respond", {"task_id": task["taskId"], "content": {"confirm": True}}
            )
    assert text_of(answered) == "kept a.txt"
    assert again.is_error
    assert "not waiting for an answer" in text_of(again)


async def test_tasks_cancel_stops_the_work() -> None:
    with anyio.fail_after(20):
        async with http_client() as (client, _):
            task_id = task_of(await client.call_tool("slow", {"seconds": 30}))["taskId"]
            cancelled = await client.call_tool("tasks_cancel", {"task_id": task_id})
            result = await client.call_tool("tasks_result", {"task_id": task_id})
            twice = await client.call_tool("tasks_cancel", {"task_id": task_id})
    assert not cancelled.is_error
    assert task_of(cancelled)["status"] == "cancelled"
    assert "was cancelled" in text_of(cancelled)
    assert result.is_error
    assert "was cancelled before it finished" in text_of(result)
    assert not twice.is_error
    assert "Nothing to cancel" in text_of(twice)


async def test_a_call_the_client_abandons_over_http_cancels_its_task() -> None:
    settings = Settings(**QUICK, inline_budget_seconds=120)
    with anyio.fail_after(30):
        async with http_client(build(settings)) as (client, _):
            async with anyio.create_task_group() as call:
                call.start_soon(client.call_tool, "slow", {"seconds": 60})
                task = await only_task(client)  # the call is under way on the server
                call.cancel_scope.cancel()  # the client gives up on it
            await wait_for_status(client, task["taskId"], "cancelled")


async def only_task(client: Client) -> dict[str, Any]:
    """The caller's one task, once ``tasks_list`` shows it."""
    with anyio.fail_after(10):
        while True:
            listed = await client.call_tool("tasks_list", {})
            tasks = (listed.structured_content or {})["tasks"]
            if tasks:
                (task,) = tasks
                return dict(task)
            await anyio.sleep(0.05)


# ---------------------------------------------------------------- list, resource, owners


async def test_tasks_list_shows_the_callers_tasks() -> None:
    with anyio.fail_after(20):
        async with http_client() as (client, _):
            first = task_of(await client.call_tool("slow", {"seconds": 5}))["taskId"]
            second = task_of(await client.call_tool("delete", {"filename": "x"}))["taskId"]
            listed = await client.call_tool("tasks_list", {})
            for task_id in (first, second):
                await client.call_tool("tasks_cancel", {"task_id": task_id})
    structured = listed.structured_content or {}
    assert [task["taskId"] for task in structured["tasks"]] == [second, first]
    assert f"- {second} (delete): input_required" in text_of(listed)


async def test_the_task_resource_reads_the_tasks_state() -> None:
    with anyio.fail_after(20):
        async with http_client(roomy()) as (client, _):
            templates = (await client.list_resource_templates()).resource_templates
            task_id = task_of(await client.call_tool("delete", {"filename": "y"}))["taskId"]
            read = await client.read_resource(f"task://{task_id}")
            await client.call_tool("tasks_cancel", {"task_id": task_id})
    assert [t.uri_template for t in templates] == ["task://{task_id}"]
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == "application/json"
    state = json.loads(contents.text)
    assert state["taskId"] == task_id
    assert state["status"] == "input_required"


def _not_found(error: str, task_id: str) -> str:
    return error.replace(task_id, "<id>")


async def test_another_session_gets_the_one_not_found_answer_for_a_foreign_task() -> None:
    unknown = "0" * 36
    with anyio.fail_after(30):
        async with serve_http(build()) as url, Client(url, mode="legacy") as owner:
            # Long enough to be still working after the stranger's dozen calls.
            task_id = task_of(await owner.call_tool("slow", {"seconds": 60}))["taskId"]
            async with Client(url, mode="legacy") as stranger:
                answers = {}
                for tool in ("tasks_get", "tasks_result", "tasks_cancel", "tasks_respond"):
                    foreign = await stranger.call_tool(tool, {"task_id": task_id})
                    missing = await stranger.call_tool(tool, {"task_id": unknown})
                    assert foreign.is_error
                    assert missing.is_error
                    answers[tool] = (
                        _not_found(text_of(foreign), task_id),
                        _not_found(text_of(missing), unknown),
                    )
                with pytest.raises(MCPError) as foreign_read:
                    await stranger.read_resource(f"task://{task_id}")
                with pytest.raises(MCPError) as missing_read:
                    await stranger.read_resource(f"task://{unknown}")
                assert (await stranger.call_tool("tasks_list", {})).structured_content == {
                    "tasks": []
                }
            still = task_of(await owner.call_tool("tasks_get", {"task_id": task_id}))
            await owner.call_tool("tasks_cancel", {"task_id": task_id})
    for foreign_text, missing_text in answers.values():
        assert foreign_text == missing_text == "Task not found"
    assert foreign_read.value.error.code == missing_read.value.error.code == -32602
    assert _not_found(foreign_read.value.error.message, task_id) == _not_found(
        missing_read.value.error.message, unknown
    )
    assert still["status"] == "working"  # the stranger's cancel did not reach it


async def test_stateless_http_offers_no_tasks_list_and_refuses_it() -> None:
    with anyio.fail_after(20):
        async with http_client(stateless=True) as (client, url):
            names = {tool.name for tool in (await client.list_tools()).tools}
            refused = await client.call_tool("tasks_list", {})
            # Without an owner, the id alone reaches the task, from any client.
            task_id = task_of(await client.call_tool("slow", {"seconds": 5}))["taskId"]
            async with Client(url, mode="legacy") as other:
                seen = await other.call_tool("tasks_get", {"task_id": task_id})
                await other.call_tool("tasks_cancel", {"task_id": task_id})
    assert "tasks_list" not in names
    assert {"tasks_get", "tasks_result", "tasks_respond", "tasks_cancel"} <= names
    assert refused.is_error
    assert "Listing tasks needs" in text_of(refused)
    assert task_of(seen)["taskId"] == task_id


# ---------------------------------------------------------------- eras and settings


async def test_a_2026_client_that_did_not_opt_in_gets_the_budget_too() -> None:
    with anyio.fail_after(20):
        async with serve_http(roomy()) as url, Client(url, mode="2026-07-28") as client:
            quick = await client.call_tool("quick", {"text": "a"})
        async with serve_http(build()) as url, Client(url, mode="2026-07-28") as client:
            handle = await client.call_tool("slow", {"seconds": 5})
            await client.call_tool("tasks_cancel", {"task_id": task_of(handle)["taskId"]})
    assert text_of(quick) == "A"
    assert task_of(handle)["status"] == "working"


async def test_native_task_paths_are_untouched() -> None:
    with anyio.fail_after(20):
        async with serve_http(build()) as url:
            async with RawHttp.modern(url, opt_in=False) as raw:
                required = await raw.request("tools/call", {"name": "must_be_task"})
            async with RawHttp.modern(url) as raw:
                created = await raw.request(
                    "tools/call", {"name": "slow", "arguments": {"seconds": 5}}
                )
            async with RawHttp.legacy_session(url) as raw:
                legacy = await raw.request(
                    "tools/call",
                    {"name": "slow", "arguments": {"seconds": 5}, "task": {"ttl": 60000}},
                )
                not_as_task = await raw.request("tools/call", {"name": "must_be_task"})
    assert required.error["code"] == -32021
    assert created.result["resultType"] == "task"
    assert legacy.result["task"]["status"] == "working"
    assert not_as_task.error["code"] == -32601


async def test_an_older_protocol_version_gets_the_budget() -> None:
    with anyio.fail_after(20):
        async with serve_http(build()) as url, RawHttp.legacy_session(url) as raw:
            raw.headers["MCP-Protocol-Version"] = "2025-06-18"
            handle = await raw.request("tools/call", {"name": "slow", "arguments": {"seconds": 5}})
    result = handle.result
    assert result["structuredContent"]["task"]["status"] == "working"
    assert "resultType" not in result
    assert "tasks_result" in result["content"][0]["text"]


async def test_a_prefix_renames_the_task_tools_and_the_handle_follows() -> None:
    settings = Settings(**QUICK, inline_budget_seconds=BUDGET, tool_prefix="jobs_")
    server = build(settings)
    with anyio.fail_after(20):
        async with Client(server, mode="legacy") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            handle = await client.call_tool("slow", {"seconds": 5})
            task_id = task_of(handle)["taskId"]
            cancelled = await client.call_tool("jobs_cancel", {"task_id": task_id})
    assert {"jobs_get", "jobs_result", "jobs_respond", "jobs_cancel", "jobs_list"} <= names
    assert not any(name.startswith("tasks_") for name in names)
    assert f'call jobs_result with {{"task_id": "{task_id}"}}' in text_of(handle)
    assert task_of(cancelled)["status"] == "cancelled"


def test_a_clash_with_the_servers_own_tool_is_refused_at_install() -> None:
    from mcp_tasks_server.core.errors import ConfigError

    server: MCPServer[Any] = MCPServer("clash", log_level="WARNING")

    @server.tool()
    def tasks_get(task_id: str) -> str:
        return task_id

    with pytest.raises(ConfigError, match=re.escape("MCP_TASKS_TOOL_PREFIX")):
        Tasks(Settings()).install(server)
    renamed: MCPServer[Any] = MCPServer("clash", log_level="WARNING")
    renamed.add_tool(tasks_get)
    Tasks(Settings(tool_prefix="task_")).install(renamed)


async def test_without_task_tools_a_call_runs_inline_as_before() -> None:
    settings = Settings(**QUICK, inline_budget_seconds=BUDGET, as_tools=False)
    with anyio.fail_after(20):
        async with Client(build(settings), mode="legacy") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("slow", {"seconds": 0.5})
    assert not any(name.startswith("tasks_") for name in names)
    assert text_of(result) == "slept 0.5s"
