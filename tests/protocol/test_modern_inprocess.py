"""The 2026-07-28 tasks extension, driven by the SDK's own client in process.

The server is the reference server's conformance profile, whose fixture
tools cover every way a task can run and end.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import ElicitRequestParams, ElicitResult, InputRequiredResult

from mcp_tasks_server import Settings
from mcp_tasks_server.core.owner import LOCAL
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.server import build_server
from mcp_tasks_server.server.profiles import conformance
from tests.protocol.harness import TASKS_EXTENSION
from tests.protocol.modern_client import (
    AnyResult,
    CreatedTask,
    TaskIdParams,
    TasksClient,
    TasksGet,
    TasksList,
    TasksResult,
    TasksUpdate,
    TaskUpdateParams,
    cancel_task,
    expect_error,
    fields,
    get_task,
    update_task,
    wait_for,
)
from tests.support.wire import MODERN

pytestmark = pytest.mark.anyio

SETTINGS = Settings(poll_interval_ms=100, heartbeat_interval_seconds=0.1, shutdown_grace_seconds=0)
REQUIRED = {"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}}


def server() -> MCPServer[Any]:
    return build_server(SETTINGS, profile="conformance")


async def answer_alice(context: Any, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="accept", content={"name": "Alice"})


async def decline(context: Any, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="decline")


async def test_optional_tool_without_opt_in_runs_inline() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN) as client:
            result = await client.call_tool("slow_compute", {"seconds": 0, "label": "inline"})
    assert result.content[0].text == "inline: done after 0s"  # type: ignore[union-attr]


async def test_opted_in_call_becomes_a_task_that_the_client_polls_to_its_result() -> None:
    tasks_client = TasksClient()
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[tasks_client]) as client:
            result = await client.call_tool("slow_compute", {"seconds": 0.2, "label": "polled"})
    assert result.content[0].text == "polled: done after 0.2s"  # type: ignore[union-attr]
    (created,) = tasks_client.created
    assert created["resultType"] == "task"
    assert created["status"] == "working"
    assert created["ttlMs"] == SETTINGS.default_ttl_ms
    assert created["pollIntervalMs"] == 100
    assert tasks_client.seen_statuses[-1] == "completed"


async def test_forbidden_tool_is_never_a_task_even_with_opt_in() -> None:
    tasks_client = TasksClient()
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[tasks_client]) as client:
            result = await client.call_tool("greet", {"name": "World"})
    assert result.content[0].text == "Hello, World!"  # type: ignore[union-attr]
    assert tasks_client.created == []


async def test_required_tool_without_opt_in_gets_missing_capability() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN) as client:
            with expect_error(-32021) as caught:
                await client.call_tool("failing_job", {})
    assert caught.value.error.data == REQUIRED


@pytest.mark.parametrize(
    "request_",
    [
        TasksGet(params=TaskIdParams(taskId="gate-test")),
        TasksUpdate(params=TaskUpdateParams(taskId="gate-test", inputResponses={})),
        TasksGet(params=TaskIdParams(taskId="")),  # not even the params are looked at
    ],
    ids=["get", "update", "get-with-bad-params"],
)
async def test_tasks_methods_without_opt_in_get_missing_capability_before_any_lookup(
    request_: Any,
) -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN) as client:
            with expect_error(-32021) as caught:
                await client.session.send_request(request_, AnyResult)
    assert caught.value.error.data == REQUIRED


@pytest.mark.parametrize(
    "request_",
    [TasksResult(params=TaskIdParams(taskId="any")), TasksList()],
    ids=["tasks/result", "tasks/list"],
)
async def test_removed_methods_are_method_not_found_with_or_without_opt_in(request_: Any) -> None:
    with anyio.fail_after(10):
        for extensions in ([], [TasksClient()]):
            async with Client(server(), mode=MODERN, extensions=extensions) as client:
                with expect_error(-32601):
                    await client.session.send_request(request_, AnyResult)


async def test_tool_error_completes_the_task_with_is_error_inlined() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[TasksClient()]) as client:
            handle = await client.session.call_tool("failing_job", {}, allow_claimed=True)
            assert isinstance(handle, CreatedTask)
            detail = await wait_for(client.session, handle.taskId, {"completed", "failed"})
    assert detail["status"] == "completed"
    assert detail["result"]["isError"] is True
    assert "inconsistent" in detail["result"]["content"][0]["text"]
    assert "error" not in detail


async def test_protocol_error_fails_the_task_with_the_error_inlined() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[TasksClient()]) as client:
            handle = await client.session.call_tool("protocol_error_job", {}, allow_claimed=True)
            assert isinstance(handle, CreatedTask)
            detail = await wait_for(client.session, handle.taskId, {"completed", "failed"})
    assert detail["status"] == "failed"
    assert detail["error"] == {"code": -32603, "message": "The job's upstream service refused it"}
    assert detail["statusMessage"] == "The job's upstream service refused it"
    assert "result" not in detail


async def test_input_required_task_ignores_stray_answers_then_resumes_in_place() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[TasksClient()]) as client:
            session = client.session
            handle = await session.call_tool(
                "confirm_delete", {"filename": "a.txt"}, allow_claimed=True
            )
            assert isinstance(handle, CreatedTask)
            parked = await wait_for(session, handle.taskId, {"input_required"})
            (key,) = parked["inputRequests"]
            assert parked["inputRequests"][key]["method"] == "elicitation/create"
            assert parked["inputRequests"][key]["params"]["message"] == "Delete a.txt?"

            stray = {"unknown-key": {"ignored": True}, key: {"action": "maybe"}}
            ack = await update_task(session, handle.taskId, stray)
            assert set(ack) <= {"resultType", "_meta"}
            still = await get_task(session, handle.taskId)
            assert still["status"] == "input_required"
            assert list(still["inputRequests"]) == [key]

            answer = {"action": "accept", "content": {"confirm": True}}
            await update_task(session, handle.taskId, {key: answer})
            done = await wait_for(session, handle.taskId, {"completed", "failed", "cancelled"})
    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == "Deleted a.txt"


async def test_update_is_stored_before_it_is_acknowledged() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[TasksClient()]) as client:
            session = client.session
            handle = await session.call_tool("multi_input", {}, allow_claimed=True)
            assert isinstance(handle, CreatedTask)
            parked = await wait_for(session, handle.taskId, {"input_required"})
            first, second = parked["inputRequests"]

            partial = {"action": "accept", "content": {"name": "partial-1", "confirm": True}}
            await update_task(session, handle.taskId, {first: partial})
            right_after = await get_task(session, handle.taskId)
            assert right_after["status"] == "input_required"
            assert list(right_after["inputRequests"]) == [second]

            rest = {"action": "accept", "content": {"name": "partial-2", "confirm": True}}
            await update_task(session, handle.taskId, {second: rest})
            done = await wait_for(session, handle.taskId, {"completed", "failed", "cancelled"})
    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == "Report partial-1 published"


async def test_cancel_settles_a_long_task_as_cancelled_at_once() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[TasksClient()]) as client:
            session = client.session
            handle = await session.call_tool(
                "slow_compute", {"seconds": 60, "label": "long"}, allow_claimed=True
            )
            assert isinstance(handle, CreatedTask)
            ack = await cancel_task(session, handle.taskId)
            assert set(ack) <= {"resultType", "_meta"}
            detail = await get_task(session, handle.taskId)  # the very next read, not eventually
    assert detail["status"] == "cancelled"


async def test_cancel_of_a_finished_task_is_acknowledged_and_changes_nothing() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[TasksClient()]) as client:
            session = client.session
            handle = await session.call_tool(
                "slow_compute", {"seconds": 0, "label": "quick"}, allow_claimed=True
            )
            assert isinstance(handle, CreatedTask)
            await wait_for(session, handle.taskId, {"completed"})
            ack = await cancel_task(session, handle.taskId)
            after = await get_task(session, handle.taskId)
    assert ack["resultType"] == "complete"
    assert after["status"] == "completed"


async def test_unknown_task_is_invalid_params() -> None:
    with anyio.fail_after(10):
        async with Client(server(), mode=MODERN, extensions=[TasksClient()]) as client:
            for send in (get_task, cancel_task):
                with expect_error(-32602):
                    await send(client.session, "tasks-conformance-nonexistent-12345")
            with expect_error(-32602):
                await update_task(client.session, "0" * 36, {})


async def test_required_task_tool_asks_before_the_task_exists() -> None:
    tasks_client = TasksClient()
    with anyio.fail_after(10):
        async with Client(
            server(), mode=MODERN, extensions=[tasks_client], elicitation_callback=answer_alice
        ) as client:
            result = await client.call_tool("test_tool_with_task", {})
    assert result.content[0].text == "Hello, Alice!"  # type: ignore[union-attr]
    (created,) = tasks_client.created
    assert created["resultType"] == "task"
    assert "requestState" not in created
    assert "inputRequests" not in created


async def test_input_before_the_task_is_an_ordinary_multi_round_call() -> None:
    with anyio.fail_after(10):
        async with Client(
            server(), mode=MODERN, extensions=[TasksClient()], elicitation_callback=answer_alice
        ) as client:
            session = client.session
            first = await session.call_tool(
                "test_tool_with_task", {}, allow_input_required=True, allow_claimed=True
            )
            assert isinstance(first, InputRequiredResult)
            assert first.request_state
            (key,) = first.input_requests or {}
            answer = ElicitResult(action="accept", content={"name": "Bob"})
            second = await session.call_tool(
                "test_tool_with_task",
                {},
                input_responses={key: answer},
                request_state=first.request_state,
                allow_input_required=True,
                allow_claimed=True,
            )
            assert isinstance(second, CreatedTask)
            done = await wait_for(session, second.taskId, {"completed", "failed", "cancelled"})
    assert done["result"]["content"][0]["text"] == "Hello, Bob!"


async def test_declined_question_before_the_task_is_a_tool_error_and_starts_nothing() -> None:
    tasks_client = TasksClient()
    with anyio.fail_after(10):
        async with Client(
            server(), mode=MODERN, extensions=[tasks_client], elicitation_callback=decline
        ) as client:
            result = await client.call_tool("test_tool_with_task", {})
    assert result.is_error is True
    assert tasks_client.created == []


async def test_tasks_created_by_the_2025_flow_are_served_at_2026() -> None:
    """Same owner (the one local client): get and cancel work across eras."""
    tasks = Tasks(SETTINGS)
    mcp: MCPServer[Any] = MCPServer("cross-era", log_level="WARNING")
    conformance.register(tasks, mcp)
    tasks.install(mcp)
    with anyio.fail_after(10):
        async with Client(mcp, mode=MODERN, extensions=[TasksClient()]) as client:
            # What the 2025-11-25 adapter does for a task-augmented call.
            failed = await tasks.start_task(LOCAL, "failing_job", {})
            running = await tasks.start_task(
                LOCAL, "slow_compute", {"seconds": 60, "label": "legacy"}
            )
            session = client.session
            detail = await wait_for(session, failed.task_id, {"completed", "failed"})
            await cancel_task(session, running.task_id)
            cancelled = await get_task(session, running.task_id)
    # 2025-11-25 failed it; this era spells a tool error "completed with isError".
    assert detail["status"] == "completed"
    assert detail["result"]["isError"] is True
    assert cancelled["status"] == "cancelled"


async def test_wire_shape_of_a_created_task_keeps_null_ttl() -> None:
    settings = Settings(default_ttl_ms=None, max_ttl_ms=None, poll_interval_ms=100)
    with anyio.fail_after(10):
        async with Client(
            build_server(settings, profile="conformance"), mode=MODERN, extensions=[TasksClient()]
        ) as client:
            handle = await client.session.call_tool(
                "slow_compute", {"seconds": 0, "label": "forever"}, allow_claimed=True
            )
            assert isinstance(handle, CreatedTask)
            detail = await get_task(client.session, handle.taskId)
    assert fields(handle)["ttlMs"] is None
    assert "ttlMs" in detail
    assert detail["ttlMs"] is None
