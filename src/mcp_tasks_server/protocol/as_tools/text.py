"""How a task reads to a model, and how a model's answer becomes an input response.

A client without task support shows a tool result to its model and nothing
else, so everything the model needs to carry on must be in that result: what
the task is doing, how far it has got, what it is waiting for, and the exact
next call to make (tool name and arguments). The structured half is the same
information as JSON, for clients that read ``structuredContent``.

The other direction is :func:`answer_for`: a model answers a question with
plain arguments (``content``, ``action``, ``key``), which become the input
response the waiting tool expects.

Everything here is a pure function of a :class:`TaskRecord`, so the wording is
tested without a server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # a dependency of mcp

from mcp_tasks_server.core.model import InputRequest, TaskRecord, TaskStatus
from mcp_tasks_server.protocol.shapes import (
    input_requests,
    modern_task,
    related_task_meta,
    result_body,
)

__all__ = [
    "HANDLE_SCHEMA",
    "TaskToolNames",
    "answer_for",
    "describe",
    "handle_result",
    "outcome_result",
    "task_view",
    "text_result",
    "widen_output_schema",
]


@dataclass(frozen=True, slots=True)
class TaskToolNames:
    """The names of the five task tools, all sharing one configurable prefix."""

    get: str
    result: str
    respond: str
    cancel: str
    listing: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TaskToolNames:
        return cls(
            get=f"{prefix}get",
            result=f"{prefix}result",
            respond=f"{prefix}respond",
            cancel=f"{prefix}cancel",
            listing=f"{prefix}list",
        )

    def all(self) -> tuple[str, ...]:
        return (self.get, self.result, self.respond, self.cancel, self.listing)


HANDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The call outlived its inline budget and continues as a task.",
    "properties": {
        "task": {
            "type": "object",
            "properties": {"taskId": {"type": "string"}, "status": {"type": "string"}},
            "required": ["taskId", "status"],
        }
    },
    "required": ["task"],
}
"""What a task handle's ``structuredContent`` always satisfies."""


def widen_output_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A tool's ``outputSchema`` that also admits a task handle.

    Clients validate ``structuredContent`` against the listed schema, so a
    task-capable tool lists ``anyOf: [its own schema, the handle]``. Shared
    definitions move to the root, where the tool's ``$ref`` pointers expect them.
    """
    shared = {key: schema[key] for key in ("$defs", "definitions") if key in schema}
    own = {key: value for key, value in schema.items() if key not in shared}
    return {"type": "object", **shared, "anyOf": [own, HANDLE_SCHEMA]}


# ---------------------------------------------------------------- structured


def task_view(record: TaskRecord) -> dict[str, Any]:
    """The task as the task tools and the ``task://`` resource show it.

    The 2026-07-28 task shape plus the tool's name, with progress as a field
    (not under ``_meta``), open questions, and a stored error; never the
    result, which ``tasks_result`` returns as the tool's own.
    """
    view: dict[str, Any] = {"taskId": record.task_id, "tool": record.request.name}
    view |= modern_task(record)
    if record.progress is not None:
        view["progress"] = record.progress.model_dump(exclude_none=True)
    if record.status is TaskStatus.INPUT_REQUIRED:
        view["inputRequests"] = input_requests(record)
    if record.status is TaskStatus.FAILED and record.error is not None:
        view["error"] = record.error
    return view


# ---------------------------------------------------------------- results


def text_result(
    text: str, structured: Mapping[str, Any] | None = None, *, is_error: bool = False
) -> dict[str, Any]:
    """A ``CallToolResult`` as its wire dict."""
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if structured is not None:
        result["structuredContent"] = dict(structured)
    if is_error:
        result["isError"] = True
    return result


def handle_result(
    record: TaskRecord, names: TaskToolNames, budget_seconds: float
) -> dict[str, Any]:
    """What a call made without a task returns when it cannot answer in time."""
    tool = record.request.name
    if record.status is TaskStatus.INPUT_REQUIRED:
        lead = (
            f"{tool} needs an answer before it can go on. It is paused as task "
            f"{record.task_id} on the server; nothing is lost while it waits."
        )
    else:
        lead = (
            f"{tool} did not finish within {budget_seconds:g} s, so it goes on running on "
            f"the server as task {record.task_id}. This is not an error: the work continues, "
            f"and this call returned early so that it does not time out."
        )
    text = f"{lead}\n\n{describe(record, names, budget_seconds)}"
    result = text_result(text, {"task": task_view(record)})
    result["_meta"] = related_task_meta(record.task_id)
    return result


def outcome_result(record: TaskRecord) -> dict[str, Any]:
    """A finished task as ``tasks_result`` returns it: the tool's own result where there is one."""
    meta = related_task_meta(record.task_id)
    if record.result is not None:
        result = result_body(record)
        result.setdefault("content", [])
        result["_meta"] = {**(result.get("_meta") or {}), **meta}
        return result
    tool = record.request.name
    if record.status is TaskStatus.CANCELLED:
        text = f"Task {record.task_id} ({tool}) was cancelled before it finished; it has no result."
    else:
        text = f"Task {record.task_id} ({tool}) failed: {_failure_text(record)}"
    result = text_result(text, {"task": task_view(record)}, is_error=True)
    result["_meta"] = meta
    return result


