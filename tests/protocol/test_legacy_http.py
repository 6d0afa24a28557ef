"""The SDK's 2025-11-25 client against the server over streamable HTTP (uvicorn, loopback).

Stateful HTTP has a channel back to the client (the GET stream, and each
POST's own SSE stream), so status notifications and input relayed through
``tasks/result`` work there. Stateless HTTP has neither: tasks still run
and finish, but the server cannot speak first.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.protocol import sample_server
from tests.protocol.harness import serve_http
from tests.protocol.legacy_client import (
    MessageLog,
    StatusObserver,
    answering,
    connect,
    fast_settings,
    task_fields,
)
from tests.support.wire import RELATED_TASK

pytestmark = pytest.mark.anyio


def server(**settings: Any) -> Any:
    return sample_server.build(fast_settings(**settings))


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_task_lifecycle_over_http(stateless: bool) -> None:
    with anyio.fail_after(20):
        async with serve_http(server(), stateless=stateless) as url, connect(url) as tasks:
            capabilities = tasks.client.session.initialize_result.capabilities  # type: ignore[union-attr]
            assert capabilities.tasks is not None
            assert (capabilities.tasks.list is None) is stateless

            done = await tasks.call_as_task("compute", {"seconds": 0.05}, task={"ttl": 60_000})
            assert done["ttl"] == 60_000
            result = await tasks.result(done["taskId"])
            assert result["content"][0]["text"] == "computed for 0.05s"
            assert result["_meta"] == {RELATED_TASK: {"taskId": done["taskId"]}}
            assert (await tasks.get(done["taskId"]))["status"] == "completed"

            running = await tasks.call_as_task(
                "ticker", {"label": "h", "ticks": 1000, "interval": 0.05}
            )
            assert (await tasks.cancel(running["taskId"]))["status"] == "cancelled"
            assert (await tasks.error("tasks/cancel", {"taskId": running["taskId"]}))[
                "code"
            ] == -32602

            listing = await (tasks.error if stateless else tasks.raw)("tasks/list", {})
            if stateless:
                assert listing["code"] == -32601
            else:
                assert {t["taskId"] for t in listing["tasks"]} == {
                    done["taskId"],
                    running["taskId"],
                }


async def test_status_notifications_reach_the_client_over_stateful_http() -> None:
    observer = StatusObserver()
    log = MessageLog()
    with anyio.fail_after(20):
        async with (
            serve_http(server()) as url,
            connect(url, extensions=[observer], message_handler=log) as tasks,
        ):
            task = await tasks.call_as_task(
                "ticker",
                {"label": "n", "ticks": 2, "interval": 0.3},
                meta={"progressToken": "http-progress"},
            )
            final = await observer.wait_for(task["taskId"], "completed")
            assert final == task_fields(await tasks.get(task["taskId"]))
            assert observer.statuses(task["taskId"]) == ["working", "working", "completed"]
            reports = await log.wait_for_progress(2)
            assert [(p.progress_token, p.progress) for p in reports] == [
                ("http-progress", 1),
                ("http-progress", 2),
            ]


async def test_cancel_is_announced_to_the_creating_client() -> None:
    observer = StatusObserver()
    with anyio.fail_after(20):
        async with serve_http(server()) as url, connect(url, extensions=[observer]) as tasks:
            task = await tasks.call_as_task(
                "ticker", {"label": "c", "ticks": 1000, "interval": 0.05}
            )
            await tasks.cancel(task["taskId"])
            note = await observer.wait_for(task["taskId"], "cancelled")
            assert note["statusMessage"] == "Cancelled by request"


async def test_input_is_relayed_through_tasks_result_over_stateful_http() -> None:
    seen: list[dict[str, Any]] = []
    observer = StatusObserver()
    with anyio.fail_after(20):
        async with (
            serve_http(server()) as url,
            connect(
                url,
                elicitation_callback=answering({"colour": "amber"}, seen),
                extensions=[observer],
            ) as tasks,
        ):
            task = await tasks.call_as_task("favourite", {"label": "web"})
            await observer.wait_for(task["taskId"], "input_required")
            assert (await tasks.get(task["taskId"]))["status"] == "input_required"
            result = await tasks.result(task["taskId"])
            assert result["content"][0]["text"] == "web: colour=amber starts=1"
            assert [request["_meta"] for request in seen] == [
                {RELATED_TASK: {"taskId": task["taskId"]}}
            ]
            assert observer.statuses(task["taskId"]) == ["input_required", "working", "completed"]
            assert await tasks.journal("web") == "start"  # answered in place, not re-run


async def test_input_required_task_stays_parked_over_stateless_http() -> None:
    seen: list[dict[str, Any]] = []
    with anyio.fail_after(20):
        async with (
            serve_http(server(result_wait_seconds=0.5), stateless=True) as url,
            connect(url, elicitation_callback=answering({"colour": "red"}, seen)) as tasks,
        ):
            task = await tasks.call_as_task("favourite", {"label": "stateless"})
            parked = await tasks.wait_for(task["taskId"], {"input_required"})
            assert parked["statusMessage"] == "Favourite colour?"
            error = await tasks.error("tasks/result", {"taskId": task["taskId"]})
            assert error["code"] == -32000  # no way to ask: still running, ask again later
            assert seen == []
            assert (await tasks.get(task["taskId"]))["status"] == "input_required"
            assert (await tasks.cancel(task["taskId"]))["status"] == "cancelled"
