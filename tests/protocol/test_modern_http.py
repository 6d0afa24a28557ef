"""The 2026-07-28 tasks extension on the wire: raw JSON-RPC and the SDK client over HTTP.

The server is the reference server (conformance profile) behind uvicorn on
a free loopback port, built by :func:`mcp_tasks_server.server.http_app`
exactly as ``mcp-tasks-server serve --transport http`` builds it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult

from mcp_tasks_server import Settings
from mcp_tasks_server.server import build_server, http_app
from tests.protocol.harness import (
    MODERN,
    TASKS_EXTENSION,
    RawHttp,
    RawResponse,
    modern_meta,
    serve_asgi,
)
from tests.protocol.modern_client import TasksClient

pytestmark = pytest.mark.anyio

REQUIRED = {"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}}
ENVELOPE_ONLY = {"resultType", "_meta"}
SERVER_INFO = "io.modelcontextprotocol/serverInfo"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
FAST = {"poll_interval_ms": 100, "heartbeat_interval_seconds": 0.1, "shutdown_grace_seconds": 0}


@asynccontextmanager
async def reference_server(*, profile: str = "conformance", **overrides: Any) -> AsyncIterator[str]:
    """The reference server over streamable HTTP; yields its MCP URL."""
    settings = Settings(**{**FAST, "transport": "http", **overrides})
    app = http_app(build_server(settings, profile=profile), settings)
    async with serve_asgi(app) as port:  # on a port it holds from the start
        yield f"http://127.0.0.1:{port}{settings.http_path}"


async def until_status(raw: RawHttp, task_id: str, *statuses: str) -> RawResponse:
    wanted = statuses or ("completed", "failed", "cancelled")
    with anyio.fail_after(10):
        while True:
            got = await raw.request("tasks/get", {"taskId": task_id})
            if got.result["status"] in wanted:
                return got
            await anyio.sleep(0.02)


async def until_terminal(raw: RawHttp, task_id: str) -> dict[str, Any]:
    return (await until_status(raw, task_id)).result


async def post(raw: RawHttp, method: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
    """A 2026 request with exactly these routing headers (none implied)."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": method,
        "params": {**params, "_meta": modern_meta()},
    }
    sent = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
        **headers,
    }
    return await raw.client.post(raw.url, json=body, headers=sent)


# ---------------------------------------------------------------------- shapes


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_created_task_is_flat_with_integer_ttl_and_poll_interval(stateless: bool) -> None:
    async with reference_server(stateless=stateless) as url, RawHttp.modern(url) as raw:
        created = await raw.request(
            "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0.1, "label": "w"}}
        )
        assert created.status == 200
        task = created.result
        assert task["resultType"] == "task"
        assert task["status"] == "working"
        assert type(task["ttlMs"]) is int
        assert task["ttlMs"] == 3_600_000
        assert type(task["pollIntervalMs"]) is int
        assert task["pollIntervalMs"] == 100
        assert ISO.match(task["createdAt"])
        assert ISO.match(task["lastUpdatedAt"])
        assert set(task) == {
            "resultType",
            "taskId",
            "status",
            "createdAt",
            "lastUpdatedAt",
            "ttlMs",
            "pollIntervalMs",
            "_meta",
        }
        assert SERVER_INFO in task["_meta"]

        # Durable before the answer: readable at once.
        working = await raw.request("tasks/get", {"taskId": task["taskId"]})
        assert working.result["resultType"] == "complete"
        assert working.result["taskId"] == task["taskId"]

        done = await until_terminal(raw, task["taskId"])
        assert done["status"] == "completed"
        assert done["resultType"] == "complete"
        assert done["result"]["content"][0]["text"] == "w: done after 0.1s"
        assert "resultType" not in done["result"]
        assert "_meta" not in done["result"]  # no related-task meta on an inlined result
        assert "requestState" not in done


async def test_unlimited_ttl_is_a_present_null() -> None:
    async with (
        reference_server(default_ttl_ms=None, max_ttl_ms=None) as url,
        RawHttp.modern(url) as raw,
    ):
        created = await raw.client.post(
            raw.url,
            json={
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {
                    "name": "slow_compute",
                    "arguments": {"seconds": 0, "label": "n"},
                    "_meta": modern_meta(),
                },
            },
            headers={
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "tools/call",
                "Mcp-Name": "slow_compute",
            },
        )
        assert '"ttlMs":null' in created.text.replace(" ", "")
        task_id = json.loads(created.text)["result"]["taskId"]
        got = await raw.request("tasks/get", {"taskId": task_id})
        assert "ttlMs" in got.result
        assert got.result["ttlMs"] is None


