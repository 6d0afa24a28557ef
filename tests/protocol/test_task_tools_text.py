"""What the task tools say to a model, and how its answers are read, without a server."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from mcp_tasks_server import Settings, load_settings
from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.core.model import InputRequest, Progress, TaskRecord, TaskStatus, ToolRequest
from mcp_tasks_server.protocol.as_tools.text import (
    HANDLE_SCHEMA,
    TaskToolNames,
    answer_for,
    describe,
    handle_result,
    outcome_result,
    task_view,
    widen_output_schema,
)

NAMES = TaskToolNames.with_prefix("tasks_")
TASK_ID = "01m87yfb4jjjm5dz92x1nfyrygj9tckc8ehf"
QUESTION = InputRequest(
    method="elicitation/create",
    params={
        "mode": "form",
        "message": "Deploy api 1.2 to production?",
        "requestedSchema": {
            "type": "object",
            "properties": {
                "confirm": {"type": "boolean", "description": "true to deploy"},
                "region": {"type": "string", "enum": ["eu", "us"]},
            },
            "required": ["confirm"],
        },
    },
)


def record(status: TaskStatus = TaskStatus.WORKING, **changes: Any) -> TaskRecord:
    base = TaskRecord(
        task_id=TASK_ID,
        owner="local",
        status=status,
        created_at_ms=1_790_000_000_000,
        last_updated_at_ms=1_790_000_001_000,
        ttl_ms=None,
        expires_at_ms=None,
        poll_interval_ms=2_000,
        request=ToolRequest(name="deploy", arguments={"service": "api"}),
    )
    return base.model_copy(update=changes)


def test_names_share_the_prefix() -> None:
    assert TaskToolNames.with_prefix("jobs.").all() == (
        "jobs.get",
        "jobs.result",
        "jobs.respond",
        "jobs.cancel",
        "jobs.list",
    )


@pytest.mark.parametrize("prefix", ["", "has space_", "ünïcode_", "x" * 65])
def test_a_prefix_that_cannot_make_tool_names_is_a_config_error(prefix: str) -> None:
    with pytest.raises(ConfigError, match="MCP_TASKS_TOOL_PREFIX"):
        load_settings(tool_prefix=prefix)


def test_the_defaults_keep_the_budget_well_under_a_clients_timeout() -> None:
    settings = Settings()
    assert settings.as_tools
    assert settings.tool_prefix == "tasks_"
    assert 0 < settings.inline_budget_seconds <= 30


def test_a_running_task_says_what_it_does_and_what_to_call_next() -> None:
    running = record(
        status_message="Uploading",
        progress=Progress(progress=3, total=4, message="3 of 4 files"),
    )
    text = describe(running, NAMES, 20)
    assert text.splitlines()[:3] == [
        f"Task {TASK_ID} (deploy) is running.",
        "Status: Uploading",
        "Progress: 3 of 4 (75%), 3 of 4 files",
    ]
    assert f'call tasks_result with {{"task_id": "{TASK_ID}"}}. Each call waits up to 20 s' in text
    assert "(no more often than every 2 s)" in text
    assert f'To stop it: call tasks_cancel with {{"task_id": "{TASK_ID}"}}.' in text


def test_a_waiting_task_spells_out_the_question_and_an_answer_to_send() -> None:
    waiting = record(TaskStatus.INPUT_REQUIRED, input_requests={"go": QUESTION})
    text = describe(waiting, NAMES, 20)
    assert 'Question "go": Deploy api 1.2 to production?' in text
    assert (
        'Answer fields: confirm (boolean, required): true to deploy; region (one of "eu", "us")'
        in text
    )
    example = '{"task_id": "%s", "key": "go", "content": {"confirm": true, "region": "eu"}}'
    assert f"call tasks_respond with {example % TASK_ID}" in text
    assert "tasks_cancel" in text


@pytest.mark.parametrize(
    ("status", "changes", "headline", "next_call"),
    [
        (TaskStatus.COMPLETED, {"result": {"content": []}}, "has completed.", "tasks_result"),
        (
            TaskStatus.FAILED,
            {"error": {"code": -32001, "message": "upstream down"}},
            "failed: upstream down (error -32001)",
            None,
        ),
        (
            TaskStatus.FAILED,
            {"result": {"content": [{"type": "text", "text": "bad rows"}], "isError": True}},
            "failed: bad rows",
            "tasks_result",
        ),
        (TaskStatus.CANCELLED, {}, "was cancelled.", None),
    ],
)
def test_a_finished_task_says_how_it_ended(
    status: TaskStatus, changes: dict[str, Any], headline: str, next_call: str | None
) -> None:
    text = describe(record(status, **changes), NAMES, 20)
    assert text.splitlines()[0] == f"Task {TASK_ID} (deploy) {headline}"
    assert ("What to do next" in text) is (next_call is not None)
    if next_call:
        assert f"call {next_call} with" in text


def test_the_view_carries_what_the_status_makes_available() -> None:
    waiting = task_view(record(TaskStatus.INPUT_REQUIRED, input_requests={"go": QUESTION}))
    assert waiting["inputRequests"]["go"]["method"] == "elicitation/create"
    assert waiting["ttlMs"] is None
    assert waiting["createdAt"] == "2026-09-21T14:13:20.000Z"
    failed = task_view(record(TaskStatus.FAILED, error={"code": -1, "message": "x"}))
    assert failed["error"] == {"code": -1, "message": "x"}
    assert "inputRequests" not in failed


def test_a_handle_says_it_is_not_an_error_and_points_at_the_task() -> None:
    handle = handle_result(record(), NAMES, 20)
    assert "isError" not in handle
    assert handle["structuredContent"]["task"]["taskId"] == TASK_ID
    assert handle["_meta"] == {"io.modelcontextprotocol/related-task": {"taskId": TASK_ID}}
    assert "did not finish within 20 s" in handle["content"][0]["text"]
    assert "This is not an error" in handle["content"][0]["text"]
    jsonschema.validate(handle["structuredContent"], HANDLE_SCHEMA)


def test_an_outcome_is_the_tools_own_result_with_the_related_task() -> None:
    result = {"content": [{"type": "text", "text": "ok"}], "structuredContent": {"a": 1}}
    outcome = outcome_result(record(TaskStatus.COMPLETED, result=result))
    assert outcome["structuredContent"] == {"a": 1}
    assert outcome["_meta"] == {"io.modelcontextprotocol/related-task": {"taskId": TASK_ID}}
    failed = outcome_result(record(TaskStatus.FAILED, error={"code": -32603, "message": "boom"}))
    assert failed["isError"] is True
    assert "failed: boom (error -32603)" in failed["content"][0]["text"]


def test_a_widened_schema_admits_the_tools_output_and_the_handle() -> None:
    own = {
        "type": "object",
        "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
        "required": ["items"],
    }
    widened = widen_output_schema(own)
    assert widened["type"] == "object"
    assert "$defs" in widened
    jsonschema.validate({"items": [{"n": 1}]}, widened)
    jsonschema.validate(handle_result(record(), NAMES, 1)["structuredContent"], widened)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"items": [{"n": "one"}]}, widened)


def test_an_answer_is_checked_against_the_question() -> None:
    waiting = record(TaskStatus.INPUT_REQUIRED, input_requests={"go": QUESTION})
    assert answer_for(waiting, None, {"confirm": True}, "accept") == {
        "go": {"action": "accept", "content": {"confirm": True}}
    }
    assert answer_for(waiting, "go", None, "decline") == {"go": {"action": "decline"}}
    assert "does not fit" in str(answer_for(waiting, None, {"confirm": "yes"}, "accept"))
    assert "does not fit" in str(answer_for(waiting, None, {}, "accept"))
    assert "Pass content" in str(answer_for(waiting, None, None, "accept"))
    assert "no open question 'nope'" in str(answer_for(waiting, "nope", {}, "accept"))


def test_several_open_questions_need_a_key() -> None:
    waiting = record(TaskStatus.INPUT_REQUIRED, input_requests={"a": QUESTION, "b": QUESTION})
    assert "pass key, one of: a, b" in str(answer_for(waiting, None, {"confirm": True}, "accept"))
    assert answer_for(waiting, "b", {"confirm": False}, "accept") == {
        "b": {"action": "accept", "content": {"confirm": False}}
    }


def test_a_non_form_request_takes_content_as_its_result() -> None:
    sampling = InputRequest(method="sampling/createMessage", params={"messages": []})
    waiting = record(TaskStatus.INPUT_REQUIRED, input_requests={"s": sampling})
    reply = {"role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m"}
    assert answer_for(waiting, None, reply, "accept") == {"s": reply}
    assert "result object of sampling/createMessage" in str(
        answer_for(waiting, None, None, "decline")
    )


def test_a_task_that_is_not_waiting_takes_no_answer() -> None:
    assert "not waiting for an answer" in str(answer_for(record(), None, {}, "accept"))
