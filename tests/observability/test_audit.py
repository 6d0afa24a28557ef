"""Audit events: one per create, answer, cancel and finish, structured, with no secrets."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from mcp_tasks_server.core.model import TaskRecord, TaskStatus, ToolRequest, new_task_id
from mcp_tasks_server.observability import AUDIT_LOGGER, FIELDS, AuditEvent, AuditLog, LogIds

SESSION_ID = "9f1c2e4b7a8d4c3e9b0a1f2e3d4c5b6a"
OWNER = "session:4b7a8d4c3e9b0a1f2e3d4c5b6a9f1c2e"
SECRETS = ("payload-arg-7731", "status-text-7731", "result-7731", "answer-7731")

COMMON = {"event", "outcome", "task", "owner", "owner_kind", "tool", "replica", "status"}


def record(task_id: str, status: TaskStatus, *, updated_ms: int) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        owner=OWNER,
        status=status,
        status_message="status-text-7731",
        created_at_ms=1_000_000,
        last_updated_at_ms=updated_ms,
        ttl_ms=60_000,
        expires_at_ms=2_000_000,
        poll_interval_ms=1000,
        request=ToolRequest(name="slow_report", arguments={"query": "payload-arg-7731"}),
        result={"content": [{"type": "text", "text": "result-7731"}]},
        input_responses={"q1": {"answer": "answer-7731"}},
    )


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Each record's message and every attribute it carries, as one text."""
    return "\n".join(
        record.getMessage() + json.dumps(vars(record), default=str) for record in caplog.records
    )


def audit_fields(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [getattr(r, FIELDS) for r in caplog.records if r.name == AUDIT_LOGGER]


def test_a_task_lifecycle_writes_one_event_per_step_without_ids_or_payloads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = LogIds(b"operator-key-shared-by-replicas")
    audit = AuditLog(ids, replica="replica-a")
    task_id = new_task_id()
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    audit.created(record(task_id, TaskStatus.WORKING, updated_ms=1_000_000))
    audit.answered(record(task_id, TaskStatus.WORKING, updated_ms=1_500_000), answers=1)
    audit.cancelled(record(task_id, TaskStatus.CANCELLED, updated_ms=1_750_000))
    audit.finished(record(task_id, TaskStatus.CANCELLED, updated_ms=1_750_000))

    events = audit_fields(caplog)
    assert [(e["event"], e["outcome"], e["status"]) for e in events] == [
        ("task.created", "accepted", "working"),
        ("task.answered", "accepted", "working"),
        ("task.cancelled", "accepted", "cancelled"),
        ("task.finished", "cancelled", "cancelled"),
    ]
    for event in events:
        assert set(event) >= COMMON
        assert event["task"] == ids.task(task_id)
        assert event["owner"] == ids.owner(OWNER)
        assert (event["owner_kind"], event["tool"], event["replica"]) == (
            "session",
            "slow_report",
            "replica-a",
        )
        json.dumps(event)  # flat and serializable, for a JSON formatter to emit as it is
    assert events[1]["answers"] == 1
    assert events[3]["duration_s"] == 750.0
    assert all(r.levelno == logging.INFO for r in caplog.records)

    logged = everything_logged(caplog)
    for secret in (task_id, OWNER, OWNER.split(":")[1], *SECRETS):
        assert secret not in logged


def test_refusals_are_audited_with_a_reason_code(caplog: pytest.LogCaptureFixture) -> None:
    ids = LogIds()
    audit = AuditLog(ids, replica="replica-b")
    task_id = new_task_id()
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    audit.refused(AuditEvent.CREATED, owner=OWNER, reason="quota", tool_name="slow_report")
    audit.refused(AuditEvent.CANCELLED, owner="anonymous", reason="not_found", task_id=task_id)

    created, cancelled = audit_fields(caplog)
    assert created["outcome"] == "refused"
    assert (created["reason"], created["task"], created["tool"]) == ("quota", None, "slow_report")
    assert (cancelled["reason"], cancelled["task"]) == ("not_found", ids.task(task_id))
    assert cancelled["owner_kind"] == "anonymous"
    assert task_id not in everything_logged(caplog)


def test_tool_names_cannot_break_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    AuditLog(LogIds(), replica="r").refused(
        AuditEvent.CREATED, owner=OWNER, reason="unknown_tool", tool_name="x\nFAKE " + "y" * 500
    )
    (event,) = audit_fields(caplog)
    assert "\n" not in caplog.records[0].getMessage()
    assert "\n" not in event["tool"]
    assert len(event["tool"]) <= 129


def test_audit_is_silent_when_its_logger_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=AUDIT_LOGGER)
    AuditLog(LogIds(), replica="r").created(record(new_task_id(), TaskStatus.WORKING, updated_ms=1))
    assert audit_fields(caplog) == []


def test_hashes_correlate_across_processes_only_with_a_shared_key() -> None:
    task_id = new_task_id()
    shared = b"operator-key-shared-by-replicas"
    assert LogIds(shared).task(task_id) == LogIds(shared).task(task_id)
    assert LogIds().task(task_id) != LogIds().task(task_id)
    assert LogIds(shared).task(task_id).startswith("t:")
    assert LogIds(shared).session(SESSION_ID).startswith("s:")
    assert len(LogIds(shared).owner(OWNER)) == len("o:") + 12
    with pytest.raises(ValueError, match="16 bytes"):
        LogIds(b"short")
