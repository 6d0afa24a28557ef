"""Server logs never show a task id or a session id in clear, whoever logs it.

The last test runs a whole 2025-11-25 session against the reference server at
DEBUG, with every logger on (the SDK's session loggers and uvicorn's access
log included), and reads both what reached stderr and what this project's own
code logged before any filter: neither holds an id in clear.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from mcp_tasks_server import Settings
from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.observability.redact import SDK_ID_LOGGERS, SDK_SESSION_LOGGERS, LogIds
from mcp_tasks_server.server.build import build_server, entry_observers
from mcp_tasks_server.server.http import http_app, uvicorn_config
from mcp_tasks_server.server.logs import configure_logging
from tests.protocol.harness import RawHttp, serve_asgi
from tests.support.polling import poll_until, status_in
from tests.support.wire import TERMINAL

KEY = b"0123456789abcdef-shared-by-replicas"


def test_ids_in_any_log_line_are_written_as_keyed_hashes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    task_id = new_task_id()
    session_id = "9f1c2b3a4d5e6f708192a3b4c5d6e7f8"
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO", KEY)
        logging.getLogger("mcp_tasks_server.runtime.runner").warning("task %s stopped", task_id)
        logging.getLogger("some.library").error("session %s crashed", session_id)
        logging.getLogger("mcp.server.streamable_http_manager").info("Created %s", session_id)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    written = capsys.readouterr().err
    assert task_id not in written
    assert session_id not in written
    ids = LogIds(KEY)
    assert ids.task(task_id) in written  # the same key hashes alike on every replica
    assert ids.session(session_id) in written
    assert "Created" not in written  # the SDK's per-session INFO lines stay out


def test_task_not_found_names_no_id() -> None:
    from mcp_tasks_server.core.errors import TaskNotFound

    task_id = new_task_id()
    assert task_id not in str(TaskNotFound(task_id))


# ---------------------------------------------------------------- a whole session, at DEBUG


class RawRecords(logging.Handler):
    """Every record as its logger wrote it, before a handler's filter rewrites it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append((record.name, text))

    def ours(self) -> list[str]:
        """What this project's own loggers wrote."""
        return [text for name, text in self.lines if name.startswith("mcp_tasks_server")]


@pytest.fixture
def logging_state() -> Iterator[None]:
    """Put back what ``configure_logging`` and the test change in the logging tree."""
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in (*SDK_ID_LOGGERS, "uvicorn", "uvicorn.access")]
    saved = [(lg, lg.level, lg.filters[:], lg.handlers[:], lg.propagate) for lg in loggers]
    root_handlers, root_level = root.handlers[:], root.level
    yield
    root.handlers[:] = root_handlers
    root.setLevel(root_level)
    for logger, level, filters, handlers, propagate in saved:
        logger.setLevel(level)
        logger.filters[:] = filters
        logger.handlers[:] = handlers
        logger.propagate = propagate


async def task_call(raw: RawHttp, tool: str, arguments: dict[str, Any]) -> str:
    created = await raw.request(
        "tools/call", {"name": tool, "arguments": arguments, "task": {"ttl": 60_000}}
    )
    return str(created.result["task"]["taskId"])


async def until_status(raw: RawHttp, task_id: str, statuses: set[str] | frozenset[str]) -> None:
    async def get() -> dict[str, Any]:
        return (await raw.request("tasks/get", {"taskId": task_id})).result

    await poll_until(get, status_in(statuses), within=30)


async def whole_session(url: str) -> list[str]:
    """Every step of a session's life, ending in a DELETE; every id it used, session ids first."""
    async with RawHttp.legacy_session(url) as raw:
        stranger = uuid.uuid4().hex
        ids = [raw.headers["Mcp-Session-Id"], stranger]
        quick = await task_call(raw, "word_stats", {"text": "one two two"})
        await until_status(raw, quick, TERMINAL)
        await raw.request("tasks/result", {"taskId": quick})
        cancelled = await task_call(raw, "count_primes", {"limit": 100, "seconds": 60})
        await raw.request("tasks/cancel", {"taskId": cancelled})
        deploy = await task_call(
            raw, "deploy", {"service": "web", "version": "7", "step_seconds": 0}
        )
        await until_status(raw, deploy, {"input_required"})
        answer = {"task_id": deploy, "content": {"confirm": True}}
        await raw.request("tools/call", {"name": "tasks_respond", "arguments": answer})
        await until_status(raw, deploy, {"completed"})
        crashed = await task_call(raw, "failing_job", {"kind": "crash", "after_seconds": 0})
        await until_status(raw, crashed, {"failed"})  # an ERROR line with its traceback
        await raw.request("tasks/list", {})
        missing = new_task_id()
        await raw.request("tasks/get", {"taskId": missing})
        await raw.request("resources/read", {"uri": f"task://{missing}"})
        left_running = await task_call(raw, "count_primes", {"limit": 100, "seconds": 60})
        unknown = await raw.request("tasks/list", {}, headers={"Mcp-Session-Id": stranger})
        assert unknown.status == 404
        ended = await raw.client.delete(url, headers=raw.headers)
        assert ended.status_code == 200
        return [*ids, quick, cancelled, deploy, crashed, missing, left_running]


@pytest.mark.anyio
@pytest.mark.usefixtures("logging_state")
async def test_a_whole_session_at_debug_logs_no_task_or_session_id_in_clear(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(
        transport="http",
        log_level="DEBUG",
        heartbeat_interval_seconds=0.1,
        shutdown_grace_seconds=0,
    )
    ids = configure_logging("DEBUG", KEY)
    for name in SDK_SESSION_LOGGERS:  # every SDK line too, not only its warnings
        logging.getLogger(name).setLevel(logging.DEBUG)
    raw_records = RawRecords()
    logging.getLogger().handlers.insert(0, raw_records)  # first: before the redacting one
    server = build_server(settings, observers=entry_observers(settings, ids))
    app = http_app(server, settings)
    with anyio.fail_after(120):
        async with serve_asgi(app, config=uvicorn_config(app, settings)) as port:
            secrets = await whole_session(f"http://127.0.0.1:{port}/mcp")
            # The DELETE cancels the task left running, in the background; its line
            # is the last of the session's life.
            ended = f"session {ids.session(secrets[0])} ended: cancelled its 1 unfinished tasks"

            async def ours() -> list[str]:
                return raw_records.ours()

            await poll_until(ours, lambda lines: ended in lines, within=30)
    written = capsys.readouterr().err
    loggers = {name for name, _ in raw_records.lines}
    # The capture saw the whole stack: the SDK's session loggers, uvicorn, this project.
    assert {"mcp.server.streamable_http_manager", "uvicorn.access"} <= loggers
    assert "mcp_tasks_server.runtime.runner" in loggers  # the crashed tool's traceback
    assert ids.session(secrets[0]) in written
    for secret in secrets:
        assert secret not in written
        assert not [line for line in raw_records.ours() if secret in line], secret
