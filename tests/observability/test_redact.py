"""Log redaction: ids never reach a log line in clear, from our code or from the MCP SDK."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.observability import LogIds, RedactingFilter, quiet_sdk_session_logs
from mcp_tasks_server.observability.redact import SDK_ID_LOGGERS, SDK_SESSION_LOGGERS
from tests.protocol.harness import LEGACY, RawHttp, serve_http

IDS = LogIds(b"a-key-of-at-least-16-bytes")


@pytest.fixture
def sdk_loggers() -> Iterator[None]:
    """Restore the SDK loggers' levels and filters that a test changes."""
    saved = {
        name: (logging.getLogger(name).level, list(logging.getLogger(name).filters))
        for name in SDK_ID_LOGGERS
    }
    yield
    for name, (level, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.filters[:] = filters


def lifecycle_lines(task_id: str, session_id: str) -> list[tuple[str, tuple[object, ...]]]:
    """What a task's life may put in logs, in the shapes the SDK and libraries use."""
    dashed = str(uuid.UUID(session_id))
    return [
        (f"Created new transport with session ID: {session_id}", ()),
        ("Rejecting request for session %s: credential does not match", (session_id,)),
        (f"Rejected request with unknown or expired session ID: {dashed}", ()),
        ("request headers: %r", ({"mcp-session-id": session_id, "accept": "*/*"},)),
        ("Mcp-Session-Id=opaque.Token_from~another-server; retrying", ()),
        ("task %s created for tool %r", (task_id, "slow_report")),
        (f"Resource 'task://{task_id}' failed: 'Task not found: {task_id}'", ()),
        ("Tool %r failed: %r", ("get_task_result", f"Task {task_id} is still running")),
        (f"Terminating session: {session_id}", ()),
        (f"Session {session_id} idle timeout", ()),
    ]


def test_a_lifecycle_of_log_lines_never_shows_an_id_in_clear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task_id, session_id = new_task_id(), uuid.uuid4().hex
    logger = logging.getLogger("tests.redaction")
    redacting = RedactingFilter(IDS)
    logger.addFilter(redacting)
    caplog.set_level(logging.DEBUG, logger=logger.name)
    try:
        for message, args in lifecycle_lines(task_id, session_id):
            logger.info(message, *args)
        try:
            raise LookupError(f"no task {task_id} in session {session_id}")
        except LookupError:
            logger.exception("lookup failed")
    finally:
        logger.removeFilter(redacting)

    text = caplog.text
    assert len(caplog.records) == len(lifecycle_lines(task_id, session_id)) + 1
    assert task_id not in text
    assert session_id not in text
    assert str(uuid.UUID(session_id)) not in text
    assert "opaque.Token_from~another-server" not in text
    assert IDS.task(task_id) in text
    assert IDS.session(session_id) in text  # the same hash our own code would log
    assert "LookupError" in text  # the traceback stays, redacted


def test_redaction_is_idempotent_and_leaves_ordinary_text_alone() -> None:
    redacting = RedactingFilter(IDS)
    ordinary = (
        "listening on 127.0.0.1:8080; table tasks-prod; 12 tasks; "
        "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709; t:0123456789ab"
    )
    assert redacting.redact(ordinary) == ordinary
    once = redacting.redact(f"mcp-session-id: {uuid.uuid4().hex} task {new_task_id()}")
    assert redacting.redact(once) == once


def test_a_malformed_log_call_is_not_turned_into_an_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %s", ("one",), None)
    assert RedactingFilter(IDS).filter(record) is True


@pytest.mark.anyio
@pytest.mark.usefixtures("sdk_loggers")
async def test_sdk_session_lines_stay_below_info_and_the_rest_is_hashed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_sdk_session_logs(IDS)
    caplog.set_level(logging.DEBUG, logger="mcp")  # the server's side only
    session_id, stranger = await real_session_lifecycle()

    sdk = [r for r in caplog.records if r.name in SDK_SESSION_LOGGERS]
    assert all(r.levelno >= logging.WARNING for r in sdk)
    assert session_id not in caplog.text
    assert stranger not in caplog.text


@pytest.mark.anyio
@pytest.mark.usefixtures("sdk_loggers")
async def test_sdk_session_lines_kept_for_debugging_show_only_hashes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_sdk_session_logs(IDS, level=logging.DEBUG)
    quiet_sdk_session_logs(IDS, level=logging.DEBUG)  # again: still one filter
    caplog.set_level(logging.DEBUG, logger="mcp")  # the server's side only
    session_id, stranger = await real_session_lifecycle()

    manager = logging.getLogger("mcp.server.streamable_http_manager")
    assert sum(isinstance(f, RedactingFilter) for f in manager.filters) == 1
    messages = [r.getMessage() for r in caplog.records if r.name in SDK_SESSION_LOGGERS]
    assert f"Created new transport with session ID: {IDS.session(session_id)}" in messages
    assert f"Terminating session: {IDS.session(session_id)}" in messages
    assert any(IDS.session(stranger) in message for message in messages)
    assert session_id not in caplog.text
    assert stranger not in caplog.text


async def real_session_lifecycle() -> tuple[str, str]:
    """Open, use and end a real streamable-HTTP session, and send an unknown session id.

    Returns the session id the server handed out and the unknown one.
    """
    stranger = uuid.uuid4().hex
    async with serve_http(MCPServer("redaction")) as url:
        async with RawHttp.legacy_session(url) as raw:
            session_id = raw.headers["Mcp-Session-Id"]
            assert (await raw.request("ping")).status == 200
            ended = await raw.client.delete(url, headers=raw.headers)
            assert ended.status_code in (200, 204)
        async with httpx.AsyncClient(timeout=30) as client:
            unknown = await client.post(
                url,
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={
                    "Mcp-Session-Id": stranger,
                    "MCP-Protocol-Version": LEGACY,
                    "Accept": "application/json, text/event-stream",
                },
            )
            assert unknown.status_code == 404
    return session_id, stranger
