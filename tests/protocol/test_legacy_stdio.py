"""The SDK's 2025-11-25 client against the server as a stdio subprocess.

stdio is one duplex pipe to one local client: tasks belong to that client
(so listing is offered), and the pipe carries status notifications,
progress and the input requests relayed through ``tasks/result``.
Configuration reaches the subprocess the way an operator sets it, through
``MCP_TASKS_*`` environment variables.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.protocol.harness import stdio_server
from tests.protocol.legacy_client import (
    MessageLog,
    StatusObserver,
    answering,
    connect,
    task_fields,
)
from tests.support.wire import RELATED_TASK

pytestmark = pytest.mark.anyio

FAST = {"MCP_TASKS_SHUTDOWN_GRACE_SECONDS": "0"}


def sample(**env: str) -> Any:
    return stdio_server("tests.protocol.sample_server", env={**FAST, **env})


async def test_task_lifecycle_over_stdio() -> None:
    with anyio.fail_after(30):
        async with connect(sample()) as tasks:
            capabilities = tasks.client.session.initialize_result.capabilities  # type: ignore[union-attr]
            assert capabilities.tasks is not None
            assert capabilities.tasks.list is not None

            done = await tasks.call_as_task("compute", {"seconds": 0.05})
            result = await tasks.result(done["taskId"])
            assert result["content"][0]["text"] == "computed for 0.05s"
            assert result["_meta"] == {RELATED_TASK: {"taskId": done["taskId"]}}
            assert "resultType" not in result

            running = await tasks.call_as_task(
                "ticker", {"label": "s", "ticks": 1000, "interval": 0.05}
            )
            assert (await tasks.cancel(running["taskId"]))["status"] == "cancelled"
            assert (await tasks.error("tasks/cancel", {"taskId": running["taskId"]}))[
                "code"
            ] == -32602
            assert (await tasks.error("tasks/get", {"taskId": "nope"}))["code"] == -32602


async def test_tasks_list_pages_with_the_configured_page_size_over_stdio() -> None:
    with anyio.fail_after(30):
        async with connect(sample(MCP_TASKS_LIST_PAGE_SIZE="2")) as tasks:
            created = {
                (await tasks.call_as_task("compute", {"seconds": 0}))["taskId"] for _ in range(5)
            }
            sizes: list[int] = []
            listed: set[str] = set()
            cursor: str | None = None
            while True:
                page = await tasks.list(cursor)
                sizes.append(len(page["tasks"]))
                listed |= {task["taskId"] for task in page["tasks"]}
                cursor = page.get("nextCursor")
                if cursor is None:
                    break
            assert sizes == [2, 2, 1]
            assert listed == created
            assert (await tasks.error("tasks/list", {"cursor": "forged"}))["code"] == -32602


async def test_status_and_progress_notifications_arrive_over_stdio() -> None:
    observer = StatusObserver()
    log = MessageLog()
    with anyio.fail_after(30):
        async with connect(sample(), extensions=[observer], message_handler=log) as tasks:
            task = await tasks.call_as_task(
                "ticker",
                {"label": "p", "ticks": 2, "interval": 0.3},
                meta={"progressToken": 9},
            )
            final = await observer.wait_for(task["taskId"], "completed")
            assert final == task_fields(await tasks.get(task["taskId"]))
            assert observer.statuses(task["taskId"]) == ["working", "working", "completed"]
            reports = await log.wait_for_progress(2)
            assert [(p.progress_token, p.progress, p.total) for p in reports] == [
                (9, 1, 2),
                (9, 2, 2),
            ]


async def test_input_is_relayed_through_tasks_result_over_stdio() -> None:
    seen: list[dict[str, Any]] = []
    observer = StatusObserver()
    with anyio.fail_after(30):
        async with connect(
            sample(),
            elicitation_callback=answering({"colour": "green"}, seen),
            extensions=[observer],
        ) as tasks:
            task = await tasks.call_as_task("favourite", {"label": "pipe"})
            await observer.wait_for(task["taskId"], "input_required")
            result = await tasks.result(task["taskId"])
            assert result["content"][0]["text"] == "pipe: colour=green starts=1"
            assert len(seen) == 1
            assert seen[0]["message"] == "Favourite colour?"
            assert seen[0]["_meta"] == {RELATED_TASK: {"taskId": task["taskId"]}}
            assert await tasks.journal("pipe") == "start"  # answered in place, not re-run


async def test_confirm_tool_deletes_only_after_the_client_agrees_over_stdio() -> None:
    with anyio.fail_after(30):
        async with connect(sample(), elicitation_callback=answering({"confirm": True})) as tasks:
            task = await tasks.call_as_task("confirm", {"filename": "notes.txt"})
            result = await tasks.result(task["taskId"])
            assert result["content"][0]["text"] == "deleted notes.txt"
