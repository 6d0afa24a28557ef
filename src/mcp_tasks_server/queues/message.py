"""The task message: the few ids a worker needs to find and claim a task.

On the wire it is one small JSON object::

    {"v":1,"task_id":"01jc9v…","owner":"principal:3f2a…","attempt":1,"trace":{"traceparent":"00-…"}}

It names the task and never carries its arguments: those stay in the task
record, where the store's limits, expiry and encryption apply, so a message
that leaks (a dead-letter queue, a log line, a console) reveals nothing a
task id does not. The decoder is strict for the same reason: a field it does
not know (``arguments``, say) makes the body malformed rather than ignored,
so no producer can start smuggling payloads through the queue unnoticed.

``owner`` is the task's owner key (already a hash for principals and
sessions; see :mod:`mcp_tasks_server.core.owner`): the record's storage key needs
it, and the worker claims the task under it. ``attempt`` is which run of the
task this message asks for (1 for the first), so a message for an earlier
attempt loses the claim. ``trace`` is an optional text-map carrier (W3C
``traceparent``/``tracestate``, or X-Ray's header) that lets a worker's spans
join the trace of the request that created the task.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from mcp_tasks_server.core.model import is_valid_task_id
from mcp_tasks_server.queues.errors import MalformedMessage

__all__ = [
    "MAX_ATTEMPT",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_VERSION",
    "TaskMessage",
    "decode_message",
    "encode_message",
]

MESSAGE_VERSION = 1
"""The only message version this server writes and reads."""

MAX_MESSAGE_BYTES = 8_192
"""A task message is a few ids; anything larger is not one (SQS allows far more)."""

MAX_ATTEMPT = 1_000
MAX_OWNER_KEY_CHARS = 512
MAX_TRACE_ENTRIES = 8
MAX_TRACE_VALUE_CHARS = 4_096

_TRACE_KEY = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_WIRE_FIELDS = ("v", "task_id", "owner", "attempt", "trace")
_REQUIRED = ("v", "task_id", "owner", "attempt")


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """One task to run: which task, whose, which attempt, and its trace context.

    Construction validates every field and raises ``ValueError`` (with a
    message that never quotes the value) for one that a worker could not
    use; an empty trace context is stored as ``None``.
    """

    task_id: str
    owner_key: str
    attempt: int = 1
    trace_context: dict[str, str] | None = field(default=None, hash=False)
    version: int = MESSAGE_VERSION

    def __post_init__(self) -> None:
        if self.version != MESSAGE_VERSION or isinstance(self.version, bool):
            raise ValueError(f"'v' must be {MESSAGE_VERSION}, the version this server reads")
        if not isinstance(self.task_id, str) or not is_valid_task_id(self.task_id):
            raise ValueError("'task_id' is not a task id")
        if not _is_owner_key(self.owner_key):
            raise ValueError(
                f"'owner' must be 1 to {MAX_OWNER_KEY_CHARS} characters with no control characters"
            )
        if (
            isinstance(self.attempt, bool)
            or not isinstance(self.attempt, int)
            or not 1 <= self.attempt <= MAX_ATTEMPT
        ):
            raise ValueError(f"'attempt' must be a whole number from 1 to {MAX_ATTEMPT}")
        # A private copy: the caller's dict may change after the message is built.
        trace = _checked_trace(self.trace_context) if self.trace_context is not None else None
        object.__setattr__(self, "trace_context", trace or None)

    def encode(self) -> str:
        """The JSON body, at most ``MAX_MESSAGE_BYTES`` bytes."""
        return encode_message(self)


def encode_message(message: TaskMessage) -> str:
    """``message`` as its compact JSON body. Raises ``ValueError`` if it is too large."""
    wire: dict[str, Any] = {
        "v": message.version,
        "task_id": message.task_id,
        "owner": message.owner_key,
        "attempt": message.attempt,
    }
    if message.trace_context:
        wire["trace"] = dict(message.trace_context)
    body = json.dumps(wire, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    if len(body) > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"the task message is {len(body)} bytes; the limit is {MAX_MESSAGE_BYTES} "
            "(the trace context is too large)"
        )
    return body


def decode_message(body: str, *, message_id: str | None = None) -> TaskMessage:
    """The task message a body holds. Raises ``MalformedMessage`` for anything else.

    Strict on purpose: unknown or repeated fields, another version, numbers
    where text belongs (or the reverse) are all refused, and the error's
    reason never quotes the body.
    """

    def refuse(reason: str) -> NoReturn:
        raise MalformedMessage(reason, message_id=message_id)

    size = len(body.encode("utf-8", errors="replace"))
    if size > MAX_MESSAGE_BYTES:
        refuse(f"it is {size} bytes; task messages are at most {MAX_MESSAGE_BYTES}")
    try:
        wire = json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except _RepeatedField as exc:
        refuse(f"it repeats {_show(exc.name)}")
    except (ValueError, RecursionError):
        refuse("it is not JSON")
    if not isinstance(wire, dict):
        refuse("it is not a JSON object")
    if "v" in wire and (
        isinstance(wire["v"], bool)
        or not isinstance(wire["v"], int)
        or wire["v"] != MESSAGE_VERSION
    ):
        shown = type(wire["v"]) is int and abs(wire["v"]) < 1_000_000
        version = wire["v"] if shown else "not a small whole number"
        refuse(f"its version is {version}; this server reads version {MESSAGE_VERSION}")
    unknown = len(set(wire) - set(_WIRE_FIELDS))
    if unknown:
        # Counted, not named: a field's name is part of the body too.
        refuse(
            f"it has {unknown} field{'s' if unknown > 1 else ''} a task message never carries "
            f"(it names a task only: {', '.join(_WIRE_FIELDS)})"
        )
    missing = [name for name in _REQUIRED if name not in wire]
    if missing:
        refuse(f"it lacks {', '.join(repr(name) for name in missing)}")
    trace = wire.get("trace")
    if trace is not None and not isinstance(trace, dict):
        refuse("'trace' must be an object of strings")
    try:
        return TaskMessage(
            task_id=wire["task_id"],
            owner_key=wire["owner"],
            attempt=wire["attempt"],
            trace_context=trace,
            version=wire["v"],
        )
    except ValueError as exc:
        refuse(str(exc))


# ---------------------------------------------------------------- helpers


class _RepeatedField(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__("repeated field")
        self.name = name


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of repeated keys; two readers could then
    # disagree about which task a message names, so repeats are refused.
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedField(key)
        found[key] = value
    return found


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _is_owner_key(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_OWNER_KEY_CHARS
        and not any(unicodedata.category(char) == "Cc" for char in value)
    )


def _checked_trace(trace: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(trace, Mapping) or len(trace) > MAX_TRACE_ENTRIES:
        raise ValueError(f"'trace' must map at most {MAX_TRACE_ENTRIES} names to strings")
    checked: dict[str, str] = {}
    for key, value in trace.items():
        if not isinstance(key, str) or not _TRACE_KEY.match(key):
            raise ValueError("'trace' names must be 1 to 64 letters, digits, '.', '_' or '-'")
        if (
            not isinstance(value, str)
            or len(value) > MAX_TRACE_VALUE_CHARS
            or not all(" " <= char <= "~" for char in value)
        ):
            raise ValueError(
                "'trace' values must be printable ASCII of at most "
                f"{MAX_TRACE_VALUE_CHARS} characters"
            )
        checked[key] = value
    return checked


def _show(name: str) -> str:
    """A repeated field's name if it is one of ours; any other name is part of the body."""
    return f"the field {name!r}" if name in _WIRE_FIELDS else "a field"
