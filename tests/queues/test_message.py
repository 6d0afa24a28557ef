"""The task message codec: ids only on the wire, and strict about everything else."""

from __future__ import annotations

import json

import pytest

from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.queues import MESSAGE_VERSION, MalformedMessage, TaskMessage
from mcp_tasks_server.queues.message import MAX_MESSAGE_BYTES, decode_message

TASK_ID = new_task_id()
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def wire(**changes: object) -> str:
    """A valid body with some fields changed (``None`` removes one)."""
    fields: dict[str, object] = {"v": 1, "task_id": TASK_ID, "owner": "local", "attempt": 1}
    fields.update(changes)
    return json.dumps({key: value for key, value in fields.items() if value is not None})


def test_message_survives_the_round_trip() -> None:
    message = TaskMessage(TASK_ID, "principal:3f2a", attempt=3, trace_context=TRACE)
    assert decode_message(message.encode()) == message
    assert message.version == MESSAGE_VERSION


def test_encoded_message_holds_ids_only() -> None:
    body = TaskMessage(TASK_ID, "principal:3f2a", trace_context=TRACE).encode()
    assert set(json.loads(body)) == {"v", "task_id", "owner", "attempt", "trace"}
    assert set(json.loads(TaskMessage(TASK_ID, "local").encode())) == {
        "v",
        "task_id",
        "owner",
        "attempt",
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "not JSON"),
        ("{not json", "not JSON"),
        ('{"v": NaN}', "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"a string"', "not a JSON object"),
        (wire(arguments={"token": "hunter2"}), "1 field a task message never carries"),
        (wire(v=2), "version is 2"),
        (wire(v="1"), "version is not a small whole number"),
        (wire(v=True), "version is not a small whole number"),
        (wire(v=None), "lacks 'v'"),
        (wire(task_id=None, owner=None), "lacks 'task_id', 'owner'"),
        (wire(task_id="../../etc"), "'task_id' is not a task id"),
        (wire(task_id=12), "'task_id' is not a task id"),
        (wire(owner=""), "'owner'"),
        (wire(owner="bad\nowner"), "'owner'"),
        (wire(attempt=0), "'attempt'"),
        (wire(attempt=1.0), "'attempt'"),
        (wire(attempt=True), "'attempt'"),
        (wire(attempt="1"), "'attempt'"),
        (wire(trace=["traceparent"]), "'trace' must be an object"),
        (wire(trace={"traceparent": 1}), "'trace' values"),
        (wire(trace={"bad key": "x"}), "'trace' names"),
        (wire(trace={"traceparent": "x" * MAX_MESSAGE_BYTES}), "bytes"),
    ],
)
def test_bodies_that_are_not_task_messages_are_refused(body: str, reason: str) -> None:
    with pytest.raises(MalformedMessage, match="not a task message") as refused:
        decode_message(body, message_id="m-7")
    assert reason in refused.value.reason
    assert "m-7" in str(refused.value)


def test_repeated_fields_are_refused_rather_than_resolved() -> None:
    body = wire()[:-1] + f', "task_id": "{new_task_id()}"}}'
    with pytest.raises(MalformedMessage, match="repeats the field 'task_id'"):
        decode_message(body)


def test_refusals_never_quote_the_body() -> None:
    secret = "sk-live-hunter2"
    bodies = [
        wire(arguments={"token": secret}),
        wire(owner=f"{secret}\x00"),
        wire(**{secret: 1}),
        wire()[:-1] + f', "{secret}": 1, "{secret}": 2}}',
        wire(v=secret),
        secret,
    ]
    for body in bodies:
        with pytest.raises(MalformedMessage) as refused:
            decode_message(body)
        assert "hunter2" not in str(refused.value), body


def test_construction_refuses_fields_a_worker_could_not_use() -> None:
    with pytest.raises(ValueError, match="task_id"):
        TaskMessage("not-a-task-id", "local")
    with pytest.raises(ValueError, match="owner"):
        TaskMessage(TASK_ID, "")
    with pytest.raises(ValueError, match="attempt"):
        TaskMessage(TASK_ID, "local", attempt=0)
    with pytest.raises(ValueError, match="'v'"):
        TaskMessage(TASK_ID, "local", version=2)


def test_an_oversized_trace_context_is_refused_at_encoding() -> None:
    trace = {f"k{i}": "x" * 1_500 for i in range(8)}
    with pytest.raises(ValueError, match="too large"):
        TaskMessage(TASK_ID, "local", trace_context=trace).encode()


def test_trace_context_is_copied_so_later_changes_do_not_leak_in() -> None:
    trace = dict(TRACE)
    message = TaskMessage(TASK_ID, "local", trace_context=trace)
    trace["traceparent"] = "changed"
    assert message.trace_context == TRACE


def test_an_empty_trace_context_is_no_trace_context() -> None:
    message = TaskMessage(TASK_ID, "local", trace_context={})
    assert message.trace_context is None
    assert message == TaskMessage(TASK_ID, "local")


def test_messages_with_a_trace_context_can_be_kept_in_sets() -> None:
    traced = TaskMessage(TASK_ID, "local", trace_context=TRACE)
    assert traced in {traced, TaskMessage(TASK_ID, "local")}