def _failure_text(record: TaskRecord) -> str:
    if record.error is not None:
        return _error_text(record.error)
    for block in (record.result or {}).get("content") or ():
        if isinstance(block, Mapping) and block.get("type") == "text" and block.get("text"):
            return str(block["text"])
    return record.status_message or "no reason given"


def _error_text(error: Mapping[str, Any]) -> str:
    message = str(error.get("message") or "no reason given")
    code = error.get("code")
    return f"{message} (error {code})" if code is not None else message


# ---------------------------------------------------------------- answers


def answer_for(
    record: TaskRecord,
    key: str | None,
    content: dict[str, Any] | None,
    action: str,
) -> dict[str, Any] | str:
    """The input responses ``tasks_respond`` stores, or why it stores none (for the model).

    An elicitation answer is ``{action, content}`` as an ``ElicitResult``
    has it, with ``content`` checked against the question's schema first, so
    a malformed answer is refused before the tool ever sees it. Any other
    request (sampling, roots) is answered with ``content`` as its result.
    """
    if record.status is not TaskStatus.INPUT_REQUIRED:
        return f"Task {record.task_id} is {record.status.value}; it is not waiting for an answer."
    open_keys = list(record.input_requests)
    if key is None:
        if len(open_keys) != 1:
            return f"Task {record.task_id} has several open questions; pass key, one of: " + (
                ", ".join(open_keys)
            )
        key = open_keys[0]
    request = record.input_requests.get(key)
    if request is None:
        return f"Task {record.task_id} has no open question {key!r}; open: {', '.join(open_keys)}"
    if request.method != "elicitation/create":
        if action != "accept" or content is None:
            return f"Answer {key!r} with content: the result object of {request.method}."
        return {key: content}
    if action != "accept":
        return {key: {"action": action}}
    if content is None:
        return "Pass content with the answer's fields, or action 'decline' to refuse."
    problem = _schema_problem(request.params.get("requestedSchema"), content)
    if problem is not None:
        return f"The answer does not fit the question: {problem}. Nothing was sent."
    return {key: {"action": "accept", "content": content}}


def _schema_problem(schema: Any, content: dict[str, Any]) -> str | None:
    if not isinstance(schema, Mapping):
        return None
    validator_class = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(content))
    return None if error is None else str(error.message)


# ---------------------------------------------------------------- prose


def describe(record: TaskRecord, names: TaskToolNames, budget_seconds: float) -> str:
    """The task's state in plain words, then exactly what the model can do next."""
    lines = [_headline(record), *_details(record)]
    steps = _next_steps(record, names, budget_seconds)
    if steps:
        lines += ["", "What to do next:", *(f"- {step}" for step in steps)]
    return "\n".join(lines)


def _headline(record: TaskRecord) -> str:
    who = f"Task {record.task_id} ({record.request.name})"
    match record.status:
        case TaskStatus.WORKING:
            return f"{who} is running."
        case TaskStatus.INPUT_REQUIRED:
            count = len(record.input_requests)
            questions = "a question" if count == 1 else f"{count} questions"
            return (
                f"{who} is waiting for an answer to {questions} and will not continue until then."
            )
        case TaskStatus.COMPLETED:
            return f"{who} has completed."
        case TaskStatus.FAILED:
            return f"{who} failed: {_failure_text(record)}"
        case TaskStatus.CANCELLED:
            return f"{who} was cancelled."