async def test_input_required_task_shows_its_requests_and_acks_updates_emptily() -> None:
    async with reference_server() as url, RawHttp.modern(url) as raw:
        created = await raw.request(
            "tools/call", {"name": "confirm_delete", "arguments": {"filename": "f.txt"}}
        )
        task_id = created.result["taskId"]
        got = await until_status(raw, task_id, "input_required")
        (key,) = got.result["inputRequests"]
        assert got.result["inputRequests"][key]["method"] == "elicitation/create"
        assert "result" not in got.result
        assert "error" not in got.result

        stray = await raw.request(
            "tasks/update",
            {"taskId": task_id, "inputResponses": {"unknown-key": {"ignored": True}}},
        )
        assert stray.status == 200
        assert set(stray.result) <= ENVELOPE_ONLY
        assert stray.result["resultType"] == "complete"

        answer = {"action": "accept", "content": {"confirm": False}}
        ack = await raw.request(
            "tasks/update", {"taskId": task_id, "inputResponses": {key: answer}}
        )
        assert set(ack.result) <= ENVELOPE_ONLY
        done = await until_terminal(raw, task_id)
        assert done["result"]["content"][0]["text"] == "Kept f.txt"

        cancel = await raw.request("tasks/cancel", {"taskId": task_id})
        assert cancel.status == 200
        assert set(cancel.result) <= ENVELOPE_ONLY
        assert cancel.result["resultType"] == "complete"


async def test_tool_and_protocol_errors_end_tasks_as_completed_and_failed() -> None:
    async with reference_server() as url, RawHttp.modern(url) as raw:
        tool_error = await raw.request("tools/call", {"name": "failing_job", "arguments": {}})
        protocol_error = await raw.request(
            "tools/call", {"name": "protocol_error_job", "arguments": {}}
        )
        completed = await until_terminal(raw, tool_error.result["taskId"])
        failed = await until_terminal(raw, protocol_error.result["taskId"])
    assert completed["status"] == "completed"
    assert completed["result"]["isError"] is True
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == -32603
    assert isinstance(failed["error"]["message"], str)
    assert "result" not in failed


async def test_legacy_task_param_is_ignored() -> None:
    async with reference_server() as url, RawHttp.modern(url) as raw:
        hint = {"ttl": 60000, "pollInterval": 100}
        greeted = await raw.request(
            "tools/call", {"name": "greet", "arguments": {"name": "legacy-hint"}, "task": hint}
        )
        created = await raw.request(
            "tools/call",
            {"name": "slow_compute", "arguments": {"seconds": 0, "label": "h"}, "task": hint},
        )
    assert greeted.result["resultType"] == "complete"
    assert greeted.result["content"][0]["text"] == "Hello, legacy-hint!"
    assert "taskId" not in greeted.result
    assert created.result["resultType"] == "task"
    assert "task" not in created.result
    assert created.result["ttlMs"] == 3_600_000  # the hint's ttl was not applied


async def test_discover_advertises_the_extension_and_no_legacy_capability() -> None:
    async with reference_server() as url, RawHttp.modern(url) as raw:
        discovered = await raw.request("server/discover", {})
    capabilities = discovered.result["capabilities"]
    assert capabilities["extensions"][TASKS_EXTENSION] == {}
    assert "tasks" not in capabilities


# ---------------------------------------------------------------------- errors


async def test_required_tool_without_opt_in_is_32021_with_http_400() -> None:
    async with reference_server() as url, RawHttp.modern(url, opt_in=False) as raw:
        refused = await raw.request("tools/call", {"name": "failing_job", "arguments": {}})
        inline = await raw.request(
            "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0, "label": "s"}}
        )
    assert refused.status == 400
    assert refused.error["code"] == -32021
    assert refused.error["data"] == REQUIRED
    assert inline.result["resultType"] == "complete"
    assert inline.result["content"][0]["text"] == "s: done after 0s"


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tasks/get", {"taskId": "gate-test"}),
        ("tasks/update", {"taskId": "gate-test", "inputResponses": {}}),
        ("tasks/cancel", {"taskId": "gate-test"}),
    ],
)
async def test_tasks_methods_without_opt_in_are_32021(method: str, params: dict[str, Any]) -> None:
    async with reference_server() as url, RawHttp.modern(url, opt_in=False) as raw:
        refused = await raw.request(method, params)
    assert refused.status == 400
    assert refused.error["code"] == -32021
    assert refused.error["data"] == REQUIRED


