"""A stateful HTTP session's unfinished tasks are cancelled when the session ends.

Without authentication a stateful session owns its tasks, and once it ends
nobody can reach them: a DELETE or the idle timeout cancels them, and their
tools stop. A principal's tasks outlive the session they were created in,
and one session's end touches no other session's tasks. Each test runs the
reference server's HTTP app under uvicorn on 127.0.0.1 and speaks raw
streamable HTTP; how a tool ended is read from the tool itself (its probe)
and from the store, since the ended session can no longer ask.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcp_tasks_server import Settings
from mcp_tasks_server.core.model import TaskRecord
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.server.auth.api_keys import hash_entry, new_api_key
from mcp_tasks_server.server.http import http_app
from tests.protocol.harness import RawHttp, RawResponse, serve_asgi
from tests.support.disconnects import HeldReplyBackend
from tests.support.held_tools import held_tools_server, session_owner
from tests.support.polling import poll_until
from tests.support.wire import TERMINAL

pytestmark = pytest.mark.anyio

FAST: dict[str, Any] = {
    "transport": "http",
    "heartbeat_interval_seconds": 0.1,
    "shutdown_grace_seconds": 0,
}
LIMIT_SECONDS = 60  # a bound on each test, generous for a loaded 2-core machine


async def start(raw: RawHttp, tool: str, label: str) -> str:
    """Call ``tool`` as a task; its task id."""
    created = await raw.request(
        "tools/call", {"name": tool, "arguments": {"label": label}, "task": {"ttl": 60_000}}
    )
    return str(created.result["task"]["taskId"])


async def delete_session(raw: RawHttp) -> None:
    ended = await raw.client.delete(raw.url, headers=raw.headers)
    assert ended.status_code == 200, ended.text


async def stored_once(
    tasks: Tasks,
    settings: Settings,
    session_id: str,
    task_id: str,
    statuses: Collection[str] = TERMINAL,
) -> TaskRecord:
    """The stored task of an unauthenticated session, once its status is one of ``statuses``."""
    owner = session_owner(settings, session_id)
    return await poll_until(
        lambda: tasks.service.get(owner, task_id), lambda record: record.status in statuses
    )


async def until_forgotten(raw: RawHttp) -> None:
    """Until the server no longer knows the session: its end has been handled by then.

    The manager's "Session not found" comes only once the session is dropped,
    which happens right after its end is reported (``sdk.on_session_end``); a
    terminated transport still registered answers 404 with another message.
    """

    async def answer() -> RawResponse:
        return await raw.request("ping", {})

    def forgotten(response: RawResponse) -> bool:
        return response.status == 404 and response.body["error"]["message"] == "Session not found"

    await poll_until(answer, forgotten)


def ended_with_the_session(record: TaskRecord) -> bool:
    message = record.status_message or ""
    return record.status == "cancelled" and "session" in message and "ended" in message


async def test_deleting_a_session_cancels_its_unfinished_tasks_and_stops_their_tools() -> None:
    settings = Settings(**FAST)
    server, tasks, tools = held_tools_server(settings)
    with anyio.fail_after(LIMIT_SECONDS):
        async with serve_asgi(http_app(server, settings)) as port:
            async with RawHttp.legacy_session(f"http://127.0.0.1:{port}/mcp") as raw:
                session_id = raw.headers["Mcp-Session-Id"]
                working = await start(raw, "hold", "working")
                asking = await start(raw, "ask", "asking")
                await tools["working"].started.wait()
                await stored_once(tasks, settings, session_id, asking, {"input_required"})
                await delete_session(raw)
            for task_id, label in ((working, "working"), (asking, "asking")):
                await tools[label].stopped.wait()
                assert tools[label].cancelled, label
                record = await stored_once(tasks, settings, session_id, task_id)
                assert ended_with_the_session(record), record.status_message


async def test_a_session_closed_for_idleness_has_its_tasks_cancelled() -> None:
    settings = Settings(**FAST, http_session_idle_timeout_seconds=0.5)
    server, tasks, tools = held_tools_server(settings)
    with anyio.fail_after(LIMIT_SECONDS):
        async with serve_asgi(http_app(server, settings)) as port:
            url = f"http://127.0.0.1:{port}/mcp"
            async with RawHttp.legacy_session(url) as raw:
                session_id = raw.headers["Mcp-Session-Id"]
                task_id = await start(raw, "hold", "idle")
                # No request from here on, nor a GET stream: the session idles out.
                # Only the store is read (in process), which keeps no session alive.
                record = await stored_once(tasks, settings, session_id, task_id)
                assert ended_with_the_session(record), record.status_message
                await tools["idle"].stopped.wait()
                assert tools["idle"].cancelled
                await until_forgotten(raw)


async def test_a_principals_task_outlives_the_session_it_was_created_in(tmp_path: Path) -> None:
    key = new_api_key()
    keys = tmp_path / "api-keys.txt"
    keys.write_text(hash_entry("alice", key) + "\n")
    settings = Settings(**FAST, auth="api-keys", auth_api_keys_file=str(keys))
    server, _, tools = held_tools_server(settings)
    alice = {"Authorization": f"Bearer {key}"}
    with anyio.fail_after(LIMIT_SECONDS):
        async with serve_asgi(http_app(server, settings)) as port:
            url = f"http://127.0.0.1:{port}/mcp"
            async with RawHttp.legacy_session(url, headers=alice) as first:
                task_id = await start(first, "hold", "principal")
                await tools["principal"].started.wait()
                await delete_session(first)
                await until_forgotten(first)  # its end is handled: nothing is pending
            async with RawHttp.legacy_session(url, headers=alice) as second:
                still = await second.request("tasks/get", {"taskId": task_id})
                assert still.result["status"] == "working"
                tools["principal"].release.set()
                done = await second.request("tasks/result", {"taskId": task_id})
                assert done.result["content"][0]["text"] == "principal: released"
    assert not tools["principal"].cancelled


async def test_one_sessions_end_leaves_another_sessions_tasks_running() -> None:
    settings = Settings(**FAST)
    server, tasks, tools = held_tools_server(settings)
    with anyio.fail_after(LIMIT_SECONDS):
        async with serve_asgi(http_app(server, settings)) as port:
            url = f"http://127.0.0.1:{port}/mcp"
            async with (
                RawHttp.legacy_session(url) as ending,
                RawHttp.legacy_session(url) as staying,
            ):
                ended_task = await start(ending, "hold", "ending")
                kept_task = await start(staying, "hold", "staying")
                await tools["ending"].started.wait()
                await tools["staying"].started.wait()
                await delete_session(ending)
                ended_id = ending.headers["Mcp-Session-Id"]
                ended = await stored_once(tasks, settings, ended_id, ended_task)
                assert ended_with_the_session(ended), ended.status_message
                # That session had one task: once it is cancelled, its end is handled.
                kept = await staying.request("tasks/get", {"taskId": kept_task})
                assert kept.result["status"] == "working"
                assert not tools["staying"].stopped.is_set()
                tools["staying"].release.set()
                done = await staying.request("tasks/result", {"taskId": kept_task})
                assert done.result["content"][0]["text"] == "staying: released"
    assert not tools["staying"].cancelled


async def test_a_task_still_being_created_when_its_session_ends_is_cancelled_too() -> None:
    settings = Settings(**FAST)
    backend = HeldReplyBackend(write_first=False)  # the create's write waits for the test
    server, tasks, tools = held_tools_server(settings, backend=backend)
    with anyio.fail_after(LIMIT_SECONDS):
        async with (
            serve_asgi(http_app(server, settings)) as port,
            RawHttp.legacy_session(f"http://127.0.0.1:{port}/mcp") as raw,
            anyio.create_task_group() as group,
        ):
            session_id = raw.headers["Mcp-Session-Id"]

            async def create_unanswered() -> None:
                call = {"name": "hold", "arguments": {"label": "late"}, "task": {"ttl": 60_000}}
                with suppress(httpx.HTTPError):  # its session ends before its answer
                    await raw.request("tools/call", call)

            group.start_soon(create_unanswered)

            async def holding() -> bool:
                return backend.holding

            await poll_until(holding, bool)
            await delete_session(raw)
            # Its end is handled now: had its tasks been listed right away, the
            # one still being written would have been missed.
            await until_forgotten(raw)
            backend.release(caller_left=False)  # now the write lands, and the task starts

            async def stored() -> list[str]:
                return backend.stored

            [task_id] = await poll_until(stored, bool)
            record = await stored_once(tasks, settings, session_id, task_id)
            assert ended_with_the_session(record), record.status_message
    assert tools["late"].cancelled or not tools["late"].started.is_set()


async def test_sessions_ended_by_the_server_stopping_leave_their_tasks_to_the_shutdown() -> None:
    settings = Settings(**FAST)
    server, tasks, tools = held_tools_server(settings)
    with anyio.fail_after(LIMIT_SECONDS):
        async with (
            serve_asgi(http_app(server, settings)) as port,
            RawHttp.legacy_session(f"http://127.0.0.1:{port}/mcp") as raw,
        ):
            session_id = raw.headers["Mcp-Session-Id"]
            task_id = await start(raw, "hold", "at-shutdown")
            await tools["at-shutdown"].started.wait()
        # The server stopped with the session open: the shutdown rule (grace, then
        # failed) decides, not the session's end.
        record = await stored_once(tasks, settings, session_id, task_id)
    assert record.status == "failed", record.status_message
    assert "stopped" in (record.status_message or "")
