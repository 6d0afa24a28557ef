"""The 2025-11-25 task surface, driven by the SDK's legacy client in process.

``mcp.Client(server, mode="legacy")`` talks to the server over the SDK's
in-memory transport with real JSON-RPC framing, so everything here is what
a 2025-11-25 client sees on the wire, minus HTTP. Each behaviour that
depends on the transport is pinned again over HTTP and stdio in the
sibling modules.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest

from tests.protocol import sample_server
from tests.protocol.legacy_client import (
    MessageLog,
    StatusObserver,
    answering,
    connect,
    eventually,
    fast_settings,
    task_fields,
)
from tests.support.wire import RELATED_TASK

pytestmark = pytest.mark.anyio

TASK_KEYS = {"taskId", "status", "createdAt", "lastUpdatedAt", "ttl", "pollInterval"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UNKNOWN_ID = "01m87ydrak7ag74d2s2jbm4qyqvv342q2f8j"  # well-formed, never issued


def server(**settings: Any) -> Any:
    return sample_server.build(fast_settings(**settings))


def not_found(task_id: str) -> dict[str, Any]:
    return {"code": -32602, "message": "Task not found"}


# ---------------------------------------------------------------------- negotiation


async def test_initialize_advertises_tasks_with_listing_for_a_local_client() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            result = tasks.client.session.initialize_result
            assert result is not None
            assert result.protocol_version == "2025-11-25"
            advertised = result.capabilities.model_dump(by_alias=True, exclude_none=True)
            assert advertised["tasks"] == {
                "list": {},
                "cancel": {},
                "requests": {"tools": {"call": {}}},
            }


async def test_tools_list_carries_each_tools_task_support() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            listed = await tasks.raw("tools/list")
            support = {tool["name"]: tool.get("execution") for tool in listed["tools"]}
            assert support["compute"] == {"taskSupport": "optional"}
            assert support["confirm"] == {"taskSupport": "required"}
            assert support["echo"] is None  # an ordinary tool: absent means forbidden
            assert support["journal"] is None


# ---------------------------------------------------------------------- creation


async def test_task_augmented_call_returns_the_nested_create_task_result() -> None:
    with anyio.fail_after(10):
        async with connect(server(poll_interval_ms=250)) as tasks:
            created = await tasks.raw(
                "tools/call",
                {"name": "compute", "arguments": {"seconds": 0.01}, "task": {"ttl": 60_000}},
            )
            assert set(created) == {"task"}
            task = created["task"]
            assert set(task) == TASK_KEYS
            assert task["status"] == "working"
            assert task["ttl"] == 60_000
            assert task["pollInterval"] == 250
            assert ISO_MS.match(task["createdAt"])
            assert ISO_MS.match(task["lastUpdatedAt"])
            assert len(task["taskId"]) >= 26


async def test_requested_ttl_is_clamped_and_a_missing_one_gets_the_default() -> None:
    with anyio.fail_after(10):
        async with connect(server(max_ttl_ms=5_000, default_ttl_ms=2_000)) as tasks:
            clamped = await tasks.call_as_task("compute", {"seconds": 0}, task={"ttl": 999_999})
            assert clamped["ttl"] == 5_000
            defaulted = await tasks.call_as_task("compute", {"seconds": 0}, task={})
            assert defaulted["ttl"] == 2_000
            whole_float = await tasks.call_as_task("compute", {"seconds": 0}, task={"ttl": 3e3})
            assert whole_float["ttl"] == 3_000
            assert (await tasks.get(clamped["taskId"]))["ttl"] == 5_000


async def test_unlimited_ttl_is_reported_as_null_not_dropped() -> None:
    with anyio.fail_after(10):
        async with connect(server(max_ttl_ms=None, default_ttl_ms=None)) as tasks:
            task = await tasks.call_as_task("compute", {"seconds": 0}, task={})
            assert "ttl" in task
            assert task["ttl"] is None
            got = await tasks.get(task["taskId"])
            assert "ttl" in got
            assert got["ttl"] is None
            listed = await tasks.list()
            assert all("ttl" in t and t["ttl"] is None for t in listed["tasks"])
            granted = await tasks.call_as_task("compute", {"seconds": 0}, task={"ttl": 10**12})
            assert granted["ttl"] == 10**12  # no ceiling: the request is granted as asked


async def test_task_on_a_tool_without_task_support_is_method_not_found() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            error = await tasks.error(
                "tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {}}
            )
            assert error["code"] == -32601
            unknown = await tasks.error("tools/call", {"name": "nope", "arguments": {}, "task": {}})
            assert unknown["code"] == -32601


async def test_required_task_tool_called_without_a_task_is_method_not_found() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            error = await tasks.error(
                "tools/call", {"name": "confirm", "arguments": {"filename": "a.txt"}}
            )
            assert error["code"] == -32601
            explicit_null = await tasks.error(
                "tools/call", {"name": "confirm", "arguments": {"filename": "a"}, "task": None}
            )
            assert explicit_null["code"] == -32601


async def test_a_null_task_param_is_an_ordinary_call() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            answer = await tasks.raw(
                "tools/call", {"name": "compute", "arguments": {"seconds": 0}, "task": None}
            )
            assert answer["content"][0]["text"] == "computed for 0.0s"
            assert "task" not in answer


@pytest.mark.parametrize(
    "task",
    [5, "soon", [], {"ttl": "60s"}, {"ttl": -1}, {"ttl": 0}, {"ttl": True}, {"ttl": 1.5}],
    ids=repr,
)
async def test_malformed_task_metadata_is_invalid_params(task: Any) -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            error = await tasks.error(
                "tools/call", {"name": "compute", "arguments": {"seconds": 0}, "task": task}
            )
            assert error["code"] == -32602
            assert (await tasks.list())["tasks"] == []  # nothing was created


# ---------------------------------------------------------------------- get / result


async def test_tasks_get_shows_the_status_and_status_message() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            # Far longer than the test: still working whenever the message is first seen.
            task = await tasks.call_as_task(
                "ticker", {"label": "g", "ticks": 1000, "interval": 0.02}
            )

            async def with_message() -> dict[str, Any] | None:
                got = await tasks.get(task["taskId"])
                return got if "statusMessage" in got else None

            got = await eventually(with_message)
            assert got["status"] == "working"
            assert re.fullmatch(r"tick \d+ of 1000", got["statusMessage"])
            assert set(got) == TASK_KEYS | {"statusMessage", "_meta"}  # _meta: progress
            await tasks.cancel(task["taskId"])


async def test_tasks_result_blocks_until_the_task_completes() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            # Timed from before the call: the tool's three ticks start after it, so
            # however slowly this process runs, a result that waited took 0.3 s.
            started = anyio.current_time()
            task = await tasks.call_as_task("ticker", {"label": "b", "ticks": 3, "interval": 0.1})
            result = await tasks.result(task["taskId"])
            assert anyio.current_time() - started >= 0.2
            assert result["content"] == [{"type": "text", "text": "b: 3 ticks"}]
            assert (await tasks.get(task["taskId"]))["status"] == "completed"


async def test_tasks_result_is_the_call_tool_result_with_related_task_meta() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task("compute", {"seconds": 0.01})
            result = await tasks.result(task["taskId"])
            inline = await tasks.raw(
                "tools/call", {"name": "compute", "arguments": {"seconds": 0.01}}
            )
            assert result["_meta"] == {RELATED_TASK: {"taskId": task["taskId"]}}
            assert "resultType" not in result
            assert {k: v for k, v in result.items() if k != "_meta"} == inline


async def test_tool_error_fails_the_task_yet_tasks_result_returns_the_call_tool_result() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task("refuse", {"reason": "not today"})
            result = await tasks.result(task["taskId"])
            inline = await tasks.raw(
                "tools/call", {"name": "refuse", "arguments": {"reason": "not today"}}
            )
            assert result == {**inline, "_meta": {RELATED_TASK: {"taskId": task["taskId"]}}}
            assert result["isError"] is True
            assert result["content"][0]["text"].endswith("not today")
            assert (await tasks.get(task["taskId"]))["status"] == "failed"


async def test_unexpected_exception_fails_the_task_with_an_internal_error() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task("broken", {"kind": "value"})
            error = await tasks.error("tasks/result", {"taskId": task["taskId"]})
            assert error == {"code": -32603, "message": "The tool failed unexpectedly"}
            assert (await tasks.get(task["taskId"]))["status"] == "failed"


async def test_protocol_error_fails_the_task_and_tasks_result_returns_that_error() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task("broken", {"kind": "protocol"})
            error = await tasks.error("tasks/result", {"taskId": task["taskId"]})
            assert error == {"code": -32050, "message": "upstream refused"}
            got = await tasks.get(task["taskId"])
            assert got["status"] == "failed"
            assert got["statusMessage"] == "upstream refused"


async def test_tasks_result_of_a_cancelled_task_is_invalid_params() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task(
                "ticker", {"label": "c", "ticks": 1000, "interval": 0.05}
            )
            async with anyio.create_task_group() as group:
                outcome: dict[str, Any] = {}

                async def wait_for_result() -> None:
                    outcome["error"] = await tasks.error("tasks/result", {"taskId": task["taskId"]})

                group.start_soon(wait_for_result)
                # Lets tasks/result reach the server and block first; should it come
                # later on a slow machine, it still gets this answer.
                await anyio.sleep(0.1)
                await tasks.cancel(task["taskId"])
            assert outcome["error"]["code"] == -32602
            assert "cancelled" in outcome["error"]["message"]


# ---------------------------------------------------------------------- cancel


async def test_cancel_stores_cancelled_before_answering_and_stops_the_tool() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task(
                "ticker", {"label": "k", "ticks": 1000, "interval": 0.02}
            )

            async def ticked() -> bool:
                return "tick" in await tasks.journal("k")

            await eventually(ticked)
            cancelled = await tasks.cancel(task["taskId"])
            assert cancelled["status"] == "cancelled"
            assert set(cancelled) >= TASK_KEYS
            assert (await tasks.get(task["taskId"]))["status"] == "cancelled"
            journal = await tasks.journal("k")
            await anyio.sleep(0.2)  # ten more ticks, had the tool kept running
            later = await tasks.journal("k")
            assert later == journal
            assert "done" not in later
            assert (await tasks.get(task["taskId"]))["status"] == "cancelled"


@pytest.mark.parametrize(
    ("tool", "arguments", "status"),
    [
        ("compute", {"seconds": 0}, "completed"),
        ("refuse", {"reason": "no"}, "failed"),
        ("broken", {"kind": "protocol"}, "failed"),
    ],
)
async def test_cancel_of_a_finished_task_is_invalid_params(
    tool: str, arguments: dict[str, Any], status: str
) -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task(tool, arguments)
            assert (await tasks.wait_for(task["taskId"]))["status"] == status
            error = await tasks.error("tasks/cancel", {"taskId": task["taskId"]})
            assert error["code"] == -32602
            assert (await tasks.get(task["taskId"]))["status"] == status


async def test_cancel_of_a_cancelled_task_is_invalid_params() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task(
                "ticker", {"label": "x", "ticks": 1000, "interval": 0.05}
            )
            await tasks.cancel(task["taskId"])
            error = await tasks.error("tasks/cancel", {"taskId": task["taskId"]})
            assert error["code"] == -32602


# ---------------------------------------------------------------------- not found


@pytest.mark.parametrize("method", ["tasks/get", "tasks/result", "tasks/cancel"])
@pytest.mark.parametrize("task_id", [UNKNOWN_ID, "not-a-task-id", "x"])
async def test_unknown_and_malformed_ids_get_the_one_not_found_error(
    method: str, task_id: str
) -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            assert await tasks.error(method, {"taskId": task_id}) == not_found(task_id)


@pytest.mark.parametrize("method", ["tasks/get", "tasks/result", "tasks/cancel"])
async def test_an_expired_task_reads_exactly_like_an_unknown_one(method: str) -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            # A running task never expires; a finished one does, one TTL after its end.
            task = await tasks.call_as_task(
                "ticker", {"label": "e", "ticks": 1, "interval": 0.01}, task={"ttl": 50}
            )
            while True:
                try:
                    await tasks.error("tasks/get", {"taskId": task["taskId"]})
                    break
                except AssertionError:  # still there: not finished, or not yet expired
                    await anyio.sleep(0.05)
            assert await tasks.error(method, {"taskId": task["taskId"]}) == not_found(
                task["taskId"]
            )
            assert (await tasks.list())["tasks"] == []


# ---------------------------------------------------------------------- list


async def test_tasks_list_pages_through_every_task_with_next_cursor() -> None:
    with anyio.fail_after(10):
        async with connect(server(list_page_size=2)) as tasks:
            created = [
                (await tasks.call_as_task("compute", {"seconds": 0}))["taskId"] for _ in range(5)
            ]
            pages: list[list[str]] = []
            cursor: str | None = None
            while True:
                page = await tasks.list(cursor)
                pages.append([task["taskId"] for task in page["tasks"]])
                assert all(set(task) >= TASK_KEYS for task in page["tasks"])
                cursor = page.get("nextCursor")
                if cursor is None:
                    break
            assert [len(page) for page in pages] == [2, 2, 1]
            listed = [task_id for page in pages for task_id in page]
            assert sorted(listed) == sorted(created)
            assert listed == sorted(created, reverse=True)  # newest first


@pytest.mark.parametrize("cursor", ["garbage", "", "eyJ4IjoxfQ", "a" * 4000])
async def test_tasks_list_with_a_cursor_it_did_not_issue_is_invalid_params(cursor: str) -> None:
    with anyio.fail_after(10):
        async with connect(server(list_page_size=1)) as tasks:
            await tasks.call_as_task("compute", {"seconds": 0})
            await tasks.call_as_task("compute", {"seconds": 0})
            assert "nextCursor" in await tasks.list()
            error = await tasks.error("tasks/list", {"cursor": cursor})
            assert error["code"] == -32602


async def test_methods_of_the_2026_era_are_not_found_here() -> None:
    with anyio.fail_after(10):
        async with connect(server()) as tasks:
            task = await tasks.call_as_task("compute", {"seconds": 0})
            for params in ({"taskId": task["taskId"], "inputResponses": {}}, {}, {"taskId": 5}):
                error = await tasks.error("tasks/update", params)
                assert error["code"] == -32601


# ---------------------------------------------------------------------- input and channels


async def test_input_required_shows_in_tasks_get_and_is_answered_through_tasks_result() -> None:
    seen: list[dict[str, Any]] = []
    with anyio.fail_after(10):
        async with connect(server(), elicitation_callback=answering({"colour": "teal"}, seen)) as t:
            task = await t.call_as_task("favourite", {"label": "in"})
            parked = await t.wait_for(task["taskId"], {"input_required"})
            assert parked["statusMessage"] == "Favourite colour?"
            result = await t.result(task["taskId"])
            assert result["content"][0]["text"] == "in: colour=teal starts=1"
            assert seen == [
                {
                    "mode": "form",
                    "message": "Favourite colour?",
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"colour": {"type": "string"}},
                    },
                    "_meta": {RELATED_TASK: {"taskId": task["taskId"]}},
                }
            ]
            assert await t.journal("in") == "start"  # answered in place, not re-run


async def test_input_is_not_sent_to_a_client_that_cannot_answer_it() -> None:
    with anyio.fail_after(10):
        async with connect(server(result_wait_seconds=0.3)) as tasks:  # no elicitation capability
            task = await tasks.call_as_task("favourite", {"label": "mute"})
            await tasks.wait_for(task["taskId"], {"input_required"})
            error = await tasks.error("tasks/result", {"taskId": task["taskId"]})
            assert error["code"] == -32000  # still running: ask again later
            assert (await tasks.get(task["taskId"]))["status"] == "input_required"
            await tasks.cancel(task["taskId"])


async def test_status_notifications_carry_the_full_task_to_the_creating_client() -> None:
    observer = StatusObserver()
    with anyio.fail_after(10):
        async with connect(
            server(max_ttl_ms=None, default_ttl_ms=None), extensions=[observer]
        ) as t:
            task = await t.call_as_task("ticker", {"label": "n", "ticks": 2, "interval": 0.02})
            final = await observer.wait_for(task["taskId"], "completed")
            assert set(final) == TASK_KEYS
            assert final["ttl"] is None
            assert final == task_fields(await t.get(task["taskId"]))
            working = [n for n in observer.received if n["status"] == "working"]
            assert [n["statusMessage"] for n in working] == ["tick 1 of 2", "tick 2 of 2"]
            assert all(RELATED_TASK not in n.get("_meta", {}) for n in observer.received)


async def test_progress_is_forwarded_with_the_calls_original_token() -> None:
    log = MessageLog()
    with anyio.fail_after(10):
        async with connect(server(), message_handler=log) as tasks:
            task = await tasks.call_as_task(
                "ticker",
                {"label": "p", "ticks": 2, "interval": 0.3},
                meta={"progressToken": "progress-1"},
            )
            await tasks.result(task["taskId"])
            reports = await log.wait_for_progress(2)
            assert [(p.progress_token, p.progress, p.total) for p in reports] == [
                ("progress-1", 1, 2),
                ("progress-1", 2, 2),
            ]
            assert all(p.meta == {RELATED_TASK: {"taskId": task["taskId"]}} for p in reports)
