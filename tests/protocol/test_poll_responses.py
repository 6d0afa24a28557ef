"""2025-11-25 task polls over HTTP are answered as JSON; ``tasks/result`` keeps its stream.

The server is the reference server exactly as ``serve --transport http``
builds it, stateful and stateless, driven with raw POSTs so the response's
content type is what is asserted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mcp_tasks_server import Settings
from mcp_tasks_server.server import build_server, http_app
from tests.protocol.harness import RawHttp, serve_asgi

pytestmark = pytest.mark.anyio

FAST = {"poll_interval_ms": 100, "heartbeat_interval_seconds": 0.1, "shutdown_grace_seconds": 0}
UNKNOWN_ID = "01m87ydrak7ag74d2s2jbm4qyqvv342q2f8j"  # well-formed, never issued


@asynccontextmanager
async def legacy_http(*, stateless: bool) -> AsyncIterator[RawHttp]:
    settings = Settings(**FAST, transport="http", stateless=stateless)
    app = http_app(build_server(settings, profile="conformance"), settings)
    async with serve_asgi(app) as port:  # on a port it holds from the start
        url = f"http://127.0.0.1:{port}{settings.http_path}"
        async with RawHttp.legacy_session(url, stateless=stateless) as raw:
            yield raw


def content_type(response: Any) -> str:
    return str(response.headers["content-type"]).split(";")[0]


async def start(raw: RawHttp, seconds: float) -> str:
    created = await raw.request(
        "tools/call",
        {"name": "slow_compute", "arguments": {"seconds": seconds, "label": "p"}, "task": {}},
    )
    return str(created.result["task"]["taskId"])


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_tasks_get_and_cancel_are_answered_as_json(stateless: bool) -> None:
    async with legacy_http(stateless=stateless) as raw:
        task_id = await start(raw, 60)
        got = await raw.request("tasks/get", {"taskId": task_id})
        cancelled = await raw.request("tasks/cancel", {"taskId": task_id})
        missing = await raw.request("tasks/get", {"taskId": UNKNOWN_ID})
    assert content_type(got) == "application/json"
    assert got.result["taskId"] == task_id
    assert got.result["status"] == "working"
    assert content_type(cancelled) == "application/json"
    assert cancelled.result["status"] == "cancelled"
    assert content_type(missing) == "application/json"
    assert missing.error["code"] == -32602


async def test_tasks_list_is_answered_as_json_with_the_session_id() -> None:
    async with legacy_http(stateless=False) as raw:
        task_id = await start(raw, 0)
        listed = await raw.request("tasks/list", {})
    assert content_type(listed) == "application/json"
    assert listed.headers["mcp-session-id"] == raw.headers["Mcp-Session-Id"]
    assert [task["taskId"] for task in listed.result["tasks"]] == [task_id]


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_tasks_result_and_tool_calls_keep_their_event_stream(stateless: bool) -> None:
    async with legacy_http(stateless=stateless) as raw:
        task_id = await start(raw, 0)
        result = await raw.request("tasks/result", {"taskId": task_id})
        created = await raw.request(
            "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0, "label": "q"}}
        )
    assert content_type(result) == "text/event-stream"
    assert result.result["content"][0]["text"]
    assert content_type(created) == "text/event-stream"
