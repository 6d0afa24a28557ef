"""Task polls over HTTP answered as ``application/json``, not as an event stream.

The 2025-11-25 spec asks that ``tasks/get``, ``tasks/list`` and
``tasks/cancel`` not be upgraded to SSE: a poll is one answer, and a stream
per poll costs the client a parser and the server a held response. The SDK's
streamable HTTP transport chooses JSON or SSE once per app, and SSE is what
``tasks/result`` needs (it carries input requests while it waits). So this
ASGI wrapper leaves the transport as it is and, for those three methods only,
gathers the one-message event stream the transport writes and sends its
JSON-RPC response as a JSON body instead, with the same status and session
header. In JSON mode the transport itself drops whatever else is scoped to a
request; these methods send nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["POLL_METHODS", "JsonPolls"]

POLL_METHODS = frozenset({"tasks/get", "tasks/list", "tasks/cancel"})

_LARGEST_POLL_BODY = 65_536
"""A poll's body is its task id and ``_meta``; a larger POST is something else."""


class JsonPolls:
    """Answer task polls with ``application/json`` in front of ``app``'s SSE transport."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, replay = await _read_body(receive)
        request_id = _poll_id(body)
        if request_id is None:
            await self.app(scope, replay, send)
            return
        await self.app(scope, replay, _JsonFromStream(send, request_id))


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands it to the app again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app will see the same
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: disconnects, as the app expects

    return body, replay


def _poll_id(body: bytes) -> Any:
    """The JSON-RPC id of a poll request, or ``None`` for anything else."""
    if len(body) > _LARGEST_POLL_BODY or b'"tasks/' not in body:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") not in POLL_METHODS:
        return None
    return message.get("id")


class _JsonFromStream:
    """A ``send`` that turns a one-response event stream into a JSON response."""

    def __init__(self, send: Send, request_id: Any) -> None:
        self._send = send
        self._request_id = request_id
        self._start: Message | None = None
        self._stream = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if _content_type(message).startswith(b"text/event-stream"):
                self._start = message
                return
        elif message["type"] == "http.response.body" and self._start is not None:
            self._stream += message.get("body", b"")
            if not message.get("more_body", False):
                await self._finish()
            return
        await self._send(message)

    async def _finish(self) -> None:
        assert self._start is not None
        response = _response_in(bytes(self._stream), self._request_id)
        if response is None:  # not the one answer expected: pass the stream on as it came
            await self._send(self._start)
            await self._send({"type": "http.response.body", "body": bytes(self._stream)})
            return
        headers = [
            (name, value)
            for name, value in self._start.get("headers", [])
            if name.lower() not in {b"content-type", b"content-length", b"connection"}
        ]
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(response)).encode()),
        ]
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": response})


def _content_type(start: Message) -> bytes:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).lower()
    return b""


def _response_in(stream: bytes, request_id: Any) -> bytes | None:
    """The ``data`` of the stream's JSON-RPC response to ``request_id``, if it has one."""
    for event in stream.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = b"\n".join(
            line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
        )
        if not data:
            continue  # a comment (keep-alive ping) or a priming event without data
        try:
            message = json.loads(data)
        except ValueError:
            return None
        answers = isinstance(message, dict) and ("result" in message or "error" in message)
        if answers and message.get("id") == request_id:
            return data
    return None
