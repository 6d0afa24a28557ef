"""Exact 2025-11-25 wire shapes, as raw JSON-RPC over streamable HTTP.

No SDK client here: every request is a hand-built JSON-RPC body POSTed with
httpx, every answer is the JSON the server wrote, so a dropped ``null``, a
leaked ``resultType`` or a wrong error code cannot hide behind a client
model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from tests.protocol import sample_server
from tests.protocol.harness import LEGACY, RawHttp, RawResponse, serve_http
from tests.protocol.legacy_client import fast_settings, task_fields
from tests.support.wire import RELATED_TASK

pytestmark = pytest.mark.anyio

TASK_KEYS = {"taskId", "status", "createdAt", "lastUpdatedAt", "ttl", "pollInterval"}
TASKS_CAPABILITY: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
UNKNOWN_ID = "01m87ydrak7ag74d2s2jbm4qyqvv342q2f8j"


def server(**settings: Any) -> Any:
    return sample_server.build(fast_settings(**settings))


@asynccontextmanager
async def handshake(url: str, version: str = LEGACY) -> AsyncIterator[RawHttp]:
    """A raw connection that negotiated ``version`` with ``initialize``."""
    async with httpx.AsyncClient(timeout=30) as client:
        raw = RawHttp(client, url, {}, LEGACY)
        answer = await raw.request(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "0"},
            },
        )
        raw.initialize_result = answer.result
        if "mcp-session-id" in answer.headers:  # stateless servers hand out none
            raw.headers["Mcp-Session-Id"] = answer.headers["mcp-session-id"]
        raw.headers["MCP-Protocol-Version"] = answer.result["protocolVersion"]
        await raw.notify("notifications/initialized")
        yield raw


@asynccontextmanager
async def standalone_stream(raw: RawHttp) -> AsyncIterator[MemoryObjectReceiveStream[str]]:
    """The session's GET stream: yields each SSE ``data`` payload, as sent."""
    headers = {**raw.headers, "Accept": "text/event-stream"}
    send, receive = anyio.create_memory_object_stream[str](1000)
    async with raw.client.stream("GET", raw.url, headers=headers) as response:
        assert response.status_code == 200
        async with anyio.create_task_group() as group:

            async def pump() -> None:
                async for line in response.aiter_lines():
                    if line.startswith("data:") and line[len("data:") :].strip():
                        await send.send(line[len("data:") :].strip())

            group.start_soon(pump)
            yield receive
            group.cancel_scope.cancel()


def error_of(answer: RawResponse) -> dict[str, Any]:
    return answer.error


def no_result_type_anywhere(value: Any) -> bool:
    return "resultType" not in json.dumps(value)