async def test_per_request_opt_in_in_meta_is_enough() -> None:
    async with reference_server() as url, RawHttp.modern(url, opt_in=False) as raw:
        opted = {
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXTENSION: {}}}
        }
        created = await raw.request(
            "tools/call",
            # Long enough to be still running when the cancel comes, however slow the machine.
            {"name": "slow_compute", "arguments": {"seconds": 60, "label": "m"}, "_meta": opted},
        )
        assert created.result["resultType"] == "task"
        cancelled = await raw.request(
            "tasks/cancel", {"taskId": created.result["taskId"], "_meta": opted}
        )
        assert cancelled.result["resultType"] == "complete"


def _task_params(method: str, task_id: str) -> dict[str, Any]:
    params: dict[str, Any] = {"taskId": task_id}
    if method == "tasks/update":
        params["inputResponses"] = {}
    return params


@pytest.mark.parametrize("method", ["tasks/get", "tasks/update", "tasks/cancel"])
async def test_mcp_name_that_names_another_task_is_32020(method: str) -> None:
    async with reference_server() as url, RawHttp.modern(url) as raw:
        created = await raw.request(
            "tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "n"}}
        )
        task_id = created.result["taskId"]
        wrong = await raw.request(method, _task_params(method, task_id), name="another-task-id")
        still = await raw.request("tasks/get", {"taskId": task_id})
        await raw.request("tasks/cancel", {"taskId": task_id})
    assert wrong.status == 400
    assert wrong.error["code"] == -32020
    assert still.result["status"] == "working"  # the refused request changed nothing


@pytest.mark.parametrize("method", ["tasks/get", "tasks/update", "tasks/cancel"])
async def test_missing_mcp_name_is_served_by_default(method: str) -> None:
    # fastmcp's Client (fastmcp-tasks) sends no Mcp-Name on tasks/*.
    async with reference_server() as url, RawHttp.modern(url) as raw:
        created = await raw.request(
            "tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "n"}}
        )
        task_id = created.result["taskId"]
        served = await post(raw, method, _task_params(method, task_id), headers={})
        await raw.request("tasks/cancel", {"taskId": task_id})
    assert served.status_code == 200
    assert served.json()["result"]["resultType"] == "complete"


@pytest.mark.parametrize("method", ["tasks/get", "tasks/update", "tasks/cancel"])
async def test_strict_headers_refuse_a_missing_mcp_name(method: str) -> None:
    async with reference_server(strict_headers=True) as url, RawHttp.modern(url) as raw:
        created = await raw.request(
            "tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "n"}}
        )
        task_id = created.result["taskId"]
        missing = await post(raw, method, _task_params(method, task_id), headers={})
        still = await raw.request("tasks/get", {"taskId": task_id})
        await raw.request("tasks/cancel", {"taskId": task_id})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == -32020
    assert still.result["status"] == "working"  # the refused request changed nothing


async def test_mcp_name_may_be_base64_encoded() -> None:
    async with reference_server() as url, RawHttp.modern(url) as raw:
        created = await raw.request(
            "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0, "label": "b"}}
        )
        task_id = created.result["taskId"]
        encoded = f"=?base64?{base64.b64encode(task_id.encode()).decode()}?="
        got = await raw.request("tasks/get", {"taskId": task_id}, name=encoded)
    assert got.result["taskId"] == task_id


@pytest.mark.parametrize("method", ["tasks/list", "tasks/result"])
@pytest.mark.parametrize("opt_in", [True, False], ids=["declared", "undeclared"])
async def test_removed_methods_are_32601_with_http_404(method: str, opt_in: bool) -> None:
    async with reference_server() as url, RawHttp.modern(url, opt_in=opt_in) as raw:
        plain = await raw.request(method, {"taskId": "tasks-conformance-isolation-probe"})
        garbage = await raw.request(method, {"taskId": 17, "cursor": ["x"]}, name="x")
    for answer in (plain, garbage):
        assert answer.status == 404
        assert answer.error["code"] == -32601