def _details(record: TaskRecord) -> list[str]:
    lines = []
    if record.status_message and record.status is not TaskStatus.INPUT_REQUIRED:
        lines.append(f"Status: {record.status_message}")
    if record.progress is not None and not record.is_terminal:
        lines.append(f"Progress: {_progress_text(record)}")
    if record.status is TaskStatus.INPUT_REQUIRED:
        for key, request in record.input_requests.items():
            lines += _question(key, request)
    return lines


def _progress_text(record: TaskRecord) -> str:
    assert record.progress is not None
    progress = record.progress
    text = f"{progress.progress:g}"
    if progress.total:
        percent = 100 * progress.progress / progress.total
        text = f"{progress.progress:g} of {progress.total:g} ({percent:.0f}%)"
    if progress.message:
        text += f", {progress.message}"
    return text


def _question(key: str, request: InputRequest) -> list[str]:
    if request.method != "elicitation/create":
        return [f'Request "{key}": the task asks for {request.method}.']
    params = request.params
    lines = [f'Question "{key}": {params.get("message", "")}']
    fields = _schema_fields(params.get("requestedSchema") or {})
    if fields:
        lines.append("Answer fields: " + "; ".join(fields))
    return lines


def _schema_fields(schema: Mapping[str, Any]) -> list[str]:
    required = set(schema.get("required") or ())
    fields = []
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, Mapping) else {}
        kind = "one of " + ", ".join(map(json.dumps, spec["enum"])) if "enum" in spec else ""
        kind = kind or str(spec.get("type", "any"))
        text = f"{name} ({kind}{', required' if name in required else ''})"
        about = spec.get("description") or spec.get("title")
        fields.append(f"{text}: {about}" if about else text)
    return fields


def _example_answer(request: InputRequest) -> dict[str, Any]:
    schema = request.params.get("requestedSchema") or {}
    example: dict[str, Any] = {}
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, Mapping) else {}
        if spec.get("enum"):
            example[name] = spec["enum"][0]
        elif "default" in spec:
            example[name] = spec["default"]
        else:
            example[name] = {"boolean": True, "integer": 0, "number": 0}.get(
                str(spec.get("type")), "..."
            )
    return example


def _call(tool: str, arguments: Mapping[str, Any]) -> str:
    return f"call {tool} with {json.dumps(arguments)}"


def _next_steps(record: TaskRecord, names: TaskToolNames, budget_seconds: float) -> list[str]:
    task = {"task_id": record.task_id}
    cancel = f"To stop it: {_call(names.cancel, task)}."
    match record.status:
        case TaskStatus.WORKING:
            poll_seconds = record.poll_interval_ms / 1000
            waits = (
                f"Each call waits up to {budget_seconds:g} s and returns the result as soon "
                "as it is ready."
                if budget_seconds > 0
                else "It answers at once, with the result or the current state."
            )
            return [
                f"To wait for its result: {_call(names.result, task)}. {waits}",
                f"To check on it without waiting: {_call(names.get, task)} "
                f"(no more often than every {poll_seconds:g} s).",
                cancel,
            ]
        case TaskStatus.INPUT_REQUIRED:
            steps = []
            for key, request in record.input_requests.items():
                answer: dict[str, Any] = {**task, "key": key}
                if request.method == "elicitation/create":
                    answer["content"] = _example_answer(request)
                    steps.append(
                        f'To answer "{key}": {_call(names.respond, answer)}, with the real '
                        f'values. To refuse, pass "action": "decline" instead of content.'
                    )
                else:
                    answer["content"] = {"...": "the result object of " + request.method}
                    steps.append(f'To answer "{key}": {_call(names.respond, answer)}.')
            return [*steps, cancel]
        case TaskStatus.COMPLETED:
            return [f"To get its result: {_call(names.result, task)}."]
        case TaskStatus.FAILED if record.result is not None:
            return [f"To see the tool's full output: {_call(names.result, task)}."]
        case _:
            return []
