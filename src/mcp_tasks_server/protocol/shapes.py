"""Wire shapes of a task in each protocol era, built as plain dicts.

Plain dicts, not SDK models, because the SDK's models dump with
``exclude_none`` and would silently drop ``ttl: null`` / ``ttlMs: null``,
which both eras require to be present.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mcp_tasks_server.core.model import TaskRecord, TaskStatus

__all__ = [
    "LEGACY_VERSION",
    "MODERN_VERSION",
    "PROGRESS_META",
    "RELATED_TASK_META",
    "TASKS_EXTENSION",
    "input_requests",
    "iso_timestamp",
    "legacy_result",
    "legacy_task",
    "modern_task",
    "modern_task_detail",
    "related_task_meta",
    "result_body",
    "with_progress",
]

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
RELATED_TASK_META = "io.modelcontextprotocol/related-task"
PROGRESS_META = "io.github.mcp-tasks-server/progress"
"""``_meta`` key of a task's last progress report (``{progress, total?, message?}``).

Neither era's task shape has a progress field, and ``_meta`` is the spec's
place for additions, so ``tasks/get`` carries it there for clients that show
progress bars; other clients ignore it.
"""


def iso_timestamp(epoch_ms: int) -> str:
    """ISO 8601 in UTC with millisecond precision, e.g. ``2026-11-24T23:05:26.123Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _task(record: TaskRecord, ttl_key: str, poll_key: str) -> dict[str, Any]:
    """The task fields both eras share; only the two duration names differ."""
    task: dict[str, Any] = {
        "taskId": record.task_id,
        "status": record.status.value,
        "createdAt": iso_timestamp(record.created_at_ms),
        "lastUpdatedAt": iso_timestamp(record.last_updated_at_ms),
        ttl_key: record.ttl_ms,
        poll_key: record.poll_interval_ms,
    }
    if record.status_message is not None:
        task["statusMessage"] = record.status_message
    return task


def legacy_task(record: TaskRecord) -> dict[str, Any]:
    """The 2025-11-25 ``Task``: ``ttl`` and ``pollInterval``, ``ttl`` always present."""
    return _task(record, "ttl", "pollInterval")


def related_task_meta(task_id: str) -> dict[str, Any]:
    """The ``_meta`` entry that ties a message to its task."""
    return {RELATED_TASK_META: {"taskId": task_id}}


def result_body(record: TaskRecord) -> dict[str, Any]:
    """A copy of the task's stored ``CallToolResult``, without ``resultType``.

    ``resultType`` is a 2026 envelope field, not part of the tool's result:
    ``Tasks`` strips it before storage, and this read strips it again for
    results an ``Invoke`` of one's own stored with it.
    """
    return {key: value for key, value in (record.result or {}).items() if key != "resultType"}


def legacy_result(record: TaskRecord) -> dict[str, Any]:
    """What ``tasks/result`` answers for a finished 2025-11-25 task that has a result.

    Exactly the ``CallToolResult`` the call would have returned, with the
    related-task ``_meta`` added and no ``resultType`` (a 2026 field that
    must not leak onto this era's wire).
    """
    result = result_body(record)
    result.setdefault("content", [])
    result["_meta"] = {**(result.get("_meta") or {}), **related_task_meta(record.task_id)}
    return result


def modern_task(record: TaskRecord) -> dict[str, Any]:
    """The 2026-07-28 task fields: ``ttlMs`` (present, may be null) and ``pollIntervalMs``."""
    return _task(record, "ttlMs", "pollIntervalMs")


def with_progress(shape: dict[str, Any], record: TaskRecord) -> dict[str, Any]:
    """``shape`` with the task's last progress under ``_meta`` (for ``tasks/get`` results)."""
    if record.progress is not None:
        meta = dict(shape.get("_meta") or {})
        meta[PROGRESS_META] = record.progress.model_dump(exclude_none=True)
        shape["_meta"] = meta
    return shape


def input_requests(record: TaskRecord) -> dict[str, Any]:
    """The task's open input requests by key, as both eras' task shapes carry them."""
    return {key: request.model_dump() for key, request in record.input_requests.items()}


def modern_task_detail(record: TaskRecord) -> dict[str, Any]:
    """``tasks/get`` at 2026-07-28: the task, plus what its status makes available."""
    detail = with_progress(modern_task(record), record)
    if record.status is TaskStatus.INPUT_REQUIRED:
        detail["inputRequests"] = input_requests(record)
    elif record.status is TaskStatus.COMPLETED and record.result is not None:
        detail["result"] = result_body(record)
    elif record.status is TaskStatus.FAILED and record.error is None and record.result is not None:
        # A tool error of a task created at 2025-11-25, where it fails the task.
        # This era spells the same outcome "completed, with isError inlined".
        detail["status"] = TaskStatus.COMPLETED.value
        detail["result"] = result_body(record)
    elif record.status is TaskStatus.FAILED:
        detail["error"] = record.failure_error()
    return detail