async def test_unknown_task_is_32602_with_http_400() -> None:
    async with reference_server() as url, RawHttp.modern(url) as raw:
        unknown = await raw.request("tasks/get", {"taskId": "tasks-conformance-nonexistent-12345"})
        cancel = await raw.request("tasks/cancel", {"taskId": "0" * 36})
    for answer in (unknown, cancel):
        assert answer.status == 400
        assert answer.error["code"] == -32602


async def test_a_foreign_host_header_is_refused() -> None:
    async with reference_server() as url, RawHttp.modern(url) as raw:
        refused = await post(raw, "server/discover", {}, headers={"Host": "evil.example:80"})
        allowed = await post(raw, "server/discover", {}, headers={})
    assert refused.status_code == 421
    assert allowed.status_code == 200


# ---------------------------------------------------------------------- multi-round


async def test_multi_round_call_can_finish_on_another_replica_with_a_shared_key() -> None:
    """Round one on replica A, round two on replica B: the task starts on B."""
    key = "k" * 40
    async with (
        reference_server(request_state_key=key) as a,
        reference_server(request_state_key=key) as b,
        reference_server() as c,
        RawHttp.modern(a) as first,
        RawHttp.modern(b) as second,
        RawHttp.modern(c) as stranger,
    ):
        plain = {"name": "test_tool_with_task", "arguments": {}}
        mute = await first.request("tools/call", plain)  # this client cannot answer questions
        assert mute.error["code"] == -32021
        assert mute.error["data"] == {"requiredCapabilities": {"elicitation": {"form": {}}}}

        capabilities = {"elicitation": {}, "extensions": {TASKS_EXTENSION: {}}}
        call = {**plain, "_meta": {"io.modelcontextprotocol/clientCapabilities": capabilities}}
        asked = await first.request("tools/call", call)
        assert asked.result["resultType"] == "input_required"
        assert "taskId" not in asked.result
        (question,) = asked.result["inputRequests"]
        retry = {
            **call,
            "inputResponses": {question: {"action": "accept", "content": {"name": "Alice"}}},
            "requestState": asked.result["requestState"],
        }
        created = await second.request("tools/call", retry)
        refused = await stranger.request("tools/call", retry)
        assert created.result["resultType"] == "task"
        assert "requestState" not in created.result
        assert "inputRequests" not in created.result
        done = await until_terminal(second, created.result["taskId"])
    assert done["result"]["content"][0]["text"] == "Hello, Alice!"
    assert refused.status == 400
    assert refused.error["code"] == -32602  # another key: the state does not open


# ---------------------------------------------------------------------- SDK client


async def answer_alice(context: Any, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="accept", content={"name": "Alice"})


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_sdk_client_over_http_resolves_tasks_by_polling(stateless: bool) -> None:
    tasks_client = TasksClient()
    async with reference_server(stateless=stateless) as url:
        with anyio.fail_after(15):
            async with Client(
                url, mode=MODERN, extensions=[tasks_client], elicitation_callback=answer_alice
            ) as client:
                computed = await client.call_tool("slow_compute", {"seconds": 0.1, "label": "c"})
                greeted = await client.call_tool("test_tool_with_task", {})
    assert computed.content[0].text == "c: done after 0.1s"  # type: ignore[union-attr]
    assert greeted.content[0].text == "Hello, Alice!"  # type: ignore[union-attr]
    assert [created["resultType"] for created in tasks_client.created] == ["task", "task"]


async def test_sdk_client_over_http_answers_input_while_the_task_runs() -> None:
    async def confirm(key: str, request: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"confirm": True}}

    async with reference_server() as url:
        with anyio.fail_after(15):
            async with Client(url, mode=MODERN, extensions=[TasksClient(confirm)]) as client:
                result = await client.call_tool("confirm_delete", {"filename": "x.txt"})
    assert result.content[0].text == "Deleted x.txt"  # type: ignore[union-attr]


async def test_http_client_without_the_extension_gets_inline_results_only() -> None:
    async with httpx.AsyncClient(), reference_server() as url:
        with anyio.fail_after(15):
            async with Client(url, mode=MODERN) as client:
                result = await client.call_tool("slow_compute", {"seconds": 0, "label": "i"})
    assert result.content[0].text == "i: done after 0s"  # type: ignore[union-attr]
