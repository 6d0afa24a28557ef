"""Every line a client writes on stdio gets its answer, even one the SDK would drop.

The SDK's stdio reader parses each line into a JSON-RPC message; when that
fails it hands the dispatcher an exception, which is logged and dropped. A
request whose ``params`` are an array, a string or a number, a request whose
``id`` has the wrong type, a line that is not JSON: none of them is answered,
and the client waits forever. A request with ``"id": null`` even parses as a
notification, and one with a ``result`` member as a response.

:class:`CheckedLines` stands between stdin and the SDK's reader. A line the
SDK serves properly passes through untouched, so it alone still decides the
era and does all the rest. Any other line is answered here, at once, on the
same stdout, with the error JSON-RPC 2.0 prescribes:

* a line that is not JSON (or that nests too deep even for the standard
  library): -32700 with ``id: null``;
* a request with a readable ``id`` (a string or an integer): -32602 with that
  ``id`` for ``params`` that are not an object, or hold what the SDK's parser
  refuses (nesting past its limit, an unpaired surrogate); -32600 with that
  ``id`` for a bad ``jsonrpc`` or ``method``;
* anything else (an ``id`` of the wrong type or ``null``, a batch, a bare
  value, a malformed notification or response): -32600 with ``id: null``.

The SDK's HTTP entries answer such bodies with ``id: null`` always, and
disagree on the code (-32602 for any invalid envelope in the 2025-11-25
entry, -32600 in the 2026-07-28 one). Here the request's ``id`` is kept
wherever it can be read, since a client waits on it; bad ``params`` get the
invalid-params code of both eras, a bad envelope -32600, as JSON-RPC says.
``"params": null`` is left to the SDK, which reads it as absent. A valid
notification or response gets no answer, and a line of whitespace carries
no message and is skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import anyio
import pydantic_core
from mcp_types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    RequestId,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError

__all__ = ["CheckedLines", "SharedWire", "reply_for"]

logger = logging.getLogger(__name__)

# What JSON counts as whitespace: a line of nothing else carries no message.
_JSON_WHITESPACE = " \t\r\n"


class SharedWire:
    """The protocol's stdout, written by the SDK's writer and by :class:`CheckedLines`.

    Every write is one whole line, flushed before the next write may start,
    so the two writers never tear each other's messages.
    """

    def __init__(self, file: anyio.AsyncFile[str]) -> None:
        self._file = file
        self._lock = anyio.Lock()

    async def write(self, line: str) -> None:
        async with self._lock:
            await self._file.write(line)
            await self._file.flush()

    async def flush(self) -> None:
        """Nothing to do: each write is flushed as it is made."""


class CheckedLines:
    """The client's lines for the SDK's reader, less those it would leave unanswered.

    Those are answered on ``wire`` before the next line is read, so their
    answers keep the order of the lines.
    """

    def __init__(self, lines: AsyncIterable[str], wire: SharedWire) -> None:
        self._lines: AsyncIterator[str] = aiter(lines)
        self._wire = wire

    def __aiter__(self) -> CheckedLines:
        return self

    async def __anext__(self) -> str:
        while True:
            line = await anext(self._lines)
            if not line.strip(_JSON_WHITESPACE):
                continue
            reply = reply_for(line)
            if reply is None:
                return line
            # Debug only: at a higher level a client could flood the log.
            logger.debug("answered a stdio line the SDK would drop: %s", reply.error.message)
            await self._wire.write(reply.model_dump_json(by_alias=True, exclude_unset=True) + "\n")


def reply_for(line: str) -> JSONRPCError | None:
    """The error owed for ``line``, or ``None`` when the SDK serves it properly."""
    try:
        message = jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError:
        return _error_for(line)
    if isinstance(message, JSONRPCRequest):
        return None
    # The notification model ignores unknown members, so a request whose id has
    # the wrong type parses as a notification; a request that also carries a
    # ``result`` or ``error`` can parse as a response. The SDK answers neither.
    misleading = "id" if isinstance(message, JSONRPCNotification) else "method"
    if misleading in pydantic_core.from_json(line):
        return _error_for(line)
    return None


def _error_for(line: str) -> JSONRPCError:
    """The error for a line the SDK cannot use, with its request's id when that is readable."""
    refused: set[str] = set()
    try:
        raw = pydantic_core.from_json(line)
    except ValueError:
        # The standard library reads deeper nesting and unpaired surrogates,
        # which is enough to find the request's id and say what is wrong.
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError):
            return _error(None, PARSE_ERROR, "Parse error")
        refused = _refused_members(raw)
    if not isinstance(raw, dict):
        return _error(
            None, INVALID_REQUEST, "Invalid Request: a line must hold one JSON-RPC message object"
        )
    if "id" in raw and not _is_request_id(raw["id"]):
        return _error(None, INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    if "id" not in raw or "id" in refused or "result" in raw or "error" in raw:
        return _error(
            None,
            INVALID_REQUEST,
            "Invalid Request: not a valid request, notification or response",
        )
    request_id: RequestId = raw["id"]
    if raw.get("jsonrpc") != "2.0":
        return _error(request_id, INVALID_REQUEST, 'Invalid Request: jsonrpc must be "2.0"')
    if not isinstance(raw.get("method"), str) or "method" in refused:
        return _error(request_id, INVALID_REQUEST, "Invalid Request: method must be a string")
    if raw.get("params") is not None and not isinstance(raw["params"], dict):
        return _error(request_id, INVALID_PARAMS, "Invalid params: params must be an object")
    if refused == {"params"}:
        return _error(
            request_id,
            INVALID_PARAMS,
            "Invalid params: params nest too deep or hold an unpaired surrogate",
        )
    # Only a member other than params that the SDK's parser refuses is left:
    # a message that passes every check above and parses is one the SDK takes.
    return _error(
        request_id,
        INVALID_REQUEST,
        "Invalid Request: the message nests too deep or holds an unpaired surrogate",
    )


def _refused_members(raw: Any) -> set[str]:
    """The members of a decoded object that alone would make the SDK's parser refuse it."""
    if not isinstance(raw, dict):
        return set()
    refused = set()
    for key, value in raw.items():
        try:
            pydantic_core.from_json(json.dumps({key: value}))
        except (ValueError, RecursionError):
            refused.add(key)
    return refused


def _is_request_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _error(request_id: RequestId | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))