async def create(
    raw: RawHttp, name: str, arguments: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    answer = await raw.request(
        "tools/call", {"name": name, "arguments": arguments, "task": {}, **extra}
    )
    assert set(answer.result) == {"task"}, answer.body
    return dict(answer.result["task"])


async def wait_terminal(raw: RawHttp, task_id: str) -> dict[str, Any]:
    while True:
        task = (await raw.request("tasks/get", {"taskId": task_id})).result
        if task["status"] in {"completed", "failed", "cancelled"}:
            return task
        await anyio.sleep(0.02)


# ---------------------------------------------------------------------- negotiation


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_initialize_declares_tasks_and_lists_them_only_with_an_owner(
    stateless: bool,
) -> None:
    with anyio.fail_after(15):
        async with serve_http(server(), stateless=stateless) as url, handshake(url) as raw:
            capabilities = raw.initialize_result["capabilities"]
            expected = dict(TASKS_CAPABILITY)
            if stateless:
                del expected["list"]  # no owner binding: no listing, as the spec asks
            assert capabilities["tasks"] == expected
            assert "extensions" not in capabilities


async def test_stateless_http_without_an_owner_offers_no_task_listing() -> None:
    with anyio.fail_after(15):
        async with (
            serve_http(server(), stateless=True) as url,
            RawHttp.legacy_session(url, stateless=True) as raw,
        ):
            await create(raw, "compute", {"seconds": 0})
            listing = await raw.request("tasks/list", {})
            assert listing.error["code"] == -32601


async def test_stateless_tasks_are_reachable_by_id_alone() -> None:
    with anyio.fail_after(15):
        async with serve_http(server(), stateless=True) as url:
            async with RawHttp.legacy_session(url, stateless=True) as first:
                task = await create(first, "compute", {"seconds": 0})
            async with RawHttp.legacy_session(url, stateless=True) as second:
                result = await second.request("tasks/result", {"taskId": task["taskId"]})
                assert result.result["content"][0]["text"] == "computed for 0.0s"


@pytest.mark.parametrize("version", ["2025-06-18", "2025-03-26"])
async def test_older_protocol_versions_never_see_tasks(version: str) -> None:
    with anyio.fail_after(15):
        async with serve_http(server()) as url, handshake(url, version) as raw:
            assert raw.initialize_result["protocolVersion"] == version
            assert "tasks" not in raw.initialize_result["capabilities"]
            tools = (await raw.request("tools/list", {})).result["tools"]
            assert all("execution" not in tool for tool in tools)
            # A task param is ignored: the tool runs as an ordinary call.
            answer = await raw.request(
                "tools/call",
                {"name": "compute", "arguments": {"seconds": 0}, "task": {"ttl": 1000}},
            )
            assert "task" not in answer.result
            assert answer.result["content"][0]["text"] == "computed for 0.0s"
            attempts: list[tuple[str, dict[str, Any]]] = [
                ("tasks/get", {"taskId": UNKNOWN_ID}),
                ("tasks/result", {"taskId": UNKNOWN_ID}),
                ("tasks/cancel", {"taskId": UNKNOWN_ID}),
                ("tasks/list", {}),
                ("tasks/get", {"taskId": 5}),  # even malformed: the method does not exist
            ]
            for method, params in attempts:
                assert (await raw.request(method, params)).error["code"] == -32601


async def test_stateless_requests_without_a_version_header_see_no_tasks() -> None:
    with anyio.fail_after(15):
        async with (
            serve_http(server(), stateless=True) as url,
            RawHttp.legacy_session(url, stateless=True) as raw,
        ):
            raw.headers.pop("MCP-Protocol-Version")  # the SDK assumes 2025-03-26
            answer = await raw.request(
                "tools/call", {"name": "compute", "arguments": {"seconds": 0}, "task": {}}
            )
            assert "task" not in answer.result
            assert (await raw.request("tasks/get", {"taskId": UNKNOWN_ID})).error["code"] == -32601


# ---------------------------------------------------------------------- shapes


async def test_every_task_response_has_the_exact_2025_shape() -> None:
    with anyio.fail_after(15):
        async with serve_http(server(poll_interval_ms=300)) as url, handshake(url) as raw:
            created = await raw.request(
                "tools/call",
                {"name": "compute", "arguments": {"seconds": 0.05}, "task": {"ttl": 30_000}},
            )
            assert list(created.result) == ["task"]
            task = created.result["task"]
            assert set(task) == TASK_KEYS
            assert (task["status"], task["ttl"], task["pollInterval"]) == ("working", 30_000, 300)
            task_id = task["taskId"]

            got = (await raw.request("tasks/get", {"taskId": task_id})).result
            assert set(got) <= TASK_KEYS | {"statusMessage", "_meta"}  # _meta: progress
            assert RELATED_TASK not in json.dumps(got)

            result = (await raw.request("tasks/result", {"taskId": task_id})).result
            assert result == {
                "content": [{"type": "text", "text": "computed for 0.05s"}],
                "structuredContent": {"result": "computed for 0.05s"},
                "isError": False,
                "_meta": {RELATED_TASK: {"taskId": task_id}},
            }

            listed = (await raw.request("tasks/list", {})).result
            assert set(listed) == {"tasks"}
            assert [set(t) for t in listed["tasks"]] == [TASK_KEYS]
            assert listed["tasks"][0]["status"] == "completed"

            running = await create(raw, "ticker", {"label": "w", "ticks": 1000, "interval": 0.05})
            cancelled = (await raw.request("tasks/cancel", {"taskId": running["taskId"]})).result
            assert set(cancelled) == TASK_KEYS | {"statusMessage"}
            assert cancelled["status"] == "cancelled"

            for body in (created.body, got, result, listed, cancelled):
                assert no_result_type_anywhere(body)


async def test_unlimited_ttl_is_a_literal_null_on_the_wire() -> None:
    with anyio.fail_after(15):
        settings = {"max_ttl_ms": None, "default_ttl_ms": None}
        async with serve_http(server(**settings)) as url, handshake(url) as raw:
            created = await raw.request(
                "tools/call",
                {
                    "name": "ticker",
                    "arguments": {"label": "t", "ticks": 1000, "interval": 0.05},
                    "task": {},
                },
            )
            task_id = created.result["task"]["taskId"]
            answers = [
                created.result["task"],
                (await raw.request("tasks/get", {"taskId": task_id})).result,
                (await raw.request("tasks/list", {})).result["tasks"][0],
                (await raw.request("tasks/cancel", {"taskId": task_id})).result,
            ]
            for task in answers:
                assert "ttl" in task
                assert task["ttl"] is None


async def test_standalone_stream_carries_status_and_progress_notifications() -> None:
    with anyio.fail_after(15):
        settings = {"max_ttl_ms": None, "default_ttl_ms": None}
        async with (
            serve_http(server(**settings)) as url,
            handshake(url) as raw,
            standalone_stream(raw) as stream,
        ):
            task = await create(
                raw,
                "ticker",
                {"label": "s", "ticks": 2, "interval": 0.3},
                _meta={"progressToken": 42},
            )
            messages: list[dict[str, Any]] = []
            payloads: list[str] = []
            while not any(m["params"].get("status") == "completed" for m in messages):
                payload = await stream.receive()
                payloads.append(payload)
                messages.append(json.loads(payload))
            statuses = [m for m in messages if m["method"] == "notifications/tasks/status"]
            progress = [m for m in messages if m["method"] == "notifications/progress"]
            assert [m["params"]["status"] for m in statuses] == ["working", "working", "completed"]
            final = statuses[-1]["params"]
            assert set(final) == TASK_KEYS
            assert final["ttl"] is None
            assert final["taskId"] == task["taskId"]
            got = (await raw.request("tasks/get", {"taskId": task["taskId"]})).result
            assert final == task_fields(got)
            assert any('"ttl":null' in p for p in payloads)
            assert all("_meta" not in m["params"] for m in statuses)  # the taskId says it all
            assert [m["params"] for m in progress] == [
                {
                    "progressToken": 42,
                    "progress": 1.0,
                    "total": 2.0,
                    "message": "tick 1",
                    "_meta": {RELATED_TASK: {"taskId": task["taskId"]}},
                },
                {
                    "progressToken": 42,
                    "progress": 2.0,
                    "total": 2.0,
                    "message": "tick 2",
                    "_meta": {RELATED_TASK: {"taskId": task["taskId"]}},
                },
            ]


# ---------------------------------------------------------------------- errors


async def test_every_error_code_of_the_era_on_the_wire() -> None:
    with anyio.fail_after(15):
        async with serve_http(server(list_page_size=1)) as url, handshake(url) as raw:
            done = await create(raw, "compute", {"seconds": 0})
            await wait_terminal(raw, done["taskId"])
            await create(raw, "compute", {"seconds": 0})
            protocol_failure = await create(raw, "broken", {"kind": "protocol"})
            await wait_terminal(raw, protocol_failure["taskId"])
            cases: list[tuple[str, dict[str, Any], int]] = [
                ("tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {}}, -32601),
                ("tools/call", {"name": "confirm", "arguments": {"filename": "f"}}, -32601),
                ("tools/call", {"name": "compute", "arguments": {}, "task": {"ttl": "x"}}, -32602),
                ("tools/call", {"name": "compute", "arguments": {}, "task": {"ttl": 0}}, -32602),
                ("tools/call", {"name": "compute", "arguments": {}, "task": 7}, -32602),
                ("tasks/get", {"taskId": UNKNOWN_ID}, -32602),
                ("tasks/result", {"taskId": UNKNOWN_ID}, -32602),
                ("tasks/cancel", {"taskId": UNKNOWN_ID}, -32602),
                ("tasks/get", {}, -32602),
                ("tasks/list", {"cursor": "not-a-cursor"}, -32602),
                ("tasks/cancel", {"taskId": done["taskId"]}, -32602),
                ("tasks/update", {"taskId": done["taskId"], "inputResponses": {}}, -32601),
                ("tasks/result", {"taskId": protocol_failure["taskId"]}, -32050),
            ]
            for method, params, code in cases:
                answer = await raw.request(method, params)
                assert answer.error["code"] == code, (method, params, answer.body)
            for task_id in (UNKNOWN_ID, "anything"):
                answer = await raw.request("tasks/get", {"taskId": task_id})
                assert answer.error == {"code": -32602, "message": "Task not found"}
            failure = await raw.request("tasks/result", {"taskId": protocol_failure["taskId"]})
            assert failure.error == {"code": -32050, "message": "upstream refused"}
            still_served = await raw.request("tasks/get", {"taskId": done["taskId"]})
            assert still_served.result["status"] == "completed"


async def test_another_session_cannot_see_or_touch_a_task() -> None:
    with anyio.fail_after(15):
        async with (
            serve_http(server()) as url,
            handshake(url) as owner,
            handshake(url) as stranger,
        ):
            assert owner.headers["Mcp-Session-Id"] != stranger.headers["Mcp-Session-Id"]
            task = await create(owner, "ticker", {"label": "f", "ticks": 1000, "interval": 0.05})
            task_id = task["taskId"]
            for method in ("tasks/get", "tasks/result", "tasks/cancel"):
                foreign = await stranger.request(method, {"taskId": task_id})
                unknown = await stranger.request(method, {"taskId": UNKNOWN_ID})
                assert foreign.error == {"code": -32602, "message": "Task not found"}
                assert unknown.error == {
                    "code": -32602,
                    "message": "Task not found",
                }
                # Identical but for the id the caller itself sent.
                assert foreign.error["message"].replace(task_id, "<id>") == unknown.error[
                    "message"
                ].replace(UNKNOWN_ID, "<id>")
            assert (await stranger.request("tasks/list", {})).result == {"tasks": []}
            mine = await owner.request("tasks/get", {"taskId": task_id})
            assert mine.result["status"] == "working"  # the stranger's cancel changed nothing
            assert [
                t["taskId"] for t in (await owner.request("tasks/list", {})).result["tasks"]
            ] == [task_id]
            await owner.request("tasks/cancel", {"taskId": task_id})
