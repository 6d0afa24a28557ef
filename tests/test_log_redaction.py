"""Server logs never show a task id or a session id in clear, whoever logs it."""

from __future__ import annotations

import logging

import pytest

from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.observability.redact import LogIds
from mcp_tasks_server.server.logs import configure_logging

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
